#![allow(clippy::unwrap_used)]
//! The caches (issue 4): the response cache for anonymous queries and the entity cache
//! under the loaders, kept fresh by every write, on one server and across replicas.

mod common;

use std::time::{Duration, Instant};

use common::replicas::Replicas;
use common::{header_number, spawn_app, Backend, Gql, TestApp};
use serde_json::{json, Value};

/// What a feed reader sees of the newest posts: rows and every cached aggregate.
const FEED: &str = "query Feed { posts(first: 10) { totalCount nodes { id title likeCount \
    commentCount tags { name } author { username postCount } } } }";

/// What a post must look like after a write, described.
type Expectation = (&'static str, fn(&Value) -> bool);

fn x_cache(res: &Gql) -> Option<&str> {
    res.headers.get("x-cache").map(|v| v.to_str().unwrap())
}

fn cache_control(res: &Gql) -> &str {
    res.headers
        .get("cache-control")
        .map_or("", |v| v.to_str().unwrap())
}

/// The feed's post `id`, as anonymous callers (`token: None`) or a user see it.
async fn feed_post(app: &TestApp, token: Option<&str>, id: &str) -> (Gql, Value) {
    let res = app.graphql_as(token, FEED, json!({})).await;
    assert_eq!(res.status, 200, "{}", res.body);
    let post = res.data()["posts"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id)
        .cloned()
        .unwrap_or(Value::Null);
    (res, post)
}

async fn a_repeated_anonymous_query_is_answered_from_the_cache_without_sql(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (token, _) = app.register("ada").await;
    app.create_post(&token, "Cached", true, &["rust"]).await;

    let first = app.graphql(FEED, json!({})).await;
    assert_eq!(x_cache(&first), Some("MISS"), "{:?}", first.headers);
    assert_eq!(cache_control(&first), "public, max-age=5");
    let before = app.statements();
    // Insignificant whitespace and commas do not change the key.
    let spaced = FEED.replace('{', " {\n  ").replace(' ', " , ");
    for query in [FEED, spaced.as_str()] {
        let hit = app.graphql(query, json!({})).await;
        assert_eq!(hit.status, 200);
        assert_eq!(x_cache(&hit), Some("HIT"), "{query}");
        assert_eq!(cache_control(&hit), "public, max-age=5");
        assert_eq!(hit.body["data"], first.body["data"]);
        assert!(hit.body.get("extensions").is_none(), "{}", hit.body);
        // A hit still carries (and costs) the budget: one point.
        assert_eq!(header_number(&hit, "ratelimit-limit"), 100_000);
        assert!(header_number(&hit, "ratelimit-remaining") < 100_000);
    }
    assert_eq!(app.statements(), before, "a hit runs no SQL");

    // Other variables, another entry.
    let query = "query($n: Int) { posts(first: $n) { totalCount } }";
    let one = app.graphql(query, json!({ "n": 1 })).await;
    let two = app.graphql(query, json!({ "n": 2 })).await;
    assert_eq!(x_cache(&one), Some("MISS"));
    assert_eq!(x_cache(&two), Some("MISS"));
    assert_eq!(
        x_cache(&app.graphql(query, json!({ "n": 1 })).await),
        Some("HIT")
    );
}

async fn every_write_makes_cached_answers_fresh(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (ada, _) = app.register("ada").await;
    let (bob, _) = app.register("bob").await;
    let id = app.create_post(&ada, "First", true, &["rust"]).await;
    let draft = app.create_post(&ada, "Draft", false, &["rust"]).await;

    // Before each write both caches are warm: an anonymous reader's (response cache) and
    // bob's (entity cache only: authenticated answers are never response-cached).
    let check = |what: &'static str, expect: fn(&Value) -> bool| (what, expect);
    let steps: Vec<(&str, Value, Expectation)> = vec![
        (
            "likePost",
            json!({ "q": "mutation($p: ID!) { likePost(postId: $p) { id } }", "v": { "p": id } }),
            check("likeCount 1", |p| p["likeCount"] == 1),
        ),
        (
            "addComment",
            json!({ "q": "mutation($p: ID!) { addComment(postId: $p, body: \"hi\") { id } }", "v": { "p": id } }),
            check("commentCount 1", |p| p["commentCount"] == 1),
        ),
        (
            "updatePost",
            json!({ "q": "mutation($p: ID!) { updatePost(id: $p, input: { title: \"Renamed\", tags: [\"go\"] }) { id } }", "v": { "p": id } }),
            check("renamed and retagged", |p| {
                p["title"] == "Renamed" && p["tags"] == json!([{ "name": "go" }])
            }),
        ),
        (
            "publishPost",
            json!({ "q": "mutation($p: ID!) { publishPost(id: $p) { id } }", "v": { "p": draft } }),
            check("author's postCount 2", |p| p["author"]["postCount"] == 2),
        ),
        (
            "unlikePost",
            json!({ "q": "mutation($p: ID!) { unlikePost(postId: $p) { id } }", "v": { "p": id } }),
            check("likeCount 0", |p| p["likeCount"] == 0),
        ),
    ];
    for (mutation, request, (what, expect)) in steps {
        for reader in [None, Some(bob.as_str())] {
            feed_post(&app, reader, &id).await;
            let (again, _) = feed_post(&app, reader, &id).await;
            if reader.is_none() {
                assert_eq!(x_cache(&again), Some("HIT"), "warm before {mutation}");
            }
        }
        let token = if mutation == "publishPost" || mutation == "updatePost" {
            &ada
        } else {
            &bob
        };
        let res = app
            .graphql_as(
                Some(token),
                request["q"].as_str().unwrap(),
                request["v"].clone(),
            )
            .await;
        assert!(res.body.get("errors").is_none(), "{mutation}: {}", res.body);
        for reader in [None, Some(bob.as_str())] {
            let (res, post) = feed_post(&app, reader, &id).await;
            assert!(
                expect(&post),
                "after {mutation}, {what} for {reader:?}: {post} ({:?})",
                x_cache(&res)
            );
        }
    }

    // A deleted post leaves every cached answer at once.
    let res = app
        .graphql_as(
            Some(&ada),
            "mutation($p: ID!) { deletePost(id: $p) }",
            json!({ "p": id }),
        )
        .await;
    assert!(res.body.get("errors").is_none(), "{}", res.body);
    let (res, post) = feed_post(&app, None, &id).await;
    assert!(post.is_null(), "deleted post still served: {}", res.body);
    let node = app
        .graphql(
            "query($id: ID!) { node(id: $id) { id } }",
            json!({ "id": id }),
        )
        .await;
    assert!(node.data()["node"].is_null(), "{}", node.body);
}

async fn private_and_uncacheable_answers_are_never_cached(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (token, _) = app.register("ada").await;
    app.create_post(&token, "Mine", true, &[]).await;
    let cases = [
        (Some(token.as_str()), FEED, "authenticated"),
        (
            None,
            "{ viewer { id } posts(first: 1) { totalCount } }",
            "private field",
        ),
        (
            None,
            "{ rateLimit { remaining } posts(first: 1) { totalCount } }",
            "no-cache field",
        ),
        (None, "{ posts(first: 1) { nope } }", "an error"),
    ];
    for (token, query, what) in cases {
        for _ in 0..2 {
            let before = app.statements();
            let res = app.graphql_as(token, query, json!({})).await;
            assert_ne!(x_cache(&res), Some("HIT"), "{what}: {:?}", res.headers);
            assert_eq!(cache_control(&res), "no-store", "{what}");
            if what == "authenticated" {
                assert!(app.statements() > before, "{what}: it ran");
            }
        }
    }
}

async fn the_entity_cache_spares_statements_and_metrics_count_it(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (token, _) = app.register("ada").await;
    let mut post = String::new();
    for i in 0..5 {
        post = app
            .create_post(&token, &format!("Post {i}"), true, &["rust", "db"])
            .await;
    }
    // Authenticated: the response cache is not involved; rows and counts are. (Rows read by
    // id: a page's authors and comment and like counts come with the page's own statement.)
    let query = "query($p: ID!) { viewer { username } node(id: $p) { ... on Post { title \
                 commentCount likeCount tags { name } author { postCount } } } }";
    let count = || async {
        let before = app.statements();
        let res = app
            .graphql_as(Some(&token), query, json!({ "p": post }))
            .await;
        assert!(res.body.get("errors").is_none(), "{}", res.body);
        app.statements() - before
    };
    let cold = count().await;
    let warm = count().await;
    eprintln!("{backend:?}: feed statements cold {cold}, warm {warm}");
    assert!(warm < cold, "warm {warm} vs cold {cold}");

    let metrics = app.metrics().await;
    for layer in ["entity_local", "response_local"] {
        let hits = metrics.lines().any(|line| {
            line.starts_with("gatehouse_cache_requests_total")
                && line.contains(&format!("layer=\"{layer}\""))
                && line.contains("result=\"hit\"")
        });
        let misses = metrics.lines().any(|line| {
            line.starts_with("gatehouse_cache_requests_total")
                && line.contains(&format!("layer=\"{layer}\""))
                && line.contains("result=\"miss\"")
        });
        assert!(misses, "{layer} misses counted");
        if layer == "entity_local" {
            assert!(hits, "{layer} hits counted");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Two replicas on one database and one Redis

const LIKE: &str = "mutation($p: ID!) { likePost(postId: $p) { id } }";
const UNLIKE: &str = "mutation($p: ID!) { unlikePost(postId: $p) { id } }";
const LIKES: &str = "query Likes($p: ID!) { node(id: $p) { ... on Post { likeCount } } }";

/// Two replicas with one published post; the post's id and a token.
async fn two_replicas_with_a_post(
    backend: Backend,
    env: &[(&str, &str)],
) -> Option<(Replicas, String, String)> {
    let redis = common::redis_url()?;
    let replicas = Replicas::start(backend, 2, &redis, env).await?;
    let token = replicas.register(0, "ada").await;
    let res = replicas
        .post(
            0,
            Some(&token),
            "mutation { createPost(input: { title: \"t\", body: \"b\", publish: true }) { id } }",
            json!({}),
        )
        .await;
    let id = res.data()["createPost"]["id"].as_str().unwrap().to_owned();
    Some((replicas, id, token))
}

/// `likeCount` of `id` as read on replica `i`.
async fn likes_on(replicas: &Replicas, i: usize, token: Option<&str>, id: &str) -> (i64, Gql) {
    let res = replicas.post(i, token, LIKES, json!({ "p": id })).await;
    let n = res.data()["node"]["likeCount"].as_i64().unwrap();
    (n, res)
}

async fn a_write_on_one_replica_is_read_fresh_on_the_other(backend: Backend) {
    // The Redis tier alone: a read after the write returned is fresh, always.
    let env = [("GATEHOUSE_LOCAL_CACHE_TTL_MS", "0")];
    let Some((replicas, id, token)) = two_replicas_with_a_post(backend, &env).await else {
        return;
    };
    let reader = replicas.register(0, "bob").await;
    for round in 0..10 {
        let expected = round % 2;
        // B's caches are warm: anonymous from the response cache, bob from the entities.
        for _ in 0..2 {
            assert_eq!(likes_on(&replicas, 1, None, &id).await.0, expected);
            assert_eq!(likes_on(&replicas, 1, Some(&reader), &id).await.0, expected);
        }
        let (_, res) = likes_on(&replicas, 1, None, &id).await;
        assert_eq!(
            x_cache(&res),
            Some("HIT"),
            "round {round}: B answers from cache"
        );
        let write = if expected == 0 { LIKE } else { UNLIKE };
        let res = replicas
            .post(0, Some(&token), write, json!({ "p": id }))
            .await;
        assert!(res.body.get("errors").is_none(), "{}", res.body);
        let now = 1 - expected;
        let (anonymous, res) = likes_on(&replicas, 1, None, &id).await;
        assert_eq!(
            anonymous,
            now,
            "round {round}: anonymous on B ({:?})",
            x_cache(&res)
        );
        let (authenticated, _) = likes_on(&replicas, 1, Some(&reader), &id).await;
        assert_eq!(authenticated, now, "round {round}: bob on B");
    }
}

async fn the_in_process_tier_is_stale_for_less_than_its_bound(backend: Backend) {
    // With the in-process tier (bound: its TTL, 1 s here), B may answer from memory until
    // A's change reaches it over pub/sub. Measure how long that is.
    let env = [("GATEHOUSE_LOCAL_CACHE_TTL_MS", "1000")];
    let Some((replicas, id, token)) = two_replicas_with_a_post(backend, &env).await else {
        return;
    };
    let mut stale_for = Vec::new();
    for round in 0..10 {
        let expected = round % 2;
        for _ in 0..3 {
            assert_eq!(likes_on(&replicas, 1, None, &id).await.0, expected);
        }
        let write = if expected == 0 { LIKE } else { UNLIKE };
        let res = replicas
            .post(0, Some(&token), write, json!({ "p": id }))
            .await;
        assert!(res.body.get("errors").is_none(), "{}", res.body);
        let written = Instant::now();
        loop {
            if likes_on(&replicas, 1, None, &id).await.0 != expected {
                break;
            }
            assert!(
                written.elapsed() < Duration::from_millis(1500),
                "round {round}: still stale after the 1 s bound"
            );
        }
        stale_for.push(written.elapsed());
    }
    stale_for.sort();
    eprintln!(
        "{backend:?}: in-process tier stale for at most {:?} (median {:?}) after a write on another replica",
        stale_for[stale_for.len() - 1],
        stale_for[stale_for.len() / 2]
    );
}

backend_tests!(
    a_repeated_anonymous_query_is_answered_from_the_cache_without_sql,
    every_write_makes_cached_answers_fresh,
    private_and_uncacheable_answers_are_never_cached,
    the_entity_cache_spares_statements_and_metrics_count_it,
    a_write_on_one_replica_is_read_fresh_on_the_other,
    the_in_process_tier_is_stale_for_less_than_its_bound,
);
