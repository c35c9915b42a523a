#![allow(clippy::unwrap_used)]
//! The two rate-limit layers (issue 3, CONTRACT.md sections 3–5): the cost budget per token
//! (per IP when anonymous), shared through Redis by every replica, and the per-IP request
//! throttle, which believes `X-Forwarded-For` only from trusted proxies.

mod common;

use std::time::{Duration, Instant};

use common::replicas::Replicas;
use common::{header_number, spawn_app_with, Backend, Gql, TestApp};
use serde_json::json;

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

const CREATE_POST: &str =
    "mutation { createPost(input: { title: \"t\", body: \"b\", publish: true }) { id } }";

fn remaining(res: &Gql) -> i64 {
    header_number(res, "ratelimit-remaining")
}

/// Asserts a budget refusal: 429, `RATE_LIMITED`, a `Retry-After` within the window and
/// the budget headers.
fn assert_over_budget(res: &Gql, window_secs: i64, what: &str) {
    assert_eq!(res.status, 429, "{what}: {}", res.body);
    res.assert_code("RATE_LIMITED");
    let retry_after = header_number(res, "retry-after");
    assert!(
        (1..=window_secs).contains(&retry_after),
        "{what}: Retry-After {retry_after}"
    );
    assert!(remaining(res) >= 0, "{what}");
    assert!(res.headers.contains_key("ratelimit-limit"), "{what}");
    assert!(res.headers.contains_key("ratelimit-reset"), "{what}");
}

/// POSTs `query` anonymously as if forwarded for `client` (through a proxy on 127.0.0.1).
async fn post_forwarded(app: &TestApp, client: &str, query: &str) -> Gql {
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("x-forwarded-for", client)
        .header("accept", GRAPHQL_RESPONSE)
        .json(&json!({ "query": query }))
        .send()
        .await
        .unwrap();
    TestApp::read(response).await
}

async fn an_exhausted_budget_is_429_with_retry_after_and_runs_no_sql(backend: Backend) {
    // Repeated anonymous queries would be response-cache hits, which cost 1 point.
    let overrides = [
        ("GATEHOUSE_RATE_POINTS", "30"),
        ("GATEHOUSE_RATE_WINDOW_SECS", "60"),
        common::NO_RESPONSE_CACHE,
    ];
    let Some(app) = spawn_app_with(backend, &overrides).await else {
        return;
    };
    // Estimated at 1 + 29 = 30: fits a fresh budget exactly.
    let expensive = "{ posts(first: 29) { nodes { id } } }";
    let cheap = "{ posts(first: 2) { nodes { id } } }";
    let first = app
        .post_json(None, &json!({ "query": expensive }), GRAPHQL_RESPONSE)
        .await;
    assert_eq!(first.status, 200, "body: {}", first.body);
    assert_eq!(header_number(&first, "ratelimit-limit"), 30);
    let left = remaining(&first);
    assert!(left < 30, "the first operation was charged");

    // No longer fits: refused up front, without SQL and without being charged.
    let before = app.statements();
    for accept in [GRAPHQL_RESPONSE, JSON] {
        let res = app
            .post_json(None, &json!({ "query": expensive }), accept)
            .await;
        assert_over_budget(&res, 60, accept);
        assert_eq!(remaining(&res), left, "a refusal charges nothing");
        assert!(res.body.get("data").is_none() || res.body["data"].is_null());
    }
    let get = app
        .client
        .get(format!("{}/graphql", app.address))
        .query(&[("query", expensive)])
        .send()
        .await
        .unwrap();
    assert_over_budget(&TestApp::read(get).await, 60, "GET");
    assert_eq!(app.statements(), before, "no SQL for a refused operation");

    // A cheaper one still fits, until the budget is spent.
    let mut last = left;
    let mut refused = None;
    for _ in 0..40 {
        let res = app
            .post_json(None, &json!({ "query": cheap }), GRAPHQL_RESPONSE)
            .await;
        if res.status == 429 {
            refused = Some(res);
            break;
        }
        assert_eq!(res.status, 200, "body: {}", res.body);
        res.data();
        let now = remaining(&res);
        assert!(now < last, "each operation is charged: {now} after {last}");
        last = now;
    }
    let refused = refused.expect("the budget runs out");
    assert_over_budget(&refused, 60, "spent");
    assert_eq!(remaining(&refused), last);
    assert!(
        last < 3,
        "refused only when the estimate (3) no longer fits: {last} left"
    );
}

