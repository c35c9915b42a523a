#![allow(clippy::unwrap_used)]
//! OpenTelemetry (issue 5): a real server process exports one request's spans over
//! OTLP/HTTP to a collector inside the test, all in the caller's trace and nested as the
//! work was (request → parse, validate, execute → DataLoader batches → SQL; Redis calls);
//! and with no endpoint configured nothing is exported.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use common::{Backend, ServerProcess, TestApp};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------
// An OTLP/HTTP collector in the test

/// One exported span and the `service.name` of the process that sent it.
#[derive(Clone, Debug)]
struct Exported {
    service: String,
    span: Span,
}

#[derive(Clone, Default)]
struct Received {
    spans: Arc<Mutex<Vec<Exported>>>,
    /// The `Content-Type` of every export request.
    content_types: Arc<Mutex<Vec<String>>>,
}

/// Accepts `POST /v1/traces` with a protobuf `ExportTraceServiceRequest`, as a collector's
/// OTLP/HTTP receiver does.
struct Collector {
    address: String,
    received: Received,
}

impl Collector {
    async fn start() -> Self {
        let received = Received::default();
        let app = axum::Router::new()
            .route("/v1/traces", axum::routing::post(export))
            .with_state(received.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { address, received }
    }

    fn spans(&self) -> Vec<Exported> {
        self.received.spans.lock().unwrap().clone()
    }

    fn content_types(&self) -> Vec<String> {
        self.received.content_types.lock().unwrap().clone()
    }
}

async fn export(
    State(received): State<Received>,
    headers: http::HeaderMap,
    body: Bytes,
) -> impl axum::response::IntoResponse {
    let content_type = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    received.content_types.lock().unwrap().push(content_type);
    let request = ExportTraceServiceRequest::decode(body).unwrap();
    let mut spans = received.spans.lock().unwrap();
    for resource_spans in request.resource_spans {
        let service = resource_spans
            .resource
            .as_ref()
            .and_then(|r| attribute(&r.attributes, "service.name"))
            .unwrap_or_default();
        for scope in resource_spans.scope_spans {
            for span in scope.spans {
                spans.push(Exported {
                    service: service.clone(),
                    span,
                });
            }
        }
    }
    // An empty `ExportTraceServiceResponse`: everything accepted.
    (
        [(http::header::CONTENT_TYPE, "application/x-protobuf")],
        Vec::new(),
    )
}

/// An attribute's value as text (strings as they are, numbers and booleans printed).
fn attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    let value = attributes.iter().find(|kv| kv.key == key)?.value.as_ref()?;
    match value.value.as_ref()? {
        AnyValue::StringValue(s) => Some(s.clone()),
        AnyValue::IntValue(i) => Some(i.to_string()),
        AnyValue::BoolValue(b) => Some(b.to_string()),
        AnyValue::DoubleValue(d) => Some(d.to_string()),
        other => Some(format!("{other:?}")),
    }
}

fn attr(span: &Span, key: &str) -> Option<String> {
    attribute(&span.attributes, key)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------------------------------
// The traced request

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";
const REQUEST_ID: &str = "otel-request-1";
/// A username that must never show up in a span (it only travels as a variable).
const MARKER: &str = "zq_marker_9f";
const SERVICE: &str = "gatehouse-otel-test";

/// Touches the root resolvers' own SQL and several loaders (authors, tags, counts, pages).
const FEED: &str = "query Feed($name: String!) {
  user(username: $name) { username posts(first: 5) { nodes { title tags { name } } } }
  posts(first: 5) { nodes { title author { username postCount } tags { name } commentCount likeCount } }
}";

async fn send(
    client: &reqwest::Client,
    server: &ServerProcess,
    token: Option<&str>,
    body: Value,
) -> common::Gql {
    let mut request = client
        .post(format!("{}/graphql", server.address))
        .header("accept", "application/json")
        .json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    TestApp::read(request.send().await.unwrap()).await
}

