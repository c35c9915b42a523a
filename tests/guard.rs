#![allow(clippy::unwrap_used)]
//! The attack catalogue of the guard rails (issue 3, CONTRACT.md section 3): every abusive
//! request is refused with its code and status before any SQL reaches the database, and a
//! normal query right after still succeeds. Then the honest side: the GraphiQL
//! introspection query passes, `extensions.cost` reports requested and actual cost, the
//! estimate is refunded down to what the response holds, mutations have a floor, and a dry
//! run prices without running or charging.

mod common;

use base64::Engine as _;
use common::{
    header_number, spawn_app, spawn_app_with, user_row_id, Backend, Gql, TestApp,
    INTROSPECTION_QUERY,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

/// A normal query that reaches the database.
/// `rateLimit` is never cached, so this always executes (and reaches the database).
const NORMAL: &str =
    "{ posts(first: 5) { totalCount nodes { title author { username } } } rateLimit { remaining } }";

/// [`NORMAL`] without `rateLimit`.
const NORMAL_WITHOUT_RATE_LIMIT: &str =
    "{ posts(first: 5) { totalCount nodes { title author { username } } } }";

const SECRET: &str = "guard-test-secret-0123456789-0123456789";

/// POSTs `query` anonymously, asking for `application/graphql-response+json`.
async fn post_query(app: &TestApp, query: &str) -> Gql {
    app.post_json(None, &json!({ "query": query }), GRAPHQL_RESPONSE)
        .await
}

/// Asserts that `res` (sent when the statement counter read `before`) was refused with
/// `status` and `code` (every error carrying it), without data and without any SQL; then
/// that a normal query still succeeds and does reach the database (so the counter is live).
async fn assert_refused_cheaply(
    app: &TestApp,
    what: &str,
    before: u64,
    res: &Gql,
    status: u16,
    code: Option<&str>,
) {
    assert_eq!(res.status, status, "{what}: {}", res.body);
    if let Some(code) = code {
        let codes = res.codes();
        assert!(
            !codes.is_empty() && codes.iter().all(|c| c == code),
            "{what}: expected {code}, got {codes:?}: {}",
            res.body
        );
        assert!(
            res.body.get("data").is_none() || res.body["data"].is_null(),
            "{what}: a refusal carries no data: {}",
            res.body
        );
    }
    assert_eq!(
        app.statements(),
        before,
        "{what}: no SQL statement may run for a refused request"
    );
    let normal = post_query(app, NORMAL).await;
    assert_eq!(normal.status, 200, "after {what}: {}", normal.body);
    assert!(normal.data()["posts"]["totalCount"].is_number());
    assert!(
        app.statements() > before,
        "after {what}: the normal query reaches the database"
    );
}

/// A query nested `depth` fields deep: `posts { nodes { author { posts { nodes … } } } }`,
/// every connection asking `first: 1` so that only the depth is extreme.
fn nested(depth: usize) -> String {
    let cycle = ["posts(first: 1)", "nodes", "author"];
    let mut open = String::new();
    for i in 0..depth - 1 {
        open.push_str(cycle[i % 3]);
        open.push_str(" { ");
    }
    // The innermost field is a scalar of the type reached.
    let leaf = if (depth - 1) % 3 == 1 {
        "totalCount"
    } else {
        "id"
    };
    format!("{{ {open}{leaf} {}}}", "} ".repeat(depth - 1))
}

async fn a_50_deep_query_is_too_deep_and_runs_no_sql(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    // The default depth limit is 15: 15 levels pass, 16 do not (found by the analysis of
    // the parsed document), 50 do not (found on the text, before parsing).
    let res = post_query(&app, &nested(15)).await;
    assert_eq!(res.status, 200, "15 deep: {}", res.body);
    res.data();
    for depth in [16, 50] {
        let before = app.statements();
        let res = post_query(&app, &nested(depth)).await;
        assert_refused_cheaply(
            &app,
            &format!("{depth} deep"),
            before,
            &res,
            400,
            Some("QUERY_TOO_DEEP"),
        )
        .await;
    }
    // With `application/json` the same refusal is 200 with the same code.
    let before = app.statements();
    let res = app
        .post_json(None, &json!({ "query": nested(50) }), JSON)
        .await;
    assert_refused_cheaply(
        &app,
        "50 deep, JSON",
        before,
        &res,
        200,
        Some("QUERY_TOO_DEEP"),
    )
    .await;
}

/// A query whose depth hides in a chain of `n` fragments: each adds three levels while its
/// text nests only three braces deep. Depth: 2 + 3n + 1.
fn fragment_chain(n: usize) -> String {
    let mut query = String::from("{ posts(first: 1) { nodes { ...F0 } } }\n");
    for i in 0..n {
        query.push_str(&format!(
            "fragment F{i} on Post {{ author {{ posts(first: 1) {{ nodes {{ ...F{} }} }} }} }}\n",
            i + 1
        ));
    }
    query.push_str(&format!("fragment F{n} on Post {{ id }}\n"));
    query
}

async fn nesting_hidden_in_fragments_is_still_too_deep(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    // 2 + 3 × 4 + 1 = 15 levels pass; 2 + 3 × 5 + 1 = 18 do not.
    let res = post_query(&app, &fragment_chain(4)).await;
    assert_eq!(res.status, 200, "15 deep: {}", res.body);
    res.data();
    let before = app.statements();
    let res = post_query(&app, &fragment_chain(5)).await;
    assert_refused_cheaply(
        &app,
        "18 deep in fragments",
        before,
        &res,
        400,
        Some("QUERY_TOO_DEEP"),
    )
    .await;
}

async fn nesting_50_deep_in_fragments_is_too_deep(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    // 2 + 3 × 16 + 1 = 51 levels: too deep, whatever the text looks like.
    let before = app.statements();
    let res = post_query(&app, &fragment_chain(16)).await;
    assert_refused_cheaply(
        &app,
        "51 deep in fragments",
        before,
        &res,
        400,
        Some("QUERY_TOO_DEEP"),
    )
    .await;
}

/// `{ posts(first: 1) { nodes { a0: title a1: title … } } }` with `n` aliases.
fn aliases(n: usize) -> String {
    let fields: String = (0..n).map(|i| format!("a{i}: title ")).collect();
    format!("{{ posts(first: 1) {{ nodes {{ {fields}}} }} }}")
}

async fn a_thousand_aliases_are_too_complex_and_run_no_sql(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    // The default alias limit is 30.
    let res = post_query(&app, &aliases(30)).await;
    assert_eq!(res.status, 200, "30 aliases: {}", res.body);
    res.data();
    for n in [31, 1000] {
        let before = app.statements();
        let res = post_query(&app, &aliases(n)).await;
        assert_refused_cheaply(
            &app,
            &format!("{n} aliases"),
            before,
            &res,
            400,
            Some("QUERY_TOO_COMPLEX"),
        )
        .await;
    }
}

const FRAGMENT_CYCLES: [(&str, &str); 3] = [
    (
        "a fragment spreading itself",
        "{ posts { nodes { ...A } } } fragment A on Post { title ...A }",
    ),
    (
        "two fragments spreading each other",
        "{ posts { nodes { ...A } } }
         fragment A on Post { author { ...B } }
         fragment B on User { posts { nodes { ...A } } }",
    ),
    (
        "a cycle through an inline fragment",
        "{ posts { nodes { ...A } } }
         fragment A on Post { ... on Post { author { ...B } } }
         fragment B on User { ...C }
         fragment C on User { posts { nodes { ...A } } }",
    ),
];

async fn fragment_cycles_are_refused_before_any_sql(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    for (what, query) in FRAGMENT_CYCLES {
        let before = app.statements();
        let res = post_query(&app, query).await;
        // The code is checked by the next test; here: a coded request error, no SQL.
        let code = res.codes().first().cloned().unwrap_or_default();
        assert!(code.starts_with("GRAPHQL_"), "{what}: {}", res.body);
        assert_refused_cheaply(&app, what, before, &res, 400, Some(&code)).await;
    }
}

async fn fragment_cycles_fail_validation(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    for (what, query) in FRAGMENT_CYCLES {
        let before = app.statements();
        let res = post_query(&app, query).await;
        assert_refused_cheaply(
            &app,
            what,
            before,
            &res,
            400,
            Some("GRAPHQL_VALIDATION_FAILED"),
        )
        .await;
    }
}

async fn a_batch_of_a_thousand_operations_is_refused_and_runs_no_sql(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let op = json!({ "query": NORMAL });
    // The default batch limit is 10.
    let ten = Value::Array(vec![op.clone(); 10]);
    let res = app.post_json(None, &ten, GRAPHQL_RESPONSE).await;
    assert_eq!(res.status, 200, "ten operations: {}", res.body);
    assert_eq!(res.body.as_array().unwrap().len(), 10);
    for n in [11, 1000] {
        let batch = Value::Array(vec![op.clone(); n]);
        let before = app.statements();
        let res = app.post_json(None, &batch, GRAPHQL_RESPONSE).await;
        assert!(
            res.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with(GRAPHQL_RESPONSE),
            "{:?}",
            res.headers
        );
        assert_refused_cheaply(
            &app,
            &format!("a batch of {n}"),
            before,
            &res,
            400,
            Some("BAD_USER_INPUT"),
        )
        .await;
    }
}

async fn a_10_mb_body_is_413_and_runs_no_sql(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let body = json!({ "query": NORMAL, "variables": { "pad": "x".repeat(10 * 1024 * 1024) } });
    for accept in [GRAPHQL_RESPONSE, JSON] {
        let before = app.statements();
        let response = app
            .client
            .post(format!("{}/graphql", app.address))
            .header("accept", accept)
            .json(&body)
            .send()
            .await;
        let res = match response {
            Ok(response) => TestApp::read(response).await,
            // The server may answer and close before the client has sent 10 MB; the
            // refusal then shows as a reset connection, which still ran no SQL.
            Err(err) => {
                eprintln!("10 MB body: the connection ended early: {err}");
                assert_eq!(app.statements(), before, "a 10 MB body runs no SQL");
                continue;
            }
        };
        assert_refused_cheaply(&app, "a 10 MB body", before, &res, 413, None).await;
    }
}

async fn a_100_by_100_by_100_connection_query_is_too_complex_and_runs_no_sql(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let query = "{ posts(first: 100) { nodes { comments(first: 100) { nodes { post {
                   comments(first: 100) { nodes { id body } } } } } } } }";
    let before = app.statements();
    let res = post_query(&app, query).await;
    assert_refused_cheaply(
        &app,
        "100×100×100",
        before,
        &res,
        400,
        Some("QUERY_TOO_COMPLEX"),
    )
    .await;
}

