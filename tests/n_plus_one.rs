#![allow(clippy::unwrap_used)]
//! No N+1: the number of SQL statements per GraphQL request is a small constant that does
//! not grow with the page size. Counted by SeaORM's metric callback, which sees every
//! statement the server runs.

mod common;

use common::{spawn_app_with, Backend, TestApp, NO_ENTITY_CACHE, NO_RESPONSE_CACHE};
use entity::{comment, post, post_like, post_tag, tag, user};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DbBackend, EntityTrait, Set, Statement, TransactionTrait,
};
use serde_json::json;

const FEED: &str = r#"query Feed($n: Int!) {
  posts(first: $n) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes {
      id title publishedAt
      author { username displayName postCount }
      tags { name }
      commentCount likeCount viewerHasLiked
      comments(first: 5) { totalCount nodes { body author { username } } }
    }
  }
}"#;

const DEEP: &str = r#"query Deep($n: Int!) {
  posts(first: $n) {
    nodes {
      title
      author {
        username
        posts(first: 3) {
          nodes {
            title
            tags { name posts(first: 2) { nodes { title } } }
            comments(first: 5) { nodes { body author { username } } }
          }
        }
      }
    }
  }
}"#;

/// 120 published posts by 6 authors, each with 2 tags, 6 comments and 3 likes.
async fn load_fixture(app: &TestApp) {
    let db = &app.services.db;
    let now = chrono::Utc::now();
    let mut users = Vec::new();
    for i in 0..6 {
        let u = user::ActiveModel {
            username: Set(format!("author{i}")),
            email: Set(format!("author{i}@example.org")),
            display_name: Set(format!("Author {i}")),
            bio: Set((i % 2 == 1).then(|| format!("Bio of author {i}"))),
            password_hash: Set("x".into()),
            role: Set("user".into()),
            created_at: Set(now),
            ..Default::default()
        }
        .insert(db)
        .await
        .unwrap();
        users.push(u.id);
    }
    let mut tags = Vec::new();
    for i in 0..8 {
        let t = tag::ActiveModel {
            name: Set(format!("tag{i}")),
            ..Default::default()
        }
        .insert(db)
        .await
        .unwrap();
        tags.push(t.id);
    }
    for p in 0..120usize {
        let at = now - chrono::Duration::minutes(p as i64);
        let post = post::ActiveModel {
            author_id: Set(users[p % users.len()]),
            title: Set(format!("Post {p}")),
            body: Set(format!("Body of post {p}")),
            status: Set("published".into()),
            published_at: Set(Some(at)),
            created_at: Set(at),
            updated_at: Set(at),
            ..Default::default()
        }
        .insert(db)
        .await
        .unwrap();
        for t in [p % tags.len(), (p + 3) % tags.len()] {
            post_tag::ActiveModel {
                post_id: Set(post.id),
                tag_id: Set(tags[t]),
            }
            .insert(db)
            .await
            .unwrap();
        }
        let comments = (0..6).map(|c| comment::ActiveModel {
            post_id: Set(post.id),
            author_id: Set(users[(p + c) % users.len()]),
            body: Set(format!("comment {c}")),
            created_at: Set(at + chrono::Duration::seconds(c as i64)),
            ..Default::default()
        });
        comment::Entity::insert_many(comments)
            .exec(db)
            .await
            .unwrap();
        let likes = (0..3).map(|u| post_like::ActiveModel {
            user_id: Set(users[(p + u) % users.len()]),
            post_id: Set(post.id),
            created_at: Set(at),
        });
        post_like::Entity::insert_many(likes)
            .exec(db)
            .await
            .unwrap();
    }
}

/// Statements one request runs. Measured three times: the count depends on the query's
/// shape only (the loaders' batching gate makes it independent of timing), so the three
/// must agree.
async fn statements_for(app: &TestApp, token: Option<&str>, query: &str, n: i64) -> u64 {
    let mut counts = Vec::new();
    for _ in 0..3 {
        let before = app.statements();
        let res = app.graphql_as(token, query, json!({ "n": n })).await;
        let data = res.data();
        assert_eq!(
            data["posts"]["nodes"].as_array().unwrap().len(),
            usize::try_from(n).unwrap()
        );
        counts.push(app.statements() - before);
    }
    assert!(
        counts.windows(2).all(|w| w[0] == w[1]),
        "statement counts vary between identical requests: {counts:?}"
    );
    counts[0]
}

