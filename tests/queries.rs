//! The read side of the schema (CONTRACT.md §2): `node`/`nodes`, `viewer`, `user`, `post`,
//! `posts` with every filter and ordering, `tags`, counts and relations, and who may see
//! which posts.

#![allow(clippy::unwrap_used)]

mod common;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use common::{pluck, spawn_app, Backend, TestApp};
use serde_json::{json, Value};

/// A global id in the documented shape, base64 of `Type:key`, for ids that were never
/// handed out (unknown rows, unknown types, bad keys).
fn raw_id(text: &str) -> String {
    STANDARD.encode(text)
}

const NODE_FIELDS: &str = "__typename id
    ... on User { username }
    ... on Post { title }
    ... on Comment { body }
    ... on Tag { name }";

/// A user, a tagged published post with a comment: one object of each node type.
struct OneOfEach {
    app: TestApp,
    token: String,
    user: String,
    post: String,
    comment: String,
    tag: String,
}

async fn one_of_each(backend: Backend) -> Option<OneOfEach> {
    let app = spawn_app(backend).await?;
    let (token, user) = app.register("ada").await;
    let post = app.create_post(&token, "Hello", true, &["intro"]).await;
    let comment = app.add_comment(&token, &post, "First!").await;
    let res = app
        .graphql(
            "query($id: ID!) { post(id: $id) { tags { id } } }",
            json!({ "id": post }),
        )
        .await;
    let tag = res.data()["post"]["tags"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    Some(OneOfEach {
        app,
        token,
        user,
        post,
        comment,
        tag,
    })
}

// ---------------------------------------------------------------------------------------
// node and nodes

async fn node_fetches_a_user_a_post_a_comment_and_a_tag_by_global_id(backend: Backend) {
    let Some(w) = one_of_each(backend).await else {
        return;
    };
    let query = format!("query($id: ID!) {{ node(id: $id) {{ {NODE_FIELDS} }} }}");
    for (id, expected) in [
        (
            &w.user,
            json!({ "__typename": "User", "id": w.user, "username": "ada" }),
        ),
        (
            &w.post,
            json!({ "__typename": "Post", "id": w.post, "title": "Hello" }),
        ),
        (
            &w.comment,
            json!({ "__typename": "Comment", "id": w.comment, "body": "First!" }),
        ),
        (
            &w.tag,
            json!({ "__typename": "Tag", "id": w.tag, "name": "intro" }),
        ),
    ] {
        let res = w.app.graphql(&query, json!({ "id": id })).await;
        assert_eq!(res.data()["node"], expected);
    }
}

async fn node_is_null_for_ids_that_name_no_object(backend: Backend) {
    let Some(w) = one_of_each(backend).await else {
        return;
    };
    // A post and a comment that existed once, and well-formed ids of every type that never did.
    let gone_post = w.app.create_post(&w.token, "Gone", true, &[]).await;
    let gone_comment = w.app.add_comment(&w.token, &w.post, "Gone").await;
    let res = w
        .app
        .graphql_as(
            Some(&w.token),
            "mutation($p: ID!, $c: ID!) { deletePost(id: $p) deleteComment(id: $c) }",
            json!({ "p": gone_post, "c": gone_comment }),
        )
        .await;
    res.data();
    for id in [
        gone_post,
        gone_comment,
        raw_id("User:999999"),
        raw_id("Post:999999"),
        raw_id("Comment:999999"),
        raw_id("Tag:999999"),
    ] {
        let res = w
            .app
            .graphql_as(
                Some(&w.token),
                "query($id: ID!) { node(id: $id) { id } }",
                json!({ "id": id }),
            )
            .await;
        assert_eq!(res.data()["node"], Value::Null, "id {id}");
    }
}

async fn node_and_nodes_refuse_malformed_ids_as_bad_user_input(backend: Backend) {
    let Some(w) = one_of_each(backend).await else {
        return;
    };
    for bad in [
        "not-an-id".to_owned(),
        String::new(),
        raw_id("Planet:1"),
        raw_id("Post:abc"),
        raw_id("Post"),
    ] {
        let res = w
            .app
            .graphql(
                "query($id: ID!) { node(id: $id) { id } }",
                json!({ "id": bad }),
            )
            .await;
        res.assert_code("BAD_USER_INPUT");
        let res = w
            .app
            .graphql(
                "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
                json!({ "ids": [w.post, bad] }),
            )
            .await;
        res.assert_code("BAD_USER_INPUT");
    }
}

async fn nodes_keeps_the_order_of_the_ids_with_null_for_unknown_and_invisible_ones(
    backend: Backend,
) {
    let Some(w) = one_of_each(backend).await else {
        return;
    };
    let (bob, _) = w.app.register("bob").await;
    let bobs_draft = w.app.create_post(&bob, "Bob's draft", false, &[]).await;
    let query = format!("query($ids: [ID!]!) {{ nodes(ids: $ids) {{ {NODE_FIELDS} }} }}");
    let ids = json!([
        w.tag,
        raw_id("Post:999999"),
        w.comment,
        bobs_draft,
        w.user,
        w.post,
        w.tag
    ]);
    let res = w
        .app
        .graphql_as(Some(&w.token), &query, json!({ "ids": ids }))
        .await;
    assert_eq!(
        res.data()["nodes"],
        json!([
            { "__typename": "Tag", "id": w.tag, "name": "intro" },
            null,
            { "__typename": "Comment", "id": w.comment, "body": "First!" },
            null,
            { "__typename": "User", "id": w.user, "username": "ada" },
            { "__typename": "Post", "id": w.post, "title": "Hello" },
            { "__typename": "Tag", "id": w.tag, "name": "intro" },
        ])
    );
    // Its own author sees the draft in the same place.
    let res = w
        .app
        .graphql_as(Some(&bob), &query, json!({ "ids": [w.post, bobs_draft] }))
        .await;
    assert_eq!(
        res.data()["nodes"],
        json!([
            { "__typename": "Post", "id": w.post, "title": "Hello" },
            { "__typename": "Post", "id": bobs_draft, "title": "Bob's draft" },
        ])
    );
    let res = w.app.graphql("{ nodes(ids: []) { id } }", json!({})).await;
    assert_eq!(res.data()["nodes"], json!([]));
}

// ---------------------------------------------------------------------------------------
// viewer, user, post, tags

async fn viewer_is_null_when_anonymous_and_the_caller_when_authenticated(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (ada, ada_id) = app.register("ada").await;
    let (bob, bob_id) = app.register("bob").await;
    let query = "{ viewer { id username displayName } }";
    let res = app.graphql(query, json!({})).await;
    assert_eq!(res.data()["viewer"], Value::Null);
    let res = app.graphql_as(Some(&ada), query, json!({})).await;
    assert_eq!(
        res.data()["viewer"],
        json!({ "id": ada_id, "username": "ada", "displayName": "ADA" })
    );
    let res = app.graphql_as(Some(&bob), query, json!({})).await;
    assert_eq!(
        res.data()["viewer"],
        json!({ "id": bob_id, "username": "bob", "displayName": "BOB" })
    );
}

async fn user_finds_an_account_by_username_and_is_null_for_an_unknown_one(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, ada_id) = app.register("ada").await;
    app.register("bob").await;
    let query = "query($u: String!) { user(username: $u) { id username displayName bio } }";
    let res = app.graphql(query, json!({ "u": "ada" })).await;
    assert_eq!(
        res.data()["user"],
        json!({ "id": ada_id, "username": "ada", "displayName": "ADA", "bio": null })
    );
    for unknown in ["nobody", "ADA", ""] {
        let res = app.graphql(query, json!({ "u": unknown })).await;
        assert_eq!(res.data()["user"], Value::Null, "username {unknown:?}");
    }
}