/// The price of `selection` as a dry run reports it (the `rateLimit` object adds 1).
async fn dry_run_price(app: &TestApp, selection: &str) -> i64 {
    let res = post_query(
        app,
        &format!("{{ rateLimit(dryRun: true) {{ cost }} {selection} }}"),
    )
    .await;
    res.data()["rateLimit"]["cost"].as_i64().unwrap() - 1
}

async fn complexity_multiplies_first_by_the_child_cost(backend: Backend) {
    let Some(app) = spawn_app_with(backend, &[("GATEHOUSE_MAX_COMPLEXITY", "41")]).await else {
        return;
    };
    // One connection, plus `first` posts each with its author: 1 + first × 2. Without
    // `first` the connection's default (20) counts.
    for (selection, estimate) in [
        ("posts { nodes { author { id } } }", 41),
        ("posts(first: 20) { nodes { author { id } } }", 41),
        ("posts(first: 10) { nodes { author { id } } }", 21),
        ("posts(first: 3) { nodes { title } }", 4),
        ("posts(first: 3) { totalCount }", 1),
    ] {
        let res = post_query(&app, &format!("{{ {selection} }}")).await;
        assert_eq!(res.status, 200, "{selection}: {}", res.body);
        res.data();
        // A dry run adds its own `rateLimit` object: price only what stays under 41.
        if estimate < 41 {
            assert_eq!(
                dry_run_price(&app, selection).await,
                estimate,
                "{selection}"
            );
        }
    }
    // The dry run of a 41-point selection costs 42, over the limit: refused like a run.
    let res = post_query(
        &app,
        "{ rateLimit(dryRun: true) { cost } posts { nodes { author { id } } } }",
    )
    .await;
    res.assert_code("QUERY_TOO_COMPLEX");
    let before = app.statements();
    let res = post_query(&app, "{ posts(first: 21) { nodes { author { id } } } }").await;
    assert_refused_cheaply(
        &app,
        "cost 43 over 41",
        before,
        &res,
        400,
        Some("QUERY_TOO_COMPLEX"),
    )
    .await;
}

