//! `POST /graphql` and `GET /graphql`: GraphQL over HTTP, batched arrays, the per-caller
//! budget, the request timeout.

use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use futures_util::FutureExt as _;

use async_graphql::parser::types::OperationType;
use async_graphql::{BatchRequest, BatchResponse, Request};
use axum::extract::{ConnectInfo, State};
use axum::response::Response as HttpResponse;
use http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use serde::Deserialize;

use super::cached;
use super::client::{self, InvalidToken};
use super::documents::ParsedDocuments;
use super::response::{graphql_response, refusal, Media};
use super::{hardening, ws, AppState};
use crate::auth::Viewer;
use crate::cache::ResponseKey;
use crate::db::{RequestStats, REQUEST_STATS};
use crate::error::{coded_error, Code};
use crate::graphql::context::{BudgetSlot, RequestInfo};
use crate::graphql::loaders::gate::Tracked;
use crate::graphql::loaders::{Gate, Loaders};
use crate::graphql::operation;
use crate::limits::guard;
use crate::telemetry;

/// The caller of one HTTP request.
pub(super) struct Caller {
    pub(super) media: Media,
    pub(super) viewer: Option<Viewer>,
    pub(super) budget_key: String,
    pub(super) request_id: String,
    /// Report SQL statements in `extensions.sql` (development, or an enabled debug header).
    debug: bool,
}

impl Caller {
    /// Who is calling; a presented but invalid token is refused here with 401.
    async fn identify(
        state: &AppState,
        peer: SocketAddr,
        headers: &HeaderMap,
    ) -> Result<Self, Box<HttpResponse>> {
        let settings = &state.services.settings;
        let ip = client::client_ip(peer, headers, &settings.limits.trusted_proxies);
        let mut caller = Self {
            media: Media::negotiate(headers),
            viewer: None,
            budget_key: client::budget_key(None, ip),
            request_id: client::request_id(headers),
            debug: !settings.is_production()
                || (settings.debug_header
                    && headers.get("x-gatehouse-debug").is_some_and(|v| v == "1")),
        };
        match client::viewer(headers, &state.services.jwt).await {
            Ok(viewer) => {
                caller.viewer = viewer;
                caller.budget_key = client::budget_key(viewer.as_ref(), ip);
                Ok(caller)
            }
            Err(InvalidToken) => Err(Box::new(
                caller
                    .refuse(
                        state,
                        StatusCode::UNAUTHORIZED,
                        Code::Unauthenticated,
                        "invalid or expired token",
                    )
                    .await,
            )),
        }
    }

    /// A refusal that still tells the caller its budget (every `/graphql` response does).
    pub(super) async fn refuse(
        &self,
        state: &AppState,
        status: StatusCode,
        code: Code,
        message: &str,
    ) -> HttpResponse {
        let budget = state.services.budget.peek(&self.budget_key).await;
        refusal(self.media, status, code, message, Some(&budget))
    }
}

/// `POST /graphql`.
pub async fn graphql_post(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: axum::extract::Request,
) -> HttpResponse {
    let (parts, body) = request.into_parts();
    let caller = match Caller::identify(&state, peer, &parts.headers).await {
        Ok(caller) => caller,
        Err(response) => return *response,
    };
    match read_post(&state, &parts.headers, body).await {
        Ok((requests, batched)) => execute(&state, caller, requests, batched).await,
        Err((status, message)) => {
            caller
                .refuse(&state, status, Code::BadUserInput, &message)
                .await
        }
    }
}

/// The operations of a POST, or the status and message of its refusal.
async fn read_post(
    state: &AppState,
    headers: &HeaderMap,
    body: axum::body::Body,
) -> Result<(Vec<Request>, bool), (StatusCode, String)> {
    if !is_json(headers) {
        return Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the request as application/json".into(),
        ));
    }
    let limit = state.services.settings.limits.max_body_bytes;
    let Ok(body) = axum::body::to_bytes(body, limit).await else {
        return Err((
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than {limit} bytes"),
        ));
    };
    let batch = parse_body(&body).map_err(|message| (StatusCode::BAD_REQUEST, message))?;
    let (requests, batched) = match batch {
        BatchRequest::Single(request) => (vec![request], false),
        BatchRequest::Batch(requests) => (requests, true),
    };
    let max = state.services.settings.limits.max_batch;
    if requests.is_empty() || requests.len() > max {
        return Err((
            StatusCode::BAD_REQUEST,
            format!("a batch holds 1 to {max} operations"),
        ));
    }
    let persisted = |r: &Request| r.extensions.contains_key("persistedQuery");
    if requests
        .iter()
        .any(|r| r.query.trim().is_empty() && !persisted(r))
    {
        return Err((
            StatusCode::BAD_REQUEST,
            "every operation needs a `query` (or a persisted query hash)".into(),
        ));
    }
    Ok((requests, batched))
}

