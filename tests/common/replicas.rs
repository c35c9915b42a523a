//! Several real server processes (the built `gatehouse` binary) on one scratch database
//! and one Redis prefix: replicas as a load balancer would see them.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use super::{scratch_database, Backend, Gql, ScratchDatabase, TestApp};

/// Server processes killed (and reaped) when the test ends, passed or not, with the
/// database they share.
pub struct Replicas {
    children: Vec<(Child, PathBuf)>,
    /// `http://127.0.0.1:<port>` of each replica, in start order.
    pub addresses: Vec<String>,
    pub client: reqwest::Client,
    logs: tempfile::TempDir,
    database: ScratchDatabase,
}

impl Drop for Replicas {
    fn drop(&mut self) {
        for (child, _) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
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
        let logs = tempfile::tempdir().unwrap();
        let prefix = format!("test_{}:", uuid::Uuid::new_v4().simple());
        let secret = uuid::Uuid::new_v4().to_string();
        let mut replicas = Self {
            children: Vec::new(),
            addresses: Vec::new(),
            client: reqwest::Client::new(),
            logs,
            database,
        };
        for i in 0..n {
            let port = free_port();
            let log = replicas.logs.path().join(format!("server-{i}.log"));
            let mut command = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
            command
                .arg("serve")
                .env_clear()
                .envs(
                    replicas
                        .database
                        .env
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str())),
                )
                .env("GATEHOUSE_ADDR", format!("127.0.0.1:{port}"))
                .env("REDIS_URL", redis)
                .env("GATEHOUSE_REDIS_PREFIX", &prefix)
                // A shared, busy test machine: do not let a slow Redis answer fall back
                // to the in-process path.
                .env("GATEHOUSE_REDIS_TIMEOUT_MS", "3000")
                .env("JWT_SECRET", &secret)
                .env("GATEHOUSE_SEED_DEMO", "false")
                .env("GATEHOUSE_IP_RATE_PER_SEC", "0")
                .env("RUST_LOG", "warn")
                .envs(env.iter().copied())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap());
            replicas.children.push((command.spawn().unwrap(), log));
            let address = format!("http://127.0.0.1:{port}");
            replicas.wait_ready(&address, i).await;
            replicas.addresses.push(address);
        }
        Some(replicas)
    }

    /// The log of replica `i`, for failure messages.
    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(&self.children[i].1).unwrap_or_default()
    }

    /// Waits until `/readyz` of replica `i` answers 200.
    async fn wait_ready(&mut self, address: &str, i: usize) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(res) = self.client.get(format!("{address}/readyz")).send().await {
                if res.status() == 200 {
                    return;
                }
            }
            if let Ok(Some(status)) = self.children[i].0.try_wait() {
                panic!("server {i} exited with {status}: {}", self.log(i));
            }
            assert!(
                Instant::now() < deadline,
                "server {i} not ready: {}",
                self.log(i)
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
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

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}