/// An app with a budget of 3 points per 2 s, spent by an anonymous caller; returns it with
/// the refusal.
async fn spent_two_second_budget(backend: Backend) -> Option<(TestApp, Gql)> {
    let overrides = [
        ("GATEHOUSE_RATE_POINTS", "3"),
        ("GATEHOUSE_RATE_WINDOW_SECS", "2"),
    ];
    let app = spawn_app_with(backend, &overrides).await?;
    let query = json!({ "query": "{ __typename }" });
    for _ in 0..3 {
        app.post_json(None, &query, JSON).await.data();
    }
    let res = app.post_json(None, &query, JSON).await;
    assert_over_budget(&res, 2, "spent");
    Some((app, res))
}

async fn the_budget_refills_after_its_window(backend: Backend) {
    let Some((app, _)) = spent_two_second_budget(backend).await else {
        return;
    };
    tokio::time::sleep(Duration::from_millis(2300)).await;
    let res = app.graphql("{ __typename }", json!({})).await;
    assert_eq!(res.status, 200, "after the window: {}", res.body);
    assert_eq!(remaining(&res), 2);
}

async fn waiting_retry_after_seconds_is_enough(backend: Backend) {
    let Some((app, refused)) = spent_two_second_budget(backend).await else {
        return;
    };
    let retry_after = header_number(&refused, "retry-after");
    tokio::time::sleep(Duration::from_millis(
        u64::try_from(retry_after).unwrap() * 1000 + 100,
    ))
    .await;
    let res = app.graphql("{ __typename }", json!({})).await;
    assert_eq!(
        res.status, 200,
        "waited Retry-After ({retry_after} s): {}",
        res.body
    );
}

async fn every_token_has_its_own_budget_and_anonymous_callers_one_per_ip(backend: Backend) {
    every_caller_has_its_own_budget(backend, "0").await;
}

/// With one replica a lease changes nothing the caller sees: the same figures to the point,
/// refunds included (on PostgreSQL+Redis; the in-process budget has no leases).
async fn with_a_lease_one_replica_reports_the_budget_exactly(backend: Backend) {
    every_caller_has_its_own_budget(backend, "5").await;
}

async fn every_caller_has_its_own_budget(backend: Backend, lease: &str) {
    let overrides = [
        ("GATEHOUSE_RATE_POINTS", "50"),
        ("GATEHOUSE_RATE_LEASE_POINTS", lease),
        ("GATEHOUSE_TRUSTED_PROXIES", "127.0.0.1"),
    ];
    let Some(app) = spawn_app_with(backend, &overrides).await else {
        return;
    };
    // Registering is an anonymous mutation: 10 points each from this address's budget.
    let (ada, _) = app.register("ada").await;
    let (bob, _) = app.register("bob").await;
    let anonymous = app.graphql("{ __typename }", json!({})).await;
    assert_eq!(remaining(&anonymous), 50 - 10 - 10 - 1);

    // Ada spends her 50 points on five posts (a mutation costs at least 10).
    let mut spent = Vec::new();
    for _ in 0..5 {
        let res = app.graphql_as(Some(&ada), CREATE_POST, json!({})).await;
        res.data();
        spent.push(remaining(&res));
    }
    assert_eq!(spent, [40, 30, 20, 10, 0]);
    let before = app.statements();
    let res = app.graphql_as(Some(&ada), CREATE_POST, json!({})).await;
    assert_over_budget(&res, 60, "ada's sixth post");
    let res = app
        .graphql_as(Some(&ada), "{ viewer { username } }", json!({}))
        .await;
    assert_over_budget(&res, 60, "ada's query");
    assert_eq!(app.statements(), before, "ada's refusals run no SQL");

    // Bob and the anonymous caller are untouched.
    let res = app.graphql_as(Some(&bob), CREATE_POST, json!({})).await;
    res.data();
    assert_eq!(remaining(&res), 40);
    let res = app.graphql("{ posts { totalCount } }", json!({})).await;
    assert_eq!(res.data()["posts"]["totalCount"], 6);
    assert_eq!(remaining(&res), 28);

    // Anonymous callers behind the trusted proxy have a budget per client address.
    for n in 1..=5 {
        let res = post_forwarded(&app, "203.0.113.7", "{ __typename }").await;
        assert_eq!(res.status, 200, "body: {}", res.body);
        assert_eq!(remaining(&res), 50 - n);
    }
    for _ in 0..45 {
        post_forwarded(&app, "203.0.113.7", "{ __typename }").await;
    }
    let res = post_forwarded(&app, "203.0.113.7", "{ __typename }").await;
    assert_over_budget(&res, 60, "203.0.113.7");
    let res = post_forwarded(&app, "203.0.113.8", "{ __typename }").await;
    assert_eq!(res.status, 200, "another address: {}", res.body);
    assert_eq!(remaining(&res), 49);
    // The proxy's own address is yet another caller.
    let res = app.graphql("{ __typename }", json!({})).await;
    assert_eq!(remaining(&res), 27);
}