async fn feed_statement_count_does_not_grow_with_the_page(backend: Backend) {
    // Batching is what is measured here: every request loads cold.
    let Some(app) = spawn_app_with(backend, &[NO_RESPONSE_CACHE, NO_ENTITY_CACHE]).await else {
        return;
    };
    load_fixture(&app).await;
    let (token, _) = app.register("reader").await;
    for viewer in [None, Some(token.as_str())] {
        let twenty = statements_for(&app, viewer, FEED, 20).await;
        let hundred = statements_for(&app, viewer, FEED, 100).await;
        eprintln!(
            "{backend:?} feed, viewer={}: 20 posts → {twenty} statements, 100 posts → {hundred}",
            viewer.is_some()
        );
        assert_eq!(twenty, hundred, "statements grew with the page size");
        // Level by level: posts with their authors and comment and like counts, and
        // totalCount; tags, viewerHasLiked, comment pages with their authors; postCount,
        // comment totals.
        assert!(twenty <= 10, "feed took {twenty} statements");
    }
}

async fn deep_statement_count_does_not_grow_with_the_page(backend: Backend) {
    // Batching is what is measured here: every request loads cold.
    let Some(app) = spawn_app_with(backend, &[NO_RESPONSE_CACHE, NO_ENTITY_CACHE]).await else {
        return;
    };
    load_fixture(&app).await;
    let ten = statements_for(&app, None, DEEP, 10).await;
    let forty = statements_for(&app, None, DEEP, 40).await;
    eprintln!("{backend:?} deep: 10 posts → {ten} statements, 40 posts → {forty}");
    assert_eq!(ten, forty, "statements grew with the page size");
    assert!(ten <= 7, "deep took {ten} statements");
}

/// Statements `query` ran, and its data.
async fn run_counted(app: &TestApp, query: &str) -> (u64, serde_json::Value) {
    let before = app.statements();
    let res = app.graphql(query, json!({})).await;
    let data = res.data().clone();
    (app.statements() - before, data)
}

/// The username of the author of each post or comment (`kind`) as the users loader gives
/// it (a row read by id through `nodes` does not come with its author).
async fn authors_by_loader(
    app: &TestApp,
    kind: &str,
    ids: &[serde_json::Value],
) -> Vec<serde_json::Value> {
    let query = format!(
        "query($ids: [ID!]!) {{ nodes(ids: $ids) {{ ... on {kind} {{ author {{ username }} }} }} }}"
    );
    let res = app.graphql(&query, json!({ "ids": ids })).await;
    let nodes = res.data()["nodes"].as_array().unwrap().clone();
    nodes
        .iter()
        .map(|n| n["author"]["username"].clone())
        .collect()
}

