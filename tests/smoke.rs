#![allow(clippy::unwrap_used)]
//! The server starts on each backend and answers a query end to end.

mod common;

use common::{spawn_app, Backend};
use serde_json::json;

async fn a_registered_user_can_post_and_read_the_feed(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (token, _) = app.register("ada").await;
    app.create_post(&token, "Hello", true, &["intro"]).await;
    let res = app
        .graphql(
            "{ posts { totalCount nodes { title author { username } tags { name } } } }",
            json!({}),
        )
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(
        res.data()["posts"],
        json!({ "totalCount": 1, "nodes": [{ "title": "Hello", "author": { "username": "ada" }, "tags": [{ "name": "intro" }] }] })
    );
}

backend_tests!(a_registered_user_can_post_and_read_the_feed);
