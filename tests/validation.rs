#![allow(clippy::unwrap_used)]
//! The validation memo (`cache::ValidatedRequests`): a request that passed async-graphql's
//! validation skips its rules when it comes again, and nothing else does.
//!
//! A binary of its own, and both backends in one test, one after the other: the metrics
//! registry is the process's, so no other test may send requests while this one counts.

mod common;

use common::{spawn_app, Backend, TestApp};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_memo() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        a_request_validated_once_skips_the_rules_and_any_other_is_validated(backend).await;
    }
}

/// `gatehouse_cache_requests_total` for the validation memo: (hits, misses).
async fn validation_lookups(app: &TestApp) -> (u64, u64) {
    let metrics = app.metrics().await;
    let count = |result: &str| {
        metrics
            .lines()
            .filter(|line| {
                line.starts_with("gatehouse_cache_requests_total")
                    && line.contains("layer=\"validation\"")
                    && line.contains(&format!("result=\"{result}\""))
            })
            .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    };
    (count("hit"), count("miss"))
}

/// A request whose text, operation name and variables passed validation skips the rules
/// when it comes again (a `validation` hit); any other request is validated in full: the
/// same document with a wrong variable, or a document that failed, is refused with the
/// very errors it gets when nothing was remembered.
async fn a_request_validated_once_skips_the_rules_and_any_other_is_validated(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (token, _) = app.register("ada").await;
    for title in ["one", "two"] {
        app.create_post(&token, title, true, &[]).await;
    }
    let query = "query Q($n: Int!, $full: Boolean!) {
                   posts(first: $n) { nodes { title } totalCount @include(if: $full) } }";
    let wrong = json!({ "n": "two", "full": true });
    let unknown = "query Q($n: Int!) { posts(first: $n) { nodes { rating } } }";
    // As a user: the response cache (anonymous callers only) answers nothing here.
    // Refusals of requests never seen before (a trailing space: another text, same
    // positions), to compare with refusals of the remembered document below.
    let fresh = app
        .graphql_as(Some(&token), &format!("{query} "), wrong.clone())
        .await;
    fresh.assert_code("BAD_USER_INPUT");
    let fresh_unknown = app
        .graphql_as(Some(&token), unknown, json!({ "n": 1 }))
        .await;
    fresh_unknown.assert_code("GRAPHQL_VALIDATION_FAILED");

    let (hits, misses) = validation_lookups(&app).await;
    let one = json!({ "posts": { "nodes": [{ "title": "two" }], "totalCount": 2 } });
    let first = app
        .graphql_as(Some(&token), query, json!({ "n": 1, "full": true }))
        .await;
    assert_eq!(first.data(), &one);
    assert_eq!(validation_lookups(&app).await, (hits, misses + 1));
    let again = app
        .graphql_as(Some(&token), query, json!({ "n": 1, "full": true }))
        .await;
    assert_eq!(again.data(), &one);
    assert_eq!(validation_lookups(&app).await, (hits + 1, misses + 1));
    // Its analysis was remembered with it: priced as the first time.
    let cost = |res: &common::Gql| res.body["extensions"]["cost"]["requestedQueryCost"].clone();
    assert_eq!(cost(&again), cost(&first));

    // Other variables: validated in full, then remembered too.
    let both = json!({ "posts": { "nodes": [{ "title": "two" }, { "title": "one" }] } });
    let mut costs = Vec::new();
    for expected_hits in [hits + 1, hits + 2] {
        let other = app
            .graphql_as(Some(&token), query, json!({ "n": 2, "full": false }))
            .await;
        assert_eq!(other.data(), &both);
        costs.push(cost(&other));
        assert_eq!(validation_lookups(&app).await.0, expected_hits);
    }
    // Priced for its own variables, the first time and when remembered.
    assert_eq!(costs[0], costs[1]);
    assert_ne!(costs[0], cost(&first));
    // A wrong variable, and a document that fails, twice each: refused every time as on
    // first sight, never remembered.
    for _ in 0..2 {
        let refused = app.graphql_as(Some(&token), query, wrong.clone()).await;
        assert_eq!(
            refused.body["errors"], fresh.body["errors"],
            "{}",
            refused.body
        );
        assert!(refused.body.get("data").is_none(), "{}", refused.body);
        let refused = app
            .graphql_as(Some(&token), unknown, json!({ "n": 1 }))
            .await;
        assert_eq!(refused.body["errors"], fresh_unknown.body["errors"]);
    }
    assert_eq!(validation_lookups(&app).await.0, hits + 2);
}
