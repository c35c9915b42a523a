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

/// A "replica": a SQLite file of its own, migrated (kept while the directory lives).
async fn replica_database() -> (tempfile::TempDir, String, sea_orm::DatabaseConnection) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("replica.db").display()
    );
    let db = Database::connect(&url).await.unwrap();
    Migrator::up(&db, None).await.unwrap();
    (dir, url, db)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_read_the_replica_and_mutations_write_the_primary() {
    // The "replica": its own SQLite file, migrated, holding a post the primary lacks.
    let (_dir, replica_url, replica) = replica_database().await;
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

/// The file behind a SQLite connection.
async fn sqlite_file(db: &sea_orm::DatabaseConnection) -> String {
    use sea_orm::ConnectionTrait as _;
    let row = db
        .query_one(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT file FROM pragma_database_list WHERE name = 'main'",
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<String>("", "file").unwrap()
}

/// Copies the users, posts and likes `to` lacks from `from` (both SQLite): replication.
async fn replicate(from: &sea_orm::DatabaseConnection, to: &sea_orm::DatabaseConnection) {
    use sea_orm::ConnectionTrait as _;
    let source = sqlite_file(from).await;
    to.execute_unprepared(&format!("ATTACH DATABASE '{source}' AS source"))
        .await
        .unwrap();
    for table in ["users", "posts", "post_likes"] {
        to.execute_unprepared(&format!(
            "INSERT OR IGNORE INTO main.{table} SELECT * FROM source.{table}"
        ))
        .await
        .unwrap();
    }
    to.execute_unprepared("DETACH DATABASE source")
        .await
        .unwrap();
}

/// A write reaches the primary before a lagging replica: neither cache may keep what the
/// replica answers meanwhile, or the write would stay invisible after the replica caught up.
/// (With `GATEHOUSE_REPLICA_LAG_MS=0` both variants fail: the lagging answer is cached.)
async fn a_lagging_replica_cannot_refill_the_caches(with_redis: bool) {
    let (_dir, replica_url, replica) = replica_database().await;
    let mut env = vec![
        ("DATABASE_REPLICA_URL".to_owned(), replica_url),
        ("GATEHOUSE_REPLICA_LAG_MS".to_owned(), "1500".to_owned()),
    ];
    if with_redis {
        let Some(redis) = common::redis_url() else {
            eprintln!("skipped: TEST_REDIS_URL is not set");
            return;
        };
        env.push(("REDIS_URL".to_owned(), redis));
        env.push((
            "GATEHOUSE_REDIS_PREFIX".to_owned(),
            format!("test_{}:", uuid::Uuid::new_v4().simple()),
        ));
    }
    let overrides: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let Some(app) = spawn_app_with(Backend::Sqlite, &overrides).await else {
        return;
    };
    let (ada, _) = app.register("ada").await;
    let (bob, _) = app.register("bob").await;
    let post = app.create_post(&ada, "Lag", true, &[]).await;
    replicate(&app.services.db, &replica).await;
    let likes = || async {
        let res = app
            .graphql(
                "query($p: ID!) { node(id: $p) { ... on Post { likeCount } } }",
                json!({ "p": post }),
            )
            .await;
        let hit = res.headers.get("x-cache").is_some_and(|v| v == "HIT");
        (res.data()["node"]["likeCount"].as_i64().unwrap(), hit)
    };
    // Past the hold of the writes above, answers are cached again.
    tokio::time::sleep(std::time::Duration::from_millis(1600)).await;
    assert_eq!(likes().await, (0, false));
    assert_eq!(
        likes().await,
        (0, true),
        "cached once the replica caught up"
    );

    // Bob's like reaches the primary; the replica lags and still says 0.
    app.like_post(&bob, &post).await;
    for _ in 0..3 {
        let (count, hit) = likes().await;
        assert_eq!(count, 0, "the lagging replica answers");
        assert!(
            !hit,
            "an answer read during the lag bound is not served from cache"
        );
    }
    // The replica catches up: the like shows at once, from no stale cache entry.
    replicate(&app.services.db, &replica).await;
    assert_eq!(likes().await.0, 1);
    tokio::time::sleep(std::time::Duration::from_millis(1600)).await;
    assert_eq!(likes().await, (1, false));
    assert_eq!(likes().await, (1, true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_replica_cannot_refill_the_in_process_caches() {
    a_lagging_replica_cannot_refill_the_caches(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_replica_cannot_refill_the_redis_caches() {
    a_lagging_replica_cannot_refill_the_caches(true).await;
}
