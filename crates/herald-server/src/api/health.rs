//! Liveness and readiness for orchestrators (Kubernetes probes). No authentication.
//!
//! - `/health/live`: the process serves HTTP.
//! - `/health/ready`: it can also do its work — the database answers within a second and the
//!   group-commit writer takes writes. Otherwise 503 with the reason, so a load balancer stops
//!   sending it requests until it recovers.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::state::AppState;

/// How long the database may take to answer the readiness ping.
const PING_TIMEOUT: Duration = Duration::from_secs(1);

/// The process is up.
pub async fn live() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// The process can serve: its database answers and its writer runs.
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let unavailable = |reason: &str| {
        (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "unavailable", "reason": reason})))
    };
    if !state.store.writer_running() {
        tracing::error!("readiness check failed: the database writer has stopped");
        return unavailable("writer");
    }
    match tokio::time::timeout(PING_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, Json(json!({"status": "ok"}))),
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