async fn post_fetches_a_post_by_id_and_is_null_for_an_id_of_another_type(backend: Backend) {
    let Some(w) = one_of_each(backend).await else {
        return;
    };
    let query = "query($id: ID!) { post(id: $id) { id title body status author { username } } }";
    let res = w.app.graphql(query, json!({ "id": w.post })).await;
    assert_eq!(
        res.data()["post"],
        json!({ "id": w.post, "title": "Hello", "body": "Body of Hello", "status": "PUBLISHED", "author": { "username": "ada" } })
    );
    for other in [&w.user, &w.comment, &w.tag, &raw_id("Post:999999")] {
        let res = w.app.graphql(query, json!({ "id": other })).await;
        assert_eq!(res.data()["post"], Value::Null, "id {other}");
    }
    let res = w.app.graphql(query, json!({ "id": "garbage" })).await;
    res.assert_code("BAD_USER_INPUT");
}

async fn tags_lists_every_tag_once_newest_first(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (ada, _) = app.register("ada").await;
    let (bob, _) = app.register("bob").await;
    app.create_post(&ada, "One", true, &["one"]).await;
    app.create_post(&ada, "Two", true, &["two"]).await;
    // Reusing a tag does not create it again.
    app.create_post(&bob, "Three", true, &["three"]).await;
    app.create_post(&bob, "Four", true, &["one", "two"]).await;
    let res = app
        .graphql("{ tags { totalCount nodes { id name } } }", json!({}))
        .await;
    let tags = &res.data()["tags"];
    assert_eq!(tags["totalCount"], 3);
    assert_eq!(pluck(&tags["nodes"], "name"), ["three", "two", "one"]);
    let res = app
        .graphql(
            "{ tags(first: 1) { totalCount nodes { name } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        res.data()["tags"],
        json!({ "totalCount": 3, "nodes": [{ "name": "three" }] })
    );
}

// ---------------------------------------------------------------------------------------
// posts: filters

/// Ada: two published posts and a draft; Bob: a published post and a draft.
struct Library {
    app: TestApp,
    ada: String,
    ada_id: String,
    bob: String,
    bob_id: String,
}

async fn library(backend: Backend) -> Option<Library> {
    let app = spawn_app(backend).await?;
    let (ada, ada_id) = app.register("ada").await;
    let (bob, bob_id) = app.register("bob").await;
    for (token, title, body, publish, tags) in [
        (
            &ada,
            "Kayaking in Norway",
            "We paddled between fjords.",
            true,
            &["travel", "outdoors"][..],
        ),
        (
            &ada,
            "Baking bread",
            "Sourdough needs patience.",
            true,
            &["food"],
        ),
        (
            &ada,
            "Draft about fjords",
            "Unfinished notes.",
            false,
            &["travel"],
        ),
        (
            &bob,
            "Mountain hike",
            "The fjords looked tiny from above.",
            true,
            &["travel", "outdoors"],
        ),
        (
            &bob,
            "Secret plans",
            "More fjords, unpublished.",
            false,
            &["travel"],
        ),
    ] {
        app.create_post_with_body(token, title, body, publish, tags)
            .await;
    }
    Some(Library {
        app,
        ada,
        ada_id,
        bob,
        bob_id,
    })
}

