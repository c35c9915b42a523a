//! Probes: `/healthz` (the process serves) and `/readyz` (the database answers and every
//! migration is applied).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use http::StatusCode;

use super::AppState;
use crate::db;

/// Liveness: 200 while the process serves.
pub async fn healthz() -> Response {
    Json(serde_json::json!({ "status": "ok" })).into_response()
}

/// Readiness: 200 only when the database answers and migrations are applied.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let db = &state.services.db;
    let database = db.ping().await.is_ok();
    let migrations = database && db::migrations_applied(db).await.unwrap_or(false);
    let ready = database && migrations;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::json!({
        "status": if ready { "ready" } else { "not ready" },
        "database": if database { "ok" } else { "unreachable" },
        "migrations": if migrations { "applied" } else { "pending" },
    });
    (status, Json(body)).into_response()
}
