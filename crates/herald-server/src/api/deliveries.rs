//! `/v1/tenants/{tenant}/deliveries`: the delivery log — every event's journey to every endpoint,
//! with each attempt's request and response — and manual retry.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use herald_core::Timestamp;
use herald_core::delivery::{Attempt, Delivery, DeliveryStatus, ErrorKind, SentRequest, Trigger};
use herald_core::event::EventId;
use herald_core::id::{AttemptId, DeliveryId, EndpointId};
use herald_store::DeliveryFilter;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ListResponse;
use super::error::{ApiError, ApiResult};
use super::extract::{Pagination, TenantScope};
use super::query::{QueryParams, text};
use crate::api::extract::InPath;
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryOut {
    pub id: DeliveryId,
    pub event_id: EventId,
    pub endpoint_id: EndpointId,
    pub status: DeliveryStatus,
    pub attempt_count: u32,
    /// When the next attempt is due (pending and retrying deliveries).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_attempt_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_attempt_at: Option<Timestamp>,
    /// Why a failed delivery gave up: `attempts_exhausted`, `ttl_expired`, `endpoint_deleted`, …
    pub failure_reason: Option<herald_core::delivery::FailureReason>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    /// The attempts, oldest first (when getting one delivery).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts: Option<Vec<AttemptOut>>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResponseOut {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// At most the first 4096 bytes of the body.
    pub body: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttemptOut {
    pub id: AttemptId,
    pub attempt_no: u32,
    pub trigger: Trigger,
    #[schema(value_type = String, format = DateTime)]
    pub started_at: Timestamp,
    pub duration_ms: u64,
    /// What was sent; credentials in headers are shown as `********`.
    pub request: SentRequest,
    /// What came back, when anything did.
    pub response: Option<ResponseOut>,
    /// Why the attempt failed: timeout, connect, tls, dns, blocked, http_status.
    pub error_kind: Option<ErrorKind>,
    pub error_message: Option<String>,
}

impl From<Attempt> for AttemptOut {
    fn from(a: Attempt) -> Self {
        let response = a.response_status.map(|status| ResponseOut {
            status,
            headers: a.response_headers,
            body: a.response_body,
        });
        Self {
            id: a.id,
            attempt_no: a.attempt_no,
            trigger: a.trigger,
            started_at: a.started_at,
            duration_ms: a.duration_ms,
            request: a.request,
            response,
            error_kind: a.error_kind,
            error_message: a.error_message,
        }
    }
}

impl DeliveryOut {
    pub fn new(d: Delivery, attempts: Option<Vec<Attempt>>) -> Self {
        let open = matches!(d.status, DeliveryStatus::Pending | DeliveryStatus::Retrying);
        Self {
            id: d.id,
            event_id: d.event_id,
            endpoint_id: d.endpoint_id,
            status: d.status,
            attempt_count: d.attempt_count,
            next_attempt_at: d.next_attempt_at.filter(|_| open),
            last_attempt_at: d.last_attempt_at,
            failure_reason: d.failure_reason,
            created_at: d.created_at,
            updated_at: d.updated_at,
            attempts: attempts.map(|list| list.into_iter().map(AttemptOut::from).collect()),
        }
    }
}

/// The delivery log's filters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryListParams {
    /// Only deliveries to this endpoint.
    endpoint_id: Option<EndpointId>,
    /// Only deliveries of this event.
    event_id: Option<EventId>,
    /// pending, retrying, delivered or failed (`failed` is the dead-letter set).
    status: Option<DeliveryStatus>,
    /// Only deliveries of events of this type.
    event_type: Option<herald_core::event_type::EventTypeName>,
    /// Created at or after (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    #[serde(default, deserialize_with = "text::timestamp")]
    since: Option<Timestamp>,
    /// Created before (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    #[serde(default, deserialize_with = "text::timestamp")]
    until: Option<Timestamp>,
}

impl From<DeliveryListParams> for DeliveryFilter {
    fn from(p: DeliveryListParams) -> Self {
        Self {
            endpoint_id: p.endpoint_id,
            event_id: p.event_id,
            status: p.status,
            event_type: p.event_type,
            since: p.since,
            until: p.until,
        }
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
    let page = state.store.list_deliveries(&tenant.id, &params.into(), &page).await?;
    Ok(Json(page.map(|d| DeliveryOut::new(d, None)).into()))
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
    let queued = state
        .store
        .requeue_delivery(&tenant.id, &delivery.id, Trigger::Manual, state.clock.now())
        .await?
        .ok_or_else(|| ApiError::not_found("delivery"))?;
    state.publisher.wake();
    Ok((StatusCode::ACCEPTED, Json(DeliveryOut::new(queued, None))))
}
