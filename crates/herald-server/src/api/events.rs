//! `/v1/tenants/{tenant}/events`: publishing, and the event log.
//!
//! Publishing stores the event and one delivery per matching endpoint in one transaction, then
//! wakes the dispatcher; a 2xx means all of it is committed — or, for an event owed to more than
//! `FANOUT_INLINE` endpoints, the event and a durable fan-out marker whose deliveries (under the
//! ids the response names) follow at once (see `publish`). An event `id` the tenant already used
//! returns that event (200) and creates nothing.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use herald_core::event::{EventId, parse_attribute};
use herald_core::event_type::EventTypeName;
use herald_store::EventFilter;
use serde_json::{Map, Value};

use super::ListResponse;
use super::error::{ApiError, ApiResult, FieldError};
use super::extract::{JsonBody, Pagination, TenantScope};
use super::query::QueryParams;
use crate::api::extract::InPath;
use crate::publish::{NewEvent, Published};
use crate::state::AppState;
pub use herald_api::events::{EventDeliveryOut, EventIn, EventListParams, EventOut};

/// Validates `data` against the event type's schema, when the catalog has one.
async fn check_schema(
    state: &AppState,
    event_type: &EventTypeName,
    data: &Map<String, Value>,
) -> ApiResult<()> {
    let Some(known) = state.catalog.entry(event_type).await? else { return Ok(()) };
    let Some(schema) = &known.schema else { return Ok(()) };
    let violations = schema.violations(&Value::Object(data.clone()));
    if violations.is_empty() {
        return Ok(());
    }
    Err(ApiError::invalid(
        violations
            .into_iter()
            .map(|(path, message)| FieldError::new(format!("/data{path}"), message))
            .collect(),
    ))
}

fn attribute(path: &str, value: Option<String>) -> ApiResult<Option<String>> {
    value.map(|v| parse_attribute(&path[1..], &v).map_err(|e| ApiError::invalid_field(path, e))).transpose()
}

/// Publish an event to the tenant's subscribed endpoints.
///
/// The 201 comes back once the event is stored with what it owes every subscribed endpoint: its
/// deliveries, or — for more than 64 endpoints — a durable fan-out marker from which they are
/// created a moment later under the ids this response names (after a crash, by the next Herald
/// process). Either way, every delivery listed here is made. A `traceparent` header is passed
/// on to every delivery of the event.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/events", tag = "events",
    params(TenantScope, ("traceparent" = Option<String>, Header,
        description = "A W3C Trace Context `traceparent`: sent on with every delivery of the event, so a trace follows it to the receivers (an invalid one is dropped).")),
    request_body = EventIn,
    responses((status = 201, description = "published", body = EventOut),
              (status = 200, description = "an event with this id, type and payload already existed; nothing was created", body = EventOut),
              (status = 409, description = "an event with this id but another type or payload already exists; nothing was created", body = super::error::Problem, content_type = "application/problem+json"),
              (status = 429, description = "the tenant's publish quota (its `limits.publishPerSecond`, else `tenant_publish_per_second`) is used up; nothing was created. `Retry-After` tells when to try again. Within the quota, publishes beyond a tenth of a second's worth (at least ten) are not refused but answered at the quota's pace, up to a second later", body = super::error::Problem, content_type = "application/problem+json",
               headers(("Retry-After" = u64, description = "seconds to wait before publishing again")))))]
pub async fn publish(
    State(state): State<AppState>,
    TenantScope(tenant): TenantScope,
    headers: axum::http::HeaderMap,
    JsonBody(input): JsonBody<EventIn>,
) -> ApiResult<(StatusCode, Json<EventOut>)> {
    let turn = state.quota.admit(&tenant, std::time::Instant::now()).map_err(ApiError::publish_quota)?;
    let subject = attribute("/subject", input.subject)?;
    let source = attribute("/source", input.source)?;
    let event_headers = herald_core::event::EventHeaders::parse(input.headers, &state.config.event_headers)
        .map_err(|(name, why)| {
        let pointer = name.map_or_else(
            || "/headers".to_owned(),
            |name| format!("/headers/{}", herald_core::json_pointer_token(&name)),
        );
        ApiError::invalid_field(pointer, why)
    })?;
    check_schema(&state, &input.event_type, &input.data).await?;
    if !turn.is_zero() {
        tokio::time::sleep(turn).await;
    }
    let new = NewEvent {
        tenant: tenant.id,
        id: input.id,
        event_type: input.event_type,
        data: input.data,
        subject,
        source,
        // An invalid traceparent is dropped, as W3C Trace Context asks: the receiver starts anew.
        traceparent: headers
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .and_then(herald_core::trace::TraceParent::parse),
        headers: event_headers,
    };
    let span = tracing::info_span!("publish", tenant.id = %new.tenant, event_type = %new.event_type);
    crate::trace::set_parent(&span, new.traceparent.as_ref());
    match tracing::Instrument::instrument(state.publisher.publish(new), span).await? {
        Published::Created { event, deliveries } => {
            Ok((StatusCode::CREATED, Json(EventOut::new(event, Some(deliveries)))))
        }
        Published::Existing { event, deliveries, same } => {
            if !same {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "event_id_conflict",
                    format!(
                        "the tenant already has an event with id `{}` and a different type or payload; \
                         nothing was published (publish a new event under a new id)",
                        event.id
                    ),
                ));
            }
            Ok((StatusCode::OK, Json(EventOut::new(event, Some(deliveries)))))
        }
    }
}

/// The store's filter for the event log's query.
fn event_filter(p: EventListParams) -> EventFilter {
    EventFilter { event_type: p.event_type, since: p.since, until: p.until }
}

/// The tenant's events, newest first.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/events", tag = "events",
    params(TenantScope, super::PageParams, EventListParams),
    responses((status = 200, body = ListResponse<EventOut>)))]
pub async fn list(
    State(state): State<AppState>,
    TenantScope(tenant): TenantScope,
    Pagination(page): Pagination,
    QueryParams(params): QueryParams<EventListParams>,
) -> ApiResult<Json<ListResponse<EventOut>>> {
    let page = state.store.list_events(&tenant.id, &event_filter(params), &page).await?;
    Ok(Json(super::listed(page.map(|e| EventOut::new(e, None)))))
}

/// One event with its delivery status at each endpoint.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/events/{event}", tag = "events",
    params(TenantScope, InPath<EventId>),
    responses((status = 200, body = EventOut)))]
pub async fn get(
    State(state): State<AppState>,
    TenantScope(tenant): TenantScope,
    InPath(id): InPath<EventId>,
) -> ApiResult<Json<EventOut>> {
    let event = state.store.event(&tenant.id, &id).await?.ok_or_else(|| ApiError::not_found("event"))?;
    let deliveries = state.store.deliveries_of_event(&event.key).await?;
    Ok(Json(EventOut::new(event, Some(deliveries))))
}
