//! Bearer tokens (CONTRACT.md sections 2 and 3): tokens from `register`/`login` work; a
//! token that is present but invalid refuses the whole request with 401, whatever it asks;
//! no token at all is an anonymous caller.

#![allow(clippy::unwrap_used)]

mod common;

use base64::Engine as _;
use common::{spawn_app, spawn_app_with, Backend, Gql, TestApp};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

const SECRET: &str = "test-secret-for-gatehouse-auth-tests-0123456789";

/// A query that needs no authentication.
const ANONYMOUS_QUERY: &str = "{ posts { totalCount } }";

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Claims as Gatehouse writes them, for user `sub`, valid for an hour.
fn claims(sub: &str) -> Value {
    json!({ "sub": sub, "role": "user", "iss": "gatehouse", "iat": now(), "exp": now() + 3600 })
}

/// Signs `claims` with HS256 and `secret`.
fn sign(claims: &Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// The numeric id behind a `User` global id.
fn user_row_id(global: &str) -> String {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(global)
        .unwrap();
    let text = String::from_utf8(bytes).unwrap();
    let (kind, id) = text.split_once(':').unwrap();
    assert_eq!(kind, "User");
    id.to_owned()
}

/// An app with a known `JWT_SECRET` and one user, `ada`; returns the user's row id.
async fn app_with_known_secret(backend: Backend) -> Option<(TestApp, String)> {
    let app = spawn_app_with(backend, &[("JWT_SECRET", SECRET)]).await?;
    let (_, id) = app.register("ada").await;
    let row = user_row_id(&id);
    Some((app, row))
}

/// Sends `query` with a raw `Authorization` header value.
async fn with_authorization(app: &TestApp, authorization: &str, query: &str, accept: &str) -> Gql {
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("authorization", authorization)
        .header("accept", accept)
        .json(&json!({ "query": query }))
        .send()
        .await
        .unwrap();
    TestApp::read(response).await
}

/// Asserts that `authorization` is refused with 401 and `UNAUTHENTICATED`, for a query
/// that needs no authentication, for `viewer`, and for a mutation, with either media type.
async fn assert_refused(app: &TestApp, authorization: &str) {
    let mutation = "mutation { createPost(input: { title: \"t\", body: \"b\" }) { id } }";
    for query in [ANONYMOUS_QUERY, "{ viewer { username } }", mutation] {
        for accept in ["application/json", "application/graphql-response+json"] {
            let res = with_authorization(app, authorization, query, accept).await;
            assert_eq!(
                res.status, 401,
                "{authorization:?} {query} ({accept}): {}",
                res.body
            );
            assert_eq!(
                res.codes(),
                ["UNAUTHENTICATED"],
                "{authorization:?} {query}: {}",
                res.body
            );
            assert!(
                res.body.get("data").is_none() || res.body["data"].is_null(),
                "no data on a refused request: {}",
                res.body
            );
        }
    }
    // GET /graphql refuses it the same way.
    let response = app
        .client
        .get(format!("{}/graphql", app.address))
        .query(&[("query", ANONYMOUS_QUERY)])
        .header("authorization", authorization)
        .send()
        .await
        .unwrap();
    let res = TestApp::read(response).await;
    assert_eq!(res.status, 401, "GET with {authorization:?}: {}", res.body);
    assert_eq!(res.codes(), ["UNAUTHENTICATED"]);
}

/// Asserts that a bearer token is accepted and names `ada`.
async fn assert_accepted(app: &TestApp, token: &str) {
    let res = app
        .graphql_as(Some(token), "{ viewer { username } }", json!({}))
        .await;
    assert_eq!(res.status, 200, "body: {}", res.body);
    assert_eq!(res.data()["viewer"]["username"], "ada");
}

async fn tokens_from_register_and_login_work_as_bearer(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (registered, _) = app.register("ada").await;
    assert_accepted(&app, &registered).await;
    let res = app
        .graphql(
            "mutation($i: LoginInput!) { login(input: $i) { token } }",
            json!({ "i": { "usernameOrEmail": "ada", "password": "password-ada" } }),
        )
        .await;
    let logged_in = res.data()["login"]["token"].as_str().unwrap().to_owned();
    assert_accepted(&app, &logged_in).await;
    // The scheme is case-insensitive.
    let res = with_authorization(
        &app,
        &format!("bearer {logged_in}"),
        "{ viewer { username } }",
        "application/json",
    )
    .await;
    assert_eq!(res.data()["viewer"]["username"], "ada");
    // A token lets its holder write.
    let post = app.create_post(&logged_in, "Mine", true, &[]).await;
    assert!(!post.is_empty());
}

async fn a_token_crafted_with_the_apps_secret_is_accepted(backend: Backend) {
    // The control for the refusals below: the crafting itself is right.
    let Some((app, ada)) = app_with_known_secret(backend).await else {
        return;
    };
    assert_accepted(&app, &sign(&claims(&ada), SECRET)).await;
    // Expired, but within the 30-second leeway for clock skew.
    let mut recent = claims(&ada);
    recent["exp"] = json!(now() - 5);
    assert_accepted(&app, &sign(&recent, SECRET)).await;
}

async fn a_garbage_token_is_refused_with_401(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    for token in ["garbage", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30.", "Bearer"] {
        assert_refused(&app, &format!("Bearer {token}")).await;
    }
}

async fn a_token_signed_with_another_secret_is_refused_with_401(backend: Backend) {
    let Some((app, ada)) = app_with_known_secret(backend).await else {
        return;
    };
    let token = sign(&claims(&ada), "another-secret-another-secret-0123456789");
    assert_refused(&app, &format!("Bearer {token}")).await;
    // Tampering with the claims of a good token breaks its signature too.
    let good = sign(&claims(&ada), SECRET);
    let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    let mut admin = claims(&ada);
    admin["role"] = json!("admin");
    parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(admin.to_string());
    assert_refused(&app, &format!("Bearer {}", parts.join("."))).await;
}

async fn an_alg_none_token_is_refused_with_401(backend: Backend) {
    let Some((app, ada)) = app_with_known_secret(backend).await else {
        return;
    };
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let body = b64.encode(claims(&ada).to_string());
    for alg in ["none", "None", "NONE"] {
        let header = b64.encode(json!({ "alg": alg, "typ": "JWT" }).to_string());
        assert_refused(&app, &format!("Bearer {header}.{body}.")).await;
    }
}

async fn an_expired_token_is_refused_with_401(backend: Backend) {
    let Some((app, ada)) = app_with_known_secret(backend).await else {
        return;
    };
    let mut expired = claims(&ada);
    expired["iat"] = json!(now() - 7200);
    expired["exp"] = json!(now() - 120);
    assert_refused(&app, &format!("Bearer {}", sign(&expired, SECRET))).await;
}

async fn a_token_from_another_issuer_or_without_required_claims_is_refused_with_401(
    backend: Backend,
) {
    let Some((app, ada)) = app_with_known_secret(backend).await else {
        return;
    };
    let mut wrong_issuer = claims(&ada);
    wrong_issuer["iss"] = json!("someone-else");
    assert_refused(&app, &format!("Bearer {}", sign(&wrong_issuer, SECRET))).await;

    for missing in ["iss", "exp", "sub"] {
        let mut partial = claims(&ada);
        partial.as_object_mut().unwrap().remove(missing);
        assert_refused(&app, &format!("Bearer {}", sign(&partial, SECRET))).await;
    }

    let mut not_yet = claims(&ada);
    not_yet["nbf"] = json!(now() + 600);
    assert_refused(&app, &format!("Bearer {}", sign(&not_yet, SECRET))).await;
}

async fn a_non_bearer_scheme_is_refused_with_401(backend: Backend) {
    let Some((app, ada)) = app_with_known_secret(backend).await else {
        return;
    };
    let good = sign(&claims(&ada), SECRET);
    for authorization in [
        "Basic YWRhOnBhc3N3b3JkLWFkYQ==".to_owned(),
        format!("Token {good}"),
        good.clone(),
        "Bearer ".to_owned(),
    ] {
        assert_refused(&app, &authorization).await;
    }
}

async fn no_token_is_an_anonymous_caller(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (ada, _) = app.register("ada").await;
    app.create_post(&ada, "Public", true, &[]).await;
    app.create_post(&ada, "Draft", false, &[]).await;
    let res = app
        .graphql("{ viewer { username } posts { totalCount } }", json!({}))
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(
        res.data(),
        &json!({ "viewer": null, "posts": { "totalCount": 1 } })
    );
}

/// Users read for display (the by-id loader, `user(username:)`) never carry the password
/// hash; login reads it, and changing a role keeps it.
async fn only_login_reads_the_password_hash(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.register("ada").await;
    let db = &app.services.db;
    let by_name = gatehouse::store::users::find_by_username(db, "ada")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_name.password_hash, "");
    let by_id = gatehouse::store::users::find_users(db, &[by_name.id])
        .await
        .unwrap();
    assert_eq!(by_id.len(), 1);
    assert_eq!(by_id[0].password_hash, "");
    assert_eq!(by_id[0].username, "ada");
    let login = gatehouse::store::users::find_by_login(db, "ada")
        .await
        .unwrap()
        .unwrap();
    assert!(
        login.password_hash.starts_with("$argon2id$"),
        "{}",
        login.password_hash
    );
    // `make_admin` sets the role from a display read, then logs in with the password.
    app.make_admin("ada").await;
}

backend_tests!(
    tokens_from_register_and_login_work_as_bearer,
    only_login_reads_the_password_hash,
    a_token_crafted_with_the_apps_secret_is_accepted,
    a_garbage_token_is_refused_with_401,
    a_token_signed_with_another_secret_is_refused_with_401,
    an_alg_none_token_is_refused_with_401,
    an_expired_token_is_refused_with_401,
    a_token_from_another_issuer_or_without_required_claims_is_refused_with_401,
    a_non_bearer_scheme_is_refused_with_401,
    no_token_is_an_anonymous_caller,
);