/// The server's variables for `backend`: its scratch database, and Redis on PostgreSQL.
async fn server_env(backend: Backend) -> Option<(common::ScratchDatabase, Vec<(String, String)>)> {
    let database = common::scratch_database(backend).await?;
    let mut env = database.env.clone();
    if backend == Backend::Postgres {
        if let Some(redis) = common::redis_url() {
            env.extend([
                ("REDIS_URL".to_owned(), redis),
                (
                    "GATEHOUSE_REDIS_PREFIX".to_owned(),
                    format!("test_{}:", uuid::Uuid::new_v4().simple()),
                ),
                // A busy test machine: no fallback to in-process for a slow answer.
                ("GATEHOUSE_REDIS_TIMEOUT_MS".to_owned(), "3000".to_owned()),
            ]);
        }
    }
    // SIGTERM stops the process at once; the test does not wait for a drain.
    env.push(("GATEHOUSE_DRAIN_DELAY_SECS".to_owned(), "0".to_owned()));
    Some((database, env))
}

/// Registers the marker user with two tagged posts (untraced requests) and returns its token.
async fn seed(client: &reqwest::Client, server: &ServerProcess) -> String {
    let res = send(
        client,
        server,
        None,
        json!({
            "query": "mutation($i: RegisterInput!) { register(input: $i) { token } }",
            "variables": { "i": {
                "username": MARKER, "email": format!("{MARKER}@example.org"),
                "password": format!("password-{MARKER}"), "displayName": "Otel",
            }},
        }),
    )
    .await;
    let token = res.data()["register"]["token"].as_str().unwrap().to_owned();
    for title in ["First", "Second"] {
        let res = send(
            client,
            server,
            Some(&token),
            json!({
                "query": "mutation($i: CreatePostInput!) { createPost(input: $i) { id } }",
                "variables": { "i": {
                    "title": title, "body": "Body", "publish": true, "tags": ["otel", title],
                }},
            }),
        )
        .await;
        res.data();
    }
    token
}

/// Sends [`FEED`] inside the caller's trace.
async fn traced_feed(client: &reqwest::Client, server: &ServerProcess, token: &str) -> common::Gql {
    let res = client
        .post(format!("{}/graphql", server.address))
        .header("accept", "application/json")
        .header("traceparent", format!("00-{TRACE_ID}-{CALLER_SPAN}-01"))
        .header("x-request-id", REQUEST_ID)
        .bearer_auth(token)
        .json(&json!({ "query": FEED, "operationName": "Feed", "variables": { "name": MARKER } }))
        .send()
        .await
        .unwrap();
    let res = TestApp::read(res).await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.data()["posts"]["nodes"].as_array().unwrap().len(), 2);
    res
}

/// The spans of one trace, by span id.
struct Trace {
    spans: HashMap<Vec<u8>, Span>,
}

impl Trace {
    fn named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Span> + 'a {
        self.spans.values().filter(move |s| s.name == name)
    }

    fn one<'a>(&'a self, name: &'a str) -> &'a Span {
        let found: Vec<&Span> = self.named(name).collect();
        assert_eq!(found.len(), 1, "{name}: {found:#?}");
        found[0]
    }

    /// True when `ancestor` is `span`'s parent, or its parent's, and so on.
    fn descends_from(&self, span: &Span, ancestor: &Span) -> bool {
        let mut parent = &span.parent_span_id;
        while let Some(next) = self.spans.get(parent) {
            if next.span_id == ancestor.span_id {
                return true;
            }
            parent = &next.parent_span_id;
        }
        false
    }
}