/// `n` identical `posts { totalCount }` root fields.
fn root_fields(n: usize) -> String {
    format!("{{ {}}}", "posts(first: 1) { totalCount } ".repeat(n))
}

async fn too_many_root_fields_are_too_complex_and_run_no_sql(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    // The default root-field limit is 20.
    let res = post_query(&app, &root_fields(20)).await;
    assert_eq!(res.status, 200, "20 root fields: {}", res.body);
    res.data();
    for n in [21, 500] {
        let before = app.statements();
        let res = post_query(&app, &root_fields(n)).await;
        assert_refused_cheaply(
            &app,
            &format!("{n} root fields"),
            before,
            &res,
            400,
            Some("QUERY_TOO_COMPLEX"),
        )
        .await;
    }
}

/// `posts { totalCount @include(if: true) … }` with `n` directives.
fn directives(n: usize) -> String {
    format!(
        "{{ posts(first: 1) {{ {}}} }}",
        "totalCount @include(if: true) ".repeat(n)
    )
}

async fn too_many_directives_are_too_complex_and_run_no_sql(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    // The default directive limit is 50.
    let res = post_query(&app, &directives(50)).await;
    assert_eq!(res.status, 200, "50 directives: {}", res.body);
    res.data();
    for n in [51, 1000] {
        let before = app.statements();
        let res = post_query(&app, &directives(n)).await;
        assert_refused_cheaply(
            &app,
            &format!("{n} directives"),
            before,
            &res,
            400,
            Some("QUERY_TOO_COMPLEX"),
        )
        .await;
    }
}