/// The titles `posts(filter:)` returns to `token`, checking that `totalCount` agrees, both
/// on a single page and when counted apart from a smaller page.
async fn filtered(app: &TestApp, token: Option<&str>, filter: Value) -> Vec<String> {
    let res = app
        .graphql_as(
            token,
            "query($f: PostFilter) {
                all: posts(first: 100, filter: $f) { totalCount nodes { title } }
                one: posts(first: 1, filter: $f) { totalCount }
            }",
            json!({ "f": filter }),
        )
        .await;
    let data = res.data();
    let titles = pluck(&data["all"]["nodes"], "title");
    assert_eq!(data["all"]["totalCount"], titles.len(), "filter {filter}");
    assert_eq!(data["one"]["totalCount"], titles.len(), "filter {filter}");
    titles
}

async fn posts_filter_by_author_id_alone(backend: Backend) {
    let Some(l) = library(backend).await else {
        return;
    };
    let ada = Some(l.ada.as_str());
    assert_eq!(
        filtered(&l.app, ada, json!({ "authorId": l.ada_id })).await,
        ["Baking bread", "Kayaking in Norway", "Draft about fjords"]
    );
    assert_eq!(
        filtered(&l.app, ada, json!({ "authorId": l.bob_id })).await,
        ["Mountain hike"]
    );
    assert_eq!(
        filtered(&l.app, Some(&l.bob), json!({ "authorId": l.bob_id })).await,
        ["Mountain hike", "Secret plans"]
    );
    // A well-formed id of another type matches nothing; a malformed one is refused.
    let post_id = l.app.create_post(&l.ada, "Extra", true, &[]).await;
    assert!(filtered(&l.app, ada, json!({ "authorId": post_id }))
        .await
        .is_empty());
    let res = l
        .app
        .graphql(
            "{ posts(filter: { authorId: \"nope\" }) { totalCount } }",
            json!({}),
        )
        .await;
    res.assert_code("BAD_USER_INPUT");
}

async fn posts_filter_by_tag_alone(backend: Backend) {
    let Some(l) = library(backend).await else {
        return;
    };
    let ada = Some(l.ada.as_str());
    assert_eq!(
        filtered(&l.app, ada, json!({ "tag": "travel" })).await,
        ["Mountain hike", "Kayaking in Norway", "Draft about fjords"]
    );
    assert_eq!(
        filtered(&l.app, ada, json!({ "tag": "outdoors" })).await,
        ["Mountain hike", "Kayaking in Norway"]
    );
    assert_eq!(
        filtered(&l.app, None, json!({ "tag": "travel" })).await,
        ["Mountain hike", "Kayaking in Norway"]
    );
    assert!(filtered(&l.app, ada, json!({ "tag": "unknown" }))
        .await
        .is_empty());
}

async fn posts_filter_by_status_alone(backend: Backend) {
    let Some(l) = library(backend).await else {
        return;
    };
    let ada = Some(l.ada.as_str());
    assert_eq!(
        filtered(&l.app, ada, json!({ "status": "PUBLISHED" })).await,
        ["Mountain hike", "Baking bread", "Kayaking in Norway"]
    );
    // Drafts are still only the caller's own.
    assert_eq!(
        filtered(&l.app, ada, json!({ "status": "DRAFT" })).await,
        ["Draft about fjords"]
    );
    assert_eq!(
        filtered(&l.app, Some(&l.bob), json!({ "status": "DRAFT" })).await,
        ["Secret plans"]
    );
    assert!(filtered(&l.app, None, json!({ "status": "DRAFT" }))
        .await
        .is_empty());
}

async fn posts_filter_by_search_finds_a_word_in_the_title_or_the_body(backend: Backend) {
    let Some(l) = library(backend).await else {
        return;
    };
    let ada = Some(l.ada.as_str());
    // In a title only, in a body only, in either (case does not matter).
    assert_eq!(
        filtered(&l.app, ada, json!({ "search": "bread" })).await,
        ["Baking bread"]
    );
    assert_eq!(
        filtered(&l.app, ada, json!({ "search": "sourdough" })).await,
        ["Baking bread"]
    );
    assert_eq!(
        filtered(&l.app, ada, json!({ "search": "SOURDOUGH" })).await,
        ["Baking bread"]
    );
    assert_eq!(
        filtered(&l.app, ada, json!({ "search": "fjords" })).await,
        ["Mountain hike", "Kayaking in Norway", "Draft about fjords"]
    );
    assert_eq!(
        filtered(&l.app, None, json!({ "search": "fjords" })).await,
        ["Mountain hike", "Kayaking in Norway"]
    );
    assert!(filtered(&l.app, ada, json!({ "search": "zebra" }))
        .await
        .is_empty());
}

