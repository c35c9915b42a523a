#![allow(clippy::unwrap_used)]
//! Operations (issue 5, CONTRACT.md section 4): Prometheus metrics after traffic with
//! bounded label cardinality, the per-request SQL budget in `extensions.sql`, and graceful
//! shutdown of a real server process on SIGTERM.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use common::ws::{self, Socket};
use common::{spawn_app, spawn_app_with, Backend, Gql, ServerProcess, TestApp, NO_RESPONSE_CACHE};
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

// ---------------------------------------------------------------------------------------
// Prometheus text parsing

/// One sample of the exposition: its metric name, labels and value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: HashMap<String, String>,
    value: f64,
}

/// Every sample of a Prometheus text exposition (comments skipped).
fn parse_samples(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let (series, value) = line
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("malformed sample line: {line}"));
            let value: f64 = value
                .parse()
                .unwrap_or_else(|_| panic!("malformed value in: {line}"));
            let (name, labels) = match series.split_once('{') {
                None => (series.to_owned(), HashMap::new()),
                Some((name, rest)) => {
                    let body = rest
                        .strip_suffix('}')
                        .unwrap_or_else(|| panic!("malformed labels in: {line}"));
                    let labels = body
                        .split("\",")
                        .filter(|pair| !pair.is_empty())
                        .map(|pair| {
                            let (key, value) = pair
                                .split_once("=\"")
                                .unwrap_or_else(|| panic!("malformed label in: {line}"));
                            (key.to_owned(), value.trim_end_matches('"').to_owned())
                        })
                        .collect();
                    (name.to_owned(), labels)
                }
            };
            Sample {
                name,
                labels,
                value,
            }
        })
        .collect()
}