async fn a_page_reads_its_authors_and_counts_in_its_own_statement(backend: Backend) {
    let Some(app) = spawn_app_with(backend, &[NO_RESPONSE_CACHE, NO_ENTITY_CACHE]).await else {
        return;
    };
    load_fixture(&app).await;
    // Each pair differs only by selecting the page's authors (directly, through `edges`,
    // through a fragment) or their counts: the same number of statements, and the values
    // are right.
    let mut pairs = vec![
        (
            "{ posts(first: 10) { nodes { id title } } }",
            "{ posts(first: 10) { nodes { id title author { username } } } }",
        ),
        (
            "{ posts(first: 10) { edges { node { id } } } }",
            "{ posts(first: 10) { edges { node { id ...A } } } } fragment A on Post { author { username } }",
        ),
        (
            "{ user(username: \"author2\") { posts(first: 5) { nodes { id } } } }",
            "{ user(username: \"author2\") { posts(first: 5) { nodes { id author { username } } } } }",
        ),
        (
            "{ posts(first: 4) { nodes { comments(first: 3) { nodes { body } } } } }",
            "{ posts(first: 4) { nodes { comments(first: 3) { nodes { body author { username } } } } } }",
        ),
    ];
    pairs.push((
        "{ posts(first: 10) { nodes { id } } }",
        "{ posts(first: 10) { nodes { id commentCount likeCount } } }",
    ));
    if matches!(backend, Backend::Postgres) {
        // SQLite reads a user's or tag's page with a window query, where counting in the
        // page's statement would count every candidate row: there the loader counts.
        pairs.push((
            "{ user(username: \"author2\") { posts(first: 5) { nodes { id } } } }",
            "{ user(username: \"author2\") { posts(first: 5) { nodes { id commentCount likeCount } } } }",
        ));
    }
    for (without, with) in pairs {
        let (plain, _) = run_counted(&app, without).await;
        let (joined, data) = run_counted(&app, with).await;
        assert_eq!(
            plain, joined,
            "{backend:?}: the joined fields cost a statement in {with}"
        );
        assert!(joined <= 3, "{backend:?}: {with} took {joined} statements");
        // The joined fields are there (their values are checked against the loaders below).
        let text = data.to_string();
        let field = if with.contains("author {") {
            "\"username\":\"author"
        } else {
            "\"likeCount\":3"
        };
        assert!(text.contains(field), "{backend:?}: {text}");
    }
    let (_, data) = run_counted(
        &app,
        "{ posts(first: 12) { nodes { id author { username } } } }",
    )
    .await;
    let nodes = data["posts"]["nodes"].as_array().unwrap().clone();
    let ids: Vec<_> = nodes.iter().map(|n| n["id"].clone()).collect();
    let joined: Vec<_> = nodes
        .iter()
        .map(|n| n["author"]["username"].clone())
        .collect();
    assert_eq!(
        joined,
        authors_by_loader(&app, "Post", &ids).await,
        "{backend:?}"
    );
    assert_eq!(
        joined
            .iter()
            .collect::<std::collections::HashSet<_>>()
            .len(),
        6,
        "{backend:?}: twelve newest posts by six authors: {joined:?}"
    );
    // Comment authors: the fixture's comment c on post p is by author (p + c) % 6, so a
    // post's comments are by distinct authors, in the users loader's spelling too.
    let (_, data) = run_counted(
        &app,
        "{ posts(first: 3) { nodes { comments(first: 6) { nodes { id author { username } } } } } }",
    )
    .await;
    for post in data["posts"]["nodes"].as_array().unwrap() {
        let comments = post["comments"]["nodes"].as_array().unwrap();
        let joined: Vec<_> = comments
            .iter()
            .map(|c| c["author"]["username"].clone())
            .collect();
        let ids: Vec<_> = comments.iter().map(|c| c["id"].clone()).collect();
        let by_loader = authors_by_loader(&app, "Comment", &ids).await;
        assert_eq!(joined, by_loader, "{backend:?}");
        assert_eq!(
            joined
                .iter()
                .collect::<std::collections::HashSet<_>>()
                .len(),
            6,
            "{backend:?}: {joined:?}"
        );
    }
    // Counts read in the page's statement are the counts loader's, for posts that differ.
    let (token, _) = app.register("counter").await;
    let newest = nodes[0]["id"].as_str().unwrap().to_owned();
    app.add_comment(&token, &newest, "one more").await;
    app.add_comment(&token, &newest, "and another").await;
    app.like_post(&token, &newest).await;
    let counts = "{ id commentCount likeCount }";
    for page in [
        format!("{{ posts(first: 12) {{ nodes {counts} }} }}"),
        format!("{{ user(username: \"author0\") {{ posts(first: 12) {{ nodes {counts} }} }} }}"),
    ] {
        let (_, data) = run_counted(&app, &page).await;
        let text = data.to_string();
        let nodes = data["posts"]["nodes"]
            .as_array()
            .or_else(|| data["user"]["posts"]["nodes"].as_array())
            .unwrap()
            .clone();
        let ids: Vec<_> = nodes.iter().map(|n| n["id"].clone()).collect();
        let res = app
            .graphql(
                &format!("query($ids: [ID!]!) {{ nodes(ids: $ids) {{ ... on Post {counts} }} }}"),
                json!({ "ids": ids }),
            )
            .await;
        assert_eq!(&json!(nodes), &res.data()["nodes"], "{backend:?}: {page}");
        let newest_counts = nodes.iter().find(|n| n["id"] == json!(newest));
        assert_eq!(
            newest_counts,
            Some(&json!({ "id": newest, "commentCount": 8, "likeCount": 4 })),
            "{backend:?}: {text}"
        );
    }
}