async fn posts_filters_combine_so_that_all_must_match(backend: Backend) {
    let Some(l) = library(backend).await else {
        return;
    };
    let ada = Some(l.ada.as_str());
    let cases = [
        (
            json!({ "authorId": l.ada_id, "tag": "travel" }),
            vec!["Kayaking in Norway", "Draft about fjords"],
        ),
        (
            json!({ "authorId": l.ada_id, "tag": "travel", "status": "PUBLISHED" }),
            vec!["Kayaking in Norway"],
        ),
        (
            json!({ "authorId": l.ada_id, "tag": "travel", "status": "DRAFT", "search": "fjords" }),
            vec!["Draft about fjords"],
        ),
        (
            json!({ "authorId": l.ada_id, "search": "fjords", "status": "PUBLISHED" }),
            vec!["Kayaking in Norway"],
        ),
        (
            json!({ "authorId": l.bob_id, "search": "fjords" }),
            vec!["Mountain hike"],
        ),
        (
            json!({ "tag": "outdoors", "search": "fjords" }),
            vec!["Mountain hike", "Kayaking in Norway"],
        ),
        (json!({ "tag": "outdoors", "status": "DRAFT" }), vec![]),
        (json!({ "tag": "food", "search": "fjords" }), vec![]),
        (json!({ "authorId": l.bob_id, "status": "DRAFT" }), vec![]),
    ];
    for (filter, expected) in cases {
        assert_eq!(
            filtered(&l.app, ada, filter.clone()).await,
            expected,
            "filter {filter}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// posts: ordering

async fn posts_order_by_published_or_created_time_in_either_direction_with_drafts_last(
    backend: Backend,
) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (ada, _) = app.register("ada").await;
    // Created in this order; "Early draft" is published last of all.
    let early = app.create_post(&ada, "Early draft", false, &[]).await;
    app.create_post(&ada, "First", true, &[]).await;
    app.create_post(&ada, "Second", true, &[]).await;
    app.create_post(&ada, "Draft A", false, &[]).await;
    app.create_post(&ada, "Draft B", false, &[]).await;
    app.publish_post(&ada, &early).await;

    let query = "query($o: PostOrder) { posts(orderBy: $o) { nodes { title } } }";
    let cases = [
        (
            Value::Null,
            ["Early draft", "Second", "First", "Draft B", "Draft A"],
        ),
        (
            json!({}),
            ["Early draft", "Second", "First", "Draft B", "Draft A"],
        ),
        (
            json!({ "field": "PUBLISHED_AT", "direction": "DESC" }),
            ["Early draft", "Second", "First", "Draft B", "Draft A"],
        ),
        (
            json!({ "field": "PUBLISHED_AT", "direction": "ASC" }),
            ["First", "Second", "Early draft", "Draft A", "Draft B"],
        ),
        (
            json!({ "direction": "ASC" }),
            ["First", "Second", "Early draft", "Draft A", "Draft B"],
        ),
        (
            json!({ "field": "CREATED_AT", "direction": "DESC" }),
            ["Draft B", "Draft A", "Second", "First", "Early draft"],
        ),
        (
            json!({ "field": "CREATED_AT" }),
            ["Draft B", "Draft A", "Second", "First", "Early draft"],
        ),
        (
            json!({ "field": "CREATED_AT", "direction": "ASC" }),
            ["Early draft", "First", "Second", "Draft A", "Draft B"],
        ),
    ];
    for (order, expected) in cases {
        let res = app
            .graphql_as(Some(&ada), query, json!({ "o": order }))
            .await;
        assert_eq!(
            pluck(&res.data()["posts"]["nodes"], "title"),
            expected,
            "orderBy {order}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// counts and relations

async fn like_and_comment_counts_and_viewer_has_liked_reflect_each_caller(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (ada, _) = app.register("ada").await;
    let (bob, _) = app.register("bob").await;
    let (carol, _) = app.register("carol").await;
    let quiet = app.create_post(&ada, "Quiet", true, &[]).await;
    let busy = app.create_post(&ada, "Busy", true, &[]).await;
    app.like_post(&bob, &busy).await;
    app.like_post(&carol, &busy).await;
    app.like_post(&carol, &quiet).await;
    for (who, body) in [(&ada, "one"), (&bob, "two"), (&carol, "three")] {
        app.add_comment(who, &busy, body).await;
    }
    let query = "query($a: ID!, $b: ID!) {
        quiet: post(id: $a) { likeCount commentCount viewerHasLiked }
        busy: post(id: $b) { likeCount commentCount viewerHasLiked }
    }";
    let vars = json!({ "a": quiet, "b": busy });
    for (token, quiet_liked, busy_liked) in [
        (None, false, false),
        (Some(ada.as_str()), false, false),
        (Some(bob.as_str()), false, true),
        (Some(carol.as_str()), true, true),
    ] {
        let res = app.graphql_as(token, query, vars.clone()).await;
        assert_eq!(
            res.data(),
            &json!({
                "quiet": { "likeCount": 1, "commentCount": 0, "viewerHasLiked": quiet_liked },
                "busy": { "likeCount": 2, "commentCount": 3, "viewerHasLiked": busy_liked },
            }),
            "as {token:?}"
        );
    }
}

async fn post_tags_comment_author_and_post_resolve_their_objects(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (ada, ada_id) = app.register("ada").await;
    let (bob, bob_id) = app.register("bob").await;
    let post = app
        .create_post(&ada, "Tagged", true, &["zeta", "alpha", "mid"])
        .await;
    let untagged = app.create_post(&ada, "Untagged", true, &[]).await;
    let comment = app.add_comment(&bob, &post, "Nice").await;
    let res = app
        .graphql(
            "query($p: ID!, $u: ID!, $c: ID!) {
                post(id: $p) { author { id username } tags { id name } }
                untagged: post(id: $u) { tags { name } }
                node(id: $c) { ... on Comment { body author { id username } post { id title } } }
            }",
            json!({ "p": post, "u": untagged, "c": comment }),
        )
        .await;
    let data = res.data();
    assert_eq!(
        data["post"]["author"],
        json!({ "id": ada_id, "username": "ada" })
    );
    // A post's tags come by name.
    assert_eq!(
        pluck(&data["post"]["tags"], "name"),
        ["alpha", "mid", "zeta"]
    );
    // Each tag id names that tag.
    for tag in data["post"]["tags"].as_array().unwrap() {
        let res = app
            .graphql(
                "query($id: ID!) { node(id: $id) { ... on Tag { name } } }",
                json!({ "id": tag["id"] }),
            )
            .await;
        assert_eq!(res.data()["node"]["name"], tag["name"]);
    }
    assert_eq!(data["untagged"]["tags"], json!([]));
    assert_eq!(
        data["node"],
        json!({
            "body": "Nice",
            "author": { "id": bob_id, "username": "bob" },
            "post": { "id": post, "title": "Tagged" },
        })
    );
}

async fn tag_posts_and_user_posts_list_their_posts_newest_first_with_counts(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (ada, _) = app.register("ada").await;
    let (bob, _) = app.register("bob").await;
    app.create_post(&ada, "Rust one", true, &["rust"]).await;
    app.create_post(&bob, "Go one", true, &["go"]).await;
    app.create_post(&bob, "Rust two", true, &["rust", "go"])
        .await;
    app.create_post(&ada, "Rust three", true, &["rust"]).await;
    app.create_post(&ada, "Plain", true, &[]).await;
    let res = app
        .graphql(
            "{
                tags { nodes { name posts { totalCount nodes { title } } } }
                ada: user(username: \"ada\") { postCount posts { totalCount nodes { title } } }
                bob: user(username: \"bob\") { postCount posts(first: 1) { totalCount nodes { title } } }
            }",
            json!({}),
        )
        .await;
    let data = res.data();
    assert_eq!(
        data["tags"]["nodes"],
        json!([
            { "name": "go", "posts": { "totalCount": 2, "nodes": [{ "title": "Rust two" }, { "title": "Go one" }] } },
            { "name": "rust", "posts": { "totalCount": 3, "nodes": [{ "title": "Rust three" }, { "title": "Rust two" }, { "title": "Rust one" }] } },
        ])
    );
    assert_eq!(
        data["ada"],
        json!({ "postCount": 3, "posts": { "totalCount": 3, "nodes": [{ "title": "Plain" }, { "title": "Rust three" }, { "title": "Rust one" }] } })
    );
    assert_eq!(
        data["bob"],
        json!({ "postCount": 2, "posts": { "totalCount": 2, "nodes": [{ "title": "Rust two" }] } })
    );
    let res = app.graphql("{ posts { totalCount } }", json!({})).await;
    assert_eq!(res.data()["posts"]["totalCount"], 5);
}

// ---------------------------------------------------------------------------------------
// visibility (CONTRACT.md §2)

/// Ada and Bob each have a published post and a draft, all tagged `shared`; Ada commented
/// on both of hers; Carol is an admin.
struct Drafts {
    app: TestApp,
    ada: String,
    bob: String,
    admin: String,
    ada_draft: String,
    ada_published: String,
    comment_on_draft: String,
    comment_on_published: String,
}

async fn drafts(backend: Backend) -> Option<Drafts> {
    let app = spawn_app(backend).await?;
    let (ada, _) = app.register("ada").await;
    let (bob, _) = app.register("bob").await;
    app.register("carol").await;
    let admin = app.make_admin("carol").await;
    let ada_published = app
        .create_post(&ada, "Ada published", true, &["shared"])
        .await;
    let ada_draft = app.create_post(&ada, "Ada draft", false, &["shared"]).await;
    app.create_post(&bob, "Bob published", true, &["shared"])
        .await;
    app.create_post(&bob, "Bob draft", false, &["shared"]).await;
    let comment_on_draft = app.add_comment(&ada, &ada_draft, "On the draft").await;
    let comment_on_published = app
        .add_comment(&ada, &ada_published, "On the published post")
        .await;
    Some(Drafts {
        app,
        ada,
        bob,
        admin,
        ada_draft,
        ada_published,
        comment_on_draft,
        comment_on_published,
    })
}

/// What one caller sees of Ada's draft world, on every surface at once.
struct Seen {
    posts: Vec<String>,
    drafts: Vec<String>,
    ada_posts: Vec<String>,
    tag_posts: Vec<String>,
    /// `totalCount`s counted apart from a one-item page (never the page length), and
    /// `postCount`: all must equal the matching list's length.
    counts_agree: bool,
    draft_by_post: bool,
    draft_by_node: bool,
    nodes: [bool; 2],
    comment_on_draft: bool,
    comment_on_published: bool,
}

async fn seen_by(d: &Drafts, token: Option<&str>) -> Seen {
    let res = d
        .app
        .graphql_as(
            token,
            "query($draft: ID!, $pub: ID!, $c1: ID!, $c2: ID!) {
                posts(first: 100) { totalCount nodes { title } }
                postsCounted: posts(first: 1) { totalCount }
                drafts: posts(first: 100, filter: { status: DRAFT }) { totalCount nodes { title } }
                ada: user(username: \"ada\") {
                    postCount
                    posts(first: 100) { totalCount nodes { title } }
                    counted: posts(first: 1) { totalCount }
                }
                tags { nodes { posts(first: 100) { totalCount nodes { title } } counted: posts(first: 1) { totalCount } } }
                draftPost: post(id: $draft) { id }
                draftNode: node(id: $draft) { id }
                nodes(ids: [$draft, $pub]) { id }
                commentOnDraft: node(id: $c1) { id }
                commentOnPublished: node(id: $c2) { id }
            }",
            json!({
                "draft": d.ada_draft,
                "pub": d.ada_published,
                "c1": d.comment_on_draft,
                "c2": d.comment_on_published,
            }),
        )
        .await;
    let data = res.data();
    let posts = pluck(&data["posts"]["nodes"], "title");
    let drafts = pluck(&data["drafts"]["nodes"], "title");
    let ada_posts = pluck(&data["ada"]["posts"]["nodes"], "title");
    let tag = &data["tags"]["nodes"][0];
    let tag_posts = pluck(&tag["posts"]["nodes"], "title");
    let counts_agree = data["posts"]["totalCount"] == posts.len()
        && data["postsCounted"]["totalCount"] == posts.len()
        && data["drafts"]["totalCount"] == drafts.len()
        && data["ada"]["postCount"] == ada_posts.len()
        && data["ada"]["posts"]["totalCount"] == ada_posts.len()
        && data["ada"]["counted"]["totalCount"] == ada_posts.len()
        && tag["posts"]["totalCount"] == tag_posts.len()
        && tag["counted"]["totalCount"] == tag_posts.len();
    let present = |v: &Value| !v.is_null();
    Seen {
        posts,
        drafts,
        ada_posts,
        tag_posts,
        counts_agree,
        draft_by_post: present(&data["draftPost"]),
        draft_by_node: present(&data["draftNode"]),
        nodes: [present(&data["nodes"][0]), present(&data["nodes"][1])],
        comment_on_draft: present(&data["commentOnDraft"]),
        comment_on_published: present(&data["commentOnPublished"]),
    }
}

async fn anonymous_callers_see_published_posts_only(backend: Backend) {
    let Some(d) = drafts(backend).await else {
        return;
    };
    let seen = seen_by(&d, None).await;
    assert_eq!(seen.posts, ["Bob published", "Ada published"]);
    assert!(seen.drafts.is_empty());
    assert_eq!(seen.ada_posts, ["Ada published"]);
    assert_eq!(seen.tag_posts, ["Bob published", "Ada published"]);
    assert!(seen.counts_agree);
    assert!(!seen.draft_by_post && !seen.draft_by_node);
    assert_eq!(seen.nodes, [false, true]);
    assert!(!seen.comment_on_draft && seen.comment_on_published);
}

async fn an_author_also_sees_their_own_drafts(backend: Backend) {
    let Some(d) = drafts(backend).await else {
        return;
    };
    let seen = seen_by(&d, Some(&d.ada)).await;
    assert_eq!(seen.posts, ["Bob published", "Ada published", "Ada draft"]);
    assert_eq!(seen.drafts, ["Ada draft"]);
    assert_eq!(seen.ada_posts, ["Ada published", "Ada draft"]);
    assert_eq!(
        seen.tag_posts,
        ["Bob published", "Ada published", "Ada draft"]
    );
    assert!(seen.counts_agree);
    assert!(seen.draft_by_post && seen.draft_by_node);
    assert_eq!(seen.nodes, [true, true]);
    assert!(seen.comment_on_draft && seen.comment_on_published);
}

async fn another_user_does_not_see_someone_elses_drafts(backend: Backend) {
    let Some(d) = drafts(backend).await else {
        return;
    };
    let seen = seen_by(&d, Some(&d.bob)).await;
    assert_eq!(seen.posts, ["Bob published", "Ada published", "Bob draft"]);
    assert_eq!(seen.drafts, ["Bob draft"]);
    assert_eq!(seen.ada_posts, ["Ada published"]);
    assert_eq!(
        seen.tag_posts,
        ["Bob published", "Ada published", "Bob draft"]
    );
    assert!(seen.counts_agree);
    assert!(!seen.draft_by_post && !seen.draft_by_node);
    assert_eq!(seen.nodes, [false, true]);
    assert!(!seen.comment_on_draft && seen.comment_on_published);
}

async fn an_admin_sees_every_post_drafts_included(backend: Backend) {
    let Some(d) = drafts(backend).await else {
        return;
    };
    let seen = seen_by(&d, Some(&d.admin)).await;
    assert_eq!(
        seen.posts,
        ["Bob published", "Ada published", "Bob draft", "Ada draft"]
    );
    assert_eq!(seen.drafts, ["Bob draft", "Ada draft"]);
    assert_eq!(seen.ada_posts, ["Ada published", "Ada draft"]);
    assert_eq!(
        seen.tag_posts,
        ["Bob published", "Ada published", "Bob draft", "Ada draft"]
    );
    assert!(seen.counts_agree);
    assert!(seen.draft_by_post && seen.draft_by_node);
    assert_eq!(seen.nodes, [true, true]);
    assert!(seen.comment_on_draft && seen.comment_on_published);
}

/// Response maps follow the selection set (GraphQL spec 7.2.2), although an object's
/// fields complete in whatever order their loaders answer. Each request has its own page
/// size, so none is a response-cache hit.
async fn response_fields_come_in_the_order_they_were_requested(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (token, _) = app.register("ada").await;
    for i in 0..9 {
        let post = app
            .create_post(&token, &format!("post {i}"), true, &["rust", "graphql"])
            .await;
        if i % 2 == 0 {
            app.like_post(&token, &post).await;
            app.add_comment(&token, &post, "first").await;
        }
    }
    // The fragment makes async-graphql resolve each post (its fields finish in any order).
    let query = "query($n: Int) { posts(first: $n) { nodes { commentCount ... on Post { title
        author { username displayName } } id tags { name } likeCount } totalCount } }";
    // The last request again: its field order is the one remembered with its validation
    // (as a user, so that the response cache does not answer it).
    for n in [4, 5, 6, 7, 8, 9, 9] {
        let text = app
            .client
            .post(format!("{}/graphql", app.address))
            .bearer_auth(&token)
            .json(&json!({ "query": query, "variables": { "n": n } }))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            text.starts_with(r#"{"data":{"posts":{"nodes":[{"commentCount":"#),
            "{text}"
        );
        let nodes: Vec<&str> = text.split(r#"{"commentCount":"#).skip(1).collect();
        assert_eq!(nodes.len(), n, "{text}");
        for node in nodes {
            let at = |key: &str| {
                node.find(&format!("\"{key}\":"))
                    .unwrap_or_else(|| panic!("no {key} in {node}"))
            };
            let order = [
                "title",
                "author",
                "username",
                "displayName",
                "id",
                "tags",
                "likeCount",
            ]
            .map(at);
            assert!(order.windows(2).all(|w| w[0] < w[1]), "{node}");
        }
        assert!(text.contains(r#"}],"totalCount":"#), "{text}");
    }
}

/// The server keeps each document's parse by its text: a document sent again must still
/// answer for that request's own variables (`@include`) and operation name.
async fn a_document_sent_again_answers_for_its_own_variables_and_operation(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (token, _) = app.register("ada").await;
    app.create_post(&token, "kept", true, &[]).await;
    let query = "query Full($full: Boolean!) {
                   posts(first: 1) { nodes { title } totalCount @include(if: $full) } }
                 query Bare { posts(first: 1) { totalCount } }";
    for full in [true, false, true, false] {
        let body =
            json!({ "query": query, "operationName": "Full", "variables": { "full": full } });
        let answer = app.post_json(None, &body, "application/json").await;
        let posts = &answer.data()["posts"];
        assert_eq!(posts["nodes"][0]["title"], "kept", "{posts}");
        assert_eq!(posts.get("totalCount").is_some(), full, "{posts}");
    }
    let body = json!({ "query": query, "operationName": "Bare" });
    let answer = app.post_json(None, &body, "application/json").await;
    assert_eq!(answer.data()["posts"], json!({ "totalCount": 1 }));
}

/// Every `DateTime` in a response is the stored instant as chrono's `to_rfc3339` writes
/// it (the scalar writes the text itself): a post's three times, a comment's and a user's.
async fn times_are_the_stored_instants_as_rfc3339(backend: Backend) {
    use sea_orm::EntityTrait as _;
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (token, _) = app.register("ada").await;
    let post = app.create_post(&token, "timed", true, &[]).await;
    app.add_comment(&token, &post, "first").await;
    let res = app
        .graphql_as(
            Some(&token),
            "query($p: ID!) { viewer { id createdAt } node(id: $p) { ... on Post {
               createdAt updatedAt publishedAt comments(first: 1) { nodes { id createdAt } } } } }",
            json!({ "p": post }),
        )
        .await;
    let data = res.data();
    let row_id = |global: &Value| {
        let id = async_graphql::ID(global.as_str().unwrap().to_owned());
        gatehouse::graphql::ids::decode("id", &id).unwrap().1
    };
    let db = &app.services.db;
    let stored_post = entity::post::Entity::find_by_id(row_id(&json!(post)))
        .one(db)
        .await
        .unwrap()
        .unwrap();
    let node = &data["node"];
    assert_eq!(node["createdAt"], stored_post.created_at.to_rfc3339());
    assert_eq!(node["updatedAt"], stored_post.updated_at.to_rfc3339());
    let published = stored_post.published_at.unwrap();
    assert_eq!(node["publishedAt"], published.to_rfc3339());
    let comment = &node["comments"]["nodes"][0];
    let stored_comment = entity::comment::Entity::find_by_id(row_id(&comment["id"]))
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(comment["createdAt"], stored_comment.created_at.to_rfc3339());
    let stored_user = entity::user::Entity::find_by_id(row_id(&data["viewer"]["id"]))
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        data["viewer"]["createdAt"],
        stored_user.created_at.to_rfc3339()
    );
}

