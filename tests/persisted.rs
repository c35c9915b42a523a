#![allow(clippy::unwrap_used)]
//! Persisted operations and production hardening (issue 3, CONTRACT.md sections 3 and 4):
//! Apollo automatic persisted queries over POST and GET, shared through Redis; trusted
//! documents; CSRF prevention; the CORS allow-list; security headers.

mod common;

use common::{spawn_app, spawn_app_with, Backend, Gql, TestApp, NO_RESPONSE_CACHE};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

/// A query that reaches the database.
const QUERY: &str = "{ posts(first: 3) { totalCount nodes { title } } }";

fn sha256_hex(document: &str) -> String {
    Sha256::digest(document.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn persisted_extension(hash: &str) -> Value {
    json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } })
}

/// POSTs a hash (and optionally its document).
async fn post_persisted(app: &TestApp, query: Option<&str>, hash: &str, accept: &str) -> Gql {
    let mut body = json!({ "extensions": persisted_extension(hash) });
    if let Some(query) = query {
        body["query"] = json!(query);
    }
    app.post_json(None, &body, accept).await
}

/// GETs a hash (and optionally its document).
async fn get_persisted(app: &TestApp, query: Option<&str>, hash: &str, accept: &str) -> Gql {
    let extensions = persisted_extension(hash).to_string();
    let mut params = vec![("extensions", extensions.as_str())];
    if let Some(query) = query {
        params.push(("query", query));
    }
    let response = app
        .client
        .get(format!("{}/graphql", app.address))
        .query(&params)
        .header("accept", accept)
        .send()
        .await
        .unwrap();
    TestApp::read(response).await
}

/// Asserts Apollo's "not found" answer, which its clients look for: 200,
/// `PERSISTED_QUERY_NOT_FOUND`, message `PersistedQueryNotFound`.
fn assert_not_found(res: &Gql, what: &str) {
    assert_eq!(res.status, 200, "{what}: {}", res.body);
    res.assert_code("PERSISTED_QUERY_NOT_FOUND");
    assert_eq!(
        res.body["errors"][0]["message"], "PersistedQueryNotFound",
        "{what}"
    );
}

/// An app with one published post.
async fn app_with_a_post(backend: Backend) -> Option<TestApp> {
    // The tests check that stored documents run, not that answers are cached.
    let app = spawn_app_with(backend, &[NO_RESPONSE_CACHE]).await?;
    let (token, _) = app.register("ada").await;
    app.create_post(&token, "Hello", true, &[]).await;
    Some(app)
}

async fn apq_registers_a_document_over_post_then_serves_it_by_hash(backend: Backend) {
    let Some(app) = app_with_a_post(backend).await else {
        return;
    };
    let hash = sha256_hex(QUERY);
    for accept in [GRAPHQL_RESPONSE, JSON] {
        let before = app.statements();
        let res = post_persisted(&app, None, &hash, accept).await;
        assert_not_found(&res, accept);
        assert_eq!(app.statements(), before, "an unknown hash runs nothing");
    }
    let res = post_persisted(&app, Some(QUERY), &hash, GRAPHQL_RESPONSE).await;
    assert_eq!(res.status, 200, "body: {}", res.body);
    assert_eq!(res.data()["posts"]["totalCount"], 1);
    let before = app.statements();
    let res = post_persisted(&app, None, &hash, GRAPHQL_RESPONSE).await;
    assert_eq!(res.status, 200, "body: {}", res.body);
    assert_eq!(res.data()["posts"]["nodes"][0]["title"], "Hello");
    assert!(app.statements() > before, "the stored document ran");
    // Known to GET too.
    let res = get_persisted(&app, Some(QUERY), &hash, GRAPHQL_RESPONSE).await;
    assert_eq!(res.data()["posts"]["totalCount"], 1);
}