/// Reads a POST body: one GraphQL request (a JSON object) or a batch (an array of them).
///
/// The body goes through `serde_json::Value` first because serde's derived `Request`
/// would also take a JSON array as a struct (`["{ a }"]` ran as a query) and reports every
/// wrong parameter as the same opaque error; GraphQL over HTTP wants a map whose
/// parameters have fixed JSON types, and a 400 that says which one is wrong.
///
/// A well-formed single request (nearly every request) skips that detour: when serde's
/// `Request` takes a JSON object whole, every parameter had its JSON type (a string
/// `variables`, say, fails it), so it is what the checks below would have built; anything
/// it refuses goes the long way for its message.
fn parse_body(body: &[u8]) -> Result<BatchRequest, String> {
    let is_object = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    if is_object {
        if let Ok(request) = serde_json::from_slice::<Request>(body) {
            return Ok(BatchRequest::Single(request));
        }
    }
    parse_checked(body)
}

/// [`parse_body`] the long way: through `serde_json::Value`, each parameter checked.
fn parse_checked(body: &[u8]) -> Result<BatchRequest, String> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| "the body is not valid JSON".to_owned())?;
    match value {
        serde_json::Value::Object(params) => Ok(BatchRequest::Single(request_from(params)?)),
        serde_json::Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                serde_json::Value::Object(params) => request_from(params),
                _ => Err("every operation of a batch must be a JSON object".to_owned()),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(BatchRequest::Batch),
        _ => Err("the body must be a JSON object (or an array of them for a batch)".to_owned()),
    }
}

/// One request from its JSON parameters, each checked for its JSON type.
fn request_from(mut params: serde_json::Map<String, serde_json::Value>) -> Result<Request, String> {
    use serde_json::Value;
    // A null `query` is no query; the caller refuses an empty one with its own message.
    if params.get("query").is_some_and(Value::is_null) {
        params.remove("query");
    }
    let expected = [
        ("query", "a string", Value::is_string as fn(&Value) -> bool),
        ("operationName", "a string", Value::is_string),
        ("variables", "a JSON object", Value::is_object),
        ("extensions", "a JSON object", Value::is_object),
    ];
    for (name, what, is_ok) in expected {
        match params.get(name) {
            Some(value) if !value.is_null() && !is_ok(value) => {
                return Err(format!("`{name}` must be {what}"));
            }
            _ => {}
        }
    }
    serde_json::from_value(Value::Object(params))
        .map_err(|_| "the body is not a GraphQL request (JSON with a `query` string)".to_owned())
}

/// Query-string parameters of `GET /graphql`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GetParams {
    query: Option<String>,
    operation_name: Option<String>,
    variables: Option<String>,
    extensions: Option<String>,
}

/// `GET /graphql`: queries (never mutations), or the WebSocket upgrade.
pub async fn graphql_get(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: axum::extract::Request,
) -> HttpResponse {
    if ws::is_upgrade(request.headers()) {
        return ws::upgrade(state, request).await;
    }
    let caller = match Caller::identify(&state, peer, request.headers()).await {
        Ok(caller) => caller,
        Err(response) => return *response,
    };
    if state.services.settings.csrf_prevention && !hardening::forces_preflight(request.headers()) {
        return caller
            .refuse(
                &state,
                StatusCode::BAD_REQUEST,
                Code::BadUserInput,
                "this GET may be a cross-site request forgery: send an \
                 `apollo-require-preflight: true` header (or use POST)",
            )
            .await;
    }
    let request = match get_request(request.uri()) {
        Ok(request) => request,
        Err(message) => {
            return caller
                .refuse(&state, StatusCode::BAD_REQUEST, Code::BadUserInput, message)
                .await
        }
    };
    let admitted = [admit(&state, request).await];
    let cache = match cached::consult(&state, &caller, &admitted, false).await {
        Ok(cache) => cache,
        Err(hit) => return hit,
    };
    let [admitted] = admitted;
    let prepared = prepare(&state.documents, admitted);
    // An operation that cannot be picked is reported by `execute`, as for POST.
    if let Ok((_, Some(kind))) = &prepared {
        if *kind != OperationType::Query {
            let mut response = caller
                .refuse(
                    &state,
                    StatusCode::METHOD_NOT_ALLOWED,
                    Code::BadUserInput,
                    "only queries may be sent with GET; use POST",
                )
                .await;
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
            return response;
        }
    }
    run(&state, caller, vec![prepared], false, cache).await
}

