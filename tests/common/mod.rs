//! Test harness: starts the real server on a random port, on a fresh database, and talks
//! HTTP to it.
//!
//! Every integration test runs twice through [`backend_tests!`]: on a temporary SQLite
//! file, and on PostgreSQL in a schema of its own (`test_<uuid>`, dropped afterwards)
//! when `TEST_DATABASE_URL` is set. With `GATEHOUSE_REQUIRE_SERVICES=1` a missing
//! `TEST_DATABASE_URL` fails the PostgreSQL variant instead of skipping it.
#![allow(dead_code, clippy::unwrap_used, missing_docs)]

use std::collections::HashMap;
use std::sync::Arc;

use gatehouse::app::App;
use gatehouse::config::Settings;
use gatehouse::services::Services;
use serde_json::{json, Value};

pub mod replicas;
pub mod ws;

/// Which database a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Declares, for each `async fn name(backend: Backend)`, a module `name` with a `sqlite`
/// and a `postgres` test.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::common::Backend::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::common::Backend::Postgres).await
                }
            }
        )*
    };
}

/// A running server and what a test needs to talk to it.
pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub client: reqwest::Client,
    pub services: Arc<Services>,
    pub backend: Backend,
    _database: ScratchDatabase,
}

/// A GraphQL response as the test sees it.
#[derive(Debug)]
pub struct Gql {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Gql {
    /// `data`, failing the test when there are errors.
    pub fn data(&self) -> &Value {
        assert!(
            self.body.get("errors").is_none(),
            "unexpected errors: {}",
            self.body
        );
        &self.body["data"]
    }

    /// The `extensions.code` of every error.
    pub fn codes(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .map(|e| {
                        e["extensions"]["code"]
                            .as_str()
                            .unwrap_or("<none>")
                            .to_owned()
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Asserts exactly one error with `code`.
    pub fn assert_code(&self, code: &str) {
        assert_eq!(self.codes(), vec![code.to_owned()], "body: {}", self.body);
    }
}

enum TestDatabase {
    Sqlite(tempfile::TempDir),
    Postgres { url: String, schema: String },
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let TestDatabase::Postgres { url, schema } = self {
            let (url, schema) = (url.clone(), schema.clone());
            // Drop runs inside the test's runtime; a fresh thread with its own runtime may
            // block, and also runs when the test panicked.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    if let Ok(db) = sea_orm::Database::connect(&url).await {
                        use sea_orm::ConnectionTrait;
                        let _ = db
                            .execute_unprepared(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                            .await;
                    }
                });
            })
            .join();
        }
    }
}