async fn apq_registers_a_document_over_get_then_serves_it_by_hash(backend: Backend) {
    let Some(app) = app_with_a_post(backend).await else {
        return;
    };
    let query = "{ posts(first: 2) { nodes { title } } }";
    let hash = sha256_hex(query);
    let res = get_persisted(&app, None, &hash, GRAPHQL_RESPONSE).await;
    assert_not_found(&res, "GET, hash only");
    let res = get_persisted(&app, Some(query), &hash, GRAPHQL_RESPONSE).await;
    assert_eq!(res.status, 200, "body: {}", res.body);
    assert_eq!(res.data()["posts"]["nodes"][0]["title"], "Hello");
    let res = get_persisted(&app, None, &hash, GRAPHQL_RESPONSE).await;
    assert_eq!(res.status, 200, "body: {}", res.body);
    assert_eq!(res.data()["posts"]["nodes"][0]["title"], "Hello");
}

async fn a_document_sent_with_its_hash_over_get_runs(backend: Backend) {
    // The part of the GET round trip that works without a hash-only request.
    let Some(app) = app_with_a_post(backend).await else {
        return;
    };
    let query = "{ posts(first: 2) { nodes { title } } }";
    let res = get_persisted(&app, Some(query), &sha256_hex(query), GRAPHQL_RESPONSE).await;
    assert_eq!(res.status, 200, "body: {}", res.body);
    assert_eq!(res.data()["posts"]["nodes"][0]["title"], "Hello");
    // Registered over GET, served by hash over POST.
    let res = post_persisted(&app, None, &sha256_hex(query), GRAPHQL_RESPONSE).await;
    assert_eq!(res.data()["posts"]["nodes"][0]["title"], "Hello");
}

async fn a_hash_that_does_not_match_its_document_is_400(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let wrong = sha256_hex("{ __typename }");
    let before = app.statements();
    let res = post_persisted(&app, Some(QUERY), &wrong, GRAPHQL_RESPONSE).await;
    assert_eq!(res.status, 400, "body: {}", res.body);
    res.assert_code("BAD_USER_INPUT");
    assert!(res.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with(GRAPHQL_RESPONSE));
    assert!(res.body.get("data").is_none(), "{}", res.body);
    let res = get_persisted(&app, Some(QUERY), &wrong, GRAPHQL_RESPONSE).await;
    assert_eq!(res.status, 400, "GET: {}", res.body);
    res.assert_code("BAD_USER_INPUT");
    assert_eq!(
        app.statements(),
        before,
        "a mismatched document runs nothing"
    );
    // The mismatched document was not stored under that hash.
    let res = post_persisted(&app, None, &wrong, GRAPHQL_RESPONSE).await;
    assert_not_found(&res, "after a mismatch");
}

async fn a_document_registered_on_one_instance_is_found_by_another_through_redis(backend: Backend) {
    let Some(redis) = common::redis_url() else {
        eprintln!("skipped: TEST_REDIS_URL is not set");
        return;
    };
    let prefix = format!("test_{}:", uuid::Uuid::new_v4().simple());
    let shared = [
        ("REDIS_URL", redis.as_str()),
        ("GATEHOUSE_REDIS_PREFIX", prefix.as_str()),
    ];
    let Some(first) = spawn_app_with(backend, &shared).await else {
        return;
    };
    let Some(second) = spawn_app_with(backend, &shared).await else {
        return;
    };
    let hash = sha256_hex(QUERY);
    assert_not_found(
        &post_persisted(&second, None, &hash, JSON).await,
        "not yet registered",
    );
    let res = post_persisted(&first, Some(QUERY), &hash, JSON).await;
    assert_eq!(res.data()["posts"]["totalCount"], 0);
    let res = post_persisted(&second, None, &hash, JSON).await;
    assert_eq!(res.status, 200, "body: {}", res.body);
    assert_eq!(res.data()["posts"]["totalCount"], 0);

    // The control: without Redis, instances do not share what they learn.
    let Some(third) = spawn_app_with(Backend::Sqlite, &[]).await else {
        return;
    };
    let Some(fourth) = spawn_app_with(Backend::Sqlite, &[]).await else {
        return;
    };
    post_persisted(&third, Some(QUERY), &hash, JSON)
        .await
        .data();
    assert_not_found(
        &post_persisted(&fourth, None, &hash, JSON).await,
        "in-process store",
    );
}