/// Calls `visit` on every JSON object in `value`, wherever it is.
fn each_object(
    value: &serde_json::Value,
    visit: &mut impl FnMut(&serde_json::Map<String, serde_json::Value>),
) {
    match value {
        serde_json::Value::Object(map) => {
            visit(map);
            map.values().for_each(|v| each_object(v, visit));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| each_object(v, visit)),
        _ => {}
    }
}

/// Every object of `value` that has a `username`, wherever it is.
fn users_in(
    value: &serde_json::Value,
    found: &mut Vec<serde_json::Map<String, serde_json::Value>>,
) {
    each_object(value, &mut |map| {
        if map.contains_key("username") {
            found.push(map.clone());
        }
    });
}

async fn a_page_joins_the_author_columns_its_selection_shows(backend: Backend) {
    let Some(app) = spawn_app_with(backend, &[NO_RESPONSE_CACHE, NO_ENTITY_CACHE]).await else {
        return;
    };
    load_fixture(&app).await;
    const DETAILS: [&str; 3] = ["displayName", "bio", "createdAt"];
    // Each author as `user(username:)` reads it (the users loader's full row).
    let mut expected = std::collections::HashMap::new();
    for i in 0..6 {
        let res = app
            .graphql(
                "query($u: String!) { user(username: $u) { username displayName bio createdAt } }",
                json!({ "u": format!("author{i}") }),
            )
            .await;
        let user = res.data()["user"].clone();
        expected.insert(user["username"].as_str().unwrap().to_owned(), user);
    }
    // A page joins only the username of authors that select nothing more: the same
    // statements, right values. Every other shape reads the details, in the same number of
    // statements: directly, through `edges`, a fragment, an inline fragment, one of two
    // aliases of `author`, a directive, on a user's page and on comments.
    let name_only = "{ posts(first: 12) { nodes { author { username } } } }";
    let (name_statements, data) = run_counted(&app, name_only).await;
    let mut users = Vec::new();
    users_in(&data, &mut users);
    assert_eq!(users.len(), 12, "{backend:?}: {data}");
    let all = "username displayName bio createdAt";
    let queries = [
        format!("{{ posts(first: 12) {{ nodes {{ author {{ {all} }} }} }} }}"),
        format!("{{ posts(first: 12) {{ edges {{ node {{ author {{ ...U }} }} }} }} }} fragment U on User {{ {all} }}"),
        "{ posts(first: 12) { nodes { author { username ... on User { displayName bio createdAt } } } } }".to_owned(),
        "{ posts(first: 12) { nodes { a: author { username } b: author { username createdAt bio displayName } } } }".to_owned(),
        "{ posts(first: 12) { nodes { author { username displayName @include(if: true) bio createdAt @skip(if: false) } } } }".to_owned(),
        format!("{{ user(username: \"author2\") {{ posts(first: 5) {{ nodes {{ author {{ {all} }} }} }} }} }}"),
        format!("{{ posts(first: 4) {{ nodes {{ comments(first: 6) {{ nodes {{ author {{ {all} }} }} }} }} }} }}"),
    ];
    for query in &queries {
        let (statements, data) = run_counted(&app, query).await;
        if !query.contains("user(username") && !query.contains("comments") {
            assert_eq!(statements, name_statements, "{backend:?}: {query}");
        }
        let mut users = Vec::new();
        users_in(&data, &mut users);
        let with_details: Vec<_> = users
            .iter()
            .filter(|u| DETAILS.iter().all(|field| u.contains_key(*field)))
            .collect();
        assert!(with_details.len() >= 5, "{backend:?}: {query}: {data}");
        for user in with_details {
            let want = &expected[user["username"].as_str().unwrap()];
            for field in DETAILS {
                assert_eq!(user[field], want[field], "{backend:?}: {query}: {field}");
            }
        }
    }
    // Some authors have a bio: the check above compared real values, not nulls.
    assert!(expected.values().any(|u| u["bio"].is_string()));
}