/// A valid document of exactly `len` bytes (a normal query padded with a comment).
fn document_of(len: usize) -> String {
    let head = "{ posts(first: 1) { totalCount } }\n#";
    assert!(len > head.len());
    format!("{head}{}", "x".repeat(len - head.len()))
}

async fn an_over_long_document_is_refused_and_runs_no_sql(backend: Backend) {
    let Some(app) = spawn_app_with(backend, &[("GATEHOUSE_MAX_QUERY_BYTES", "4096")]).await else {
        return;
    };
    let res = post_query(&app, &document_of(4096)).await;
    assert_eq!(res.status, 200, "4096 bytes: {}", res.body);
    res.data();
    let before = app.statements();
    let res = post_query(&app, &document_of(4097)).await;
    assert_refused_cheaply(
        &app,
        "4097 bytes",
        before,
        &res,
        400,
        Some("QUERY_TOO_COMPLEX"),
    )
    .await;
}

async fn an_over_long_document_is_refused_with_the_default_limit(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    // 100 KB: under the 256 KB body limit, over the 32 KB document limit.
    let before = app.statements();
    let res = post_query(&app, &document_of(100 * 1024)).await;
    assert_refused_cheaply(
        &app,
        "a 100 KB document",
        before,
        &res,
        400,
        Some("QUERY_TOO_COMPLEX"),
    )
    .await;
}

