//! Several real server processes (the built `gatehouse` binary) on one scratch database
//! and one Redis prefix: replicas as a load balancer would see them.

use serde_json::json;

use super::{scratch_database, Backend, Gql, ScratchDatabase, ServerProcess, TestApp};

/// Replicas killed (and reaped) when the test ends, passed or not, with the database they
/// share.
pub struct Replicas {
    servers: Vec<ServerProcess>,
    /// `http://127.0.0.1:<port>` of each replica, in start order.
    pub addresses: Vec<String>,
    pub client: reqwest::Client,
    /// The Redis key prefix they share.
    pub prefix: String,
    database: ScratchDatabase,
}

impl Replicas {
    /// Starts `n` replicas on a fresh database of `backend` sharing `redis` (under a
    /// fresh prefix) and one JWT secret, each with `env` on top. One after the other, so
    /// that only the first applies the migrations. `None` when the backend is skipped.
    pub async fn start(
        backend: Backend,
        n: usize,
        redis: &str,
        env: &[(&str, &str)],
    ) -> Option<Self> {
        let database = scratch_database(backend).await?;
        let mut shared = database.env.clone();
        let prefix = format!("test_{}:", uuid::Uuid::new_v4().simple());
        let secret = uuid::Uuid::new_v4().to_string();
        shared.extend(
            [
                ("REDIS_URL", redis),
                ("GATEHOUSE_REDIS_PREFIX", prefix.as_str()),
                // A shared, busy test machine: do not let a slow Redis answer fall back
                // to the in-process path.
                ("GATEHOUSE_REDIS_TIMEOUT_MS", "3000"),
                ("JWT_SECRET", secret.as_str()),
            ]
            .iter()
            .chain(env)
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let client = reqwest::Client::new();
        let mut servers = Vec::with_capacity(n);
        for _ in 0..n {
            servers.push(ServerProcess::start(&client, &shared).await);
        }
        Some(Self {
            addresses: servers.iter().map(|s| s.address.clone()).collect(),
            servers,
            client,
            prefix,
            database,
        })
    }

    /// Registers `name` (password `password-<name>`) through replica `i`; its token.
    pub async fn register(&self, i: usize, name: &str) -> String {
        let res = self
            .post(
                i,
                None,
                "mutation($i: RegisterInput!) { register(input: $i) { token } }",
                json!({ "i": { "username": name, "email": format!("{name}@example.org"),
                    "password": format!("password-{name}"), "displayName": name } }),
            )
            .await;
        res.data()["register"]["token"].as_str().unwrap().to_owned()
    }

    /// The port replica `i` listens on.
    pub fn port(&self, i: usize) -> u16 {
        self.addresses[i]
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap()
    }

    /// The log of replica `i`, for failure messages.
    pub fn log(&self, i: usize) -> String {
        self.servers[i].log()
    }

    /// POSTs `query` with `variables` to replica `i`, as `token`'s owner or anonymously.
    pub async fn post(
        &self,
        i: usize,
        token: Option<&str>,
        query: &str,
        variables: serde_json::Value,
    ) -> Gql {
        let mut request = self
            .client
            .post(format!("{}/graphql", self.addresses[i]))
            .header("accept", "application/graphql-response+json")
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        TestApp::read(request.send().await.unwrap()).await
    }
}