/// A variable the request leaves out takes the operation's default, in `@include`/`@skip`
/// and in arguments alike: over POST, GET and WebSocket (graphql-transport-ws).
async fn omitted_variables_take_their_declared_defaults(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (token, _) = app.register("ada").await;
    for title in ["one", "two", "three"] {
        app.create_post(&token, title, true, &[]).await;
    }
    let query = "query Q($yes: Boolean = true, $no: Boolean = false, $n: Int = 2) {
                   posts(first: $n) {
                     nodes { title @include(if: $yes) body @skip(if: $yes) }
                     totalCount @skip(if: $no)
                     pageInfo @include(if: $no) { hasNextPage }
                   } }";
    let expected = json!({ "posts": {
        "nodes": [{ "title": "three" }, { "title": "two" }],
        "totalCount": 3,
    } });
    let posted = app.graphql(query, json!({})).await;
    assert_eq!(posted.data(), &expected);
    // Sent values still win over the defaults.
    let sent = app
        .graphql(query, json!({ "yes": false, "no": true, "n": 1 }))
        .await;
    assert_eq!(
        sent.data(),
        &json!({ "posts": { "nodes": [{ "body": "Body of three" }], "pageInfo": { "hasNextPage": true } } })
    );
    let got = app
        .client
        .get(format!("{}/graphql", app.address))
        .query(&[("query", query)])
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(common::TestApp::read(got).await.data(), &expected);
    let mut socket = common::ws::connect_to(app.port).await;
    common::ws::init(&mut socket, None).await;
    common::ws::send(
        &mut socket,
        json!({ "id": "1", "type": "subscribe", "payload": { "query": query } }),
    )
    .await;
    let message = common::ws::next(&mut socket).await.unwrap();
    assert_eq!(message["type"], "next", "{message}");
    assert_eq!(message["payload"]["data"], expected, "{message}");
}

