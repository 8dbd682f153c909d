//! `Idempotency-Key` on every `POST`: the first response to a key is stored (for 24 hours) and
//! replayed for repeats of the same request by the same caller, so a client can retry a POST
//! after a timeout without creating twice. Keys are scoped to the caller's credentials and the
//! route; reusing a key with a different body is refused. Server errors (5xx) are not stored,
//! so the request can be retried for real.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use herald_store::IdempotencyState;
use sha2::{Digest, Sha256};

use super::error::ApiError;
use crate::state::AppState;

pub const HEADER: &str = "idempotency-key";
/// Set on a replayed response.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
const RETENTION_SECS: i64 = 24 * 3600;
const MAX_KEY_LEN: usize = 255;

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

pub async fn layer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let Some(raw_key) = request.headers().get(HEADER) else {
        return next.run(request).await;
    };
    let key = match raw_key.to_str() {
        Ok(k) if !k.is_empty() && k.len() <= MAX_KEY_LEN => k.to_owned(),
        _ => {
            return ApiError::invalid_field("/Idempotency-Key", "1 to 255 visible ASCII characters")
                .into_response();
        }
    };
    // Unauthenticated requests are refused by the handler; there is nothing to remember.
    let Some(credentials) = request.headers().get(header::AUTHORIZATION).map(|v| hex_sha256(v.as_bytes()))
    else {
        return next.run(request).await;
    };
    let scope = format!("{credentials} POST {}", request.uri().path());
    let (parts, body) = request.into_parts();
    let limit = state.config.max_body_bytes;
    let Ok(bytes) = to_bytes(body, limit).await else {
        return ApiError::payload_too_large(limit).into_response();
    };
    let now = state.clock.now();
    let expired_before = herald_core::Timestamp::from_second(now.as_second() - RETENTION_SECS).unwrap_or(now);
    let begun = state.store.idempotency_begin(&scope, &key, &hex_sha256(&bytes), now, expired_before).await;
    match begun {
        Err(e) => ApiError::from(e).into_response(),
        Ok(IdempotencyState::InProgress) => ApiError::new(
            StatusCode::CONFLICT,
            "idempotency_in_progress",
            "a request with this Idempotency-Key is still being processed; retry later",
        )
        .into_response(),
        Ok(IdempotencyState::Mismatch) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "this Idempotency-Key was used with a different request",
        )
        .into_response(),
        Ok(IdempotencyState::Replay { status, content_type, body }) => {
            let mut response = (StatusCode::from_u16(status).unwrap_or(StatusCode::OK), body).into_response();
            if let Some(ct) = content_type.and_then(|ct| HeaderValue::from_str(&ct).ok()) {
                response.headers_mut().insert(header::CONTENT_TYPE, ct);
            }
            response.headers_mut().insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
            response
        }
        Ok(IdempotencyState::New) => {
            let response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
            remember(&state, &scope, &key, response).await
        }
    }
}

/// Stores the response for replay (unless it is a server error) and passes it on.
async fn remember(state: &AppState, scope: &str, key: &str, response: Response) -> Response {
    let status = response.status();
    if status.is_server_error() {
        if let Err(e) = state.store.idempotency_release(scope, key).await {
            tracing::warn!(error = %e, "releasing an idempotency key failed");
        }
        return response;
    }
    let (parts, body) = response.into_parts();
    let bytes = match to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(e) => return ApiError::internal(&e).into_response(),
    };
    let content_type = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    if let Err(e) = state.store.idempotency_complete(scope, key, status.as_u16(), content_type, &bytes).await
    {
        tracing::warn!(error = %e, "storing an idempotent response failed");
    }
    Response::from_parts(parts, Body::from(bytes))
}