/// Every post in `value` that shows its title (`title`) and its body (`body` or `b`), as
/// (title, body).
fn titled_bodies(value: &serde_json::Value, found: &mut Vec<(String, serde_json::Value)>) {
    each_object(value, &mut |map| {
        let body = map.get("body").or_else(|| map.get("b"));
        if let (Some(title), Some(body)) = (map.get("title"), body) {
            found.push((title.as_str().unwrap().to_owned(), body.clone()));
        }
    });
}

/// A page leaves its posts' bodies out when no node selects `body`, and every shape that
/// does select it gets the real text: directly, through `edges`, a fragment, an inline
/// fragment, an alias, a directive, a user's and a tag's page, and one of two aliased
/// pages (whose other one reads no body). Same statements either way.
async fn a_page_reads_post_bodies_only_when_its_selection_shows_them(backend: Backend) {
    let Some(app) = spawn_app_with(backend, &[NO_RESPONSE_CACHE, NO_ENTITY_CACHE]).await else {
        return;
    };
    load_fixture(&app).await;
    let (without, data) = run_counted(&app, "{ posts(first: 12) { nodes { title } } }").await;
    assert_eq!(data["posts"]["nodes"].as_array().unwrap().len(), 12);
    let (with, _) = run_counted(&app, "{ posts(first: 12) { nodes { title body } } }").await;
    assert_eq!(with, without, "{backend:?}");
    let queries = [
        ("{ posts(first: 12) { nodes { title body } } }", 12),
        ("{ posts(first: 12) { edges { node { title ...P } } } } fragment P on Post { body }", 12),
        ("{ posts(first: 12) { nodes { title ... on Post { body } } } }", 12),
        ("{ posts(first: 12) { nodes { title b: body } } }", 12),
        ("{ posts(first: 12) { nodes { title body @include(if: true) } } }", 12),
        ("{ user(username: \"author2\") { posts(first: 5) { nodes { title body } } } }", 5),
        ("{ posts(first: 2) { nodes { tags { posts(first: 3) { nodes { title body } } } } } }", 12),
        ("{ a: posts(first: 3) { nodes { title } } b: posts(first: 4) { nodes { title body } } }", 4),
    ];
    for (query, count) in queries {
        let (_, data) = run_counted(&app, query).await;
        let mut found = Vec::new();
        titled_bodies(&data, &mut found);
        assert_eq!(found.len(), count, "{backend:?}: {query}: {data}");
        for (title, body) in found {
            let n = title.strip_prefix("Post ").unwrap();
            assert_eq!(body, format!("Body of post {n}"), "{backend:?}: {query}");
        }
    }
}

/// `SHOW setting` on `db`.
async fn show(db: &impl ConnectionTrait, setting: &str) -> String {
    let statement = Statement::from_string(DbBackend::Postgres, format!("SHOW {setting}"));
    let row = db.query_one(statement).await.unwrap().unwrap();
    row.try_get_by_index::<String>(0).unwrap()
}

/// Every PostgreSQL connection of the server's pool starts with Memoize off (its
/// statements read bounded pages; see `db::session_setup`) and in the configured schema.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_sessions_start_set_up_for_bounded_pages() {
    let Some(app) = spawn_app_with(Backend::Postgres, &[NO_RESPONSE_CACHE]).await else {
        return;
    };
    let db = &app.services.db;
    let schema = app.services.settings.database_schema.clone().unwrap();
    // Held at once, so the pool opens several connections, each set up on its own.
    let held = futures_util::future::join_all((0..4).map(|_| db.begin())).await;
    for transaction in held {
        let transaction = transaction.unwrap();
        assert_eq!(show(&transaction, "enable_memoize").await, "off");
        assert_eq!(show(&transaction, "search_path").await, schema);
        transaction.rollback().await.unwrap();
    }
    // And the server answers through them.
    let res = app.graphql(FEED, json!({ "n": 3 })).await;
    assert!(res.data()["posts"]["nodes"].is_array(), "{res:?}");
}

