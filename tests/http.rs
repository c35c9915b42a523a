//! The HTTP surface (CONTRACT.md sections 3 and 4): GraphQL over HTTP with GET and POST,
//! media types and status codes, batches, size and rate limits, request ids, probes,
//! introspection and the playground.

#![allow(clippy::unwrap_used)]

mod common;

use common::{spawn_app, spawn_app_with, Backend, Gql, TestApp, INTROSPECTION_QUERY};
use serde_json::{json, Value};

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

/// `GET /graphql` with query-string parameters.
async fn get_graphql(app: &TestApp, params: &[(&str, &str)], accept: &str) -> Gql {
    let response = app
        .client
        .get(format!("{}/graphql", app.address))
        .query(params)
        .header("accept", accept)
        .send()
        .await
        .unwrap();
    TestApp::read(response).await
}

/// `POST /graphql` with a raw body and content type.
async fn post_raw(app: &TestApp, content_type: &str, body: impl Into<reqwest::Body>) -> Gql {
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("content-type", content_type)
        .header("accept", JSON)
        .body(body)
        .send()
        .await
        .unwrap();
    TestApp::read(response).await
}

/// `GET path` on the app.
async fn get(app: &TestApp, path: &str) -> reqwest::Response {
    app.client
        .get(format!("{}{path}", app.address))
        .send()
        .await
        .unwrap()
}

fn header<'a>(res: &'a Gql, name: &str) -> &'a str {
    res.headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header; headers: {:?}", res.headers))
        .to_str()
        .unwrap()
}

fn header_number(res: &Gql, name: &str) -> i64 {
    header(res, name)
        .parse()
        .unwrap_or_else(|_| panic!("{name} is not a number: {:?}", res.headers.get(name)))
}

/// The media type of `content-type`, without parameters.
fn media_type(res: &Gql) -> String {
    header(res, "content-type")
        .split(';')
        .next()
        .unwrap()
        .trim()
        .to_ascii_lowercase()
}

async fn users_in_db(app: &TestApp) -> i64 {
    use sea_orm::{ConnectionTrait, Statement};
    let db = &app.services.db;
    let row = db
        .query_one(Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM users".to_owned(),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

// ---------------------------------------------------------------------------------------
// GET /graphql

async fn get_runs_a_query_with_variables_and_operation_name(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (token, _) = app.register("ada").await;
    app.create_post(&token, "First", true, &[]).await;
    app.create_post(&token, "Second", true, &[]).await;
    let document = "query Other { __typename } \
                    query Feed($n: Int) { posts(first: $n) { totalCount nodes { title } } }";
    let res = get_graphql(
        &app,
        &[
            ("query", document),
            ("variables", r#"{"n": 1}"#),
            ("operationName", "Feed"),
        ],
        JSON,
    )
    .await;
    assert_eq!(res.status, 200, "body: {}", res.body);
    assert_eq!(
        res.data(),
        &json!({ "posts": { "totalCount": 2, "nodes": [{ "title": "Second" }] } })
    );
    let res = get_graphql(
        &app,
        &[("query", document), ("operationName", "Other")],
        JSON,
    )
    .await;
    assert_eq!(res.data(), &json!({ "__typename": "Query" }));
}

async fn a_mutation_sent_with_get_is_405_and_writes_nothing(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let register = r#"mutation Reg { register(input: { username: "ada", email: "ada@example.org",
        password: "password-ada", displayName: "Ada" }) { token } }"#;
    let mixed = format!("query Q {{ __typename }} {register}");
    let cases: [&[(&str, &str)]; 2] = [
        &[("query", register)],
        &[("query", &mixed), ("operationName", "Reg")],
    ];
    for params in cases {
        for accept in [JSON, GRAPHQL_RESPONSE] {
            let res = get_graphql(&app, params, accept).await;
            assert_eq!(res.status, 405, "{params:?} ({accept}): {}", res.body);
            assert_eq!(header(&res, "allow"), "POST");
            res.assert_code("BAD_USER_INPUT");
        }
    }
    assert_eq!(users_in_db(&app).await, 0);
    // The query of the same document may be sent with GET.
    let res = get_graphql(&app, &[("query", &mixed), ("operationName", "Q")], JSON).await;
    assert_eq!(res.data(), &json!({ "__typename": "Query" }));
}

// ---------------------------------------------------------------------------------------
// Media types and request errors