/// `getIntrospectionQuery()` of graphql-js 16 with its default options, as GraphiQL 3
/// (the playground's version) sends it.
pub const INTROSPECTION_QUERY: &str = r"
    query IntrospectionQuery {
      __schema {

        queryType { name }
        mutationType { name }
        subscriptionType { name }
        types {
          ...FullType
        }
        directives {
          name
          description

          locations
          args {
            ...InputValue
          }
        }
      }
    }

    fragment FullType on __Type {
      kind
      name
      description


      fields(includeDeprecated: true) {
        name
        description
        args {
          ...InputValue
        }
        type {
          ...TypeRef
        }
        isDeprecated
        deprecationReason
      }
      inputFields {
        ...InputValue
      }
      interfaces {
        ...TypeRef
      }
      enumValues(includeDeprecated: true) {
        name
        description
        isDeprecated
        deprecationReason
      }
      possibleTypes {
        ...TypeRef
      }
    }

    fragment InputValue on __InputValue {
      name
      description
      type { ...TypeRef }
      defaultValue


    }

    fragment TypeRef on __Type {
      kind
      name
      ofType {
        kind
        name
        ofType {
          kind
          name
          ofType {
            kind
            name
            ofType {
              kind
              name
              ofType {
                kind
                name
                ofType {
                  kind
                  name
                  ofType {
                    kind
                    name
                    ofType {
                      kind
                      name
                      ofType {
                        kind
                        name
                      }
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
  ";

/// Turns the response cache off, for tests about what executing an operation does (SQL
/// statements, extensions, charges): a repeated anonymous query would be a cache hit.
pub const NO_RESPONSE_CACHE: (&str, &str) = ("GATEHOUSE_RESPONSE_CACHE", "false");

/// Turns the entity cache off too, for tests counting the statements of cold loads.
pub const NO_ENTITY_CACHE: (&str, &str) = ("GATEHOUSE_ENTITY_CACHE", "false");

/// `TEST_REDIS_URL`, or a failure when services are required and it is missing.
pub fn redis_url() -> Option<String> {
    let url = std::env::var("TEST_REDIS_URL").ok();
    assert!(
        url.is_some() || !require_services(),
        "GATEHOUSE_REQUIRE_SERVICES=1 but TEST_REDIS_URL is not set"
    );
    url
}

fn require_services() -> bool {
    std::env::var("GATEHOUSE_REQUIRE_SERVICES").is_ok_and(|v| v == "1" || v == "true")
}

/// Starts a server on `backend`; `None` when the backend is not configured (skipped).
pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, &[]).await
}

/// Like [`spawn_app`], with extra environment overrides.
pub async fn spawn_app_with(backend: Backend, overrides: &[(&str, &str)]) -> Option<TestApp> {
    let mut env: HashMap<String, String> = HashMap::new();
    env.insert("GATEHOUSE_ADDR".into(), "127.0.0.1:0".into());
    env.insert("GATEHOUSE_SEED_DEMO".into(), "false".into());
    env.insert("JWT_SECRET".into(), uuid::Uuid::new_v4().to_string());
    env.insert("RUST_LOG".into(), "warn".into());
    // Tests fire requests in bursts from one address; the throttle has tests of its own.
    env.insert("GATEHOUSE_IP_RATE_PER_SEC".into(), "0".into());
    let scratch = scratch_database(backend).await?;
    env.extend(scratch.env.iter().cloned());
    if backend == Backend::Postgres {
        if let Some(redis) = redis_url() {
            env.insert("REDIS_URL".into(), redis);
            env.insert(
                "GATEHOUSE_REDIS_PREFIX".into(),
                format!("test_{}:", uuid::Uuid::new_v4().simple()),
            );
        }
    }
    for (k, v) in overrides {
        env.insert((*k).to_owned(), (*v).to_owned());
    }
    if let Ok(filter) = std::env::var("TEST_LOG") {
        // TEST_LOG=1 logs at info; any other value is a filter, e.g. gatehouse::sql=debug.
        let filter = if filter == "1" {
            "info".to_owned()
        } else {
            filter
        };
        env.insert("RUST_LOG".into(), filter);
    }
    let settings = Settings::from_lookup(|name| env.get(name).cloned()).unwrap();
    if std::env::var("TEST_LOG").is_ok() {
        // The handle is dropped: tests that trace run a server process (tests/otel.rs).
        let _ = gatehouse::telemetry::init(&settings);
    }
    let app = App::build(settings).await.unwrap();
    let port = app.port();
    let services = app.services();
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    Some(TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        client: reqwest::Client::new(),
        services,
        backend,
        _database: scratch,
    })
}

impl TestApp {
    /// POSTs a GraphQL operation anonymously.
    pub async fn graphql(&self, query: &str, variables: Value) -> Gql {
        self.graphql_as(None, query, variables).await
    }

    /// POSTs a GraphQL operation with an optional bearer token.
    pub async fn graphql_as(&self, token: Option<&str>, query: &str, variables: Value) -> Gql {
        self.post_json(
            token,
            &json!({ "query": query, "variables": variables }),
            "application/json",
        )
        .await
    }

    /// POSTs any JSON body to `/graphql` with the given `Accept`.
    pub async fn post_json(&self, token: Option<&str>, body: &Value, accept: &str) -> Gql {
        let mut request = self
            .client
            .post(format!("{}/graphql", self.address))
            .header("accept", accept)
            .json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        Self::read(request.send().await.unwrap()).await
    }

    /// Turns an HTTP response into a [`Gql`].
    pub async fn read(response: reqwest::Response) -> Gql {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Gql {
            status,
            headers,
            body,
        }
    }

    /// The `/metrics` text.
    pub async fn metrics(&self) -> String {
        let res = self
            .client
            .get(format!("{}/metrics", self.address))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        res.text().await.unwrap()
    }

    /// SQL statements the server has run so far.
    pub fn statements(&self) -> u64 {
        self.services.statements.get()
    }

    /// Registers `username` (password `password-<username>`) and returns (token, user id).
    pub async fn register(&self, username: &str) -> (String, String) {
        let res = self
            .graphql(
                "mutation($input: RegisterInput!) { register(input: $input) { token user { id } } }",
                json!({ "input": {
                    "username": username,
                    "email": format!("{username}@example.org"),
                    "password": format!("password-{username}"),
                    "displayName": username.to_uppercase(),
                }}),
            )
            .await;
        let data = res.data();
        (
            data["register"]["token"].as_str().unwrap().to_owned(),
            data["register"]["user"]["id"].as_str().unwrap().to_owned(),
        )
    }

    /// Creates a post and returns its global id.
    pub async fn create_post(
        &self,
        token: &str,
        title: &str,
        publish: bool,
        tags: &[&str],
    ) -> String {
        let res = self
            .graphql_as(
                Some(token),
                "mutation($input: CreatePostInput!) { createPost(input: $input) { id } }",
                json!({ "input": { "title": title, "body": format!("Body of {title}"), "publish": publish, "tags": tags } }),
            )
            .await;
        res.data()["createPost"]["id"].as_str().unwrap().to_owned()
    }

    /// Adds a comment and returns its global id.
    pub async fn add_comment(&self, token: &str, post_id: &str, body: &str) -> String {
        let res = self
            .graphql_as(
                Some(token),
                "mutation($p: ID!, $b: String!) { addComment(postId: $p, body: $b) { id } }",
                json!({ "p": post_id, "b": body }),
            )
            .await;
        res.data()["addComment"]["id"].as_str().unwrap().to_owned()
    }

    /// Makes `username` an admin (as `gatehouse admin grant` does) and logs in again.
    pub async fn make_admin(&self, username: &str) -> String {
        gatehouse::store::users::set_role(&self.services.db, username, "admin")
            .await
            .unwrap()
            .unwrap();
        let res = self
            .graphql(
                "mutation($i: LoginInput!) { login(input: $i) { token } }",
                json!({ "i": { "usernameOrEmail": username, "password": format!("password-{username}") } }),
            )
            .await;
        res.data()["login"]["token"].as_str().unwrap().to_owned()
    }
}

impl TestApp {
    /// Creates a post with an explicit body and returns its global id.
    pub async fn create_post_with_body(
        &self,
        token: &str,
        title: &str,
        body: &str,
        publish: bool,
        tags: &[&str],
    ) -> String {
        let res = self
            .graphql_as(
                Some(token),
                "mutation($input: CreatePostInput!) { createPost(input: $input) { id } }",
                json!({ "input": { "title": title, "body": body, "publish": publish, "tags": tags } }),
            )
            .await;
        res.data()["createPost"]["id"].as_str().unwrap().to_owned()
    }

    /// Publishes a draft as `token` (its author or an admin).
    pub async fn publish_post(&self, token: &str, post_id: &str) {
        let res = self
            .graphql_as(
                Some(token),
                "mutation($id: ID!) { publishPost(id: $id) { status } }",
                json!({ "id": post_id }),
            )
            .await;
        assert_eq!(res.data()["publishPost"]["status"], "PUBLISHED");
    }

    /// Likes a post as `token`.
    pub async fn like_post(&self, token: &str, post_id: &str) {
        let res = self
            .graphql_as(
                Some(token),
                "mutation($id: ID!) { likePost(postId: $id) { id } }",
                json!({ "id": post_id }),
            )
            .await;
        res.data();
    }
}

/// The string at `field` of each element of a JSON array, e.g. the titles of `nodes`.
pub fn pluck(list: &Value, field: &str) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|item| {
            item[field]
                .as_str()
                .unwrap_or_else(|| panic!("no string {field} in {item}"))
                .to_owned()
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Helpers for the guard-rail tests (guard, budget, persisted, jwks, fuzz).

/// The numeric value of a response header, failing the test when it is missing.
pub fn header_number(res: &Gql, name: &str) -> i64 {
    res.headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header (status {}): {}", res.status, res.body))
        .to_str()
        .unwrap()
        .parse()
        .unwrap_or_else(|e| panic!("{name} is not a number: {e}"))
}

/// The numeric row id behind a `User` global id (`base64("User:<id>")`).
pub fn user_row_id(global: &str) -> i64 {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(global)
        .unwrap();
    let text = String::from_utf8(bytes).unwrap();
    let (kind, id) = text.split_once(':').unwrap();
    assert_eq!(kind, "User", "{global} is not a user id");
    id.parse().unwrap()
}

/// A fresh database for a test that starts server processes itself: the variables that
/// point a process at it, and (dropped with this value) the PostgreSQL schema or SQLite
/// directory behind it.
pub struct ScratchDatabase {
    pub env: Vec<(String, String)>,
    _database: TestDatabase,
}

/// A fresh database on `backend`; `None` when the backend is not configured (skipped).
pub async fn scratch_database(backend: Backend) -> Option<ScratchDatabase> {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
            Some(ScratchDatabase {
                env: vec![("DATABASE_URL".into(), url)],
                _database: TestDatabase::Sqlite(dir),
            })
        }
        Backend::Postgres => {
            let Ok(url) = std::env::var("TEST_DATABASE_URL") else {
                assert!(
                    !require_services(),
                    "GATEHOUSE_REQUIRE_SERVICES=1 but TEST_DATABASE_URL is not set"
                );
                eprintln!("skipped: TEST_DATABASE_URL is not set");
                return None;
            };
            let schema = format!("test_{}", uuid::Uuid::new_v4().simple());
            let admin = sea_orm::Database::connect(&url)
                .await
                .unwrap_or_else(|e| panic!("TEST_DATABASE_URL is not reachable: {e}"));
            use sea_orm::ConnectionTrait;
            admin
                .execute_unprepared(&format!("CREATE SCHEMA {schema}"))
                .await
                .unwrap();
            Some(ScratchDatabase {
                env: vec![
                    ("DATABASE_URL".into(), url.clone()),
                    ("GATEHOUSE_DATABASE_SCHEMA".into(), schema.clone()),
                    ("GATEHOUSE_DB_MAX_CONNECTIONS".into(), "5".into()),
                ],
                _database: TestDatabase::Postgres { url, schema },
            })
        }
    }
}

// ---------------------------------------------------------------------------------------
// A real server process (for what only a process shows: export on exit, signals).

/// `gatehouse serve` of the built binary, killed (and reaped) when dropped.
pub struct ServerProcess {
    pub child: std::process::Child,
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    dir: tempfile::TempDir,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServerProcess {
    /// Starts the binary on a free port with the test defaults of [`spawn_app`] and then
    /// `env` (nothing else is inherited), and waits until `/readyz` answers 200.
    pub async fn start(client: &reqwest::Client, env: &[(String, String)]) -> Self {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let dir = tempfile::tempdir().unwrap();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .arg("serve")
            .env_clear()
            .env("GATEHOUSE_ADDR", format!("127.0.0.1:{port}"))
            .env("GATEHOUSE_SEED_DEMO", "false")
            .env("JWT_SECRET", uuid::Uuid::new_v4().to_string())
            .env("GATEHOUSE_IP_RATE_PER_SEC", "0")
            .env("RUST_LOG", "warn")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(std::process::Stdio::null())
            .stdout(std::fs::File::create(dir.path().join("stdout.log")).unwrap())
            .stderr(std::fs::File::create(dir.path().join("stderr.log")).unwrap())
            .spawn()
            .unwrap();
        let mut server = Self {
            child,
            address: format!("http://127.0.0.1:{port}"),
            dir,
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        loop {
            if let Ok(res) = client
                .get(format!("{}/readyz", server.address))
                .send()
                .await
            {
                if res.status() == 200 {
                    return server;
                }
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("the server exited with {status}: {}", server.log());
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the server is not ready: {}",
                server.log()
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// What the process wrote so far: its logs (stdout), then stderr.
    pub fn log(&self) -> String {
        let read = |name: &str| std::fs::read_to_string(self.dir.path().join(name));
        format!(
            "{}{}",
            read("stdout.log").unwrap_or_default(),
            read("stderr.log").unwrap_or_default()
        )
    }

    /// Sends SIGTERM and waits for the exit, failing after `within`.
    pub async fn terminate(&mut self, within: std::time::Duration) -> std::process::ExitStatus {
        let status = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM failed: {status}");
        let deadline = std::time::Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the server did not exit in time: {}",
                self.log()
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}
