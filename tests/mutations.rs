//! Every mutation of CONTRACT.md section 2: what it writes, who may call it, the input
//! bounds of section 3, and that a failure writes nothing.

#![allow(clippy::unwrap_used)]

mod common;

use base64::Engine as _;
use common::{spawn_app, Backend, Gql, TestApp};
use serde_json::{json, Value};

const REGISTER: &str =
    "mutation($input: RegisterInput!) { register(input: $input) { token user { id username displayName } } }";
const LOGIN: &str =
    "mutation($input: LoginInput!) { login(input: $input) { token user { username } } }";
const CREATE_POST: &str = "mutation($input: CreatePostInput!) { createPost(input: $input) { \
     id title body status publishedAt author { username } tags { id name } } }";
const UPDATE_POST: &str =
    "mutation($id: ID!, $input: UpdatePostInput!) { updatePost(id: $id, input: $input) { \
     id title body status tags { name } } }";
const PUBLISH_POST: &str = "mutation($id: ID!) { publishPost(id: $id) { id status publishedAt } }";
const DELETE_POST: &str = "mutation($id: ID!) { deletePost(id: $id) }";
const ADD_COMMENT: &str = "mutation($p: ID!, $b: String!) { addComment(postId: $p, body: $b) { \
     id body author { username } post { id } } }";
const DELETE_COMMENT: &str = "mutation($id: ID!) { deleteComment(id: $id) }";
const LIKE: &str = "mutation($p: ID!) { likePost(postId: $p) { id likeCount viewerHasLiked } }";
const UNLIKE: &str = "mutation($p: ID!) { unlikePost(postId: $p) { id likeCount viewerHasLiked } }";
const POST: &str = "query($id: ID!) { post(id: $id) { id title body status publishedAt \
     tags { name } likeCount viewerHasLiked commentCount comments { totalCount nodes { id body } } } }";

/// A valid registration input for `username`, to be altered by a test.
fn registration(username: &str) -> Value {
    json!({
        "username": username,
        "email": format!("{username}@example.org"),
        "password": "correct horse battery",
        "displayName": "Someone",
    })
}

async fn register_with(app: &TestApp, input: Value) -> Gql {
    app.graphql(REGISTER, json!({ "input": input })).await
}

async fn create_post_with(app: &TestApp, token: &str, input: Value) -> Gql {
    app.graphql_as(Some(token), CREATE_POST, json!({ "input": input }))
        .await
}

async fn read_post(app: &TestApp, token: Option<&str>, id: &str) -> Value {
    let res = app.graphql_as(token, POST, json!({ "id": id })).await;
    res.data()["post"].clone()
}