async fn request_errors_are_400_for_graphql_response_json_and_200_for_json(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let cases = [
        (
            "a parse error",
            json!({ "query": "{ posts { " }),
            "GRAPHQL_PARSE_FAILED",
        ),
        (
            "an unknown field",
            json!({ "query": "{ noSuchField }" }),
            "GRAPHQL_VALIDATION_FAILED",
        ),
        (
            "a variable of the wrong type",
            json!({
                "query": "query($n: Int) { posts(first: $n) { totalCount } }",
                "variables": { "n": "ten" },
            }),
            "BAD_USER_INPUT",
        ),
    ];
    for (why, body, code) in cases {
        let res = app.post_json(None, &body, GRAPHQL_RESPONSE).await;
        assert_eq!(res.status, 400, "{why}: {}", res.body);
        assert_eq!(res.codes(), [code], "{why}: {}", res.body);
        assert!(
            res.body.get("data").is_none(),
            "{why}: no data key: {}",
            res.body
        );
        assert_eq!(media_type(&res), GRAPHQL_RESPONSE, "{why}");

        let res = app.post_json(None, &body, JSON).await;
        assert_eq!(res.status, 200, "{why}: {}", res.body);
        assert_eq!(res.codes(), [code], "{why}: {}", res.body);
        assert_eq!(media_type(&res), JSON, "{why}");
    }
}

async fn the_response_content_type_follows_the_accept_header(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let body = json!({ "query": "{ __typename }" });
    for (accept, expected) in [
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (JSON, JSON),
        (
            "application/graphql-response+json, application/json;q=0.9",
            GRAPHQL_RESPONSE,
        ),
        ("*/*", JSON),
    ] {
        let res = app.post_json(None, &body, accept).await;
        assert_eq!(res.status, 200, "{accept}: {}", res.body);
        assert_eq!(res.data(), &json!({ "__typename": "Query" }));
        assert_eq!(media_type(&res), expected, "Accept: {accept}");
    }
}

async fn a_field_error_is_200_with_data_for_both_media_types(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let body =
        json!({ "query": "mutation { createPost(input: { title: \"t\", body: \"b\" }) { id } }" });
    for accept in [GRAPHQL_RESPONSE, JSON] {
        let res = app.post_json(None, &body, accept).await;
        assert_eq!(res.status, 200, "{accept}: {}", res.body);
        res.assert_code("UNAUTHENTICATED");
        assert!(
            res.body.get("data").is_some(),
            "execution began: {}",
            res.body
        );
    }
}

// ---------------------------------------------------------------------------------------
// Batches and size limits

async fn a_batch_returns_an_array_of_results(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let batch = json!([
        { "query": "{ __typename }" },
        { "query": "query($n: Int) { posts(first: $n) { totalCount } }", "variables": { "n": 5 } },
        { "query": "{ viewer { id } }" },
    ]);
    let res = app.post_json(None, &batch, JSON).await;
    assert_eq!(res.status, 200, "body: {}", res.body);
    // Only `data` is compared: `extensions` carries cost and (in development) SQL counts.
    let data: Vec<Value> = res
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|r| json!({ "data": r["data"] }))
        .collect();
    assert_eq!(
        Value::Array(data),
        json!([
            { "data": { "__typename": "Query" } },
            { "data": { "posts": { "totalCount": 0 } } },
            { "data": { "viewer": null } },
        ])
    );
}

async fn a_batch_over_the_limit_is_refused(backend: Backend) {
    let Some(app) = spawn_app_with(backend, &[("GATEHOUSE_MAX_BATCH", "2")]).await else {
        return;
    };
    let op = json!({ "query": "{ __typename }" });
    let res = app
        .post_json(None, &json!([op.clone(), op.clone()]), GRAPHQL_RESPONSE)
        .await;
    assert_eq!(res.status, 200, "two fit: {}", res.body);
    assert_eq!(res.body.as_array().unwrap().len(), 2);

    let res = app
        .post_json(
            None,
            &json!([op.clone(), op.clone(), op.clone()]),
            GRAPHQL_RESPONSE,
        )
        .await;
    assert_eq!(res.status, 400, "body: {}", res.body);
    res.assert_code("BAD_USER_INPUT");
    assert!(res.body.get("data").is_none());

    let res = app
        .post_json(None, &json!([op.clone(), op.clone(), op]), JSON)
        .await;
    assert_eq!(res.codes(), ["BAD_USER_INPUT"], "body: {}", res.body);
}

