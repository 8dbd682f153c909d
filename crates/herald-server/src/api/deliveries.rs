//! `/v1/tenants/{tenant}/deliveries`: the delivery log — every event's journey to every endpoint,
//! with each attempt's request and response — and manual retry.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use herald_core::delivery::{Delivery, Trigger};
use herald_core::id::DeliveryId;
use herald_store::DeliveryFilter;

use super::ListResponse;
use super::error::{ApiError, ApiResult};
use super::extract::{Pagination, TenantScope};
use super::query::QueryParams;
use crate::api::extract::InPath;
use crate::state::AppState;
pub use herald_api::deliveries::{AttemptOut, DeliveryListParams, DeliveryOut, ResponseOut};

/// The store's filter for the delivery log's query.
fn delivery_filter(p: DeliveryListParams) -> DeliveryFilter {
    DeliveryFilter {
        endpoint_id: p.endpoint_id,
        event_id: p.event_id,
        status: p.status,
        event_type: p.event_type,
        since: p.since,
        until: p.until,
    }
}

/// The delivery log, newest first.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/deliveries", tag = "deliveries",
    params(TenantScope, super::PageParams, DeliveryListParams),
    responses((status = 200, body = ListResponse<DeliveryOut>)))]
pub async fn list(
    State(state): State<AppState>,
    TenantScope(tenant): TenantScope,
    Pagination(page): Pagination,
    QueryParams(params): QueryParams<DeliveryListParams>,
) -> ApiResult<Json<ListResponse<DeliveryOut>>> {
    let page = state.store.list_deliveries(&tenant.id, &delivery_filter(params), &page).await?;
    Ok(Json(super::listed(page.map(|d| DeliveryOut::new(d, None)))))
}

async fn find_delivery(
    state: &AppState,
    tenant: &herald_core::id::TenantId,
    id: &DeliveryId,
) -> ApiResult<Delivery> {
    state.store.delivery(tenant, id).await?.ok_or_else(|| ApiError::not_found("delivery"))
}

/// One delivery with all its attempts.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/deliveries/{delivery}", tag = "deliveries",
    params(TenantScope, InPath<DeliveryId>),
    responses((status = 200, body = DeliveryOut)))]
pub async fn get(
    State(state): State<AppState>,
    TenantScope(tenant): TenantScope,
    InPath(id): InPath<DeliveryId>,
) -> ApiResult<Json<DeliveryOut>> {
    let delivery = find_delivery(&state, &tenant.id, &id).await?;
    let attempts = state.store.attempts(&delivery.id).await?;
    Ok(Json(DeliveryOut::new(delivery, Some(attempts))))
}

/// Attempt the delivery again now, whatever its status. A failed delivery becomes pending; if
/// this attempt fails too and its attempts or TTL are spent, it fails again.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/deliveries/{delivery}/retry", tag = "deliveries",
    params(TenantScope, InPath<DeliveryId>),
    responses((status = 202, description = "queued", body = DeliveryOut)))]
pub async fn retry(
    State(state): State<AppState>,
    TenantScope(tenant): TenantScope,
    InPath(id): InPath<DeliveryId>,
) -> ApiResult<(StatusCode, Json<DeliveryOut>)> {
    let delivery = find_delivery(&state, &tenant.id, &id).await?;
    let event = state.store.event(&tenant.id, &delivery.event_id).await?;
    if event.is_some_and(|e| e.payload_removed_at.is_some()) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "payload_removed",
            "the retention removed this event's payload (`retention.keep_payloads`): there is nothing left to send",
        ));
    }
    let queued = state
        .store
        .requeue_delivery(&tenant.id, &delivery.id, Trigger::Manual, state.clock.now())
        .await?
        .ok_or_else(|| ApiError::not_found("delivery"))?;
    state.publisher.wake();
    Ok((StatusCode::ACCEPTED, Json(DeliveryOut::new(queued, None))))
}