/// Answers methods `/graphql` does not serve (PUT, DELETE …) in GraphQL's error shape.
pub async fn method_not_allowed() -> HttpResponse {
    let mut response = refusal(
        Media::Json,
        StatusCode::METHOD_NOT_ALLOWED,
        Code::BadUserInput,
        "use GET (queries) or POST",
        None,
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, POST"));
    response
}

/// An operation admitted by [`admit`], or the response of its refusal.
type Admitted = Result<Request, async_graphql::Response>;

/// An operation ready to run, with its type, or the response of its refusal.
type Prepared = Result<(Request, Option<OperationType>), async_graphql::Response>;

/// Admits one operation before anything parses its document: persisted-query resolution
/// (and the trusted-documents policy) and the cheap textual limits. `Err` is the response
/// of an operation refused on its own (the rest of a batch still runs).
async fn admit(state: &AppState, mut request: Request) -> Admitted {
    let refused = |error| async_graphql::Response::from_errors(vec![error]);
    state
        .services
        .persisted
        .resolve(&mut request)
        .await
        .map_err(refused)?;
    guard::precheck(&request.query, &state.services.settings.limits).map_err(refused)?;
    Ok(request)
}

/// Parses an admitted operation's document and picks the operation to run.
// The error is the refusal's response itself, built once and moved into the reply.
#[allow(clippy::result_large_err)]
fn prepare(documents: &ParsedDocuments, admitted: Admitted) -> Prepared {
    let mut request = admitted?;
    let kind = select_operation(documents, &mut request).map_err(|message| {
        async_graphql::Response::from_errors(vec![coded_error(Code::BadUserInput, message)])
    })?;
    Ok((request, kind))
}

fn get_request(uri: &Uri) -> Result<Request, &'static str> {
    let params: GetParams = serde_urlencoded::from_str(uri.query().unwrap_or_default())
        .map_err(|_| "malformed query string")?;
    // A persisted-query hash in `extensions` may stand in for the document.
    let query = params.query.filter(|q| !q.trim().is_empty());
    if query.is_none() && params.extensions.as_deref().is_none_or(str::is_empty) {
        return Err("a `query` parameter is required");
    }
    let mut request = Request::new(query.unwrap_or_default());
    if let Some(name) = params.operation_name.filter(|n| !n.is_empty()) {
        request = request.operation_name(name);
    }
    if let Some(variables) = params.variables.filter(|v| !v.is_empty()) {
        let value: serde_json::Value =
            serde_json::from_str(&variables).map_err(|_| "`variables` is not JSON")?;
        // `Variables::from_json` turns anything but an object into no variables at all;
        // refuse it instead, as a POST body with such `variables` is refused.
        match value {
            serde_json::Value::Object(_) => {
                request = request.variables(async_graphql::Variables::from_json(value));
            }
            serde_json::Value::Null => {}
            _ => return Err("`variables` must be a JSON object"),
        }
    }
    if let Some(extensions) = params.extensions.filter(|v| !v.is_empty()) {
        request.extensions =
            serde_json::from_str(&extensions).map_err(|_| "`extensions` is not a JSON object")?;
    }
    Ok(request)
}