async fn a_body_over_the_limit_is_413(backend: Backend) {
    let Some(app) = spawn_app_with(backend, &[("GATEHOUSE_MAX_BODY_BYTES", "1024")]).await else {
        return;
    };
    let small = json!({ "query": "{ __typename }" });
    app.post_json(None, &small, JSON).await.data();
    let padding = " ".repeat(2048);
    let large = json!({ "query": format!("{{ __typename {padding}}}") });
    for accept in [JSON, GRAPHQL_RESPONSE] {
        let res = app.post_json(None, &large, accept).await;
        assert_eq!(res.status, 413, "{accept}: {}", res.body);
    }
}

async fn a_body_that_is_not_json_is_415(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let body = json!({ "query": "{ __typename }" }).to_string();
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/graphql",
    ] {
        let res = post_raw(&app, content_type, body.clone()).await;
        assert_eq!(res.status, 415, "{content_type}: {}", res.body);
    }
    let res = post_raw(&app, "application/json; charset=utf-8", body).await;
    assert_eq!(res.status, 200, "body: {}", res.body);
    assert_eq!(res.data(), &json!({ "__typename": "Query" }));
}

// ---------------------------------------------------------------------------------------
// Request ids and probes

async fn the_request_id_is_echoed_or_generated(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("x-request-id", "my-request-42")
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "my-request-42");

    let mut generated = Vec::new();
    for path in [
        "/graphql?query=%7B__typename%7D",
        "/graphql?query=%7B__typename%7D",
        "/healthz",
    ] {
        let response = get(&app, path).await;
        let id = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(!id.trim().is_empty(), "{path}");
        generated.push(id);
    }
    assert_ne!(generated[0], generated[1], "each request gets its own id");
}

async fn the_probes_answer(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let response = get(&app, "/healthz").await;
    assert_eq!(response.status(), 200);

    let response = get(&app, "/readyz").await;
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.starts_with(JSON), "{content_type}");
    let body: Value = response.json().await.unwrap();
    assert!(body.is_object(), "{body}");
}

// ---------------------------------------------------------------------------------------
// Rate limits

async fn every_graphql_response_carries_rate_limit_headers(backend: Backend) {
    let Some(app) = spawn_app_with(backend, &[("GATEHOUSE_RATE_POINTS", "100")]).await else {
        return;
    };
    let ok = json!({ "query": "{ __typename }" });
    let parse_error = json!({ "query": "{" });
    let mut previous = i64::MAX;
    for (body, accept) in [
        (&ok, JSON),
        (&parse_error, GRAPHQL_RESPONSE),
        (&parse_error, JSON),
        (&ok, GRAPHQL_RESPONSE),
    ] {
        let res = app.post_json(None, body, accept).await;
        assert_eq!(header_number(&res, "ratelimit-limit"), 100);
        let remaining = header_number(&res, "ratelimit-remaining");
        assert!(
            remaining < previous,
            "remaining decreases: {remaining} after {previous}"
        );
        assert!((0..100).contains(&remaining));
        let reset = header_number(&res, "ratelimit-reset");
        assert!((0..=60).contains(&reset), "reset {reset}");
        previous = remaining;
    }
    let res = get_graphql(&app, &[("query", "{ __typename }")], JSON).await;
    assert!(header_number(&res, "ratelimit-remaining") < previous);
}

async fn refusals_from_graphql_carry_rate_limit_headers_too(backend: Backend) {
    let overrides = [
        ("GATEHOUSE_MAX_BATCH", "1"),
        ("GATEHOUSE_MAX_BODY_BYTES", "1024"),
    ];
    let Some(app) = spawn_app_with(backend, &overrides).await else {
        return;
    };
    let op = json!({ "query": "{ __typename }" });
    let mutation = "mutation { likePost(postId: \"x\") { id } }";
    let too_large = json!({ "query": format!("{{ __typename {}}}", " ".repeat(2048)) });
    let bad_token = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth("garbage")
        .json(&op)
        .send()
        .await
        .unwrap();
    let responses = [
        (
            "GET mutation",
            get_graphql(&app, &[("query", mutation)], JSON).await,
        ),
        (
            "text/plain body",
            post_raw(&app, "text/plain", op.to_string()).await,
        ),
        (
            "batch over the limit",
            app.post_json(None, &json!([op.clone(), op.clone()]), GRAPHQL_RESPONSE)
                .await,
        ),
        (
            "body over the limit",
            app.post_json(None, &too_large, JSON).await,
        ),
        ("invalid token", TestApp::read(bad_token).await),
    ];
    let mut missing = Vec::new();
    for (what, res) in &responses {
        assert!(res.status >= 400, "{what} was refused: {}", res.status);
        for name in ["ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"] {
            if !res.headers.contains_key(name) {
                missing.push(format!("{what} ({}) lacks {name}", res.status));
            }
        }
    }
    assert!(missing.is_empty(), "{missing:#?}");
}

