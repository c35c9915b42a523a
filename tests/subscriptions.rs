//! Subscriptions over graphql-transport-ws against the running server.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::replicas::Replicas;
use common::ws::{connect_to, init, next, send, Socket};
use common::{spawn_app, spawn_app_with, Backend, TestApp};
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

async fn connect(app: &TestApp) -> Socket {
    connect_to(app.port).await
}

async fn subscribe(socket: &mut Socket, id: &str, query: &str, variables: Value) {
    send(
        socket,
        json!({"id": id, "type": "subscribe", "payload": {"query": query, "variables": variables}}),
    )
    .await;
    // graphql-transport-ws has no subscribe acknowledgement; give the server a moment to
    // register the stream before the test triggers events.
    tokio::time::sleep(Duration::from_millis(300)).await;
}

async fn a_subscriber_receives_comments_added_to_the_post(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (author, _) = app.register("writer").await;
    let (reader, _) = app.register("reader").await;
    let post = app.create_post(&author, "Live", true, &[]).await;
    let other = app.create_post(&author, "Other", true, &[]).await;

    let mut socket = connect(&app).await;
    init(&mut socket, Some(&reader)).await;
    subscribe(
        &mut socket,
        "1",
        "subscription($p: ID!) { commentAdded(postId: $p) { body author { username } post { title } } }",
        json!({ "p": post }),
    )
    .await;

    app.add_comment(&author, &other, "not for this post").await;
    app.add_comment(&reader, &post, "first!").await;
    let message = next(&mut socket).await.expect("a comment event");
    assert_eq!(message["type"], "next");
    assert_eq!(message["id"], "1");
    assert_eq!(
        message["payload"]["data"]["commentAdded"],
        json!({ "body": "first!", "author": { "username": "reader" }, "post": { "title": "Live" } })
    );

    send(&mut socket, json!({"id": "1", "type": "complete"})).await;
    app.add_comment(&reader, &post, "after complete").await;
    // The server may confirm with its own `complete`; it must send no further `next`.
    while let Ok(Some(Ok(Message::Text(text)))) =
        tokio::time::timeout(Duration::from_millis(700), socket.next()).await
    {
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_ne!(value["type"], "next", "an event after complete: {value}");
    }
}

async fn anonymous_subscribers_see_posts_as_they_are_published(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (author, _) = app.register("writer").await;
    let draft = app.create_post(&author, "Coming soon", false, &[]).await;

    let mut socket = connect(&app).await;
    init(&mut socket, None).await;
    subscribe(
        &mut socket,
        "p",
        "subscription { postPublished { id title status author { username } } }",
        json!({}),
    )
    .await;
    let res = app
        .graphql_as(
            Some(&author),
            "mutation($id: ID!) { publishPost(id: $id) { status } }",
            json!({ "id": draft }),
        )
        .await;
    assert_eq!(res.data()["publishPost"]["status"], "PUBLISHED");
    let message = next(&mut socket).await.expect("a publish event");
    assert_eq!(
        message["payload"]["data"]["postPublished"],
        json!({ "id": draft, "title": "Coming soon", "status": "PUBLISHED", "author": { "username": "writer" } })
    );
}

async fn a_bad_token_in_connection_init_closes_with_4403(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let mut socket = connect(&app).await;
    send(
        &mut socket,
        json!({"type": "connection_init", "payload": {"Authorization": "Bearer not-a-token"}}),
    )
    .await;
    let message = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    match message {
        Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 4403),
        other => panic!("expected a 4403 close, got {other:?}"),
    }
}

async fn subscribing_to_a_draft_you_cannot_see_is_not_found(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (author, _) = app.register("writer").await;
    let (stranger, _) = app.register("stranger").await;
    let draft = app.create_post(&author, "Secret", false, &[]).await;
    let mut socket = connect(&app).await;
    init(&mut socket, Some(&stranger)).await;
    send(
        &mut socket,
        json!({"id": "x", "type": "subscribe", "payload": {
            "query": "subscription($p: ID!) { commentAdded(postId: $p) { body } }",
            "variables": { "p": draft }
        }}),
    )
    .await;
    let message = next(&mut socket).await.expect("an error message");
    assert!(
        message["type"] == "error" || message["type"] == "next",
        "{message}"
    );
    let errors = if message["type"] == "error" {
        message["payload"].clone()
    } else {
        message["payload"]["errors"].clone()
    };
    assert_eq!(errors[0]["extensions"]["code"], "NOT_FOUND", "{message}");
}