/// The type of the operation a request will run, picked as async-graphql picks it.
///
/// `Ok(None)` when the document does not parse: execution reports that with its code.
/// `Err` when no operation can be picked (an unknown `operationName`, or several operations
/// and no name): async-graphql raises that without a code, which would reach the client as
/// `INTERNAL`, so the caller reports it as the client's mistake instead. The variables the
/// request left out get the operation's defaults ([`operation::fill_default_variables`]).
/// The parsed document stays cached in the request, so execution does not parse it again.
fn select_operation(
    documents: &ParsedDocuments,
    request: &mut Request,
) -> Result<Option<OperationType>, String> {
    let name = request.operation_name.clone();
    // The one parse of the document: execution reuses it, so its span is here.
    let span = tracing::info_span!(
        target: telemetry::TARGET,
        "graphql.parse",
        otel.status_code = tracing::field::Empty,
    );
    if !span.in_scope(|| documents.parse(request)) {
        span.record("otel.status_code", "error");
        return Ok(None);
    }
    // Out of the request while its document is borrowed (`parsed_query` takes it whole).
    let mut variables = std::mem::take(&mut request.variables);
    let picked = match request.parsed_query() {
        Ok(document) => operation::pick(document, name.as_deref()).map(|(operation, implied)| {
            operation::fill_default_variables(&operation.node, &mut variables);
            Some((operation.node.ty, implied.map(ToString::to_string)))
        }),
        Err(_) => Ok(None),
    };
    request.variables = variables;
    let Some((kind, implied_name)) = picked? else {
        return Ok(None);
    };
    // The one named operation of a document names the request (for metrics and logs).
    if implied_name.is_some() {
        request.operation_name = implied_name;
    }
    Ok(Some(kind))
}

fn is_json(headers: &HeaderMap) -> bool {
    super::content_type(headers)
        .is_some_and(|v| v == "application/json" || v == "application/graphql-response+json")
}

/// Prepares and runs the operations of a request.
async fn execute(
    state: &AppState,
    caller: Caller,
    requests: Vec<Request>,
    batched: bool,
) -> HttpResponse {
    let mut admitted = Vec::with_capacity(requests.len());
    for request in requests {
        admitted.push(admit(state, request).await);
    }
    let cache = match cached::consult(state, &caller, &admitted, batched).await {
        Ok(cache) => cache,
        Err(hit) => return hit,
    };
    let mut prepared = Vec::with_capacity(admitted.len());
    for admitted in admitted {
        prepared.push(prepare(&state.documents, admitted));
    }
    run(state, caller, prepared, batched, cache).await
}

/// Runs one operation with its own loaders and batching gate, counting its SQL, under the
/// timeout; records its metrics and, when debugging is on, its SQL in `extensions.sql`.
async fn run_operation(
    state: &AppState,
    info: &RequestInfo,
    (request, kind): (Request, Option<OperationType>),
    timeout: std::time::Duration,
    debug: bool,
) -> async_graphql::Response {
    let started = Instant::now();
    let operation = request.operation_name.clone();
    let gate = Arc::new(Gate::default());
    let stats = Arc::new(RequestStats::default());
    // Mutations read what they wrote: from the primary. Queries read the replica.
    let db = if kind == Some(OperationType::Mutation) {
        &state.services.db
    } else {
        state.services.read_db()
    };
    let request = request.data(info.clone()).data(Loaders::new(
        db.clone(),
        info.viewer,
        state.services.caches.clone(),
        kind != Some(OperationType::Mutation),
        Some((gate.clone(), stats.clone())),
    ));
    // A panicking resolver fails its operation, not the server: the panic is logged and
    // the client gets INTERNAL with the request id.
    let execution = AssertUnwindSafe(Tracked::new(state.schemas.execute(request, info), gate));
    let execution = REQUEST_STATS.scope(stats.clone(), execution.catch_unwind());
    let mut response = match tokio::time::timeout(timeout, execution).await {
        Ok(Ok(response)) => response,
        Ok(Err(panic)) => {
            let _ = hardening::panic_response(panic);
            async_graphql::Response::from_errors(vec![coded_error(
                Code::Internal,
                "internal error",
            )])
        }
        Err(_) => async_graphql::Response::from_errors(vec![coded_error(
            Code::Timeout,
            "the request took too long",
        )]),
    };
    if debug {
        response.extensions.insert(
            "sql".into(),
            async_graphql::value!({
                "statements": stats.statements(),
                "dbTimeMs": (stats.db_seconds() * 1000.0 * 1000.0).round() / 1000.0,
            }),
        );
    }
    observe(
        info,
        operation.as_deref(),
        started,
        &stats,
        &response.errors,
        false,
    );
    response
}