async fn over_the_rate_budget_is_429_with_retry_after(backend: Backend) {
    let Some(app) = spawn_app_with(backend, &[("GATEHOUSE_RATE_POINTS", "3")]).await else {
        return;
    };
    let body = json!({ "query": "{ __typename }" });
    for n in 1..=3 {
        let res = app.post_json(None, &body, JSON).await;
        assert_eq!(res.status, 200, "request {n}: {}", res.body);
        assert_eq!(header_number(&res, "ratelimit-remaining"), 3 - n);
    }
    for accept in [JSON, GRAPHQL_RESPONSE] {
        let res = app.post_json(None, &body, accept).await;
        assert_eq!(res.status, 429, "{accept}: {}", res.body);
        res.assert_code("RATE_LIMITED");
        let retry_after = header_number(&res, "retry-after");
        assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
        assert_eq!(header_number(&res, "ratelimit-remaining"), 0);
    }
    // The budget is per caller: a token has its own.
    let token = app
        .services
        .jwt
        .issue(424_242, gatehouse::auth::Role::User)
        .unwrap();
    let res = app
        .graphql_as(Some(&token), "{ __typename }", json!({}))
        .await;
    assert_eq!(res.status, 200, "body: {}", res.body);
    assert_eq!(header_number(&res, "ratelimit-remaining"), 2);
}