/// The first column of a one-row SQL query, as a number.
async fn sql_count(app: &TestApp, sql: &str) -> i64 {
    use sea_orm::{ConnectionTrait, Statement};
    let db = &app.services.db;
    let row = db
        .query_one(Statement::from_string(
            db.get_database_backend(),
            sql.to_owned(),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

/// The row id inside a Relay global id (`base64("Post:42")` → 42).
fn row_id(global: &str) -> i64 {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(global)
        .unwrap();
    let text = String::from_utf8(bytes).unwrap();
    text.split_once(':').unwrap().1.parse().unwrap()
}

/// Asserts one `code` error and HTTP 200 (a GraphQL field error, not a request error).
fn assert_field_error(res: &Gql, code: &str) {
    assert_eq!(res.status, 200, "body: {}", res.body);
    res.assert_code(code);
}

// ---------------------------------------------------------------------------------------
// register

async fn register_returns_a_token_and_the_new_user(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let res = register_with(&app, registration("ada_99")).await;
    assert_eq!(res.status, 200);
    let payload = &res.data()["register"];
    assert!(!payload["token"].as_str().unwrap().is_empty());
    assert_eq!(payload["user"]["username"], "ada_99");
    assert_eq!(payload["user"]["displayName"], "Someone");
    assert_eq!(sql_count(&app, "SELECT COUNT(*) AS n FROM users").await, 1);
}

async fn register_refuses_a_taken_username_or_email(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    register_with(&app, registration("ada")).await.data();

    let mut same_username = registration("ada");
    same_username["email"] = json!("other@example.org");
    let res = register_with(&app, same_username).await;
    assert_field_error(&res, "BAD_USER_INPUT");

    let mut same_email = registration("grace");
    same_email["email"] = json!("ada@example.org");
    let res = register_with(&app, same_email).await;
    assert_field_error(&res, "BAD_USER_INPUT");

    // Emails compare case-insensitively.
    let mut same_email_upper = registration("grace");
    same_email_upper["email"] = json!("ADA@Example.ORG");
    let res = register_with(&app, same_email_upper).await;
    assert_field_error(&res, "BAD_USER_INPUT");

    assert_eq!(sql_count(&app, "SELECT COUNT(*) AS n FROM users").await, 1);
}

async fn register_refuses_input_outside_the_bounds(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let cases: Vec<(&str, &str, Value)> = vec![
        ("username", "too short", json!("ab")),
        ("username", "too long", json!("a".repeat(33))),
        ("username", "upper case", json!("Ada")),
        ("username", "a dash", json!("ada-l")),
        ("username", "a space", json!("ada l")),
        ("username", "non-ASCII", json!("adé")),
        ("password", "7 characters", json!("1234567")),
        ("password", "129 characters", json!("p".repeat(129))),
        ("displayName", "empty", json!("")),
        ("displayName", "blank", json!("   ")),
        ("displayName", "65 characters", json!("d".repeat(65))),
        ("email", "no @", json!("ada.example.org")),
        ("email", "no domain dot", json!("ada@example")),
        ("email", "no local part", json!("@example.org")),
        ("email", "two @", json!("a@b@example.org")),
        ("email", "a space", json!("a da@example.org")),
    ];
    for (field, why, value) in cases {
        let mut input = registration("valid_name");
        input[field] = value;
        let res = register_with(&app, input).await;
        assert_eq!(res.status, 200, "{field} {why}: {}", res.body);
        assert_eq!(
            res.codes(),
            ["BAD_USER_INPUT"],
            "{field} {why}: {}",
            res.body
        );
    }
    assert_eq!(sql_count(&app, "SELECT COUNT(*) AS n FROM users").await, 0);
}

async fn register_accepts_values_at_the_bounds(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let short = json!({
        "username": "abc",
        "email": "a@b.co",
        "password": "12345678",
        "displayName": "D",
    });
    register_with(&app, short).await.data();
    let long = json!({
        "username": "a_".repeat(16),
        "email": "long@example.org",
        "password": "p".repeat(128),
        "displayName": "d".repeat(64),
    });
    register_with(&app, long).await.data();
    assert_eq!(sql_count(&app, "SELECT COUNT(*) AS n FROM users").await, 2);
}

// ---------------------------------------------------------------------------------------
// login

async fn login_accepts_the_username_or_the_email(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.register("ada").await;
    for login in ["ada", "ada@example.org"] {
        let res = app
            .graphql(
                LOGIN,
                json!({ "input": { "usernameOrEmail": login, "password": "password-ada" } }),
            )
            .await;
        assert_eq!(res.status, 200);
        let payload = &res.data()["login"];
        assert_eq!(payload["user"]["username"], "ada", "login as {login}");
        let token = payload["token"].as_str().unwrap();
        let me = app
            .graphql_as(Some(token), "{ viewer { username } }", json!({}))
            .await;
        assert_eq!(me.data()["viewer"]["username"], "ada");
    }
}

async fn login_with_a_wrong_password_or_unknown_user_is_unauthenticated_with_200(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.register("ada").await;
    for (login, password) in [
        ("ada", "password-wrong"),
        ("ada@example.org", "password-wrong"),
        ("nobody", "password-ada"),
    ] {
        let res = app
            .graphql(
                LOGIN,
                json!({ "input": { "usernameOrEmail": login, "password": password } }),
            )
            .await;
        assert_field_error(&res, "UNAUTHENTICATED");
        assert!(res.body["data"].is_null(), "no token: {}", res.body);
    }
}

// ---------------------------------------------------------------------------------------
// createPost

async fn create_post_saves_a_draft_unless_asked_to_publish(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (token, _) = app.register("ada").await;

    let res = create_post_with(&app, &token, json!({ "title": "Draft", "body": "b" })).await;
    let draft = &res.data()["createPost"];
    assert_eq!(draft["status"], "DRAFT");
    assert!(draft["publishedAt"].is_null());
    assert_eq!(draft["author"]["username"], "ada");
    assert_eq!(draft["tags"], json!([]));

    let res = create_post_with(
        &app,
        &token,
        json!({ "title": "Out", "body": "b", "publish": true }),
    )
    .await;
    let published = &res.data()["createPost"];
    assert_eq!(published["status"], "PUBLISHED");
    assert!(published["publishedAt"].is_string());

    // The draft is the author's alone.
    let draft_id = draft["id"].as_str().unwrap();
    assert!(read_post(&app, None, draft_id).await.is_null());
    assert_eq!(
        read_post(&app, Some(&token), draft_id).await["title"],
        "Draft"
    );
    let anon = app.graphql("{ posts { totalCount } }", json!({})).await;
    assert_eq!(anon.data()["posts"]["totalCount"], 1);
    let own = app
        .graphql_as(Some(&token), "{ posts { totalCount } }", json!({}))
        .await;
    assert_eq!(own.data()["posts"]["totalCount"], 2);
}

async fn create_post_creates_tags_on_the_fly_and_reuses_them(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (token, _) = app.register("ada").await;
    let first = create_post_with(
        &app,
        &token,
        json!({ "title": "One", "body": "b", "tags": ["rust", "db"], "publish": true }),
    )
    .await;
    let second = create_post_with(
        &app,
        &token,
        json!({ "title": "Two", "body": "b", "tags": ["rust", "web"], "publish": true }),
    )
    .await;
    let tag_id = |res: &Gql, name: &str| -> String {
        res.data()["createPost"]["tags"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap_or_else(|| panic!("no tag {name}: {}", res.body))["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(tag_id(&first, "rust"), tag_id(&second, "rust"));
    assert_ne!(tag_id(&first, "db"), tag_id(&second, "web"));
    assert_eq!(sql_count(&app, "SELECT COUNT(*) AS n FROM tags").await, 3);
    assert_eq!(
        sql_count(&app, "SELECT COUNT(*) AS n FROM post_tags").await,
        4
    );

    let res = app
        .graphql(
            "{ tags { totalCount } posts(filter: { tag: \"rust\" }) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(res.data()["tags"]["totalCount"], 3);
    assert_eq!(res.data()["posts"]["totalCount"], 2);
}

async fn create_post_refuses_input_outside_the_bounds(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (token, _) = app.register("ada").await;
    let eleven_tags: Vec<String> = (0..11).map(|i| format!("tag{i}")).collect();
    let cases: Vec<(&str, Value)> = vec![
        ("empty title", json!({ "title": "", "body": "b" })),
        ("blank title", json!({ "title": "   ", "body": "b" })),
        (
            "201-character title",
            json!({ "title": "t".repeat(201), "body": "b" }),
        ),
        ("empty body", json!({ "title": "t", "body": "" })),
        (
            "50,001-character body",
            json!({ "title": "t", "body": "b".repeat(50_001) }),
        ),
        (
            "11 tags",
            json!({ "title": "t", "body": "b", "tags": eleven_tags }),
        ),
        (
            "an empty tag",
            json!({ "title": "t", "body": "b", "tags": [""] }),
        ),
        (
            "a 33-character tag",
            json!({ "title": "t", "body": "b", "tags": ["x".repeat(33)] }),
        ),
    ];
    for (why, input) in cases {
        let res = create_post_with(&app, &token, input).await;
        assert_eq!(res.status, 200, "{why}: {}", res.body);
        assert_eq!(res.codes(), ["BAD_USER_INPUT"], "{why}: {}", res.body);
    }
    assert_eq!(sql_count(&app, "SELECT COUNT(*) AS n FROM posts").await, 0);
    assert_eq!(sql_count(&app, "SELECT COUNT(*) AS n FROM tags").await, 0);
}

async fn create_post_accepts_values_at_the_bounds(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (token, _) = app.register("ada").await;
    let ten_tags: Vec<String> = (0..10).map(|i| format!("{i:0>32}")).collect();
    let res = create_post_with(
        &app,
        &token,
        json!({ "title": "t".repeat(200), "body": "b".repeat(50_000), "tags": ten_tags }),
    )
    .await;
    let post = &res.data()["createPost"];
    assert_eq!(post["title"].as_str().unwrap().chars().count(), 200);
    assert_eq!(post["body"].as_str().unwrap().len(), 50_000);
    assert_eq!(post["tags"].as_array().unwrap().len(), 10);
    let res = create_post_with(
        &app,
        &token,
        json!({ "title": "t", "body": "b", "tags": ["x"] }),
    )
    .await;
    res.data();
    assert_eq!(sql_count(&app, "SELECT COUNT(*) AS n FROM posts").await, 2);
}

// ---------------------------------------------------------------------------------------
// updatePost

async fn update_post_by_its_author_changes_the_given_fields_and_replaces_tags(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (token, _) = app.register("ada").await;
    let id = app.create_post(&token, "Old", true, &["a", "b"]).await;

    let res = app
        .graphql_as(
            Some(&token),
            UPDATE_POST,
            json!({ "id": id, "input": { "title": "New", "tags": ["b", "c"] } }),
        )
        .await;
    let updated = &res.data()["updatePost"];
    assert_eq!(updated["title"], "New");
    assert_eq!(updated["body"], "Body of Old", "an omitted field stays");
    let mut names: Vec<&str> = updated["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["b", "c"]);

    let post = read_post(&app, None, &id).await;
    assert_eq!(post["title"], "New");
    assert_eq!(post["tags"].as_array().unwrap().len(), 2);
    let res = app
        .graphql(
            "{ posts(filter: { tag: \"a\" }) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(res.data()["posts"]["totalCount"], 0, "tag a was removed");

    // Omitting tags keeps them; an empty list clears them.
    let res = app
        .graphql_as(
            Some(&token),
            UPDATE_POST,
            json!({ "id": id, "input": { "body": "Body 2" } }),
        )
        .await;
    assert_eq!(
        res.data()["updatePost"]["tags"].as_array().unwrap().len(),
        2
    );
    let res = app
        .graphql_as(
            Some(&token),
            UPDATE_POST,
            json!({ "id": id, "input": { "tags": [] } }),
        )
        .await;
    assert_eq!(res.data()["updatePost"]["tags"], json!([]));
}

async fn update_post_by_another_user_is_forbidden(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (ada, _) = app.register("ada").await;
    let (eve, _) = app.register("eve").await;
    let id = app.create_post(&ada, "Mine", true, &[]).await;
    let res = app
        .graphql_as(
            Some(&eve),
            UPDATE_POST,
            json!({ "id": id, "input": { "title": "Hacked" } }),
        )
        .await;
    assert_field_error(&res, "FORBIDDEN");
    assert_eq!(read_post(&app, None, &id).await["title"], "Mine");
}

async fn update_post_checks_the_bounds(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (token, _) = app.register("ada").await;
    let id = app.create_post(&token, "Title", true, &[]).await;
    for input in [
        json!({ "title": "" }),
        json!({ "title": "t".repeat(201) }),
        json!({ "body": "" }),
        json!({ "tags": ["x".repeat(33)] }),
    ] {
        let res = app
            .graphql_as(
                Some(&token),
                UPDATE_POST,
                json!({ "id": id, "input": input }),
            )
            .await;
        assert_field_error(&res, "BAD_USER_INPUT");
    }
    assert_eq!(read_post(&app, None, &id).await["title"], "Title");
}

async fn acting_on_someone_elses_draft_is_not_found(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (ada, _) = app.register("ada").await;
    let (eve, _) = app.register("eve").await;
    let draft = app.create_post(&ada, "Secret", false, &[]).await;
    let attempts = [
        (
            UPDATE_POST,
            json!({ "id": draft, "input": { "title": "x" } }),
        ),
        (PUBLISH_POST, json!({ "id": draft })),
        (DELETE_POST, json!({ "id": draft })),
        (ADD_COMMENT, json!({ "p": draft, "b": "hi" })),
        (LIKE, json!({ "p": draft })),
        (UNLIKE, json!({ "p": draft })),
    ];
    for (mutation, variables) in attempts {
        let res = app.graphql_as(Some(&eve), mutation, variables).await;
        assert_eq!(res.status, 200, "{mutation}: {}", res.body);
        assert_eq!(res.codes(), ["NOT_FOUND"], "{mutation}: {}", res.body);
    }
    let post = read_post(&app, Some(&ada), &draft).await;
    assert_eq!(post["title"], "Secret");
    assert_eq!(post["status"], "DRAFT");
    assert_eq!(post["commentCount"], 0);
    assert_eq!(post["likeCount"], 0);
}

// ---------------------------------------------------------------------------------------
// publishPost

async fn publish_post_by_its_author_sets_status_and_published_at(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (ada, _) = app.register("ada").await;
    let (eve, _) = app.register("eve").await;
    let id = app.create_post(&ada, "Soon", false, &[]).await;

    let res = app
        .graphql_as(Some(&ada), PUBLISH_POST, json!({ "id": id }))
        .await;
    let published = &res.data()["publishPost"];
    assert_eq!(published["status"], "PUBLISHED");
    let published_at = published["publishedAt"].as_str().unwrap().to_owned();

    let seen = read_post(&app, None, &id).await;
    assert_eq!(seen["status"], "PUBLISHED");
    assert_eq!(seen["publishedAt"], published_at.as_str());

    // Publishing again changes nothing.
    let res = app
        .graphql_as(Some(&ada), PUBLISH_POST, json!({ "id": id }))
        .await;
    assert_eq!(
        res.data()["publishPost"]["publishedAt"],
        published_at.as_str()
    );

    // Someone else may see it now, but not publish it.
    let res = app
        .graphql_as(Some(&eve), PUBLISH_POST, json!({ "id": id }))
        .await;
    assert_field_error(&res, "FORBIDDEN");
}

// ---------------------------------------------------------------------------------------
// deletePost

async fn delete_post_by_its_author_removes_it_with_its_comments_and_likes(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (ada, _) = app.register("ada").await;
    let (bob, _) = app.register("bob").await;
    let doomed = app.create_post(&ada, "Doomed", true, &["t"]).await;
    let kept = app.create_post(&ada, "Kept", true, &["t"]).await;
    for post in [&doomed, &kept] {
        app.add_comment(&bob, post, "first").await;
        app.add_comment(&ada, post, "second").await;
        for token in [&ada, &bob] {
            app.graphql_as(Some(token), LIKE, json!({ "p": post }))
                .await
                .data();
        }
    }
    assert_eq!(
        sql_count(&app, "SELECT COUNT(*) AS n FROM comments").await,
        4
    );
    assert_eq!(
        sql_count(&app, "SELECT COUNT(*) AS n FROM post_likes").await,
        4
    );

    let res = app
        .graphql_as(Some(&ada), DELETE_POST, json!({ "id": doomed }))
        .await;
    assert_eq!(res.data()["deletePost"], doomed.as_str());

    assert!(read_post(&app, Some(&ada), &doomed).await.is_null());
    let pid = row_id(&doomed);
    for table in ["posts", "comments", "post_likes", "post_tags"] {
        let column = if table == "posts" { "id" } else { "post_id" };
        let sql = format!("SELECT COUNT(*) AS n FROM {table} WHERE {column} = {pid}");
        assert_eq!(
            sql_count(&app, &sql).await,
            0,
            "{table} rows of the deleted post"
        );
    }
    let kept_post = read_post(&app, None, &kept).await;
    assert_eq!(kept_post["commentCount"], 2);
    assert_eq!(kept_post["likeCount"], 2);
    assert_eq!(
        sql_count(&app, "SELECT COUNT(*) AS n FROM comments").await,
        2
    );
    assert_eq!(
        sql_count(&app, "SELECT COUNT(*) AS n FROM post_likes").await,
        2
    );
    let res = app
        .graphql(
            "{ posts { totalCount } user(username: \"ada\") { postCount } }",
            json!({}),
        )
        .await;
    assert_eq!(res.data()["posts"]["totalCount"], 1);
    assert_eq!(res.data()["user"]["postCount"], 1);

    // Deleting it again: it is gone.
    let res = app
        .graphql_as(Some(&ada), DELETE_POST, json!({ "id": doomed }))
        .await;
    assert_field_error(&res, "NOT_FOUND");
}

async fn delete_post_is_forbidden_to_others_and_allowed_to_an_admin(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (ada, _) = app.register("ada").await;
    let (eve, _) = app.register("eve").await;
    app.register("root").await;
    let admin = app.make_admin("root").await;
    let published = app.create_post(&ada, "Public", true, &[]).await;
    let draft = app.create_post(&ada, "Draft", false, &[]).await;

    let res = app
        .graphql_as(Some(&eve), DELETE_POST, json!({ "id": published }))
        .await;
    assert_field_error(&res, "FORBIDDEN");
    assert!(!read_post(&app, None, &published).await.is_null());

    for id in [&published, &draft] {
        let res = app
            .graphql_as(Some(&admin), DELETE_POST, json!({ "id": id }))
            .await;
        assert_eq!(res.data()["deletePost"], id.as_str());
        assert!(read_post(&app, Some(&ada), id).await.is_null());
    }
    assert_eq!(sql_count(&app, "SELECT COUNT(*) AS n FROM posts").await, 0);
}

// ---------------------------------------------------------------------------------------
// addComment / deleteComment

async fn add_comment_on_a_visible_post_is_listed_under_it(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (ada, _) = app.register("ada").await;
    let (bob, _) = app.register("bob").await;
    let post = app.create_post(&ada, "Post", true, &[]).await;
    let res = app
        .graphql_as(Some(&bob), ADD_COMMENT, json!({ "p": post, "b": "Nice" }))
        .await;
    let comment = &res.data()["addComment"];
    assert_eq!(comment["body"], "Nice");
    assert_eq!(comment["author"]["username"], "bob");
    assert_eq!(comment["post"]["id"], post.as_str());

    let seen = read_post(&app, None, &post).await;
    assert_eq!(seen["commentCount"], 1);
    assert_eq!(seen["comments"]["totalCount"], 1);
    assert_eq!(seen["comments"]["nodes"][0]["id"], comment["id"]);

    // An author may comment on their own draft, which they can see.
    let draft = app.create_post(&ada, "Draft", false, &[]).await;
    let res = app
        .graphql_as(Some(&ada), ADD_COMMENT, json!({ "p": draft, "b": "note" }))
        .await;
    assert_eq!(res.data()["addComment"]["body"], "note");
}

async fn add_comment_on_an_invisible_or_missing_post_is_not_found(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (ada, _) = app.register("ada").await;
    let (bob, _) = app.register("bob").await;
    let draft = app.create_post(&ada, "Draft", false, &[]).await;
    let missing = base64::engine::general_purpose::STANDARD.encode("Post:999999");
    for post in [&draft, &missing] {
        let res = app
            .graphql_as(Some(&bob), ADD_COMMENT, json!({ "p": post, "b": "hi" }))
            .await;
        assert_field_error(&res, "NOT_FOUND");
    }
    assert_eq!(
        sql_count(&app, "SELECT COUNT(*) AS n FROM comments").await,
        0
    );
}

async fn add_comment_checks_the_body_bounds(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (ada, _) = app.register("ada").await;
    let post = app.create_post(&ada, "Post", true, &[]).await;
    for body in [String::new(), "  ".to_owned(), "c".repeat(5_001)] {
        let res = app
            .graphql_as(Some(&ada), ADD_COMMENT, json!({ "p": post, "b": body }))
            .await;
        assert_field_error(&res, "BAD_USER_INPUT");
    }
    assert_eq!(
        sql_count(&app, "SELECT COUNT(*) AS n FROM comments").await,
        0
    );
    for body in ["c".to_owned(), "c".repeat(5_000)] {
        let res = app
            .graphql_as(Some(&ada), ADD_COMMENT, json!({ "p": post, "b": body }))
            .await;
        assert_eq!(res.data()["addComment"]["body"], body.as_str());
    }
    assert_eq!(
        sql_count(&app, "SELECT COUNT(*) AS n FROM comments").await,
        2
    );
}

async fn delete_comment_by_its_author_or_an_admin_and_forbidden_to_others(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (ada, _) = app.register("ada").await;
    let (bob, _) = app.register("bob").await;
    let (eve, _) = app.register("eve").await;
    app.register("root").await;
    let admin = app.make_admin("root").await;
    let post = app.create_post(&ada, "Post", true, &[]).await;
    let by_author = app.add_comment(&bob, &post, "one").await;
    let by_admin = app.add_comment(&bob, &post, "two").await;

    // Neither a stranger nor the post's author may delete bob's comment.
    for token in [&eve, &ada] {
        let res = app
            .graphql_as(Some(token), DELETE_COMMENT, json!({ "id": by_author }))
            .await;
        assert_field_error(&res, "FORBIDDEN");
    }
    assert_eq!(read_post(&app, None, &post).await["commentCount"], 2);

    let res = app
        .graphql_as(Some(&bob), DELETE_COMMENT, json!({ "id": by_author }))
        .await;
    assert_eq!(res.data()["deleteComment"], by_author.as_str());
    let res = app
        .graphql_as(Some(&admin), DELETE_COMMENT, json!({ "id": by_admin }))
        .await;
    assert_eq!(res.data()["deleteComment"], by_admin.as_str());

    let seen = read_post(&app, None, &post).await;
    assert_eq!(seen["commentCount"], 0);
    assert_eq!(seen["comments"]["nodes"], json!([]));
    assert_eq!(
        sql_count(&app, "SELECT COUNT(*) AS n FROM comments").await,
        0
    );

    let res = app
        .graphql_as(Some(&bob), DELETE_COMMENT, json!({ "id": by_author }))
        .await;
    assert_field_error(&res, "NOT_FOUND");
}

// ---------------------------------------------------------------------------------------
// likePost / unlikePost

async fn like_and_unlike_are_idempotent(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (ada, _) = app.register("ada").await;
    let (bob, _) = app.register("bob").await;
    let post = app.create_post(&ada, "Post", true, &[]).await;

    for _ in 0..2 {
        let res = app.graphql_as(Some(&bob), LIKE, json!({ "p": post })).await;
        let liked = &res.data()["likePost"];
        assert_eq!(liked["likeCount"], 1);
        assert_eq!(liked["viewerHasLiked"], true);
    }
    assert_eq!(
        sql_count(&app, "SELECT COUNT(*) AS n FROM post_likes").await,
        1
    );
    let as_bob = read_post(&app, Some(&bob), &post).await;
    assert_eq!(
        (
            as_bob["likeCount"].clone(),
            as_bob["viewerHasLiked"].clone()
        ),
        (json!(1), json!(true))
    );
    let as_ada = read_post(&app, Some(&ada), &post).await;
    assert_eq!(
        (
            as_ada["likeCount"].clone(),
            as_ada["viewerHasLiked"].clone()
        ),
        (json!(1), json!(false))
    );
    let anon = read_post(&app, None, &post).await;
    assert_eq!(anon["viewerHasLiked"], false);

    let res = app.graphql_as(Some(&ada), LIKE, json!({ "p": post })).await;
    assert_eq!(res.data()["likePost"]["likeCount"], 2);

    for _ in 0..2 {
        let res = app
            .graphql_as(Some(&bob), UNLIKE, json!({ "p": post }))
            .await;
        let unliked = &res.data()["unlikePost"];
        assert_eq!(unliked["likeCount"], 1);
        assert_eq!(unliked["viewerHasLiked"], false);
    }
    assert_eq!(
        sql_count(&app, "SELECT COUNT(*) AS n FROM post_likes").await,
        1
    );
}

// ---------------------------------------------------------------------------------------
// authentication and atomicity

async fn mutations_without_a_token_are_unauthenticated_with_200(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (ada, _) = app.register("ada").await;
    let post = app.create_post(&ada, "Post", true, &[]).await;
    let comment = app.add_comment(&ada, &post, "c").await;
    let posts_before = sql_count(&app, "SELECT COUNT(*) AS n FROM posts").await;
    let attempts = [
        (
            CREATE_POST,
            json!({ "input": { "title": "t", "body": "b" } }),
        ),
        (
            UPDATE_POST,
            json!({ "id": post, "input": { "title": "x" } }),
        ),
        (PUBLISH_POST, json!({ "id": post })),
        (DELETE_POST, json!({ "id": post })),
        (ADD_COMMENT, json!({ "p": post, "b": "hi" })),
        (DELETE_COMMENT, json!({ "id": comment })),
        (LIKE, json!({ "p": post })),
        (UNLIKE, json!({ "p": post })),
    ];
    for (mutation, variables) in attempts {
        let res = app.graphql(mutation, variables).await;
        assert_eq!(res.status, 200, "{mutation}: {}", res.body);
        assert_eq!(res.codes(), ["UNAUTHENTICATED"], "{mutation}: {}", res.body);
    }
    let seen = read_post(&app, None, &post).await;
    assert_eq!(seen["title"], "Post");
    assert_eq!(seen["commentCount"], 1);
    assert_eq!(seen["likeCount"], 0);
    assert_eq!(
        sql_count(&app, "SELECT COUNT(*) AS n FROM posts").await,
        posts_before
    );
}

async fn a_failed_mutation_leaves_no_partial_write(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (ada, _) = app.register("ada").await;
    app.create_post(&ada, "Before", true, &[]).await;
    assert_eq!(sql_count(&app, "SELECT COUNT(*) AS n FROM posts").await, 1);

    {
        use sea_orm::ConnectionTrait;
        app.services
            .db
            .execute_unprepared("DROP TABLE post_tags")
            .await
            .unwrap();
    }
    let res = create_post_with(
        &app,
        &ada,
        json!({ "title": "Half", "body": "b", "tags": ["t"], "publish": true }),
    )
    .await;
    assert_eq!(res.status, 200, "body: {}", res.body);
    res.assert_code("INTERNAL");
    let message = res.body["errors"][0]["message"].as_str().unwrap();
    assert!(
        !message.contains("post_tags") && !message.to_lowercase().contains("insert"),
        "INTERNAL leaks SQL: {message}"
    );
    assert_eq!(
        sql_count(&app, "SELECT COUNT(*) AS n FROM posts").await,
        1,
        "the post insert was rolled back"
    );
    assert_eq!(
        sql_count(&app, "SELECT COUNT(*) AS n FROM posts WHERE title = 'Half'").await,
        0
    );
    assert_eq!(
        sql_count(&app, "SELECT COUNT(*) AS n FROM tags").await,
        0,
        "the tag insert was rolled back"
    );
}

backend_tests!(
    register_returns_a_token_and_the_new_user,
    register_refuses_a_taken_username_or_email,
    register_refuses_input_outside_the_bounds,
    register_accepts_values_at_the_bounds,
    login_accepts_the_username_or_the_email,
    login_with_a_wrong_password_or_unknown_user_is_unauthenticated_with_200,
    create_post_saves_a_draft_unless_asked_to_publish,
    create_post_creates_tags_on_the_fly_and_reuses_them,
    create_post_refuses_input_outside_the_bounds,
    create_post_accepts_values_at_the_bounds,
    update_post_by_its_author_changes_the_given_fields_and_replaces_tags,
    update_post_by_another_user_is_forbidden,
    update_post_checks_the_bounds,
    acting_on_someone_elses_draft_is_not_found,
    publish_post_by_its_author_sets_status_and_published_at,
    delete_post_by_its_author_removes_it_with_its_comments_and_likes,
    delete_post_is_forbidden_to_others_and_allowed_to_an_admin,
    add_comment_on_a_visible_post_is_listed_under_it,
    add_comment_on_an_invisible_or_missing_post_is_not_found,
    add_comment_checks_the_body_bounds,
    delete_comment_by_its_author_or_an_admin_and_forbidden_to_others,
    like_and_unlike_are_idempotent,
    mutations_without_a_token_are_unauthenticated_with_200,
    a_failed_mutation_leaves_no_partial_write,
);