/// Objects with at most one selected field that can wait resolve their fields one after
/// another (`graphql::in_order`); an object with two must still queue both fields' keys in
/// the same level. A post's comment and like counts through the count loader are one
/// statement only when both keys are in one batch. A comment's post is read by id, never
/// with its counts, so they go through the loader on both backends; on SQLite a user's
/// page does not read them in its own statement either. (On PostgreSQL that page reads
/// them, nothing waits, and the counts must agree just the same.)
async fn two_waiting_fields_of_one_object_load_in_one_level(backend: Backend) {
    let Some(app) = spawn_app_with(backend, &[NO_RESPONSE_CACHE, NO_ENTITY_CACHE]).await else {
        return;
    };
    load_fixture(&app).await;
    let page = |fields: &str| {
        format!(
            "{{ user(username: \"author2\") {{ posts(first: 5) {{ nodes {{ id {fields} }} }} }} }}"
        )
    };
    let (one, _) = run_counted(&app, &page("commentCount")).await;
    let (two, data) = run_counted(&app, &page("commentCount likeCount")).await;
    let (reversed, _) = run_counted(&app, &page("likeCount title commentCount")).await;
    // The same through `edges`, whose edges and nodes resolve the same way.
    let (through_edges, edges) = run_counted(
        &app,
        "{ user(username: \"author2\") { posts(first: 5) { edges { cursor node { commentCount likeCount } } } } }",
    )
    .await;
    eprintln!(
        "{backend:?}: one count {one} statements, two {two}, two apart {reversed}, through edges {through_edges}"
    );
    assert_eq!(
        one, through_edges,
        "{backend:?}: the second count took a level of its own"
    );
    for edge in edges["user"]["posts"]["edges"].as_array().unwrap() {
        assert_eq!(edge["node"]["commentCount"], 6, "{edge}");
        assert_eq!(edge["node"]["likeCount"], 3, "{edge}");
        assert!(!edge["cursor"].as_str().unwrap().is_empty(), "{edge}");
    }
    assert_eq!(
        one, two,
        "{backend:?}: the second count took a level of its own"
    );
    assert_eq!(
        one, reversed,
        "{backend:?}: the second count took a level of its own"
    );
    let nodes = data["user"]["posts"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 5);
    for node in nodes {
        assert_eq!(node["commentCount"], 6, "{node}");
        assert_eq!(node["likeCount"], 3, "{node}");
    }
    // Posts reached through their comments: the counts wait on both backends.
    let of_comments = |fields: &str| {
        format!(
            "{{ posts(first: 3) {{ nodes {{ comments(first: 2) {{ nodes {{ post {{ id {fields} }} }} }} }} }} }}"
        )
    };
    let (one, _) = run_counted(&app, &of_comments("commentCount")).await;
    let (two, data) = run_counted(&app, &of_comments("commentCount likeCount")).await;
    eprintln!("{backend:?}: a comment's post with one count {one} statements, two {two}");
    assert_eq!(
        one, two,
        "{backend:?}: the second count of a comment's post took a level of its own"
    );
    let mut seen = 0;
    for post in data["posts"]["nodes"].as_array().unwrap() {
        for comment in post["comments"]["nodes"].as_array().unwrap() {
            assert_eq!(comment["post"]["commentCount"], 6, "{comment}");
            assert_eq!(comment["post"]["likeCount"], 3, "{comment}");
            seen += 1;
        }
    }
    assert_eq!(seen, 6);
}

backend_tests!(
    feed_statement_count_does_not_grow_with_the_page,
    deep_statement_count_does_not_grow_with_the_page,
    a_page_reads_its_authors_and_counts_in_its_own_statement,
    a_page_joins_the_author_columns_its_selection_shows,
    a_page_reads_post_bodies_only_when_its_selection_shows_them,
    two_waiting_fields_of_one_object_load_in_one_level,
);