async fn the_rate_limit_field_agrees_with_the_headers(backend: Backend) {
    let Some(app) = spawn_app_with(backend, &[("GATEHOUSE_RATE_POINTS", "40")]).await else {
        return;
    };
    app.post_json(None, &json!({ "query": "{ __typename }" }), JSON)
        .await
        .data();
    let res = app
        .graphql("{ rateLimit { limit cost remaining resetAt } }", json!({}))
        .await;
    let rate = &res.data()["rateLimit"];
    assert_eq!(rate["limit"], 40);
    assert_eq!(
        rate["limit"].as_i64().unwrap(),
        header_number(&res, "ratelimit-limit")
    );
    assert_eq!(rate["remaining"], 38);
    assert_eq!(
        rate["remaining"].as_i64().unwrap(),
        header_number(&res, "ratelimit-remaining")
    );
    assert!(rate["cost"].as_i64().unwrap() >= 1, "{rate}");
    let reset_at = chrono::DateTime::parse_from_rfc3339(rate["resetAt"].as_str().unwrap()).unwrap();
    let seconds = (reset_at.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_seconds();
    let header_reset = header_number(&res, "ratelimit-reset");
    assert!(
        (seconds - header_reset).abs() <= 2,
        "resetAt in {seconds}s, RateLimit-Reset {header_reset}"
    );
}

// ---------------------------------------------------------------------------------------
// Depth and introspection

async fn a_query_deeper_than_the_limit_is_refused(backend: Backend) {
    let Some(app) = spawn_app_with(backend, &[("GATEHOUSE_MAX_DEPTH", "4")]).await else {
        return;
    };
    let shallow = json!({ "query": "{ posts { nodes { author { username } } } }" });
    app.post_json(None, &shallow, GRAPHQL_RESPONSE).await.data();
    let deep = json!({ "query": "{ posts { nodes { author { posts { totalCount } } } } }" });
    let res = app.post_json(None, &deep, GRAPHQL_RESPONSE).await;
    assert_eq!(res.status, 400, "body: {}", res.body);
    res.assert_code("QUERY_TOO_DEEP");
    assert!(res.body.get("data").is_none());
    let res = app.post_json(None, &deep, JSON).await;
    assert_eq!(res.status, 200, "body: {}", res.body);
    res.assert_code("QUERY_TOO_DEEP");
}

async fn the_graphiql_introspection_query_passes_the_default_limits(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let body = json!({ "query": INTROSPECTION_QUERY, "operationName": "IntrospectionQuery" });
    let res = app
        .post_json(
            None,
            &body,
            "application/graphql-response+json, application/json",
        )
        .await;
    assert_eq!(res.status, 200, "body: {}", res.body);
    let schema = &res.data()["__schema"];
    assert_eq!(schema["queryType"]["name"], "Query");
    assert_eq!(schema["mutationType"]["name"], "Mutation");
    assert_eq!(schema["subscriptionType"]["name"], "Subscription");
    let types: Vec<&str> = schema["types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    for name in [
        "Post",
        "User",
        "Comment",
        "Tag",
        "Node",
        "RateLimit",
        "PostConnection",
    ] {
        assert!(types.contains(&name), "{name} missing from {types:?}");
    }
}

async fn production_refuses_introspection_with_a_coded_error(backend: Backend) {
    let Some(app) = spawn_app_with(backend, &[("GATEHOUSE_ENV", "production")]).await else {
        return;
    };
    app.graphql("{ posts { totalCount } }", json!({}))
        .await
        .data();
    for query in [
        "{ __schema { queryType { name } } }",
        "{ __type(name: \"Post\") { name } }",
    ] {
        let res = app.graphql(query, json!({})).await;
        let codes = res.codes();
        assert!(
            !codes.is_empty(),
            "{query}: no error refuses introspection: {}",
            res.body
        );
        assert!(
            codes.iter().all(|c| c != "<none>"),
            "{query}: every error has a code: {}",
            res.body
        );
        assert!(res.body["data"]["__schema"].is_null(), "{}", res.body);
        assert!(res.body["data"]["__type"].is_null(), "{}", res.body);
    }
}

async fn production_hides_the_playground(backend: Backend) {
    let Some(app) = spawn_app_with(backend, &[("GATEHOUSE_ENV", "production")]).await else {
        return;
    };
    assert_eq!(get(&app, "/").await.status(), 404);
    assert_eq!(get(&app, "/assets/graphiql/init.js").await.status(), 404);
    // The API itself is served.
    app.graphql("{ posts { totalCount } }", json!({}))
        .await
        .data();
}

async fn production_serves_the_playground_when_enabled(backend: Backend) {
    let Some(app) = spawn_app_with(
        backend,
        &[
            ("GATEHOUSE_ENV", "production"),
            ("GATEHOUSE_GRAPHIQL", "true"),
        ],
    )
    .await
    else {
        return;
    };
    let response = get(&app, "/").await;
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.starts_with("text/html"), "{content_type}");
}

async fn development_serves_the_playground_with_a_csp(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let response = get(&app, "/").await;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    let content_type = headers["content-type"].to_str().unwrap();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let csp = headers
        .get("content-security-policy")
        .expect("a Content-Security-Policy header")
        .to_str()
        .unwrap();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert!(!csp.contains("unsafe-eval"), "{csp}");
    let html = response.text().await.unwrap();
    assert!(html.to_ascii_lowercase().contains("<html"), "{html}");
}

backend_tests!(
    get_runs_a_query_with_variables_and_operation_name,
    a_mutation_sent_with_get_is_405_and_writes_nothing,
    request_errors_are_400_for_graphql_response_json_and_200_for_json,
    the_response_content_type_follows_the_accept_header,
    a_field_error_is_200_with_data_for_both_media_types,
    a_batch_returns_an_array_of_results,
    a_batch_over_the_limit_is_refused,
    a_body_over_the_limit_is_413,
    a_body_that_is_not_json_is_415,
    the_request_id_is_echoed_or_generated,
    the_probes_answer,
    every_graphql_response_carries_rate_limit_headers,
    over_the_rate_budget_is_429_with_retry_after,
    the_rate_limit_field_agrees_with_the_headers,
    a_query_deeper_than_the_limit_is_refused,
    the_graphiql_introspection_query_passes_the_default_limits,
    production_hides_the_playground,
    production_serves_the_playground_when_enabled,
    development_serves_the_playground_with_a_csp,
);

backend_tests!(
    refusals_from_graphql_carry_rate_limit_headers_too,
    production_refuses_introspection_with_a_coded_error,
);