/// The manifest's query.
const FEED: &str = "query Feed { posts(first: 5) { totalCount nodes { title } } }";
/// The manifest's mutations.
const REGISTER: &str =
    "mutation Register($input: RegisterInput!) { register(input: $input) { token } }";
const CREATE_POST: &str =
    "mutation CreatePost($input: CreatePostInput!) { createPost(input: $input) { id } }";

/// Writes an Apollo persisted-query manifest of a small frontend into `dir`.
fn write_manifest(dir: &std::path::Path) -> String {
    let operation = |name: &str, kind: &str, body: &str| json!({ "id": sha256_hex(body), "name": name, "type": kind, "body": body });
    let manifest = json!({
        "format": "apollo-persisted-query-manifest",
        "version": 1,
        "operations": [
            operation("Feed", "query", FEED),
            operation("Register", "mutation", REGISTER),
            operation("CreatePost", "mutation", CREATE_POST),
        ]
    });
    let path = dir.join("manifest.json");
    std::fs::write(&path, manifest.to_string()).unwrap();
    path.display().to_string()
}

async fn trusted_documents_mode_runs_only_the_manifest(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(dir.path());
    let Some(app) = spawn_app_with(backend, &[("GATEHOUSE_TRUSTED_DOCUMENTS", &manifest)]).await
    else {
        return;
    };
    // The frontend's mutations run by hash, with variables.
    let by_hash = |document: &str, variables: Value| json!({ "extensions": persisted_extension(&sha256_hex(document)), "variables": variables });
    let res = app
        .post_json(
            None,
            &by_hash(
                REGISTER,
                json!({ "input": { "username": "ada", "email": "ada@example.org",
                                   "password": "password-ada", "displayName": "Ada" } }),
            ),
            JSON,
        )
        .await;
    let token = res.data()["register"]["token"].as_str().unwrap().to_owned();
    let res = app
        .post_json(
            Some(&token),
            &by_hash(
                CREATE_POST,
                json!({ "input": { "title": "Hello", "body": "b", "publish": true } }),
            ),
            JSON,
        )
        .await;
    res.data();

    let hash = sha256_hex(FEED);
    // By hash, in full, and in full with its hash; over POST and GET.
    let by_hash = post_persisted(&app, None, &hash, GRAPHQL_RESPONSE).await;
    assert_eq!(by_hash.status, 200, "by hash: {}", by_hash.body);
    assert_eq!(by_hash.data()["posts"]["nodes"][0]["title"], "Hello");
    let full = app
        .post_json(None, &json!({ "query": FEED }), GRAPHQL_RESPONSE)
        .await;
    assert_eq!(full.data()["posts"]["totalCount"], 1, "in full");
    let both = post_persisted(&app, Some(FEED), &hash, GRAPHQL_RESPONSE).await;
    assert_eq!(both.data()["posts"]["totalCount"], 1, "in full with hash");
    let get = get_persisted(&app, Some(FEED), &hash, GRAPHQL_RESPONSE).await;
    assert_eq!(get.data()["posts"]["totalCount"], 1, "GET");

    // Anything else is refused, before any SQL.
    let other = "{ posts { totalCount } }";
    let before = app.statements();
    let refusals = [
        (
            "another document",
            app.post_json(None, &json!({ "query": other }), GRAPHQL_RESPONSE)
                .await,
        ),
        (
            "another document with its hash",
            post_persisted(&app, Some(other), &sha256_hex(other), GRAPHQL_RESPONSE).await,
        ),
        (
            "an unknown hash",
            post_persisted(&app, None, &sha256_hex(other), GRAPHQL_RESPONSE).await,
        ),
        (
            "another document under the manifest's hash",
            post_persisted(&app, Some(other), &hash, GRAPHQL_RESPONSE).await,
        ),
        (
            "the manifest's document reformatted",
            app.post_json(
                None,
                &json!({ "query": FEED.replace(' ', "  ") }),
                GRAPHQL_RESPONSE,
            )
            .await,
        ),
        (
            "another document over GET",
            get_persisted(&app, Some(other), &sha256_hex(other), GRAPHQL_RESPONSE).await,
        ),
    ];
    for (what, res) in &refusals {
        assert_eq!(res.status, 400, "{what}: {}", res.body);
        res.assert_code("BAD_USER_INPUT");
    }
    assert_eq!(app.statements(), before, "refusals run no SQL");

    // In a batch, the manifest operation runs and the other is refused on its own.
    let res = app
        .post_json(
            None,
            &json!([{ "query": FEED }, { "query": other }]),
            GRAPHQL_RESPONSE,
        )
        .await;
    let items = res.body.as_array().unwrap();
    assert_eq!(items[0]["data"]["posts"]["totalCount"], 1, "{}", res.body);
    assert_eq!(
        items[1]["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{}",
        res.body
    );
}

async fn untrusted_documents_run_no_sql(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(dir.path());
    let Some(app) = spawn_app_with(backend, &[("GATEHOUSE_TRUSTED_DOCUMENTS", &manifest)]).await
    else {
        return;
    };
    for query in [
        "{ posts { totalCount } }",
        "mutation { likePost(postId: \"x\") { id } }",
    ] {
        let before = app.statements();
        let res = app
            .post_json(None, &json!({ "query": query }), GRAPHQL_RESPONSE)
            .await;
        assert_eq!(res.status, 400, "{query}: {}", res.body);
        res.assert_code("BAD_USER_INPUT");
        assert_eq!(app.statements(), before, "{query}");
    }
}

async fn get_graphql(app: &TestApp, query: &str, headers: &[(&str, &str)]) -> Gql {
    let mut request = app
        .client
        .get(format!("{}/graphql", app.address))
        .query(&[("query", query)]);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    TestApp::read(request.send().await.unwrap()).await
}

async fn csrf_prevention_refuses_a_get_without_a_preflight_header(backend: Backend) {
    let Some(app) = spawn_app_with(backend, &[("GATEHOUSE_CSRF_PREVENTION", "true")]).await else {
        return;
    };
    for accept in [GRAPHQL_RESPONSE, JSON] {
        let before = app.statements();
        let res = get_graphql(&app, QUERY, &[("accept", accept)]).await;
        assert_eq!(res.status, 400, "{accept}: {}", res.body);
        res.assert_code("BAD_USER_INPUT");
        assert_eq!(app.statements(), before, "a refused GET runs nothing");
        // A simple content type does not force a preflight either.
        let res = get_graphql(
            &app,
            QUERY,
            &[("accept", accept), ("content-type", "text/plain")],
        )
        .await;
        assert_eq!(res.status, 400, "text/plain: {}", res.body);
    }
    let res = get_graphql(&app, QUERY, &[("apollo-require-preflight", "true")]).await;
    assert_eq!(res.status, 200, "with the header: {}", res.body);
    assert_eq!(res.data()["posts"]["totalCount"], 0);
    let res = get_graphql(&app, QUERY, &[("x-apollo-operation-name", "Posts")]).await;
    assert_eq!(
        res.status, 200,
        "with an operation name header: {}",
        res.body
    );
    // POST with JSON always forces a preflight: unaffected.
    let res = app
        .post_json(None, &json!({ "query": QUERY }), GRAPHQL_RESPONSE)
        .await;
    assert_eq!(res.data()["posts"]["totalCount"], 0);
}

async fn csrf_prevention_is_on_in_production_and_off_in_development(backend: Backend) {
    let Some(production) = spawn_app_with(backend, &[("GATEHOUSE_ENV", "production")]).await else {
        return;
    };
    let res = get_graphql(&production, QUERY, &[]).await;
    assert_eq!(res.status, 400, "production: {}", res.body);
    res.assert_code("BAD_USER_INPUT");
    let Some(development) = spawn_app(backend).await else {
        return;
    };
    let res = get_graphql(&development, QUERY, &[]).await;
    assert_eq!(res.status, 200, "development: {}", res.body);
    res.data();
}

/// An OPTIONS preflight for a JSON POST from `origin`.
async fn preflight(app: &TestApp, origin: &str) -> reqwest::Response {
    app.client
        .request(reqwest::Method::OPTIONS, format!("{}/graphql", app.address))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type,authorization",
        )
        .send()
        .await
        .unwrap()
}

