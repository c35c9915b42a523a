//! The long-lived services every request uses, built once at start-up.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::auth::jwt::JwtKeys;
use crate::config::Settings;
use crate::db::StatementCounter;
use crate::events::EventBus;
use crate::limits::budget::LocalBudget;

/// Shared by the HTTP layer and every resolver (through the schema's data).
pub struct Services {
    /// Configuration.
    pub settings: Arc<Settings>,
    /// The primary database.
    pub db: DatabaseConnection,
    /// Token keys.
    pub jwt: JwtKeys,
    /// Subscription fan-out.
    pub events: Arc<dyn EventBus>,
    /// Per-caller cost budgets.
    pub budget: LocalBudget,
    /// SQL statements run so far (all requests).
    pub statements: StatementCounter,
}
