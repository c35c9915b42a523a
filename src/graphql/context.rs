//! Typed access to what a resolver needs: services, the viewer, the loaders.

use std::sync::Arc;

use async_graphql::Context;
use sea_orm::DatabaseConnection;

use super::loaders::Loaders;
use crate::auth::{self, Viewer};
use crate::error::{AppError, AppResult};
use crate::limits::budget::BudgetStatus;
use crate::services::Services;
use crate::store::visibility::Visibility;

/// Per-request facts put into the GraphQL context by the HTTP or WebSocket layer.
#[derive(Clone, Debug, Default)]
pub struct RequestInfo {
    /// The authenticated caller, if any.
    pub viewer: Option<Viewer>,
    /// `x-request-id`, tying errors to log lines.
    pub request_id: String,
    /// Whose budget this request draws on (`user:<id>` or `ip:<addr>`).
    pub budget_key: String,
    /// The caller's budget after this request's charge, once the guard has charged it.
    pub budget: BudgetSlot,
}

/// Where the guard records the caller's budget for the HTTP layer and `rateLimit`.
pub type BudgetSlot = std::sync::Arc<std::sync::Mutex<Option<BudgetStatus>>>;

impl RequestInfo {
    /// The budget recorded for this request, if any.
    pub fn budget_status(&self) -> Option<BudgetStatus> {
        *self.budget.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Accessors on the resolver context; none of them panics.
pub trait ContextExt {
    /// Shared services (database, keys, events, settings).
    fn services(&self) -> AppResult<&Arc<Services>>;
    /// This request's loaders.
    fn loaders(&self) -> AppResult<&Loaders>;
    /// The caller, if authenticated.
    fn viewer(&self) -> Option<Viewer>;
    /// The caller, or `UNAUTHENTICATED`.
    fn require_viewer(&self) -> AppResult<Viewer>;
    /// What posts the caller may see.
    fn visibility(&self) -> Visibility;
    /// The connection this operation reads from: the read replica for queries (when
    /// configured), the primary for mutations, so a mutation returns what it wrote.
    fn read_db(&self) -> AppResult<&DatabaseConnection>;
}

impl ContextExt for Context<'_> {
    fn services(&self) -> AppResult<&Arc<Services>> {
        self.data::<Arc<Services>>()
            .map_err(|e| anyhow::anyhow!("services missing from context: {}", e.message).into())
    }

    fn loaders(&self) -> AppResult<&Loaders> {
        self.data::<Loaders>()
            .map_err(|e| anyhow::anyhow!("loaders missing from context: {}", e.message).into())
    }

    fn viewer(&self) -> Option<Viewer> {
        self.data_opt::<RequestInfo>().and_then(|info| info.viewer)
    }

    fn require_viewer(&self) -> AppResult<Viewer> {
        self.viewer().ok_or(AppError::Unauthenticated)
    }

    fn visibility(&self) -> Visibility {
        auth::visibility(self.viewer().as_ref())
    }

    fn read_db(&self) -> AppResult<&DatabaseConnection> {
        Ok(&self.loaders()?.scope.db)
    }
}