async fn introspection_in_production_fails_validation_and_runs_no_sql(backend: Backend) {
    let Some(app) = spawn_app_with(backend, &[("GATEHOUSE_ENV", "production")]).await else {
        return;
    };
    for query in [
        "{ posts { totalCount } __schema { queryType { name } } }",
        "{ posts { totalCount } __type(name: \"Post\") { fields { name } } }",
        "{ posts { totalCount } ...Q } fragment Q on Query { __schema { types { name } } }",
    ] {
        let before = app.statements();
        let res = post_query(&app, query).await;
        assert_refused_cheaply(
            &app,
            query,
            before,
            &res,
            400,
            Some("GRAPHQL_VALIDATION_FAILED"),
        )
        .await;
    }
    // `__typename` is not introspection of the schema.
    let res = post_query(&app, "{ __typename }").await;
    assert_eq!(res.data()["__typename"], "Query");
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn hs256(claims: &Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

async fn forged_expired_unsigned_and_wrongly_signed_tokens_are_401_and_run_no_sql(
    backend: Backend,
) {
    let Some(app) = spawn_app_with(backend, &[("JWT_SECRET", SECRET)]).await else {
        return;
    };
    let (_, id) = app.register("ada").await;
    let sub = user_row_id(&id).to_string();
    let claims = json!({ "sub": sub, "role": "user", "iss": "gatehouse", "iat": now(), "exp": now() + 3600 });
    let valid = hs256(&claims, SECRET);
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;

    // Forged: the payload of a valid token rewritten (admin role), its signature kept.
    let mut forged_claims = claims.clone();
    forged_claims["role"] = json!("admin");
    let parts: Vec<&str> = valid.split('.').collect();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        b64.encode(forged_claims.to_string()),
        parts[2]
    );
    // Expired an hour ago (far beyond any leeway).
    let mut expired_claims = claims.clone();
    expired_claims["iat"] = json!(now() - 7200);
    expired_claims["exp"] = json!(now() - 3600);
    let expired = hs256(&expired_claims, SECRET);
    // `alg: none`, unsigned.
    let unsigned = format!(
        "{}.{}.",
        b64.encode(r#"{"alg":"none","typ":"JWT"}"#),
        parts[1]
    );
    // Signed with another secret, and with an Ed25519 key the server never configured.
    let wrong_secret = hs256(&claims, "another-secret-another-secret-0123456789");
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let wrong_key = jsonwebtoken::encode(
        &Header::new(Algorithm::EdDSA),
        &claims,
        &EncodingKey::from_ed_der(pkcs8.as_ref()),
    )
    .unwrap();

    // The control: the valid token is accepted.
    let res = app
        .graphql_as(Some(&valid), "{ viewer { username } }", json!({}))
        .await;
    assert_eq!(res.data()["viewer"]["username"], "ada");

    for (what, token) in [
        ("forged", &forged),
        ("expired", &expired),
        ("alg none", &unsigned),
        ("wrong secret", &wrong_secret),
        ("wrong key", &wrong_key),
    ] {
        for accept in [GRAPHQL_RESPONSE, JSON] {
            let before = app.statements();
            let res = app
                .post_json(Some(token), &json!({ "query": NORMAL }), accept)
                .await;
            assert_refused_cheaply(
                &app,
                &format!("{what} token ({accept})"),
                before,
                &res,
                401,
                Some("UNAUTHENTICATED"),
            )
            .await;
        }
    }
}

async fn the_graphiql_introspection_query_passes_the_default_limits(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let res = app
        .post_json(
            None,
            &json!({ "query": INTROSPECTION_QUERY, "operationName": "IntrospectionQuery" }),
            GRAPHQL_RESPONSE,
        )
        .await;
    assert_eq!(res.status, 200, "body: {}", res.body);
    let types = res.data()["__schema"]["types"].as_array().unwrap();
    assert!(
        types.iter().any(|t| t["name"] == "PostConnection"),
        "{types:?}"
    );
    assert_eq!(res.body["data"]["__schema"]["queryType"]["name"], "Query");
}

async fn extensions_cost_reports_requested_and_actual_cost_and_the_budget(backend: Backend) {
    let Some(app) = spawn_app_with(backend, &[("GATEHOUSE_RATE_POINTS", "100000")]).await else {
        return;
    };
    let (token, _) = app.register("ada").await;
    app.create_post(&token, "One", true, &["a"]).await;
    for query in [
        NORMAL,
        "{ posts(first: 100) { nodes { title tags { name } comments { nodes { id } } } } }",
        "{ viewer { username } rateLimit { remaining } }",
    ] {
        let res = app.graphql_as(Some(&token), query, json!({})).await;
        res.data();
        let cost = &res.body["extensions"]["cost"];
        let requested = cost["requestedQueryCost"].as_i64().unwrap_or_else(|| {
            panic!(
                "{query}: no extensions.cost.requestedQueryCost: {}",
                res.body
            )
        });
        let actual = cost["actualQueryCost"].as_i64().unwrap();
        assert!(
            requested >= actual && actual >= 1,
            "{query}: requested {requested}, actual {actual}"
        );
        let throttle = &cost["throttleStatus"];
        assert_eq!(throttle["maximumAvailable"], 100_000, "{cost}");
        assert_eq!(
            throttle["currentlyAvailable"].as_i64().unwrap(),
            header_number(&res, "ratelimit-remaining"),
            "{cost}"
        );
        let reset_at = throttle["resetAt"].as_str().unwrap();
        let reset_at = chrono::DateTime::parse_from_rfc3339(reset_at).unwrap();
        let in_secs = (reset_at.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_seconds();
        assert!((-2..=61).contains(&in_secs), "resetAt in {in_secs} s");
    }
}

async fn the_requested_cost_covers_what_was_charged(backend: Backend) {
    // `requestedQueryCost` is what the operation was charged up front, so it is never
    // below `actualQueryCost` (the refund only lowers the charge), floors included.
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (token, _) = app.register("ada").await;
    for query in [
        "{ __typename }",
        "mutation { createPost(input: { title: \"t\", body: \"b\" }) { id } }",
    ] {
        let res = app.graphql_as(Some(&token), query, json!({})).await;
        res.data();
        let cost = &res.body["extensions"]["cost"];
        let requested = cost["requestedQueryCost"].as_i64().unwrap();
        let actual = cost["actualQueryCost"].as_i64().unwrap();
        assert!(
            requested >= actual,
            "{query}: requested {requested} < actual {actual}: {cost}"
        );
    }
}

/// An app with three published posts; returns it with the budget charge of `posts(first:
/// 100)` and of `posts(first: 3)` over them (from `RateLimit-Remaining`), and the
/// `extensions.cost` of the first.
async fn charges_over_three_posts(backend: Backend) -> Option<(i64, i64, Value)> {
    let app = spawn_app(backend).await?;
    let (token, _) = app.register("ada").await;
    for title in ["One", "Two", "Three"] {
        app.create_post(&token, title, true, &[]).await;
    }
    let start = post_query(&app, "{ __typename }").await;
    let r0 = header_number(&start, "ratelimit-remaining");
    let hundred = post_query(&app, "{ posts(first: 100) { nodes { id title } } }").await;
    assert_eq!(
        hundred.data()["posts"]["nodes"].as_array().unwrap().len(),
        3
    );
    let r1 = header_number(&hundred, "ratelimit-remaining");
    let three = post_query(&app, "{ posts(first: 3) { nodes { id title } } }").await;
    assert_eq!(three.data()["posts"]["nodes"].as_array().unwrap().len(), 3);
    let r2 = header_number(&three, "ratelimit-remaining");
    Some((r0 - r1, r1 - r2, hundred.body["extensions"]["cost"].clone()))
}

async fn posts_first_100_over_3_posts_is_refunded_down_to_what_it_returned(backend: Backend) {
    let Some((charged, _, cost)) = charges_over_three_posts(backend).await else {
        return;
    };
    assert_eq!(
        cost["requestedQueryCost"], 101,
        "1 connection + 100 posts: {cost}"
    );
    assert_eq!(cost["actualQueryCost"], charged, "{cost}");
    // The three posts and their connection (and at most the response object).
    assert!((4..=5).contains(&charged), "charged {charged} for 3 posts");
}

async fn posts_first_100_over_3_posts_is_charged_like_posts_first_3(backend: Backend) {
    let Some((hundred, three, cost)) = charges_over_three_posts(backend).await else {
        return;
    };
    assert_eq!(
        hundred, three,
        "first: 100 over 3 posts costs what first: 3 costs: {cost}"
    );
}

async fn mutations_cost_at_least_10(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (token, _) = app.register("ada").await;
    let remaining = |res: &Gql| header_number(res, "ratelimit-remaining");
    let start = app
        .graphql_as(Some(&token), "{ viewer { id } }", json!({}))
        .await;
    // A query with a small response …
    let query = app
        .graphql_as(Some(&token), "{ viewer { id } }", json!({}))
        .await;
    query.data();
    let query_cost = remaining(&start) - remaining(&query);
    assert!(
        (1..10).contains(&query_cost),
        "the query costs {query_cost}"
    );
    // … and a mutation with a response as small cost 10 or more.
    let mutation = app
        .graphql_as(
            Some(&token),
            "mutation { createPost(input: { title: \"t\", body: \"b\" }) { id } }",
            json!({}),
        )
        .await;
    mutation.data();
    let mutation_cost = remaining(&query) - remaining(&mutation);
    assert!(mutation_cost >= 10, "a mutation charged {mutation_cost}");
    // Also when it fails in its resolver.
    let failed = app
        .graphql_as(
            Some(&token),
            "mutation { deletePost(id: \"UG9zdDo5OTk5\") }",
            json!({}),
        )
        .await;
    assert!(!failed.codes().is_empty(), "{}", failed.body);
    let failed_cost = remaining(&mutation) - remaining(&failed);
    assert!(failed_cost >= 10, "a failed mutation charged {failed_cost}");
}

async fn a_dry_run_answers_only_rate_limit_runs_no_sql_and_charges_nothing(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (token, _) = app.register("ada").await;
    app.create_post(&token, "One", true, &[]).await;
    let start = post_query(&app, "{ __typename }").await;
    let r0 = header_number(&start, "ratelimit-remaining");

    let before = app.statements();
    let query = "{ rateLimit(dryRun: true) { limit cost remaining resetAt }
                   posts(first: 100) { nodes { id title } } }";
    let res = post_query(&app, query).await;
    assert_eq!(res.status, 200, "body: {}", res.body);
    let data = res.data().as_object().unwrap();
    assert_eq!(
        data.keys().collect::<Vec<_>>(),
        ["rateLimit"],
        "only rateLimit: {}",
        res.body
    );
    let rate = &data["rateLimit"];
    assert!(
        rate["cost"].as_i64().unwrap() >= 101,
        "the dry run prices the whole operation: {rate}"
    );
    assert_eq!(rate["remaining"].as_i64().unwrap(), r0, "{rate}");
    assert_eq!(
        rate["limit"].as_i64().unwrap(),
        header_number(&res, "ratelimit-limit")
    );
    assert!(rate["resetAt"].is_string(), "{rate}");
    assert_eq!(header_number(&res, "ratelimit-remaining"), r0);
    assert_eq!(app.statements(), before, "a dry run runs no SQL");

    // The next operation starts from the same balance: the dry run charged nothing.
    let next = post_query(
        &app,
        "{ rateLimit { cost remaining } posts(first: 1) { totalCount } }",
    )
    .await;
    let rate = &next.data()["rateLimit"];
    assert_eq!(
        rate["remaining"].as_i64().unwrap() + rate["cost"].as_i64().unwrap(),
        r0,
        "{rate}"
    );
    assert!(app.statements() > before);
}

/// `{ ...F0 } fragment F0 on Query { ...F1 } … fragment Fn on Query { __typename }`: one
/// field deep, `n + 1` levels of fragment spreads.
fn spread_chain(n: usize) -> String {
    let mut doc = String::from("{ ...F0 }");
    for i in 0..n {
        doc.push_str(&format!(" fragment F{i} on Query {{ ...F{} }}", i + 1));
    }
    doc.push_str(&format!(" fragment F{n} on Query {{ __typename }}"));
    doc
}

/// A response's `data`, `errors` and `extensions.cost` without the budget left (HTTP
/// also reports `sql` in tests).
fn answer(response: &Value) -> Value {
    let mut errors = response.get("errors").cloned();
    for error in errors.iter_mut().flat_map(|e| e.as_array_mut()).flatten() {
        // HTTP names its request in an INTERNAL error.
        if let Some(extensions) = error["extensions"].as_object_mut() {
            extensions.remove("requestId");
        }
    }
    let mut cost = response.pointer("/extensions/cost").cloned();
    if let Some(cost) = cost.as_mut().and_then(Value::as_object_mut) {
        cost.remove("throttleStatus");
    }
    json!({"data": response.get("data"), "errors": errors, "cost": cost})
}

/// One operation over graphql-transport-ws: its response, or the errors of an `error`
/// message (nothing executed) as a response.
async fn over_websocket(
    app: &TestApp,
    token: Option<&str>,
    query: &str,
    variables: &Value,
) -> Value {
    let mut socket = common::ws::connect_to(app.port).await;
    common::ws::init(&mut socket, token).await;
    common::ws::send(
        &mut socket,
        json!({"id": "1", "type": "subscribe", "payload": {"query": query, "variables": variables}}),
    )
    .await;
    let message = common::ws::next(&mut socket).await.unwrap();
    match message["type"].as_str() {
        Some("next") => message["payload"].clone(),
        Some("error") => json!({"errors": message["payload"]}),
        other => panic!("unexpected message {other:?}: {message}"),
    }
}

/// What an operation is, the code of its first error, its token, document and variables.
type Case<'a> = (&'a str, Option<&'a str>, Option<&'a str>, String, Value);

/// HTTP runs plain operations on a schema without async-graphql extensions (the guard,
/// the error codes and the field order run around it); WebSocket operations run on the
/// schema with them. The same operations must get the same answers either way: data, and
/// errors with their messages, paths and codes. (Cost reports are HTTP's; the guard tests
/// above check them.)
async fn http_and_websocket_answer_every_operation_alike(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (token, user) = app.register("twin").await;
    let post = app
        .create_post(&token, "Twice told", true, &["twins"])
        .await;
    app.add_comment(&token, &post, "first").await;
    let missing_post = base64::engine::general_purpose::STANDARD.encode("Post:999999");
    let deep_fragments = spread_chain(40);
    let cases: Vec<Case> = vec![
        ("nested page", None, None, "{ posts(first: 3) { totalCount nodes { title author { username posts(first: 2) { nodes { title } } } tags { name } commentCount likeCount comments(first: 2) { nodes { body author { username } } } } } }".into(), json!({})),
        ("fragments and aliases", None, None, "query Q($id: ID!) { a: posts(first: 1) { ...P } b: post(id: $id) { ... on Post { t: title } } } fragment P on PostConnection { nodes { title } }".into(), json!({"id": post})),
        ("viewer", None, Some(&token), "query($u: ID!) { viewer { username } node(id: $u) { id } }".into(), json!({"u": user})),
        ("unknown field", Some("GRAPHQL_VALIDATION_FAILED"), None, "{ posts(first: 1) { nodes { nope } } }".into(), json!({})),
        ("wrong argument type", Some("BAD_USER_INPUT"), None, "{ posts(first: \"three\") { totalCount } }".into(), json!({})),
        ("variable of the wrong type", Some("BAD_USER_INPUT"), None, "query($n: Int!) { posts(first: $n) { totalCount } }".into(), json!({"n": "x"})),
        ("missing variable", Some("BAD_USER_INPUT"), None, "query($n: Int!) { posts(first: $n) { totalCount } }".into(), json!({})),
        ("resolver refusal", Some("BAD_USER_INPUT"), None, "{ posts(first: 500) { totalCount } }".into(), json!({})),
        ("partial failure", Some("BAD_USER_INPUT"), None, "{ ok: posts(first: 1) { totalCount } bad: posts(first: -1) { totalCount } }".into(), json!({})),
        ("mutation refused by its resolver", Some("NOT_FOUND"), Some(&token), "mutation($p: ID!) { addComment(postId: $p, body: \"x\") { id } }".into(), json!({"p": missing_post})),
        ("mutation with invalid input", Some("BAD_USER_INPUT"), Some(&token), "mutation($p: ID!) { addComment(postId: $p, body: \"\") { id } }".into(), json!({"p": post})),
        ("spread past the recursion limit", Some("QUERY_TOO_DEEP"), None, deep_fragments, json!({})),
        ("too deep", Some("QUERY_TOO_DEEP"), None, fragment_chain(16), json!({})),
        ("dry run", None, Some(&token), "{ rateLimit(dryRun: true) { cost limit } posts(first: 2) { nodes { title } } }".into(), json!({})),
    ];
    for (name, code, token, query, variables) in cases {
        let http = app
            .post_json(
                token,
                &json!({"query": query, "variables": variables}),
                JSON,
            )
            .await;
        let ws = over_websocket(&app, token, &query, &variables).await;
        assert_eq!(
            http.body["errors"][0]["extensions"]["code"].as_str(),
            code,
            "{name}: {}",
            http.body
        );
        assert_eq!(answer(&http.body), answer(&ws), "{name}");
    }

    // A query over the socket pays what it returned, as over HTTP: the estimate charged up
    // front is refunded down to the actual cost, once.
    let remaining = |res: Gql| res.data()["rateLimit"]["remaining"].as_i64().unwrap();
    let dry_run = "{ rateLimit(dryRun: true) { remaining } }";
    let before = remaining(app.graphql_as(Some(&token), dry_run, json!({})).await);
    let ws = over_websocket(&app, Some(&token), NORMAL_WITHOUT_RATE_LIMIT, &json!({})).await;
    let actual = ws["extensions"]["cost"]["actualQueryCost"]
        .as_i64()
        .unwrap();
    assert!(
        actual
            < ws["extensions"]["cost"]["requestedQueryCost"]
                .as_i64()
                .unwrap()
    );
    let after = remaining(app.graphql_as(Some(&token), dry_run, json!({})).await);
    assert_eq!(before - after, actual, "{ws}");
}

backend_tests!(
    a_50_deep_query_is_too_deep_and_runs_no_sql,
    nesting_hidden_in_fragments_is_still_too_deep,
    a_thousand_aliases_are_too_complex_and_run_no_sql,
    fragment_cycles_are_refused_before_any_sql,
    a_batch_of_a_thousand_operations_is_refused_and_runs_no_sql,
    a_10_mb_body_is_413_and_runs_no_sql,
    a_100_by_100_by_100_connection_query_is_too_complex_and_runs_no_sql,
    complexity_multiplies_first_by_the_child_cost,
    too_many_root_fields_are_too_complex_and_run_no_sql,
    too_many_directives_are_too_complex_and_run_no_sql,
    an_over_long_document_is_refused_and_runs_no_sql,
    an_over_long_document_is_refused_with_the_default_limit,
    introspection_in_production_fails_validation_and_runs_no_sql,
    forged_expired_unsigned_and_wrongly_signed_tokens_are_401_and_run_no_sql,
    the_graphiql_introspection_query_passes_the_default_limits,
    extensions_cost_reports_requested_and_actual_cost_and_the_budget,
    posts_first_100_over_3_posts_is_refunded_down_to_what_it_returned,
    mutations_cost_at_least_10,
    a_dry_run_answers_only_rate_limit_runs_no_sql_and_charges_nothing,
);

backend_tests!(
    fragment_cycles_fail_validation,
    nesting_50_deep_in_fragments_is_too_deep,
    posts_first_100_over_3_posts_is_charged_like_posts_first_3,
    the_requested_cost_covers_what_was_charged,
    http_and_websocket_answer_every_operation_alike,
);