fn allow_origin(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get("access-control-allow-origin")
        .map(|v| v.to_str().unwrap().to_owned())
}

async fn cors_allows_only_the_configured_origins(backend: Backend) {
    let Some(app) = spawn_app_with(
        backend,
        &[("GATEHOUSE_CORS_ORIGINS", "https://app.example")],
    )
    .await
    else {
        return;
    };
    let allowed = preflight(&app, "https://app.example").await;
    assert!(allowed.status().is_success(), "{}", allowed.status());
    assert_eq!(
        allow_origin(&allowed).as_deref(),
        Some("https://app.example")
    );
    let methods = allowed.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_ascii_uppercase();
    assert!(methods.contains("POST"), "{methods}");
    let headers = allowed.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        headers.contains("content-type") && headers.contains("authorization"),
        "{headers}"
    );

    for origin in [
        "https://evil.example",
        "https://app.example.evil.example",
        "null",
    ] {
        let refused = preflight(&app, origin).await;
        assert_eq!(allow_origin(&refused), None, "{origin}");
    }

    // The actual request from the allowed origin can read the budget headers.
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("origin", "https://app.example")
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        allow_origin(&response).as_deref(),
        Some("https://app.example")
    );
    let exposed = response.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(exposed.contains("ratelimit-remaining"), "{exposed}");
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("origin", "https://evil.example")
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(allow_origin(&response), None);

    // Without an allow-list the API stays same-origin.
    let Some(plain) = spawn_app(backend).await else {
        return;
    };
    assert_eq!(
        allow_origin(&preflight(&plain, "https://app.example").await),
        None
    );
}