/// Logs one operation (one line; never variables, tokens or documents) and records its
/// metrics. `cached`: answered from the response cache.
pub(super) fn observe(
    info: &RequestInfo,
    operation: Option<&str>,
    started: Instant,
    stats: &RequestStats,
    errors: &[async_graphql::ServerError],
    cached: bool,
) {
    let outcome = errors
        .first()
        .and_then(crate::graphql::error_codes::code_of)
        .map_or_else(|| "ok".to_owned(), |code| code.to_ascii_lowercase());
    // `&str` fields, not `%` ones: each `%` field was formatted into a string of its own.
    tracing::info!(
        request_id = info.request_id.as_str(),
        operation = operation.unwrap_or("-"),
        viewer = info.viewer.map(|v| v.id),
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        outcome = outcome.as_str(),
        sql_statements = stats.statements(),
        cached,
        "graphql operation"
    );
    if let Some(metrics) = crate::metrics::get() {
        let label = metrics.operation_label(operation);
        let labels = [label.as_str(), outcome.as_str()];
        metrics.http_requests.with_label_values(&labels).inc();
        metrics
            .http_duration
            .with_label_values(&labels)
            .observe(started.elapsed().as_secs_f64());
        metrics.sql_per_request.observe(stats.statements() as f64);
        metrics.db_seconds_per_request.observe(stats.db_seconds());
        for error in errors {
            if let Some(code) = crate::graphql::error_codes::code_of(error) {
                metrics
                    .graphql_errors
                    .with_label_values(&[code.as_str()])
                    .inc();
            }
        }
    }
}