/// Throttle overrides: `rate` requests per second, bursts of `burst`.
fn throttle<'a>(rate: &'a str, burst: &'a str) -> [(&'a str, &'a str); 2] {
    [
        ("GATEHOUSE_IP_RATE_PER_SEC", rate),
        ("GATEHOUSE_IP_BURST", burst),
    ]
}

/// Asserts a throttle refusal: 429, `RATE_LIMITED`, `Retry-After`.
fn assert_throttled(res: &Gql, what: &str) {
    assert_eq!(res.status, 429, "{what}: {}", res.body);
    res.assert_code("RATE_LIMITED");
    let retry_after = header_number(res, "retry-after");
    assert!(
        (1..=2).contains(&retry_after),
        "{what}: Retry-After {retry_after}"
    );
}

async fn the_ip_throttle_refuses_the_request_after_the_burst(backend: Backend) {
    let Some(app) = spawn_app_with(backend, &throttle("1", "3")).await else {
        return;
    };
    let query = "{ posts { totalCount } }";
    let started = Instant::now();
    for n in 1..=3 {
        let res = app.graphql(query, json!({})).await;
        assert_eq!(res.status, 200, "request {n}: {}", res.body);
    }
    let before = app.statements();
    let res = app.graphql(query, json!({})).await;
    if started.elapsed() < Duration::from_millis(900) {
        assert_throttled(&res, "the 4th request");
        assert_eq!(app.statements(), before, "a throttled request runs no SQL");
    } else {
        eprintln!("slow machine: a token may have refilled; not judging the 4th request");
    }
    // The probes are not throttled.
    let health = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    // The bucket refills at one request per second.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let res = app.graphql(query, json!({})).await;
    assert_eq!(res.status, 200, "after a second: {}", res.body);
}

async fn forwarded_addresses_get_their_own_throttle_bucket_only_from_trusted_proxies(
    backend: Backend,
) {
    // Behind a trusted proxy: one bucket per forwarded client.
    let mut overrides = throttle("1", "2").to_vec();
    overrides.push(("GATEHOUSE_TRUSTED_PROXIES", "127.0.0.1"));
    let Some(app) = spawn_app_with(backend, &overrides).await else {
        return;
    };
    let started = Instant::now();
    for _ in 0..2 {
        let res = post_forwarded(&app, "198.51.100.1", "{ __typename }").await;
        assert_eq!(res.status, 200, "body: {}", res.body);
    }
    let refused = post_forwarded(&app, "198.51.100.1", "{ __typename }").await;
    let other = post_forwarded(&app, "198.51.100.2", "{ __typename }").await;
    assert_eq!(other.status, 200, "another client: {}", other.body);
    if started.elapsed() < Duration::from_millis(900) {
        assert_throttled(&refused, "the third request of 198.51.100.1");
    }

    // Not trusted: the forwarded header is ignored and both share the peer's bucket.
    let Some(app) = spawn_app_with(backend, &throttle("1", "2")).await else {
        return;
    };
    let started = Instant::now();
    for client in ["198.51.100.1", "198.51.100.2"] {
        let res = post_forwarded(&app, client, "{ __typename }").await;
        assert_eq!(res.status, 200, "body: {}", res.body);
    }
    let res = post_forwarded(&app, "198.51.100.3", "{ __typename }").await;
    if started.elapsed() < Duration::from_millis(900) {
        assert_throttled(&res, "a third forwarded address from an untrusted peer");
    }
}

// ---------------------------------------------------------------------------------------
// Two server processes sharing one Redis