/// An object answers the same whichever way its fields are resolved: in place (plain
/// fields), through async-graphql's serial resolver (a response key twice) or its
/// concurrent one (a fragment); a field that fails is left out with its error, the
/// others answer.
async fn an_object_answers_the_same_whichever_way_its_fields_resolve(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (ada, _) = app.register("ada").await;
    let (bob, _) = app.register("bob").await;
    for title in ["One", "Two"] {
        let post = app.create_post(&ada, title, true, &["t"]).await;
        app.add_comment(&bob, &post, "Hi").await;
    }
    // One field that waits (`bad`): the post may resolve its fields one after another;
    // with `tags` too, two wait and they resolve together.
    let one_waits =
        "__typename title author { username } bad: comments(first: 500) { nodes { id } }";
    let two_wait = format!("{one_waits} tags {{ name }}");
    for (fields, tags) in [
        (one_waits, None),
        (two_wait.as_str(), Some(json!([{ "name": "t" }]))),
    ] {
        let mut answers = Vec::new();
        for extra in ["", "title", "... on Post { title }"] {
            let res = app
                .graphql(
                    &format!("{{ posts(first: 2) {{ nodes {{ {fields} {extra} }} }} }}"),
                    json!({}),
                )
                .await;
            let errors: Vec<Value> = res.body["errors"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| json!([e["message"], e["path"], e["extensions"]["code"]]))
                .collect();
            answers.push((res.body["data"].clone(), errors));
        }
        let expected_node = |title: &str| {
            let mut node = json!({
                "__typename": "Post",
                "title": title,
                "author": { "username": "ada" },
            });
            if let Some(tags) = &tags {
                node["tags"] = tags.clone();
            }
            node
        };
        assert_eq!(
            answers[0].0,
            json!({ "posts": { "nodes": [expected_node("Two"), expected_node("One")] } }),
            "{fields}"
        );
        assert_eq!(
            answers[0].1,
            [0, 1]
                .map(|i| json!([
                    "first: must be between 0 and 100",
                    ["posts", "nodes", i, "bad"],
                    "BAD_USER_INPUT"
                ]))
                .to_vec(),
            "{fields}"
        );
        assert_eq!(answers[1], answers[0], "{fields}");
        assert_eq!(answers[2], answers[0], "{fields}");
    }
}