async fn open_subscriptions_per_token_are_capped(backend: Backend) {
    let Some(app) = spawn_app_with(backend, &[("GATEHOUSE_MAX_SUBSCRIPTIONS", "1")]).await else {
        return;
    };
    let (token, _) = app.register("watcher").await;
    let mut socket = connect(&app).await;
    init(&mut socket, Some(&token)).await;
    let query = "subscription { postPublished { id } }";
    subscribe(&mut socket, "1", query, json!({})).await;
    subscribe(&mut socket, "2", query, json!({})).await;
    let refused = next(&mut socket)
        .await
        .expect("the second subscription is refused");
    assert_eq!(refused["id"], "2", "{refused}");
    let errors = if refused["type"] == "error" {
        refused["payload"].clone()
    } else {
        refused["payload"]["errors"].clone()
    };
    assert_eq!(errors[0]["extensions"]["code"], "RATE_LIMITED", "{refused}");
    // Completing the first frees its place: a new one is accepted and receives events.
    send(&mut socket, json!({"id": "1", "type": "complete"})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    subscribe(&mut socket, "3", query, json!({})).await;
    let id = app.create_post(&token, "Fresh", true, &[]).await;
    loop {
        let message = next(&mut socket)
            .await
            .expect("an event for the third subscription");
        if message["type"] == "next" && message["id"] == "3" {
            assert_eq!(message["payload"]["data"]["postPublished"]["id"], json!(id));
            break;
        }
    }
}

async fn idle_sockets_get_keep_alive_pings(backend: Backend) {
    let Some(app) = spawn_app_with(backend, &[("GATEHOUSE_WS_KEEPALIVE_SECS", "1")]).await else {
        return;
    };
    let mut socket = connect(&app).await;
    init(&mut socket, None).await;
    let ping = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(message)) = socket.next().await {
            if matches!(message, Message::Ping(_)) {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(ping, Ok(true), "a ping within 5 s on an idle socket");
}

async fn a_subscriber_on_one_replica_hears_comments_added_through_another(backend: Backend) {
    let Some(redis) = common::redis_url() else {
        eprintln!("skipped: TEST_REDIS_URL is not set");
        return;
    };
    let Some(replicas) = Replicas::start(backend, 2, &redis, &[]).await else {
        return;
    };
    let token = replicas.register(0, "writer").await;
    let res = replicas
        .post(
            0,
            Some(&token),
            "mutation { createPost(input: { title: \"Live\", body: \"b\", publish: true }) { id } }",
            json!({}),
        )
        .await;
    let post = res.data()["createPost"]["id"].as_str().unwrap().to_owned();

    // Subscribed on B; every comment is written through A.
    let mut socket = connect_to(replicas.port(1)).await;
    init(&mut socket, None).await;
    subscribe(
        &mut socket,
        "1",
        "subscription($p: ID!) { commentAdded(postId: $p) { body post { title } } }",
        json!({ "p": post }),
    )
    .await;
    for i in 0..3 {
        let body = format!("through A #{i}");
        let res = replicas
            .post(
                0,
                Some(&token),
                "mutation($p: ID!, $b: String!) { addComment(postId: $p, body: $b) { id } }",
                json!({ "p": post, "b": body }),
            )
            .await;
        assert!(res.body.get("errors").is_none(), "{}", res.body);
        let message = next(&mut socket)
            .await
            .unwrap_or_else(|| panic!("no event on B for comment {i}: {}", replicas.log(1)));
        assert_eq!(message["type"], "next", "{message}");
        assert_eq!(
            message["payload"]["data"]["commentAdded"],
            json!({ "body": body, "post": { "title": "Live" } })
        );
    }
}

backend_tests!(
    a_subscriber_on_one_replica_hears_comments_added_through_another,
    idle_sockets_get_keep_alive_pings,
    open_subscriptions_per_token_are_capped,
    a_subscriber_receives_comments_added_to_the_post,
    anonymous_subscribers_see_posts_as_they_are_published,
    a_bad_token_in_connection_init_closes_with_4403,
    subscribing_to_a_draft_you_cannot_see_is_not_found,
);