async fn two_server_processes_sharing_one_redis_draw_down_the_same_token_budget(backend: Backend) {
    let Some(redis) = common::redis_url() else {
        eprintln!("skipped: TEST_REDIS_URL is not set");
        return;
    };
    let env = [("GATEHOUSE_RATE_POINTS", "50")];
    let Some(replicas) = Replicas::start(backend, 2, &redis, &env).await else {
        return;
    };
    let res = replicas
        .post(
            0,
            None,
            "mutation { register(input: { username: \"ada\", email: \"ada@example.org\",
               password: \"password-ada\", displayName: \"Ada\" }) { token } }",
            json!({}),
        )
        .await;
    let token = res.data()["register"]["token"].as_str().unwrap().to_owned();

    // Each post costs 10 of ada's 50 points, wherever it is sent.
    let mut seen = Vec::new();
    for (i, replica) in [0, 1, 0, 1, 0].into_iter().enumerate() {
        let res = replicas
            .post(replica, Some(&token), CREATE_POST, json!({}))
            .await;
        assert_eq!(res.status, 200, "post {i}: {}", res.body);
        res.data();
        assert_eq!(header_number(&res, "ratelimit-limit"), 50);
        seen.push(remaining(&res));
    }
    assert_eq!(
        seen,
        [40, 30, 20, 10, 0],
        "B sees what A spent and A what B spent (logs: {} / {})",
        replicas.log(0),
        replicas.log(1)
    );
    for (name, replica) in [("B", 1), ("A", 0)] {
        let res = replicas
            .post(replica, Some(&token), CREATE_POST, json!({}))
            .await;
        assert_over_budget(&res, 60, &format!("the overflowing post on {name}"));
        assert_eq!(remaining(&res), 0);
    }
    // The refused posts wrote nothing; both processes read the same database.
    for replica in [0, 1] {
        let res = replicas
            .post(replica, None, "{ posts { totalCount } }", json!({}))
            .await;
        assert_eq!(res.data()["posts"]["totalCount"], 5);
    }
}

/// Leases: a replica draws a caller's points from Redis ahead of use and spends them
/// without a round trip, yet two replicas together never serve more than the budget.
async fn replicas_draw_the_shared_budget_a_lease_at_a_time(backend: Backend) {
    let Some(redis) = common::redis_url() else {
        eprintln!("skipped: TEST_REDIS_URL is not set");
        return;
    };
    let env = [
        ("GATEHOUSE_RATE_POINTS", "200"),
        ("GATEHOUSE_RATE_LEASE_POINTS", "20"),
        ("GATEHOUSE_IP_RATE_PER_SEC", "100000"),
        ("GATEHOUSE_IP_BURST", "100000"),
    ];
    let Some(replicas) = Replicas::start(backend, 2, &redis, &env).await else {
        return;
    };
    let conn = redis::Client::open(redis.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let key = format!("{}budget:ip:127.0.0.1", replicas.prefix);
    let drawn = || {
        let key = key.clone();
        let mut conn = conn.clone();
        async move {
            redis::cmd("GET")
                .arg(&key)
                .query_async::<Option<u32>>(&mut conn)
                .await
                .unwrap()
                .unwrap_or(0)
        }
    };
    // `{ __typename }` costs 1 point. The first one draws it and a lease of 20.
    let typename = |i: usize| replicas.post(i, None, "{ __typename }", json!({}));
    let res = typename(0).await;
    assert_eq!(remaining(&res), 199, "{}", res.body);
    assert_eq!(drawn().await, 21);
    // The next 20 are spent from the lease: Redis is not asked, the count is exact.
    for n in 2..=21 {
        let res = typename(0).await;
        assert_eq!(remaining(&res), 200 - n);
    }
    assert_eq!(drawn().await, 21, "spent in process");
    let res = typename(0).await;
    assert_eq!(remaining(&res), 200 - 22);
    assert_eq!(drawn().await, 42, "the next lease");

    // Both replicas spend until both refuse: exactly the budget is served, no more.
    let mut served = 22;
    let mut refused = [false, false];
    while refused != [true, true] {
        for (i, refused) in refused.iter_mut().enumerate() {
            let res = typename(i).await;
            match res.status {
                200 => {
                    served += 1;
                    assert!(!*refused, "replica {i} served after refusing");
                }
                _ => {
                    assert_over_budget(&res, 60, &format!("replica {i}"));
                    assert_eq!(remaining(&res), 0);
                    *refused = true;
                }
            }
        }
        assert!(served <= 200, "served {served} of a budget of 200");
    }
    assert_eq!(served, 200);
    assert_eq!(drawn().await, 200);
}

backend_tests!(
    an_exhausted_budget_is_429_with_retry_after_and_runs_no_sql,
    the_budget_refills_after_its_window,
    every_token_has_its_own_budget_and_anonymous_callers_one_per_ip,
    the_ip_throttle_refuses_the_request_after_the_burst,
    forwarded_addresses_get_their_own_throttle_bucket_only_from_trusted_proxies,
    two_server_processes_sharing_one_redis_draw_down_the_same_token_budget,
    with_a_lease_one_replica_reports_the_budget_exactly,
    replicas_draw_the_shared_budget_a_lease_at_a_time,
);

backend_tests!(waiting_retry_after_seconds_is_enough,);