/// Runs every prepared operation with its own loaders under the timeout (the guard
/// extension checks and charges each one before it runs) and writes the response with the
/// caller's budget. `cache` is where the response cache wants a fresh answer stored (an
/// anonymous query it did not have).
async fn run(
    state: &AppState,
    caller: Caller,
    prepared: Vec<Prepared>,
    batched: bool,
    cache: Option<(ResponseKey, u64)>,
) -> HttpResponse {
    let services = &state.services;
    let timeout = services.settings.limits.request_timeout;
    // Only a query's answer may be stored, with its operation's name (for metrics).
    let operation = match &prepared[..] {
        [Ok((request, Some(OperationType::Query)))] => Some(request.operation_name.clone()),
        _ => None,
    };
    let cache = cache.zip(operation);
    let info = RequestInfo {
        viewer: caller.viewer,
        request_id: caller.request_id.clone(),
        budget_key: caller.budget_key.clone(),
        budget: BudgetSlot::default(),
    };
    if let [Ok((request, kind))] = prepared.as_slice() {
        telemetry::http::record_operation(request.operation_name.as_deref(), *kind);
    }
    let mut responses = Vec::with_capacity(prepared.len());
    for request in prepared {
        let response = match request {
            Ok(request) => run_operation(state, &info, request, timeout, caller.debug).await,
            Err(refused) => refused,
        };
        responses.push(response);
    }
    let hint = match &responses[..] {
        [response] if caller.viewer.is_none() => cached::public_max_age(response),
        _ => None,
    };
    let consulted = cache.is_some();
    if let (Some((slot, operation)), Some(max_age), [response]) = (cache, hint, &responses[..]) {
        cached::store(services, slot, response, max_age, operation);
    }
    let batch = if batched {
        BatchResponse::Batch(responses)
    } else {
        match responses.pop() {
            Some(response) => BatchResponse::Single(response),
            None => BatchResponse::Batch(Vec::new()),
        }
    };
    let budget = match info.budget_status() {
        Some(status) => status,
        None => services.budget.peek(&caller.budget_key).await,
    };
    let mut response = graphql_response(caller.media, batch, &caller.request_id, Some(&budget));
    cached::cache_headers(response.headers_mut(), hint, consulted.then_some(false));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_operation_follows_the_operation_name() {
        let mut request =
            Request::new("query A { viewer { id } } mutation B { x }").operation_name("B");
        assert_eq!(
            select_operation(&ParsedDocuments::default(), &mut request),
            Ok(Some(OperationType::Mutation))
        );
        let mut request = Request::new("{ viewer { id } }");
        assert_eq!(
            select_operation(&ParsedDocuments::default(), &mut request),
            Ok(Some(OperationType::Query))
        );
        let mut request = Request::new("mutation B { x }");
        assert_eq!(
            select_operation(&ParsedDocuments::default(), &mut request),
            Ok(Some(OperationType::Mutation))
        );
        assert_eq!(
            select_operation(&ParsedDocuments::default(), &mut Request::new("{")),
            Ok(None)
        );
    }

    #[test]
    fn an_operation_that_cannot_be_picked_is_an_error() {
        let two = "query A { viewer { id } } query B { viewer { id } }";
        assert!(select_operation(&ParsedDocuments::default(), &mut Request::new(two)).is_err());
        assert!(select_operation(
            &ParsedDocuments::default(),
            &mut Request::new(two).operation_name("C")
        )
        .is_err());
        assert!(select_operation(
            &ParsedDocuments::default(),
            &mut Request::new("{ viewer { id } }").operation_name("A")
        )
        .is_err());
    }

    #[test]
    fn a_post_body_is_a_map_or_an_array_of_maps() {
        let single = parse_body(br#"{"query": "{ a }", "variables": null}"#);
        assert!(matches!(single, Ok(BatchRequest::Single(_))));
        let batch = parse_body(br#"[{"query": "{ a }"}, {"query": "{ b }"}]"#);
        assert!(matches!(batch, Ok(BatchRequest::Batch(ref r)) if r.len() == 2));
        for (body, why) in [
            (&br#"{ "not JSON"#[..], "not valid JSON"),
            (br#"["{ a }"]"#, "batch must be a JSON object"),
            (br#""{ a }""#, "must be a JSON object"),
            (br#"{"query": 1}"#, "`query` must be a string"),
            (
                br#"{"query": "{ a }", "operationName": []}"#,
                "`operationName` must be",
            ),
            (
                br#"{"query": "{ a }", "variables": "{}"}"#,
                "`variables` must be",
            ),
            (
                br#"{"query": "{ a }", "extensions": [1]}"#,
                "`extensions` must be",
            ),
        ] {
            match parse_body(body) {
                Err(message) => assert!(message.contains(why), "{message}"),
                Ok(_) => panic!("accepted {}", String::from_utf8_lossy(body)),
            }
        }
        let Ok(BatchRequest::Single(request)) = parse_body(br#"{"query": null}"#) else {
            panic!("a null query is an empty one");
        };
        assert!(request.query.is_empty());
    }

    #[test]
    fn the_quick_path_reads_a_request_as_the_checked_path_does() {
        let bodies: [&[u8]; 5] = [
            br#"{"query": "{ a }"}"#,
            br#" {"query": "query Q($n: Int) { a(n: $n) }", "operationName": "Q",
                "variables": {"n": 1, "s": "x", "l": [1.5, null], "o": {"b": true}},
                "extensions": {"persistedQuery": {"version": 1, "sha256Hash": "ab"}}}"#,
            br#"{"query": "{ a }", "variables": null, "operationName": null, "other": 1}"#,
            br#"{"query": "{ a }", "variables": {}, "extensions": {}}"#,
            br#"{"query": "{ a \"quoted\" \u00e9 }"}"#,
        ];
        for body in bodies {
            let (Ok(BatchRequest::Single(quick)), Ok(BatchRequest::Single(checked))) =
                (parse_body(body), parse_checked(body))
            else {
                panic!("refused {}", String::from_utf8_lossy(body));
            };
            assert_eq!(quick.query, checked.query);
            assert_eq!(quick.operation_name, checked.operation_name);
            assert_eq!(quick.variables, checked.variables);
            assert_eq!(
                serde_json::to_value(&quick.extensions).ok(),
                serde_json::to_value(&checked.extensions).ok()
            );
        }
    }

    #[test]
    fn get_variables_must_be_an_object() {
        let uri = |q: &str| -> Uri { format!("/graphql?{q}").parse().unwrap() };
        assert!(get_request(&uri("query=%7Ba%7D&variables=%7B%22n%22%3A1%7D")).is_ok());
        assert!(get_request(&uri("query=%7Ba%7D&variables=null")).is_ok());
        assert!(get_request(&uri("query=%7Ba%7D&variables=%5B1%5D")).is_err());
        assert!(get_request(&uri("query=%7Ba%7D&variables=5")).is_err());
    }
}