async fn graphql_responses_carry_security_headers(backend: Backend) {
    let Some(app) = spawn_app_with(backend, &[("GATEHOUSE_MAX_BODY_BYTES", "1024")]).await else {
        return;
    };
    let client = &app.client;
    let url = format!("{}/graphql", app.address);
    let responses = [
        (
            "POST",
            client
                .post(&url)
                .json(&json!({ "query": QUERY }))
                .send()
                .await
                .unwrap(),
        ),
        (
            "GET",
            client
                .get(&url)
                .query(&[("query", QUERY)])
                .send()
                .await
                .unwrap(),
        ),
        (
            "a parse error",
            client
                .post(&url)
                .json(&json!({ "query": "{" }))
                .send()
                .await
                .unwrap(),
        ),
        (
            "a bad token",
            client
                .post(&url)
                .bearer_auth("not-a-token")
                .json(&json!({ "query": QUERY }))
                .send()
                .await
                .unwrap(),
        ),
        (
            "a body over the limit",
            client
                .post(&url)
                .json(&json!({ "query": format!("{{ __typename {}}}", " ".repeat(2048)) }))
                .send()
                .await
                .unwrap(),
        ),
        ("PUT", client.put(&url).body("x").send().await.unwrap()),
    ];
    for (what, response) in &responses {
        let headers = response.headers();
        assert_eq!(
            headers
                .get("x-content-type-options")
                .map(|v| v.to_str().unwrap()),
            Some("nosniff"),
            "{what} ({})",
            response.status()
        );
        let frame = headers
            .get("x-frame-options")
            .map(|v| v.to_str().unwrap().to_ascii_uppercase());
        assert!(
            matches!(frame.as_deref(), Some("DENY" | "SAMEORIGIN")),
            "{what}: X-Frame-Options {frame:?}"
        );
    }
}

backend_tests!(
    apq_registers_a_document_over_post_then_serves_it_by_hash,
    a_document_sent_with_its_hash_over_get_runs,
    a_hash_that_does_not_match_its_document_is_400,
    a_document_registered_on_one_instance_is_found_by_another_through_redis,
    trusted_documents_mode_runs_only_the_manifest,
    untrusted_documents_run_no_sql,
    csrf_prevention_refuses_a_get_without_a_preflight_header,
    csrf_prevention_is_on_in_production_and_off_in_development,
    cors_allows_only_the_configured_origins,
    graphql_responses_carry_security_headers,
);

backend_tests!(apq_registers_a_document_over_get_then_serves_it_by_hash,);
