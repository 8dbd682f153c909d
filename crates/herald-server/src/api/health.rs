//! Liveness and readiness for orchestrators (Kubernetes probes). No authentication.
//!
//! - `/health/live`: the process serves HTTP.
//! - `/health/ready`: it can also do its work — the database answers within a second, this
//!   build's migrations are all applied, the group-commit writer takes writes and (when
//!   `delivery.enabled`) the dispatcher runs. Otherwise 503 with the reason (`database`,
//!   `migrations`, `writer`, `dispatcher`), so a load balancer stops sending it requests until it
//!   recovers. For Kubernetes: `livenessProbe` on `/health/live`, `readinessProbe` on
//!   `/health/ready`.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::state::AppState;

/// How long the database may take to answer the readiness check.
const PING_TIMEOUT: Duration = Duration::from_secs(1);

/// The process is up.
pub async fn live() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// The process can serve: its database answers with every migration applied, and its writer
/// and dispatcher run.
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let unavailable = |reason: &str| {
        (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "unavailable", "reason": reason})))
    };
    if !state.store.writer_running() {
        tracing::error!("readiness check failed: the database writer has stopped");
        return unavailable("writer");
    }
    if state.config.delivery.enabled && !state.dispatching.load(std::sync::atomic::Ordering::Acquire) {
        tracing::warn!("readiness check failed: the dispatcher is not running");
        return unavailable("dispatcher");
    }
    match tokio::time::timeout(PING_TIMEOUT, state.store.migrations_pending()).await {
        Ok(Ok(pending)) if pending.is_empty() => (StatusCode::OK, Json(json!({"status": "ok"}))),
        Ok(Ok(pending)) => {
            tracing::error!(?pending, "readiness check failed: database migrations are not applied");
            unavailable("migrations")
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness check failed: the database does not answer");
            unavailable("database")
        }
        Err(_) => {
            tracing::warn!("readiness check failed: the database did not answer in time");
            unavailable("database")
        }
    }
}
