#![allow(clippy::unwrap_used)]
//! Redis faults: with `REDIS_URL` set, the server keeps serving queries and mutations when
//! its Redis dies (budgets and APQ fall back to in-process, `/readyz` reports "degraded"),
//! and goes back to Redis by itself once it returns.
//!
//! The test runs its own `redis-server` on a free port so it can kill and restart it.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{header_number, spawn_app_with, Backend, Gql, TestApp};
use serde_json::{json, Value};

/// Longest a request may take while Redis is down.
const BOUND: Duration = Duration::from_secs(2);

const QUERY: &str = "{ posts(first: 5) { nodes { id title } } }";

/// A `redis-server` child process, killed when dropped.
struct RedisServer {
    port: u16,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts `redis-server` on `port` and waits until it answers.
    async fn start(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--daemonize", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start redis-server: {e}"));
        let mut server = Self {
            port,
            child: Some(child),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if server.ping().await {
                return server;
            }
            if let Some(status) = server.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("redis-server on port {port} exited early: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "redis-server on port {port} did not answer within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    async fn connection(&self) -> Option<redis::aio::MultiplexedConnection> {
        let client = redis::Client::open(self.url()).ok()?;
        tokio::time::timeout(
            Duration::from_secs(1),
            client.get_multiplexed_async_connection(),
        )
        .await
        .ok()?
        .ok()
    }

    async fn ping(&self) -> bool {
        let Some(mut conn) = self.connection().await else {
            return false;
        };
        let pong = tokio::time::timeout(
            Duration::from_secs(1),
            redis::cmd("PING").query_async::<String>(&mut conn),
        )
        .await;
        matches!(pong, Ok(Ok(ref s)) if s == "PONG")
    }

    /// Keys matching `pattern`.
    async fn keys(&self, pattern: &str) -> Vec<String> {
        let mut conn = self
            .connection()
            .await
            .expect("cannot connect to the test redis-server");
        redis::cmd("KEYS")
            .arg(pattern)
            .query_async(&mut conn)
            .await
            .unwrap()
    }

    /// SIGKILLs the server and waits for it to be gone.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn redis_server_available() -> bool {
    Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn require_services() -> bool {
    std::env::var("GATEHOUSE_REQUIRE_SERVICES").is_ok_and(|v| v == "1" || v == "true")
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

async fn readyz(app: &TestApp) -> (u16, Value) {
    let response = app
        .client
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// The value of the unlabelled sample `name` in a Prometheus exposition.
fn gauge(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// Runs an operation, asserting it succeeds without errors within [`BOUND`].
async fn timed_ok(app: &TestApp, token: &str, query: &str, variables: Value, what: &str) -> Gql {
    let started = Instant::now();
    let res = tokio::time::timeout(BOUND, app.graphql_as(Some(token), query, variables))
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within {BOUND:?}"));
    let took = started.elapsed();
    assert!(took < BOUND, "{what}: took {took:?}");
    assert_eq!(res.status, 200, "{what}: {}", res.body);
    assert!(
        res.body.get("errors").is_none(),
        "{what}: unexpected errors: {}",
        res.body
    );
    res
}

fn assert_rate_limit_headers(res: &Gql, what: &str) {
    assert_eq!(header_number(res, "ratelimit-limit"), 1000, "{what}");
    assert!(header_number(res, "ratelimit-remaining") < 1000, "{what}");
    assert!(res.headers.contains_key("ratelimit-reset"), "{what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_survives_redis_going_away_and_coming_back() {
    if !redis_server_available() {
        assert!(
            !require_services(),
            "GATEHOUSE_REQUIRE_SERVICES=1 but redis-server is not on PATH"
        );
        eprintln!("skipped: redis-server is not on PATH");
        return;
    }
    let port = free_port();
    let mut redis = RedisServer::start(port).await;
    let prefix = format!("test_{}:", uuid::Uuid::new_v4().simple());
    let budget_keys = format!("{prefix}budget:*");
    let url = redis.url();
    let overrides = [
        ("REDIS_URL", url.as_str()),
        ("GATEHOUSE_REDIS_PREFIX", prefix.as_str()),
        ("GATEHOUSE_REDIS_TIMEOUT_MS", "200"),
        ("GATEHOUSE_RATE_POINTS", "1000"),
    ];
    let app = spawn_app_with(Backend::Sqlite, &overrides).await.unwrap();

    // (1) Redis up: everything works and the budget lives in Redis.
    let (token, _) = app.register("alice").await;
    let post = app.create_post(&token, "Up", true, &["redis"]).await;
    let res = timed_ok(&app, &token, QUERY, json!({}), "query with redis up").await;
    assert_rate_limit_headers(&res, "query with redis up");
    let (status, body) = readyz(&app).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["redis"], "ok", "{body}");
    assert!(
        !redis.keys(&budget_keys).await.is_empty(),
        "no {budget_keys} key in Redis while it is up"
    );
    assert_eq!(gauge(&app.metrics().await, "gatehouse_redis_up"), Some(1.0));
    assert_cached(&app, &redis, &prefix, "with redis up").await;

    // (2) Redis killed: queries and mutations still succeed, quickly.
    redis.kill();
    let res = timed_ok(&app, &token, QUERY, json!({}), "first query after kill").await;
    assert_rate_limit_headers(&res, "first query after kill");
    for round in 0..3 {
        let what = format!("query #{round} with redis down");
        let res = timed_ok(&app, &token, QUERY, json!({}), &what).await;
        assert_rate_limit_headers(&res, &what);
        let what = format!("createPost #{round} with redis down");
        let res = timed_ok(
            &app,
            &token,
            "mutation($input: CreatePostInput!) { createPost(input: $input) { id } }",
            json!({ "input": { "title": format!("Down {round}"), "body": "b", "publish": true } }),
            &what,
        )
        .await;
        assert!(res.body["data"]["createPost"]["id"].is_string(), "{what}");
        assert_rate_limit_headers(&res, &what);
        let what = format!("addComment #{round} with redis down");
        let res = timed_ok(
            &app,
            &token,
            "mutation($p: ID!, $b: String!) { addComment(postId: $p, body: $b) { id } }",
            json!({ "p": post, "b": format!("comment {round}") }),
            &what,
        )
        .await;
        assert!(res.body["data"]["addComment"]["id"].is_string(), "{what}");
        assert_rate_limit_headers(&res, &what);
    }
    let res = timed_ok(&app, &token, QUERY, json!({}), "query listing posts").await;
    let titles = common::pluck(&res.body["data"]["posts"]["nodes"], "title");
    assert!(titles.iter().any(|t| t.starts_with("Down")), "{titles:?}");
    let (status, body) = readyz(&app).await;
    assert_eq!(status, 200, "readyz with redis down: {body}");
    assert_eq!(
        body["redis"], "degraded: using in-process fallbacks",
        "{body}"
    );
    let text = app.metrics().await;
    assert_eq!(gauge(&text, "gatehouse_redis_up"), Some(0.0));
    assert!(
        text.lines()
            .any(|l| l.starts_with("gatehouse_redis_errors_total") && !l.ends_with(" 0")),
        "no Redis errors counted:\n{text}"
    );

    // Caches are bypassed while Redis is away: answers come from the database, fresh.
    for round in 0..2 {
        let res = app.graphql(ANONYMOUS, json!({})).await;
        assert_eq!(res.status, 200, "{}", res.body);
        assert_ne!(
            res.headers.get("x-cache").map(|v| v.to_str().unwrap()),
            Some("HIT"),
            "anonymous query #{round} with redis down"
        );
        assert_eq!(res.data()["posts"]["totalCount"], 4, "{}", res.body);
    }

    // (3) Redis back on the same port: the server goes back to it by itself.
    let redis = RedisServer::start(port).await;
    assert!(redis.keys(&budget_keys).await.is_empty(), "a fresh Redis");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        timed_ok(&app, &token, QUERY, json!({}), "query after restart").await;
        let (status, body) = readyz(&app).await;
        assert_eq!(status, 200, "readyz after restart: {body}");
        if body["redis"] == "ok" && !redis.keys(&budget_keys).await.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Redis not used again within 10 s of its restart: readyz {body}, budget keys {:?}",
            redis.keys(&budget_keys).await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(gauge(&app.metrics().await, "gatehouse_redis_up"), Some(1.0));
    assert_cached(&app, &redis, &prefix, "after the restart").await;
}

/// An anonymous read the response cache may answer; its authors' post counts read through
/// the entity cache (a page's authors and comment and like counts come with its own
/// statement).
const ANONYMOUS: &str = "{ posts(first: 10) { totalCount nodes { title author { postCount } } } }";

/// Caching works through Redis: a repeated anonymous query is a hit, and the response
/// and entity tiers hold keys in Redis.
async fn assert_cached(app: &TestApp, redis: &RedisServer, prefix: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        app.graphql(ANONYMOUS, json!({})).await;
        let res = app.graphql(ANONYMOUS, json!({})).await;
        let hit = res.headers.get("x-cache").is_some_and(|v| v == "HIT");
        let mut responses = redis.keys(&format!("{prefix}r:*")).await;
        responses.retain(|key| !key.ends_with(":r:version"));
        let entities = redis.keys(&format!("{prefix}e:*")).await;
        if hit && !responses.is_empty() && !entities.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: no cache hit through Redis (hit {hit}, keys {responses:?} {entities:?})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
