//! `GET /metrics`: the Prometheus exposition (see `crate::metrics`), for an admin key or the
//! configured scrape token (`metrics.token`).

use axum::extract::State;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::error::ApiError;
use super::extract::Admin;
use crate::state::AppState;

/// The exposition format's content type.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

pub async fn metrics(State(state): State<AppState>, mut parts: Parts) -> Response {
    if !state.config.metrics.enabled {
        return ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route").into_response();
    }
    let allowed = match &state.config.metrics.token {
        Some(token) => bearer(&parts).is_some_and(|given| same(given, token)),
        None => {
            match <Admin as axum::extract::FromRequestParts<AppState>>::from_request_parts(&mut parts, &state)
                .await
            {
                Ok(_) => true,
                Err(refusal) => return refusal.into_response(),
            }
        }
    };
    if !allowed {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send the metrics token as a bearer token",
        )
        .into_response();
    }
    match crate::metrics::render(&state).await {
        Ok(text) => ([(CONTENT_TYPE, HeaderValue::from_static(TEXT_FORMAT))], text).into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

fn bearer(parts: &Parts) -> Option<&str> {
    parts.headers.get(AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ")
}

/// Compares digests, so the time taken says nothing about the token.
fn same(given: &str, token: &str) -> bool {
    Sha256::digest(given.as_bytes()) == Sha256::digest(token.as_bytes())
}
