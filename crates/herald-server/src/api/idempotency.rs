//! `Idempotency-Key` on every `POST`: the first successful (2xx) response to a key is stored
//! (for 24 hours) and replayed for repeats of the same request by the same caller, so a client
//! can retry a POST after a timeout without creating twice. Keys are scoped to the caller's
//! credentials and the route; reusing a key with a different body is refused.
//!
//! The caller is authenticated before the key is even looked at. Error responses (a validation
//! failure, a conflict, a server error) are not stored: the key stays free, so the corrected
//! request can be sent with it. Stored responses can hold secrets shown only once (an
//! endpoint's signing secret, a new API key), so their bodies are sealed with the master key,
//! bound to the caller, route and key; they never rest in the database in clear.

use axum::body::{Body, to_bytes};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use herald_store::IdempotencyState;
use sha2::{Digest, Sha256};

use super::error::ApiError;
use super::extract::Principal;
use crate::state::AppState;

pub const HEADER: &str = "idempotency-key";
/// Set on a replayed response.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
/// How long a key is remembered (and then purged by `crate::retention`).
pub const RETENTION_SECS: i64 = 24 * 3600;
pub use herald_store::IdempotencyKey;

fn hex_sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Where one stored response belongs: the caller (a hash of its credentials), the route and the
/// key. It is also what the sealed body is bound to.
struct Slot {
    scope: String,
    key: IdempotencyKey,
}

impl Slot {
    fn sealing_owner(&self) -> String {
        format!("idempotency:{}:{}", self.scope, self.key.as_str())
    }
}

pub async fn layer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let Some(raw_key) = request.headers().get(HEADER).cloned() else {
        return next.run(request).await;
    };
    let (mut parts, body) = request.into_parts();
    // Who is asking comes first: without valid credentials, nothing about the request matters.
    if let Err(rejected) = Principal::from_request_parts(&mut parts, &state).await {
        return rejected.into_response();
    }
    let Some(key) = IdempotencyKey::parse(raw_key.as_bytes()) else {
        return ApiError::invalid_field(
            "/Idempotency-Key",
            "1 to 255 visible ASCII characters, without spaces",
        )
        .into_response();
    };
    let credentials =
        parts.headers.get(header::AUTHORIZATION).map(|v| hex_sha256(v.as_bytes())).unwrap_or_default();
    let slot = Slot { scope: format!("{credentials} POST {}", parts.uri.path()), key };
    let limit = state.config.max_body_bytes;
    let Ok(bytes) = to_bytes(body, limit).await else {
        return ApiError::payload_too_large(limit).into_response();
    };
    let now = state.clock.now();
    let expired_before = herald_core::Timestamp::from_second(now.as_second() - RETENTION_SECS).unwrap_or(now);
    let begun =
        state.store.idempotency_begin(&slot.scope, &slot.key, &hex_sha256(&bytes), now, expired_before).await;
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
            let body = match state.master_key.open(&slot.sealing_owner(), &body) {
                Ok(body) => body,
                Err(e) => return ApiError::internal(&e).into_response(),
            };
            let mut response = (StatusCode::from_u16(status).unwrap_or(StatusCode::OK), body).into_response();
            if let Some(ct) = content_type.and_then(|ct| HeaderValue::from_str(&ct).ok()) {
                response.headers_mut().insert(header::CONTENT_TYPE, ct);
            }
            response.headers_mut().insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
            response
        }
        Ok(IdempotencyState::New) => {
            let response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
            remember(&state, &slot, response).await
        }
    }
}

/// Stores a successful response, sealed, for replay; after an error, frees the key instead.
async fn remember(state: &AppState, slot: &Slot, response: Response) -> Response {
    let status = response.status();
    if !status.is_success() {
        if let Err(e) = state.store.idempotency_release(&slot.scope, &slot.key).await {
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
    let sealed = state.master_key.seal(&slot.sealing_owner(), &bytes);
    let stored = state
        .store
        .idempotency_complete(&slot.scope, &slot.key, status.as_u16(), content_type, &sealed)
        .await;
    if let Err(e) = stored {
        tracing::warn!(error = %e, "storing an idempotent response failed");
    }
    Response::from_parts(parts, Body::from(bytes))
}
