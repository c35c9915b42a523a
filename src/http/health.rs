//! Probes: `/healthz` (the process serves) and `/readyz` (the database answers and every
//! migration is applied).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use http::StatusCode;

use super::AppState;
use sea_orm::ConnectionTrait as _;

use crate::db;

/// Liveness: 200 while the process serves.
pub async fn healthz() -> Response {
    Json(serde_json::json!({ "status": "ok" })).into_response()
}

/// Readiness: 200 only when the database answers and migrations are applied.
pub async fn readyz(State(state): State<AppState>) -> Response {
    if state.services.lifecycle.is_draining() {
        let body = serde_json::json!({ "status": "draining" });
        return (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
    }
    let db = &state.services.db;
    let database = db.ping().await.is_ok();
    let migrations = database && db::migrations_applied(db).await.unwrap_or(false);
    let ready = database && migrations;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    // Redis is reported, never required: without it replicas fall back to in-process.
    let redis = match &state.services.redis {
        None => "not configured",
        Some(redis) if redis.is_up() => "ok",
        Some(_) => "degraded: using in-process fallbacks",
    };
    let body = serde_json::json!({
        "status": if ready { "ready" } else { "not ready" },
        "database": if database { "ok" } else { "unreachable" },
        "migrations": if migrations { "applied" } else { "pending" },
        "redis": redis,
    });
    (status, Json(body)).into_response()
}

/// Prometheus metrics in the text exposition format.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let Some(metrics) = crate::metrics::get() else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let db = &state.services.db;
    let (size, idle) = match db.get_database_backend() {
        sea_orm::DatabaseBackend::Postgres => {
            let pool = db.get_postgres_connection_pool();
            (pool.size(), pool.num_idle())
        }
        _ => {
            let pool = db.get_sqlite_connection_pool();
            (pool.size(), pool.num_idle())
        }
    };
    let idle = i64::try_from(idle).unwrap_or(i64::MAX);
    metrics
        .db_pool
        .with_label_values(&["in_use"])
        .set(i64::from(size) - idle);
    metrics.db_pool.with_label_values(&["idle"]).set(idle);
    if let Some(redis) = &state.services.redis {
        metrics.redis_up.set(i64::from(redis.is_up()));
    }
    (
        [(
            http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics.render(),
    )
        .into_response()
}