async fn one_request_is_one_trace_under_the_callers_span(backend: Backend) {
    let Some((_database, mut env)) = server_env(backend).await else {
        return;
    };
    let redis = env.iter().any(|(k, _)| k == "REDIS_URL");
    let collector = Collector::start().await;
    env.extend(
        [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.address.as_str()),
            ("OTEL_SERVICE_NAME", SERVICE),
            // Spans leave only with the flush at shutdown, never on the timer: the test
            // shows that SIGTERM does not lose them.
            ("OTEL_BSP_SCHEDULE_DELAY", "600000"),
            // JSON logs, to check below that the spans stay out of them.
            ("GATEHOUSE_ENV", "production"),
            ("RUST_LOG", "info"),
            // Every budget charge goes to Redis (no lease drawn ahead by the seeding
            // requests), so the traced request makes a Redis call of its own.
            ("GATEHOUSE_RATE_LEASE_POINTS", "0"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    let client = reqwest::Client::new();
    let mut server = ServerProcess::start(&client, &env).await;
    let token = seed(&client, &server).await;
    traced_feed(&client, &server, &token).await;
    let status = server.terminate(Duration::from_secs(20)).await;
    assert!(status.success(), "exit {status}: {}", server.log());

    let exported = collector.spans();
    assert!(
        collector
            .content_types()
            .iter()
            .all(|t| t == "application/x-protobuf"),
        "{:?}",
        collector.content_types()
    );
    for e in &exported {
        assert_eq!(e.service, SERVICE, "{:?}", e.span.name);
        // Nothing secret in any span: not the token, the password, or a variable's value.
        for kv in &e.span.attributes {
            let value = attribute(std::slice::from_ref(kv), &kv.key).unwrap_or_default();
            for secret in [token.as_str(), "password-", MARKER] {
                assert!(
                    !value.contains(secret),
                    "{} has {}={value}",
                    e.span.name,
                    kv.key
                );
            }
        }
    }
    let trace_id = (0..16)
        .map(|i| u8::from_str_radix(&TRACE_ID[2 * i..2 * i + 2], 16).unwrap())
        .collect::<Vec<u8>>();
    let trace = Trace {
        spans: exported
            .iter()
            .filter(|e| e.span.trace_id == trace_id)
            .map(|e| (e.span.span_id.clone(), e.span.clone()))
            .collect(),
    };
    let names: Vec<&str> = trace.spans.values().map(|s| s.name.as_str()).collect();

    // The request span continues the caller's span and says what ran.
    let request = trace.one("POST /graphql");
    assert_eq!(hex(&request.parent_span_id), CALLER_SPAN, "{names:?}");
    assert_eq!(request.kind, SpanKind::Server as i32);
    for (key, value) in [
        ("http.request.method", "POST"),
        ("http.route", "/graphql"),
        ("http.response.status_code", "200"),
        ("graphql.operation.name", "Feed"),
        ("graphql.operation.type", "query"),
        ("gatehouse.request_id", REQUEST_ID),
    ] {
        assert_eq!(
            attr(request, key).as_deref(),
            Some(value),
            "{key}: {request:#?}"
        );
    }

    // No span lost its parent to another trace: every exported span is the root of an
    // untraced set-up request, this request's span (the caller's child), or the child of
    // an exported span of its own trace.
    let by_id: HashMap<&[u8], &Span> = exported
        .iter()
        .map(|e| (e.span.span_id.as_slice(), &e.span))
        .collect();
    let mut roots = 0;
    for span in exported.iter().map(|e| &e.span) {
        if span.span_id == request.span_id {
            continue;
        }
        if span.parent_span_id.is_empty() {
            assert_eq!(span.name, "POST /graphql", "a stray root: {span:#?}");
            roots += 1;
            continue;
        }
        let parent = by_id
            .get(span.parent_span_id.as_slice())
            .unwrap_or_else(|| panic!("the parent of {} was not exported", span.name));
        assert_eq!(parent.trace_id, span.trace_id, "{}", span.name);
    }
    assert_eq!(
        roots, 3,
        "register and two posts were not traced by a caller"
    );
    for span in trace.spans.values() {
        if span.span_id != request.span_id {
            assert!(trace.descends_from(span, request), "{}", span.name);
        }
    }

    // Parse, validate and execute are children of the request.
    let execute = trace.one("graphql.execute");
    for name in ["graphql.parse", "graphql.validate", "graphql.execute"] {
        let span = trace.one(name);
        assert_eq!(span.parent_span_id, request.span_id, "{name}");
    }
    assert_eq!(
        attr(execute, "graphql.operation.name").as_deref(),
        Some("Feed")
    );

    // DataLoader batches run under execute, named and sized.
    let batches: Vec<&Span> = trace.named("dataloader.batch").collect();
    assert!(!batches.is_empty(), "no batch span: {names:?}");
    let mut loaders = HashSet::new();
    for batch in &batches {
        assert!(trace.descends_from(batch, execute), "{batch:#?}");
        loaders.insert(attr(batch, "dataloader.name").unwrap());
        let keys: u64 = attr(batch, "dataloader.keys").unwrap().parse().unwrap();
        assert!(keys >= 1, "{batch:#?}");
    }
    // An author's post count comes through a loader (a page's authors and comment
    // and like counts come with its own statement).
    assert!(loaders.contains("counts"), "{loaders:?}");

    // SQL statements: under execute, some within batches, timed within their parent.
    let system = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgresql",
    };
    let statements: Vec<&Span> = trace
        .spans
        .values()
        .filter(|s| attr(s, "db.system").as_deref() == Some(system))
        .collect();
    assert!(!statements.is_empty(), "no SQL span: {names:?}");
    assert!(
        statements
            .iter()
            .any(|s| s.parent_span_id == execute.span_id),
        "no statement of a root resolver"
    );
    assert!(
        statements
            .iter()
            .any(|s| batches.iter().any(|b| s.parent_span_id == b.span_id)),
        "no statement of a batch"
    );
    for statement in &statements {
        assert!(trace.descends_from(statement, execute), "{statement:#?}");
        assert_eq!(statement.kind, SpanKind::Client as i32);
        let text = attr(statement, "db.query.text").unwrap();
        assert!(text.contains("SELECT"), "{text}");
        let parent = &trace.spans[&statement.parent_span_id];
        assert!(
            statement.start_time_unix_nano >= parent.start_time_unix_nano
                && statement.end_time_unix_nano <= parent.end_time_unix_nano
                && statement.start_time_unix_nano <= statement.end_time_unix_nano,
            "{statement:#?} is not within {parent:#?}"
        );
    }

    // Redis: the budget charge of this request.
    if redis {
        let calls: Vec<&Span> = trace
            .spans
            .values()
            .filter(|s| attr(s, "db.system").as_deref() == Some("redis"))
            .collect();
        assert!(
            calls
                .iter()
                .any(|s| attr(s, "db.operation.name").as_deref() == Some("budget")),
            "no Redis span: {names:?}"
        );
    } else {
        assert!(!names.contains(&"redis"), "{names:?}");
    }

    // The JSON log line of the request is as it always was: no span context in it.
    let log = server.log();
    let line = log
        .lines()
        .find(|l| l.contains("graphql operation") && l.contains(REQUEST_ID))
        .unwrap_or_else(|| panic!("no log line for the request: {log}"));
    let line: Value = serde_json::from_str(line).unwrap();
    assert_eq!(line["operation"], "Feed", "{line}");
    for key in ["span", "spans"] {
        assert!(line.get(key).is_none(), "{line}");
    }
}

async fn without_an_endpoint_nothing_is_exported(backend: Backend) {
    let Some((_database, mut env)) = server_env(backend).await else {
        return;
    };
    let collector = Collector::start().await;
    // What the SDK would follow if it ran at all: it must not, without the endpoint.
    env.extend(
        [
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                format!("{}/v1/traces", collector.address),
            ),
            ("OTEL_BSP_SCHEDULE_DELAY", "50".to_owned()),
        ]
        .map(|(k, v)| (k.to_owned(), v)),
    );
    let client = reqwest::Client::new();
    let mut server = ServerProcess::start(&client, &env).await;
    let token = seed(&client, &server).await;
    let res = traced_feed(&client, &server, &token).await;
    assert!(res.headers.get("traceparent").is_none());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let status = server.terminate(Duration::from_secs(20)).await;
    assert!(status.success(), "exit {status}: {}", server.log());
    assert!(collector.content_types().is_empty());
    assert!(collector.spans().is_empty());
}

backend_tests!(
    one_request_is_one_trace_under_the_callers_span,
    without_an_endpoint_nothing_is_exported,
);
