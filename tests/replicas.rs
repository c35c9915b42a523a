//! Read-replica routing: with `DATABASE_REPLICA_URL`, queries read the replica while
//! mutations (and what they return) use the primary. Proven with two databases that hold
//! different rows, so every answer says where it was read.
#![allow(clippy::unwrap_used)]

mod common;

use common::{spawn_app_with, Backend};
use entity::{post, user};
use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Database, EntityTrait, PaginatorTrait, QueryFilter, Set,
};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_read_the_replica_and_mutations_write_the_primary() {
    // The "replica": its own SQLite file, migrated, holding a post the primary lacks.
    let dir = tempfile::tempdir().unwrap();
    let replica_url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("replica.db").display()
    );
    let replica = Database::connect(&replica_url).await.unwrap();
    Migrator::up(&replica, None).await.unwrap();
    let now = chrono::Utc::now();
    let author = user::ActiveModel {
        username: Set("replica_author".into()),
        email: Set("replica@example.org".into()),
        display_name: Set("Replica".into()),
        bio: Set(None),
        password_hash: Set("x".into()),
        role: Set("user".into()),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&replica)
    .await
    .unwrap();
    post::ActiveModel {
        author_id: Set(author.id),
        title: Set("Only on the replica".into()),
        body: Set("b".into()),
        status: Set("published".into()),
        published_at: Set(Some(now)),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&replica)
    .await
    .unwrap();

    let Some(app) =
        spawn_app_with(Backend::Sqlite, &[("DATABASE_REPLICA_URL", &replica_url)]).await
    else {
        return;
    };
    // Reads come from the replica.
    let res = app
        .graphql(
            "{ posts { nodes { title author { username } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        res.data()["posts"]["nodes"],
        json!([{ "title": "Only on the replica", "author": { "username": "replica_author" } }])
    );

    // A mutation writes the primary and returns what it wrote, read from the primary
    // (its author exists only there).
    let (token, _) = app.register("writer").await;
    let res = app
        .graphql_as(
            Some(&token),
            r#"mutation { createPost(input: { title: "Written", body: "b", publish: true }) {
                title author { username } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        res.data()["createPost"],
        json!({ "title": "Written", "author": { "username": "writer" } })
    );
    let primary = &app.services.db;
    let written = post::Entity::find()
        .filter(post::Column::Title.eq("Written"))
        .count(primary)
        .await
        .unwrap();
    assert_eq!(written, 1, "the primary holds the new post");
    let on_replica = post::Entity::find()
        .filter(post::Column::Title.eq("Written"))
        .count(&replica)
        .await
        .unwrap();
    assert_eq!(on_replica, 0, "the replica was not written");

    // The next query still reads the replica, which has not "replicated" the post.
    let res = app.graphql("{ posts { totalCount } }", json!({})).await;
    assert_eq!(res.data()["posts"]["totalCount"], 1);
}
