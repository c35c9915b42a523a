//! The long-lived services every request uses, built once at start-up.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::auth::jwt::JwtKeys;
use crate::cache::Caches;
use crate::config::Settings;
use crate::db::StatementCounter;
use crate::events::EventBus;
use crate::graphql::persisted::Persisted;
use crate::lifecycle::Lifecycle;
use crate::limits::budget::Budget;
use crate::redis::Redis;

/// Shared by the HTTP layer and every resolver (through the schema's data).
pub struct Services {
    /// Configuration.
    pub settings: Arc<Settings>,
    /// The primary database.
    pub db: DatabaseConnection,
    /// The read replica (`DATABASE_REPLICA_URL`), if any.
    pub replica: Option<DatabaseConnection>,
    /// Token keys.
    pub jwt: JwtKeys,
    /// Subscription fan-out.
    pub events: Arc<dyn EventBus>,
    /// Per-caller cost budgets (in Redis when configured).
    pub budget: Arc<dyn Budget>,
    /// The shared Redis, when `REDIS_URL` is set.
    pub redis: Option<Redis>,
    /// Entity and response caches.
    pub caches: Arc<Caches>,
    /// Persisted-operation policy (APQ, trusted documents).
    pub persisted: Persisted,
    /// Graceful-shutdown state.
    pub lifecycle: Lifecycle,
    /// SQL statements run so far (all requests).
    pub statements: StatementCounter,
}

impl Services {
    /// The connection queries read from: the replica when configured, else the primary.
    pub fn read_db(&self) -> &DatabaseConnection {
        self.replica.as_ref().unwrap_or(&self.db)
    }
}
