//! `/v1/tenants/{tenant}/bulk-retries`: queue again every delivery matching a filter, in the
//! background, and follow the operation through its status resource.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use herald_core::id::BulkRetryId;
use herald_store::BulkRetry;

use super::error::{ApiError, ApiResult};
use super::extract::{InPath, JsonBody, TenantScope};
use crate::state::AppState;
pub use herald_api::bulk_retries::{BulkFilter, BulkRetryOut, BulkRetryStatus};

fn shown(op: BulkRetry) -> ApiResult<BulkRetryOut> {
    let filter = serde_json::from_str(&op.filter).map_err(|e| ApiError::internal(&e))?;
    Ok(BulkRetryOut {
        id: op.id,
        status: if op.finished_at.is_some() { BulkRetryStatus::Done } else { BulkRetryStatus::Running },
        retried: op.retried,
        total: op.total,
        filter,
        created_at: op.created_at,
        updated_at: op.updated_at,
        finished_at: op.finished_at,
    })
}

/// Queue again, in the background, every delivery of the tenant created since `since` that
/// matches the other fields; deliveries created from a second after the call on are left alone.
/// Follow it at the URL in `Location` (the status resource).
#[utoipa::path(post, path = "/v1/tenants/{tenant}/bulk-retries", tag = "deliveries", params(TenantScope),
    request_body = BulkFilter,
    responses((status = 202, description = "started", body = BulkRetryOut,
        headers(("Location" = String, description = "The operation's status resource")))))]
pub async fn create(
    State(state): State<AppState>,
    TenantScope(tenant): TenantScope,
    JsonBody(filter): JsonBody<BulkFilter>,
) -> ApiResult<(StatusCode, HeaderMap, Json<BulkRetryOut>)> {
    let until = filter.until.unwrap_or_else(|| state.clock.now());
    if filter.since >= until {
        return Err(ApiError::invalid_field("/since", "since must be before until"));
    }
    let tenant_id = tenant.id.clone();
    let op = state.bulk.begin(tenant.id, &filter).await?;
    let mut headers = HeaderMap::new();
    if let Ok(location) = HeaderValue::from_str(&format!("/v1/tenants/{tenant_id}/bulk-retries/{}", op.id)) {
        headers.insert(header::LOCATION, location);
    }
    Ok((StatusCode::ACCEPTED, headers, Json(shown(op)?)))
}

/// A bulk retry: how many deliveries it has queued again, and whether it is done.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/bulk-retries/{bulkRetry}", tag = "deliveries",
    params(TenantScope, InPath<BulkRetryId>),
    responses((status = 200, body = BulkRetryOut)))]
pub async fn get(
    State(state): State<AppState>,
    TenantScope(tenant): TenantScope,
    InPath(id): InPath<BulkRetryId>,
) -> ApiResult<Json<BulkRetryOut>> {
    let op =
        state.store.bulk_retry(&tenant.id, &id).await?.ok_or_else(|| ApiError::not_found("bulk retry"))?;
    Ok(Json(shown(op)?))
}