/// The sum of the samples named `name` whose labels include every pair of `labels`.
fn sum(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let matching: Vec<f64> = samples
        .iter()
        .filter(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .collect();
    (!matching.is_empty()).then(|| matching.iter().sum())
}

/// GETs `/metrics`, checking the status and content type, and returns the text.
async fn scrape(client: &reqwest::Client, address: &str) -> String {
    let response = client
        .get(format!("{address}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response
        .headers()
        .get("content-type")
        .expect("a content type")
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain"),
        "content-type: {content_type}"
    );
    response.text().await.unwrap()
}

/// POSTs `query` with its `operationName`.
async fn named(app: &TestApp, name: &str, query: &str) -> Gql {
    app.post_json(
        None,
        &json!({ "query": query, "operationName": name }),
        "application/json",
    )
    .await
}

// `postCount` goes through a DataLoader (a page's authors and comment and like counts come
// with the page's own statement), so batches are measured.
const FEED: &str =
    "query Feed { posts(first: 10) { totalCount nodes { title author { username postCount } } } }";

// ---------------------------------------------------------------------------------------
// 1. Metrics after traffic

async fn metrics_after_traffic_have_every_family_and_bounded_operation_labels(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (token, _) = app.register("metrics_writer").await;
    app.create_post(&token, "First", true, &["ops"]).await;
    app.create_post(&token, "Second", true, &[]).await;

    // Named operations, as clients send them (`operationName` next to the document).
    for _ in 0..3 {
        let res = named(&app, "Feed", FEED).await;
        assert_eq!(res.data()["posts"]["totalCount"], 2, "{}", res.body);
    }
    // A validation error.
    let res = named(&app, "Broken", "query Broken { noSuchField }").await;
    res.assert_code("GRAPHQL_VALIDATION_FAILED");

    let text = scrape(&app.client, &app.address).await;
    for family in [
        "gatehouse_http_requests_total",
        "gatehouse_http_request_duration_seconds",
        "gatehouse_http_requests_in_flight",
        "gatehouse_graphql_errors_total",
        "gatehouse_operation_cost",
        "gatehouse_sql_statements_per_request",
        "gatehouse_db_seconds_per_request",
        "gatehouse_dataloader_batch_size",
        "gatehouse_subscriptions_active",
        "gatehouse_db_pool_connections",
    ] {
        assert!(
            text.contains(&format!("# TYPE {family} ")),
            "no family {family} in:\n{text}"
        );
    }
    let samples = parse_samples(&text);
    let feed = sum(
        &samples,
        "gatehouse_http_requests_total",
        &[("operation", "Feed"), ("outcome", "ok")],
    );
    assert!(
        feed.unwrap_or(0.0) >= 3.0,
        "Feed requests: {feed:?}\n{text}"
    );
    let feed_latency = sum(
        &samples,
        "gatehouse_http_request_duration_seconds_count",
        &[("operation", "Feed")],
    );
    assert!(feed_latency.unwrap_or(0.0) >= 3.0, "{text}");
    let validation = sum(
        &samples,
        "gatehouse_graphql_errors_total",
        &[("code", "GRAPHQL_VALIDATION_FAILED")],
    );
    assert!(validation.unwrap_or(0.0) >= 1.0, "{text}");
    for histogram in [
        "gatehouse_operation_cost_count",
        "gatehouse_sql_statements_per_request_count",
        "gatehouse_sql_statements_per_request_sum",
        "gatehouse_db_seconds_per_request_count",
        "gatehouse_dataloader_batch_size_count",
    ] {
        let value = sum(&samples, histogram, &[]);
        assert!(value.unwrap_or(0.0) > 0.0, "{histogram}: {value:?}\n{text}");
    }
    for state in ["idle", "in_use"] {
        let value = sum(
            &samples,
            "gatehouse_db_pool_connections",
            &[("state", state)],
        );
        assert!(
            value.is_some_and(|v| v >= 0.0),
            "pool {state}: {value:?}\n{text}"
        );
    }

    // Cardinality: 300 distinct operation names cannot make 300 label values.
    let names: Vec<String> = (0..300)
        .map(|_| format!("Op_{}", uuid::Uuid::new_v4().simple()))
        .collect();
    let results: Vec<Gql> = futures_util::stream::iter(names.iter())
        .map(|name| {
            let app = &app;
            async move { named(app, name, &format!("query {name} {{ __typename }}")).await }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    for res in &results {
        assert_eq!(res.data()["__typename"], "Query");
    }
    let text = scrape(&app.client, &app.address).await;
    let samples = parse_samples(&text);
    let operations: BTreeSet<&str> = samples
        .iter()
        .filter(|s| s.name == "gatehouse_http_requests_total")
        .filter_map(|s| s.labels.get("operation").map(String::as_str))
        .collect();
    let own: BTreeSet<&str> = operations
        .iter()
        .copied()
        .filter(|o| *o != "anonymous" && *o != "other")
        .collect();
    assert!(
        own.len() <= 200,
        "{} distinct operation labels (at most 200 names + anonymous + other)",
        own.len()
    );
    assert!(operations.len() <= 202, "{operations:?}");
    assert!(
        operations.contains("other"),
        "300 new names did not collapse into `other`"
    );
    // Every one of our 300 requests is counted, under its own name or under `other`.
    let ours: f64 = names
        .iter()
        .filter_map(|n| {
            sum(
                &samples,
                "gatehouse_http_requests_total",
                &[("operation", n)],
            )
        })
        .sum();
    let other = sum(
        &samples,
        "gatehouse_http_requests_total",
        &[("operation", "other")],
    )
    .unwrap_or(0.0);
    assert!(ours + other >= 300.0, "ours {ours}, other {other}");
    // Names registered before the flood keep their own label.
    let feed = sum(
        &samples,
        "gatehouse_http_requests_total",
        &[("operation", "Feed")],
    );
    assert!(feed.unwrap_or(0.0) >= 3.0, "{feed:?}");
}

backend_tests!(metrics_after_traffic_have_every_family_and_bounded_operation_labels);

// ---------------------------------------------------------------------------------------
// 2. The per-request query budget in `extensions.sql`

const POSTS: &str = "{ posts(first: 10) { totalCount nodes { title author { username } } } }";

async fn posts_with_header(app: &TestApp, debug: bool) -> Gql {
    let mut request = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("accept", "application/json")
        .json(&json!({ "query": POSTS }));
    if debug {
        request = request.header("x-gatehouse-debug", "1");
    }
    let res = TestApp::read(request.send().await.unwrap()).await;
    assert_eq!(res.status, 200, "{}", res.body);
    res.data();
    res
}

async fn development_responses_report_their_sql(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (token, _) = app.register("sql_writer").await;
    app.create_post(&token, "Counted", true, &[]).await;
    let res = posts_with_header(&app, false).await;
    let sql = &res.body["extensions"]["sql"];
    let statements = sql["statements"]
        .as_u64()
        .unwrap_or_else(|| panic!("no extensions.sql.statements: {}", res.body));
    assert!(statements >= 1, "{}", res.body);
    let db_ms = sql["dbTimeMs"]
        .as_f64()
        .unwrap_or_else(|| panic!("no extensions.sql.dbTimeMs: {}", res.body));
    assert!(db_ms >= 0.0, "{}", res.body);
}

async fn production_hides_sql_unless_the_debug_header_is_enabled_and_sent(backend: Backend) {
    let Some(app) = spawn_app_with(backend, &[("GATEHOUSE_ENV", "production")]).await else {
        return;
    };
    // Neither without the header, nor with it while the operator has not enabled it.
    for debug in [false, true] {
        let res = posts_with_header(&app, debug).await;
        assert!(
            res.body
                .get("extensions")
                .and_then(|e| e.get("sql"))
                .is_none(),
            "header {debug}: {}",
            res.body
        );
    }

    let Some(app) = spawn_app_with(
        backend,
        &[
            ("GATEHOUSE_ENV", "production"),
            ("GATEHOUSE_DEBUG_HEADER", "true"),
            NO_RESPONSE_CACHE,
        ],
    )
    .await
    else {
        return;
    };
    let res = posts_with_header(&app, false).await;
    assert!(
        res.body
            .get("extensions")
            .and_then(|e| e.get("sql"))
            .is_none(),
        "{}",
        res.body
    );
    let res = posts_with_header(&app, true).await;
    let statements = res.body["extensions"]["sql"]["statements"]
        .as_u64()
        .unwrap_or_else(|| panic!("no extensions.sql.statements: {}", res.body));
    assert!(statements >= 1, "{}", res.body);
    assert!(res.body["extensions"]["sql"]["dbTimeMs"].is_number());
}

backend_tests!(
    development_responses_report_their_sql,
    production_hides_sql_unless_the_debug_header_is_enabled_and_sent,
);

// ---------------------------------------------------------------------------------------
// 3. Graceful shutdown of a real process

/// A server process on SQLite in a temporary directory, killed (and reaped) when the test
/// ends, passed or not.
struct Server {
    process: ServerProcess,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts `gatehouse serve` with the given drain delay and grace period, and waits
    /// until ready.
    async fn start(client: &reqwest::Client, drain_secs: u64, grace_secs: u64) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let database = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("db.sqlite").display()
        );
        let env = [
            ("DATABASE_URL", database),
            ("GATEHOUSE_DRAIN_DELAY_SECS", drain_secs.to_string()),
            ("GATEHOUSE_SHUTDOWN_GRACE_SECS", grace_secs.to_string()),
            ("RUST_LOG", "info".to_owned()),
        ]
        .map(|(k, v)| (k.to_owned(), v));
        let process = ServerProcess::start(client, &env).await;
        let port = process
            .address
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap();
        Self {
            process,
            port,
            _dir: dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn log(&self) -> String {
        self.process.log()
    }

    /// Sends SIGTERM and returns when it was sent.
    fn terminate(&self) -> Instant {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.process.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM failed: {status}");
        Instant::now()
    }

    /// Waits for the process to exit, failing after `deadline`.
    async fn wait_exit(&mut self, deadline: Instant) -> ExitStatus {
        loop {
            if let Some(status) = self.process.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not exit in time: {}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Polls `/readyz` until it answers 503 `draining`, for at most a second.
    async fn assert_draining(&self, client: &reqwest::Client) {
        let deadline = Instant::now() + Duration::from_secs(1);
        loop {
            let res = client.get(self.url("/readyz")).send().await.unwrap();
            if res.status() == 503 {
                let body: Value = res.json().await.unwrap();
                assert_eq!(body["status"], "draining", "{body}");
                return;
            }
            assert!(
                Instant::now() < deadline,
                "/readyz still {} after SIGTERM: {}",
                res.status(),
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Opens a graphql-transport-ws connection, acknowledged, with one live subscription.
async fn subscribed(port: u16) -> Socket {
    let mut socket = ws::connect_to(port).await;
    ws::init(&mut socket, None).await;
    ws::send(
        &mut socket,
        json!({"id": "1", "type": "subscribe", "payload": {"query": "subscription { postPublished { id } }"}}),
    )
    .await;
    socket
}

/// Reads the socket until the server's Close frame (pings answered); its code.
async fn close_code(socket: &mut Socket, within: Duration) -> u16 {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let message = tokio::time::timeout_at(deadline, socket.next())
            .await
            .expect("no Close frame in time")
            .expect("the socket ended without a Close frame")
            .expect("the socket failed without a Close frame");
        match message {
            Message::Close(Some(frame)) => return u16::from(frame.code),
            Message::Close(None) => panic!("a Close frame without a code"),
            Message::Text(text) => {
                let value: Value = serde_json::from_str(&text).unwrap();
                match value["type"].as_str() {
                    Some("ping") => ws::send(socket, json!({"type": "pong"})).await,
                    Some("pong") => {}
                    _ => panic!("unexpected message while draining: {value}"),
                }
            }
            _ => {}
        }
    }
}

async fn graphql_ok(client: &reqwest::Client, server: &Server) {
    let res = client
        .post(server.url("/graphql"))
        .header("accept", "application/json")
        .json(&json!({ "query": "{ posts(first: 1) { totalCount } }" }))
        .send()
        .await
        .unwrap();
    let res = TestApp::read(res).await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.data()["posts"]["totalCount"], 0);
}

/// The value of an unlabelled gauge in the process's `/metrics`.
async fn gauge(client: &reqwest::Client, server: &Server, name: &str) -> f64 {
    let text = scrape(client, &server.url("")).await;
    sum(&parse_samples(&text), name, &[]).unwrap_or_else(|| panic!("no {name} in {text}"))
}

const DRAIN: u64 = 2;
const GRACE: u64 = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_then_closes_subscriptions_with_1001_and_exits_0() {
    let client = reqwest::Client::new();
    let mut server = Server::start(&client, DRAIN, GRACE).await;
    let mut socket = subscribed(server.port).await;
    // The subscription is live before the signal.
    let deadline = Instant::now() + Duration::from_secs(5);
    while gauge(&client, &server, "gatehouse_subscriptions_active").await < 1.0 {
        assert!(Instant::now() < deadline, "the subscription never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let sent = server.terminate();
    // Readiness fails at once; the process still serves during the drain delay.
    server.assert_draining(&client).await;
    let res = client.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    graphql_ok(&client, &server).await;
    // A fresh connection is still accepted while draining.
    let fresh = reqwest::Client::new();
    graphql_ok(&fresh, &server).await;
    assert!(
        sent.elapsed() < Duration::from_secs(DRAIN),
        "the drain checks took {:?}, longer than the drain delay",
        sent.elapsed()
    );

    // After the drain delay, the subscription is closed as "going away".
    let code = close_code(&mut socket, Duration::from_secs(DRAIN + 3)).await;
    let closed_after = sent.elapsed();
    assert_eq!(code, 1001, "{}", server.log());
    assert!(
        closed_after >= Duration::from_millis(DRAIN * 1000 - 200),
        "closed after {closed_after:?}, before the drain delay of {DRAIN}s"
    );

    let status = server
        .wait_exit(sent + Duration::from_secs(DRAIN + GRACE + 3))
        .await;
    assert!(status.success(), "exit {status}: {}", server.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_an_in_flight_request_finish_and_stops_accepting() {
    let client = reqwest::Client::new();
    let mut server = Server::start(&client, DRAIN, GRACE).await;

    // A request whose body is still arriving is in flight across the shutdown.
    let body = json!({ "query": "{ posts(first: 1) { totalCount } }" }).to_string();
    let (head, tail) = body.split_at(body.len() / 2);
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    let request = format!(
        "POST /graphql HTTP/1.1\r\nhost: 127.0.0.1:{}\r\ncontent-type: application/json\r\n\
         accept: application/json\r\ncontent-length: {}\r\n\r\n{head}",
        server.port,
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    stream.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let sent = server.terminate();
    server.assert_draining(&client).await;

    // After the drain delay no new connection is accepted...
    let deadline = sent + Duration::from_secs(DRAIN + 3);
    loop {
        match tokio::net::TcpStream::connect(("127.0.0.1", server.port)).await {
            Err(_) => break,
            Ok(_) => {
                assert!(
                    Instant::now() < deadline,
                    "still accepting connections: {}",
                    server.log()
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    assert!(
        sent.elapsed() >= Duration::from_millis(DRAIN * 1000 - 200),
        "stopped accepting after {:?}, before the drain delay",
        sent.elapsed()
    );
    // ...but the process waits for the request in flight.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        server.process.child.try_wait().unwrap().is_none(),
        "the server exited with a request in flight: {}",
        server.log()
    );

    stream.write_all(tail.as_bytes()).await.unwrap();
    stream.flush().await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut response))
        .await
        .expect("the in-flight response in time")
        .unwrap();
    let response = String::from_utf8_lossy(&response);
    assert!(
        response.starts_with("HTTP/1.1 200"),
        "{response}\n{}",
        server.log()
    );
    assert!(
        response.contains(r#"{"data":{"posts":{"totalCount":0}}"#),
        "{response}"
    );

    let status = server
        .wait_exit(sent + Duration::from_secs(DRAIN + GRACE + 3))
        .await;
    assert!(status.success(), "exit {status}: {}", server.log());
}

/// A document's own operation name labels the request when `operationName` is absent (as
/// with `curl` or any client that does not repeat the name). A process of its own, so the
/// counts are exact and no other test's names fill the label slots.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_document_without_operation_name_is_labelled_by_its_name() {
    let client = reqwest::Client::new();
    let server = Server::start(&client, DRAIN, GRACE).await;
    for _ in 0..2 {
        let res = client
            .post(server.url("/graphql"))
            .header("accept", "application/json")
            .json(&json!({ "query": "query Feed { posts(first: 1) { totalCount } }" }))
            .send()
            .await
            .unwrap();
        TestApp::read(res).await.data();
    }
    let text = scrape(&client, &server.url("")).await;
    let samples = parse_samples(&text);
    let feed = sum(
        &samples,
        "gatehouse_http_requests_total",
        &[("operation", "Feed"), ("outcome", "ok")],
    );
    assert_eq!(feed, Some(2.0), "{text}");
    let anonymous = sum(
        &samples,
        "gatehouse_http_requests_total",
        &[("operation", "anonymous")],
    );
    assert_eq!(anonymous, None, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_outliving_the_grace_period_does_not_keep_the_process_alive() {
    let client = reqwest::Client::new();
    let (drain, grace) = (1, 2);
    let mut server = Server::start(&client, drain, grace).await;
    // A request that never completes its body.
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    let request = format!(
        "POST /graphql HTTP/1.1\r\nhost: 127.0.0.1:{}\r\ncontent-type: application/json\r\n\
         content-length: 1000\r\n\r\n{{\"query\":",
        server.port
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let sent = server.terminate();
    let status = server
        .wait_exit(sent + Duration::from_secs(drain + grace + 3))
        .await;
    assert!(
        sent.elapsed() >= Duration::from_millis((drain + grace) * 1000 - 200),
        "exited after {:?}, before drain + grace",
        sent.elapsed()
    );
    assert!(status.success(), "exit {status}: {}", server.log());
}

/// Production logs: one JSON object per line with the request's access-log line, written
/// in batches yet visible within the flush interval while the server runs (no exit needed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_production_server_logs_each_request_as_a_json_line() {
    let client = reqwest::Client::new();
    let dir = tempfile::tempdir().unwrap();
    let database = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("db.sqlite").display()
    );
    let env = [
        ("DATABASE_URL", database.as_str()),
        ("GATEHOUSE_ENV", "production"),
        ("RUST_LOG", "info"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()));
    let server = ServerProcess::start(&client, &env).await;
    let request_id = uuid::Uuid::new_v4().to_string();
    let res = client
        .post(format!("{}/graphql", server.address))
        .header("x-request-id", &request_id)
        .json(&json!({ "query": "query Feed { posts(first: 1) { totalCount } }" }))
        .send()
        .await
        .unwrap();
    TestApp::read(res).await.data();

    let deadline = Instant::now() + Duration::from_secs(3);
    let line = loop {
        let log = server.log();
        if let Some(line) = log.lines().find(|l| l.contains(&request_id)) {
            break line.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "no log line for the request within 3 s: {log}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let value: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(value["level"], "INFO", "{line}");
    assert_eq!(value["message"], "graphql operation", "{line}");
    assert_eq!(value["request_id"], request_id.as_str(), "{line}");
    assert_eq!(value["operation"], "Feed", "{line}");
    assert_eq!(value["outcome"], "ok", "{line}");
    assert_eq!(value["cached"], false, "{line}");
    assert!(value["latency_ms"].is_f64(), "{line}");
    assert_eq!(value["target"], "gatehouse::http::graphql", "{line}");
    assert!(line.starts_with(r#"{"timestamp":""#), "{line}");
    let timestamp = value["timestamp"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(timestamp).is_ok(),
        "{line}"
    );
    // Every line the server wrote is one JSON object.
    for other in server.log().lines().filter(|l| l.starts_with('{')) {
        serde_json::from_str::<Value>(other).unwrap_or_else(|e| panic!("{e}: {other}"));
    }
}
