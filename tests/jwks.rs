#![allow(clippy::unwrap_used)]
//! Tokens from an external identity provider (issue 3): a JWKS served by the test
//! (`JWT_JWKS_URL`), Ed25519 keys rotated under a running server, roles and audience
//! claims; and PEM key files for RS256, ES256 and EdDSA, with algorithm confusion refused.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::{spawn_app_with, user_row_id, Backend, Gql, TestApp};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::signature::KeyPair as _;
use serde_json::{json, Value};

const B64URL: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The JWKS refresh interval of the server (`auth::jwks::MIN_REFRESH`).
const MIN_REFRESH: Duration = gatehouse::auth::jwks::MIN_REFRESH;

/// A key set served over HTTP that the test can swap, counting fetches.
struct JwksServer {
    url: String,
    set: Arc<RwLock<Value>>,
    fetches: Arc<AtomicUsize>,
}

impl JwksServer {
    async fn start(keys: &[&EdKey]) -> Self {
        let set = Arc::new(RwLock::new(key_set(keys)));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (served, counted) = (set.clone(), fetches.clone());
        let app = axum::Router::new().route(
            "/.well-known/jwks.json",
            axum::routing::get(move || {
                let (served, counted) = (served.clone(), counted.clone());
                async move {
                    counted.fetch_add(1, Ordering::SeqCst);
                    axum::Json(served.read().unwrap().clone())
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/.well-known/jwks.json",
            listener.local_addr().unwrap()
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, set, fetches }
    }

    fn publish(&self, keys: &[&EdKey]) {
        *self.set.write().unwrap() = key_set(keys);
    }

    fn publish_raw(&self, set: Value) {
        *self.set.write().unwrap() = set;
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

fn key_set(keys: &[&EdKey]) -> Value {
    json!({ "keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>() })
}

/// An Ed25519 signing key with its key id.
struct EdKey {
    kid: String,
    pkcs8: Vec<u8>,
    public: Vec<u8>,
}

impl EdKey {
    fn generate(kid: &str) -> Self {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let pair = ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        Self {
            kid: kid.to_owned(),
            pkcs8: pkcs8.as_ref().to_vec(),
            public: pair.public_key().as_ref().to_vec(),
        }
    }

    fn jwk(&self) -> Value {
        json!({ "kty": "OKP", "crv": "Ed25519", "x": B64URL.encode(&self.public),
                "kid": self.kid, "alg": "EdDSA", "use": "sig" })
    }

    /// Signs `claims` naming this key's id.
    fn sign(&self, claims: &Value) -> String {
        self.sign_as(&self.kid, claims)
    }

    /// Signs `claims` with this key but naming `kid`.
    fn sign_as(&self, kid: &str, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_der(&self.pkcs8)).unwrap()
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Claims an identity provider would issue for user `sub`, valid for an hour.
fn claims(sub: i64) -> Value {
    json!({ "sub": sub.to_string(), "iss": "gatehouse", "iat": now(), "exp": now() + 3600 })
}

/// Sends `query` with a bearer token.
async fn as_bearer(app: &TestApp, token: &str, query: &str) -> Gql {
    app.post_json(
        Some(token),
        &json!({ "query": query }),
        "application/graphql-response+json",
    )
    .await
}

/// Asserts that `token` authenticates as `username`.
async fn assert_viewer(app: &TestApp, token: &str, username: &str, what: &str) {
    let res = as_bearer(app, token, "{ viewer { username } }").await;
    assert_eq!(res.status, 200, "{what}: {}", res.body);
    assert_eq!(res.data()["viewer"]["username"], username, "{what}");
}

/// Asserts that `token` is refused with 401 `UNAUTHENTICATED`, running no SQL.
async fn assert_refused(app: &TestApp, token: &str, what: &str) {
    let before = app.statements();
    let res = as_bearer(app, token, "{ posts { totalCount } }").await;
    assert_eq!(res.status, 401, "{what}: {}", res.body);
    res.assert_code("UNAUTHENTICATED");
    assert_eq!(app.statements(), before, "{what}: no SQL");
}

/// An app trusting `jwks` (plus `extra` settings), with user `ada`; returns her row id.
async fn app_with_jwks(
    backend: Backend,
    jwks: &JwksServer,
    extra: &[(&str, &str)],
) -> Option<(TestApp, i64)> {
    let mut overrides = vec![("JWT_JWKS_URL", jwks.url.as_str())];
    overrides.extend_from_slice(extra);
    let app = spawn_app_with(backend, &overrides).await?;
    let (_, id) = app.register("ada").await;
    Some((app, user_row_id(&id)))
}

async fn a_jwks_token_authenticates_the_viewer(backend: Backend) {
    let k1 = EdKey::generate("k1");
    let jwks = JwksServer::start(&[&k1]).await;
    let Some((app, ada)) = app_with_jwks(backend, &jwks, &[]).await else {
        return;
    };
    let token = k1.sign(&claims(ada));
    assert_viewer(&app, &token, "ada", "a k1 token").await;
    // It may write, as its user.
    let res = as_bearer(
        &app,
        &token,
        "mutation { createPost(input: { title: \"From the IdP\", body: \"b\" }) { author { username } } }",
    )
    .await;
    assert_eq!(res.data()["createPost"]["author"]["username"], "ada");
    // Gatehouse's own tokens still work beside the provider's.
    let res = app
        .graphql(
            "mutation { login(input: { usernameOrEmail: \"ada\", password: \"password-ada\" }) { token } }",
            json!({}),
        )
        .await;
    let own = res.data()["login"]["token"].as_str().unwrap().to_owned();
    assert_viewer(&app, &own, "ada", "a token from login").await;

    // Claims are checked on provider tokens too.
    let mut expired = claims(ada);
    expired["exp"] = json!(now() - 3600);
    assert_refused(&app, &k1.sign(&expired), "expired").await;
    let mut early = claims(ada);
    early["nbf"] = json!(now() + 3600);
    assert_refused(&app, &k1.sign(&early), "not yet valid").await;
    let mut issuer = claims(ada);
    issuer["iss"] = json!("https://someone-else.example");
    assert_refused(&app, &k1.sign(&issuer), "another issuer").await;
    let mut tampered: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut admin = claims(ada);
    admin["roles"] = json!(["admin"]);
    tampered[1] = B64URL.encode(admin.to_string());
    assert_refused(&app, &tampered.join("."), "a tampered payload").await;
    let unsigned = format!(
        "{}.{}.",
        B64URL.encode(r#"{"alg":"none","typ":"JWT","kid":"k1"}"#),
        B64URL.encode(claims(ada).to_string())
    );
    assert_refused(&app, &unsigned, "alg none naming k1").await;
}

async fn a_provider_token_without_iat_is_accepted(backend: Backend) {
    // `iat` is optional in RFC 7519 and not among the claims Gatehouse checks.
    let k1 = EdKey::generate("k1");
    let jwks = JwksServer::start(&[&k1]).await;
    let Some((app, ada)) = app_with_jwks(backend, &jwks, &[]).await else {
        return;
    };
    let token =
        k1.sign(&json!({ "sub": ada.to_string(), "iss": "gatehouse", "exp": now() + 3600 }));
    assert_viewer(&app, &token, "ada", "no iat").await;
}

async fn rotated_keys_are_fetched_on_an_unknown_kid_and_retired_keys_refused(backend: Backend) {
    let (k1, k2, k3) = (
        EdKey::generate("k1"),
        EdKey::generate("k2"),
        EdKey::generate("k3"),
    );
    let jwks = JwksServer::start(&[&k1]).await;
    let Some((app, ada)) = app_with_jwks(backend, &jwks, &[]).await else {
        return;
    };
    let fetched = jwks.fetches();
    assert!(fetched >= 1, "the key set is fetched at start-up");
    assert_viewer(&app, &k1.sign(&claims(ada)), "ada", "k1").await;
    assert_eq!(
        jwks.fetches(),
        fetched,
        "a known kid is served from the cache"
    );

    // The provider rotates: k2 replaces k1. A k2 token makes the server refresh.
    jwks.publish(&[&k2]);
    assert_viewer(&app, &k2.sign(&claims(ada)), "ada", "k2 after rotation").await;
    let refreshed_at = Instant::now();
    assert_eq!(
        jwks.fetches(),
        fetched + 1,
        "one refresh on the unknown kid"
    );
    // The refreshed set no longer holds k1.
    assert_refused(&app, &k1.sign(&claims(ada)), "k1 after rotation").await;
    // An unknown kid signed by a stranger's key, and a known kid over the wrong key.
    let stranger = EdKey::generate("k9");
    assert_refused(&app, &stranger.sign(&claims(ada)), "unknown kid").await;
    assert_refused(&app, &stranger.sign_as("k2", &claims(ada)), "k2 forged").await;
    // Unknown kids do not make the server hammer the provider: at most one fetch per
    // refresh interval.
    let before = jwks.fetches();
    for i in 0..5 {
        let token = stranger.sign_as(&format!("forged-{i}"), &claims(ada));
        assert_refused(&app, &token, "a forged kid").await;
    }
    let intervals = refreshed_at.elapsed().as_secs() / MIN_REFRESH.as_secs() + 1;
    assert!(
        (jwks.fetches() - before) as u64 <= intervals,
        "{} fetches for 6 unknown kids in {:?}",
        jwks.fetches() - before,
        refreshed_at.elapsed()
    );

    // A key published later is picked up once the refresh interval has passed.
    jwks.publish(&[&k2, &k3]);
    let k3_token = k3.sign(&claims(ada));
    tokio::time::sleep(MIN_REFRESH + Duration::from_millis(300)).await;
    assert_viewer(&app, &k3_token, "ada", "k3 after the refresh interval").await;
    assert_viewer(&app, &k2.sign(&claims(ada)), "ada", "k2 still published").await;
}

async fn a_roles_claim_with_admin_grants_admin(backend: Backend) {
    let k1 = EdKey::generate("k1");
    let jwks = JwksServer::start(&[&k1]).await;
    let Some((app, ada)) = app_with_jwks(backend, &jwks, &[]).await else {
        return;
    };
    let (bob_token, _) = app.register("bob").await;
    let post = app.create_post(&bob_token, "Bob's draft", false, &[]).await;
    let delete = format!("mutation {{ deletePost(id: \"{post}\") }}");
    let read = format!("{{ post(id: \"{post}\") {{ title }} }}");

    // A plain user may neither see bob's draft nor delete it.
    let user = k1.sign(&claims(ada));
    let res = as_bearer(&app, &user, &read).await;
    assert!(res.data()["post"].is_null(), "{}", res.body);
    let res = as_bearer(&app, &user, &delete).await;
    assert_eq!(res.codes(), ["NOT_FOUND"], "{}", res.body);

    // Other roles grant nothing.
    let mut editor = claims(ada);
    editor["roles"] = json!(["editor", "user"]);
    let res = as_bearer(&app, &k1.sign(&editor), &delete).await;
    assert!(!res.codes().is_empty(), "{}", res.body);

    // `roles: ["admin"]` makes an admin: sees and deletes it.
    let mut admin = claims(ada);
    admin["roles"] = json!(["reader", "admin"]);
    let admin = k1.sign(&admin);
    let res = as_bearer(&app, &admin, &read).await;
    assert_eq!(res.data()["post"]["title"], "Bob's draft");
    let res = as_bearer(&app, &admin, &delete).await;
    assert_eq!(res.data()["deletePost"], post.as_str());
    let res = as_bearer(&app, &bob_token, &read).await;
    assert!(res.data()["post"].is_null(), "deleted: {}", res.body);
}

async fn jwt_audience_requires_the_configured_aud(backend: Backend) {
    let k1 = EdKey::generate("k1");
    let jwks = JwksServer::start(&[&k1]).await;
    let Some((app, ada)) = app_with_jwks(
        backend,
        &jwks,
        &[("JWT_AUDIENCE", "https://api.gatehouse.example")],
    )
    .await
    else {
        return;
    };
    assert_refused(&app, &k1.sign(&claims(ada)), "no aud").await;
    let mut wrong = claims(ada);
    wrong["aud"] = json!("https://other.example");
    assert_refused(&app, &k1.sign(&wrong), "another aud").await;
    let mut right = claims(ada);
    right["aud"] = json!("https://api.gatehouse.example");
    assert_viewer(&app, &k1.sign(&right), "ada", "the right aud").await;
    let mut among = claims(ada);
    among["aud"] = json!(["https://other.example", "https://api.gatehouse.example"]);
    assert_viewer(&app, &k1.sign(&among), "ada", "the right aud among others").await;
}

async fn tokens_from_login_work_when_jwt_audience_is_set(backend: Backend) {
    // A server must accept the tokens it issues itself.
    let Some(app) = spawn_app_with(
        backend,
        &[("JWT_AUDIENCE", "https://api.gatehouse.example")],
    )
    .await
    else {
        return;
    };
    let (token, _) = app.register("ada").await;
    assert_viewer(&app, &token, "ada", "a token from register").await;
}

async fn symmetric_keys_in_the_key_set_are_never_trusted(backend: Backend) {
    // A published HMAC secret would let anyone sign; the server must ignore it.
    let k1 = EdKey::generate("k1");
    let jwks = JwksServer::start(&[&k1]).await;
    let secret = b"a-published-secret-anyone-can-read";
    jwks.publish_raw(json!({ "keys": [
        k1.jwk(),
        { "kty": "oct", "k": B64URL.encode(secret), "kid": "hmac", "alg": "HS256" }
    ] }));
    let Some((app, ada)) = app_with_jwks(backend, &jwks, &[]).await else {
        return;
    };
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("hmac".into());
    let token =
        jsonwebtoken::encode(&header, &claims(ada), &EncodingKey::from_secret(secret)).unwrap();
    assert_refused(&app, &token, "HS256 with a published secret").await;
    // HS256 naming the Ed25519 key, with its public key as the secret.
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("k1".into());
    let token =
        jsonwebtoken::encode(&header, &claims(ada), &EncodingKey::from_secret(&k1.public)).unwrap();
    assert_refused(&app, &token, "HS256 over k1's public key").await;
    assert_viewer(&app, &k1.sign(&claims(ada)), "ada", "the control").await;
}

// ---------------------------------------------------------------------------------------
// PEM key files

/// Runs `openssl` with `args`, failing the test on error.
fn openssl(args: &[&str]) {
    let output = std::process::Command::new("openssl")
        .args(args)
        .output()
        .expect("the openssl command line tool");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Generates a PEM key pair in `dir`; returns (private, public) paths.
fn pem_pair(dir: &Path, name: &str, genpkey: &[&str]) -> (String, String) {
    let private = dir.join(format!("{name}.key")).display().to_string();
    let public = dir.join(format!("{name}.pub")).display().to_string();
    let mut args = vec!["genpkey"];
    args.extend_from_slice(genpkey);
    args.extend_from_slice(&["-out", &private]);
    openssl(&args);
    openssl(&["pkey", "-in", &private, "-pubout", "-out", &public]);
    (private, public)
}

async fn pem_keys_sign_and_verify_rs256_es256_and_eddsa(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let known_secret = "a-secret-the-pem-keys-replace-0123456789";
    for (name, genpkey, algorithm) in [
        (
            "rsa",
            &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"][..],
            "RS256",
        ),
        (
            "ec",
            &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"][..],
            "ES256",
        ),
        ("ed25519", &["-algorithm", "ED25519"][..], "EdDSA"),
    ] {
        let (private, public) = pem_pair(dir.path(), name, genpkey);
        let overrides = [
            ("JWT_PRIVATE_KEY_FILE", private.as_str()),
            ("JWT_PUBLIC_KEY_FILE", public.as_str()),
            ("JWT_SECRET", known_secret),
        ];
        let Some(app) = spawn_app_with(backend, &overrides).await else {
            return;
        };
        let (token, id) = app.register("ada").await;
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(format!("{:?}", header.alg), algorithm, "{name}");
        assert_viewer(&app, &token, "ada", algorithm).await;

        let ada = user_row_id(&id);
        // Algorithm confusion: HS256 with the public key's bytes as the secret.
        let public_pem = std::fs::read(&public).unwrap();
        let confused = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims(ada),
            &EncodingKey::from_secret(&public_pem),
        )
        .unwrap();
        assert_refused(
            &app,
            &confused,
            &format!("{algorithm}: HS256 over the public key"),
        )
        .await;
        // The secret the key files replace signs nothing either.
        let hs256 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims(ada),
            &EncodingKey::from_secret(known_secret.as_bytes()),
        )
        .unwrap();
        assert_refused(&app, &hs256, &format!("{algorithm}: HS256 with JWT_SECRET")).await;
        // Another key of the same kind does not verify.
        let (other_private, _) = pem_pair(dir.path(), &format!("{name}-other"), genpkey);
        let pem = std::fs::read(&other_private).unwrap();
        let (alg, key) = match algorithm {
            "RS256" => (Algorithm::RS256, EncodingKey::from_rsa_pem(&pem).unwrap()),
            "ES256" => (Algorithm::ES256, EncodingKey::from_ec_pem(&pem).unwrap()),
            _ => (Algorithm::EdDSA, EncodingKey::from_ed_pem(&pem).unwrap()),
        };
        let mut forged_claims = claims(ada);
        forged_claims["role"] = json!("admin");
        let forged = jsonwebtoken::encode(&Header::new(alg), &forged_claims, &key).unwrap();
        assert_refused(&app, &forged, &format!("{algorithm}: another key")).await;
    }
}

backend_tests!(
    a_jwks_token_authenticates_the_viewer,
    rotated_keys_are_fetched_on_an_unknown_kid_and_retired_keys_refused,
    a_roles_claim_with_admin_grants_admin,
    jwt_audience_requires_the_configured_aud,
    symmetric_keys_in_the_key_set_are_never_trusted,
    pem_keys_sign_and_verify_rs256_es256_and_eddsa,
);

backend_tests!(
    a_provider_token_without_iat_is_accepted,
    tokens_from_login_work_when_jwt_audience_is_set,
);