backend_tests!(
    an_object_answers_the_same_whichever_way_its_fields_resolve,
    omitted_variables_take_their_declared_defaults,
    times_are_the_stored_instants_as_rfc3339,
    a_document_sent_again_answers_for_its_own_variables_and_operation,
    response_fields_come_in_the_order_they_were_requested,
    node_fetches_a_user_a_post_a_comment_and_a_tag_by_global_id,
    node_is_null_for_ids_that_name_no_object,
    node_and_nodes_refuse_malformed_ids_as_bad_user_input,
    nodes_keeps_the_order_of_the_ids_with_null_for_unknown_and_invisible_ones,
    viewer_is_null_when_anonymous_and_the_caller_when_authenticated,
    user_finds_an_account_by_username_and_is_null_for_an_unknown_one,
    post_fetches_a_post_by_id_and_is_null_for_an_id_of_another_type,
    tags_lists_every_tag_once_newest_first,
    posts_filter_by_author_id_alone,
    posts_filter_by_tag_alone,
    posts_filter_by_status_alone,
    posts_filter_by_search_finds_a_word_in_the_title_or_the_body,
    posts_filters_combine_so_that_all_must_match,
    posts_order_by_published_or_created_time_in_either_direction_with_drafts_last,
    like_and_comment_counts_and_viewer_has_liked_reflect_each_caller,
    post_tags_comment_author_and_post_resolve_their_objects,
    tag_posts_and_user_posts_list_their_posts_newest_first_with_counts,
    anonymous_callers_see_published_posts_only,
    an_author_also_sees_their_own_drafts,
    another_user_does_not_see_someone_elses_drafts,
    an_admin_sees_every_post_drafts_included,
);
