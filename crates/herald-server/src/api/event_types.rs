//! `/v1/event-types`: the catalog of what the provider publishes. Any key may read it (it is what
//! a customer chooses from); only admin keys may change it.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use herald_core::event_type::{EventType, EventTypeName};

use super::ListResponse;
use super::error::{ApiError, ApiResult};
use super::extract::{Admin, JsonBody, Pagination, Principal};
use super::query::QueryParams;
use crate::api::extract::InPath;
use crate::state::AppState;
pub use herald_api::event_types::{
    CatalogFilter, EventTypeIn, EventTypeOut, EventTypePatch, EventTypeReplace,
};

const MAX_LABEL: usize = 256;
const MAX_DESCRIPTION: usize = 4096;

fn text(path: &str, value: &str, max: usize) -> ApiResult<String> {
    if value.chars().count() > max {
        return Err(ApiError::invalid_field(path, format!("at most {max} characters")));
    }
    Ok(value.to_owned())
}

fn label(raw: Option<String>, name: &EventTypeName) -> ApiResult<String> {
    match raw {
        Some(l) if l.trim().is_empty() => Err(ApiError::invalid_field("/label", "must not be empty")),
        Some(l) => text("/label", l.trim(), MAX_LABEL),
        None => Ok(name.to_string()),
    }
}

/// Checks the cross-field rule and builds the stored value.
fn checked(event_type: EventType) -> ApiResult<EventType> {
    if event_type.example.as_ref().is_some_and(|e| !e.is_object()) {
        return Err(ApiError::invalid_field("/example", "an example is a JSON object (the event's data)"));
    }
    EventType::check_example(event_type.schema.as_ref(), event_type.example.as_ref())
        .map_err(|e| ApiError::invalid_field("/example", e))?;
    Ok(event_type)
}

async fn find_event_type(state: &AppState, name: &EventTypeName) -> ApiResult<EventType> {
    state.store.event_type(name).await?.ok_or_else(|| ApiError::not_found("event type"))
}

/// Add an event type to the catalog.
#[utoipa::path(post, path = "/v1/event-types", tag = "event types", request_body = EventTypeIn,
    responses((status = 201, body = EventTypeOut), (status = 409, description = "name taken", body = super::error::Problem)))]
pub async fn create(
    State(state): State<AppState>,
    _: Admin,
    JsonBody(input): JsonBody<EventTypeIn>,
) -> ApiResult<(StatusCode, Json<EventTypeOut>)> {
    let now = state.clock.now();
    let event_type = checked(EventType {
        label: label(input.label, &input.name)?,
        name: input.name,
        description: text("/description", &input.description, MAX_DESCRIPTION)?,
        schema: input.schema,
        example: input.example,
        deprecated: input.deprecated,
        created_at: now,
        updated_at: now,
    })?;
    state.catalog.insert(&event_type).await.map_err(|e| match e {
        herald_store::StoreError::Conflict(_) => {
            ApiError::conflict(format!("event type `{}` already exists", event_type.name))
        }
        other => other.into(),
    })?;
    Ok((StatusCode::CREATED, Json(event_type.into())))
}

/// The catalog, ordered by name.
#[utoipa::path(get, path = "/v1/event-types", tag = "event types", params(super::PageParams, CatalogFilter),
    responses((status = 200, body = ListResponse<EventTypeOut>)))]
pub async fn list(
    State(state): State<AppState>,
    _: Principal,
    Pagination(page): Pagination,
    QueryParams(filter): QueryParams<CatalogFilter>,
) -> ApiResult<Json<ListResponse<EventTypeOut>>> {
    let include_deprecated = filter.include_deprecated.unwrap_or(false);
    let page = state.store.list_event_types(&page, include_deprecated).await?;
    Ok(Json(super::listed(page.map(EventTypeOut::from))))
}

/// Get one event type.
#[utoipa::path(get, path = "/v1/event-types/{name}", tag = "event types", params(InPath<EventTypeName>),
    responses((status = 200, body = EventTypeOut)))]
pub async fn get(
    State(state): State<AppState>,
    _: Principal,
    InPath(name): InPath<EventTypeName>,
) -> ApiResult<Json<EventTypeOut>> {
    Ok(Json(find_event_type(&state, &name).await?.into()))
}

/// Replace an event type's fields.
#[utoipa::path(put, path = "/v1/event-types/{name}", tag = "event types", params(InPath<EventTypeName>),
    request_body = EventTypeReplace, responses((status = 200, body = EventTypeOut)))]
pub async fn replace(
    State(state): State<AppState>,
    _: Admin,
    InPath(name): InPath<EventTypeName>,
    JsonBody(input): JsonBody<EventTypeReplace>,
) -> ApiResult<Json<EventTypeOut>> {
    let current = find_event_type(&state, &name).await?;
    let event_type = checked(EventType {
        label: label(input.label, &current.name)?,
        description: text("/description", &input.description, MAX_DESCRIPTION)?,
        schema: input.schema,
        example: input.example,
        deprecated: input.deprecated,
        updated_at: state.clock.now(),
        ..current
    })?;
    update_in_catalog(&state, event_type).await
}

/// Change some of an event type's fields.
#[utoipa::path(patch, path = "/v1/event-types/{name}", tag = "event types", params(InPath<EventTypeName>),
    request_body = EventTypePatch, responses((status = 200, body = EventTypeOut)))]
pub async fn update(
    State(state): State<AppState>,
    _: Admin,
    InPath(name): InPath<EventTypeName>,
    JsonBody(patch): JsonBody<EventTypePatch>,
) -> ApiResult<Json<EventTypeOut>> {
    let mut event_type = find_event_type(&state, &name).await?;
    if patch.label.is_some() {
        event_type.label = label(patch.label, &event_type.name)?;
    }
    if let Some(description) = patch.description {
        event_type.description = text("/description", &description, MAX_DESCRIPTION)?;
    }
    if let Some(schema) = patch.schema {
        event_type.schema = schema;
    }
    if let Some(example) = patch.example {
        event_type.example = example;
    }
    if let Some(deprecated) = patch.deprecated {
        event_type.deprecated = deprecated;
    }
    event_type.updated_at = state.clock.now();
    update_in_catalog(&state, checked(event_type)?).await
}

async fn update_in_catalog(state: &AppState, event_type: EventType) -> ApiResult<Json<EventTypeOut>> {
    let updated = state.catalog.update(&event_type).await;
    if !updated? {
        return Err(ApiError::not_found("event type"));
    }
    Ok(Json(event_type.into()))
}

/// Remove an event type from the catalog. Endpoints subscribed to it keep their patterns.
#[utoipa::path(delete, path = "/v1/event-types/{name}", tag = "event types", params(InPath<EventTypeName>),
    responses((status = 204, description = "deleted")))]
pub async fn delete(
    State(state): State<AppState>,
    _: Admin,
    InPath(name): InPath<EventTypeName>,
) -> ApiResult<StatusCode> {
    let deleted = state.catalog.delete(&name).await;
    if !deleted? {
        return Err(ApiError::not_found("event type"));
    }
    Ok(StatusCode::NO_CONTENT)
}
