//! `/v1/tenants`: the provider's customers. Admin keys only.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::request::Parts;
use herald_core::id::TenantId;
use herald_core::tenant::{Tenant, TenantLimits, parse_name};

use super::ListResponse;
use super::error::{ApiError, ApiResult};
use super::extract::{Admin, JsonBody, Pagination, TenantScope, tenant_from_path};
use crate::state::AppState;
pub use herald_api::tenants::{TenantIn, TenantOut, TenantPatch, TenantStatsOut};

fn name(raw: &str) -> ApiResult<String> {
    parse_name(raw).map_err(|e| ApiError::invalid_field("/name", e))
}

/// The `{tenant}` of an admin route: admin check first, so tenant keys get 403 whatever the id.
#[derive(Debug)]
pub struct AdminTenant(pub Tenant);

impl axum::extract::FromRequestParts<AppState> for AdminTenant {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Admin::from_request_parts(parts, state).await?;
        tenant_from_path(parts, state).await.map(Self)
    }
}

/// Create a tenant.
#[utoipa::path(post, path = "/v1/tenants", tag = "tenants", request_body = TenantIn,
    responses((status = 201, body = TenantOut), (status = 409, description = "uid already taken", body = super::error::Problem)))]
pub async fn create(
    State(state): State<AppState>,
    _: Admin,
    JsonBody(input): JsonBody<TenantIn>,
) -> ApiResult<(StatusCode, Json<TenantOut>)> {
    let now = state.clock.now();
    let tenant = Tenant {
        id: TenantId::generate_at(now),
        uid: input.uid,
        name: name(&input.name)?,
        metadata: input.metadata,
        limits: input.limits,
        created_at: now,
        updated_at: now,
    };
    state.access.create_tenant(&tenant).await?;
    Ok((StatusCode::CREATED, Json(tenant.into())))
}

/// List tenants, newest first.
#[utoipa::path(get, path = "/v1/tenants", tag = "tenants", params(super::PageParams),
    responses((status = 200, body = ListResponse<TenantOut>)))]
pub async fn list(
    State(state): State<AppState>,
    _: Admin,
    Pagination(page): Pagination,
) -> ApiResult<Json<ListResponse<TenantOut>>> {
    Ok(Json(super::listed(state.store.list_tenants(&page).await?.map(TenantOut::from))))
}

/// Get a tenant by id or uid (an admin key, or the tenant's own key).
#[utoipa::path(get, path = "/v1/tenants/{tenant}", tag = "tenants", params(TenantScope),
    responses((status = 200, body = TenantOut)))]
pub async fn get(TenantScope(tenant): TenantScope) -> Json<TenantOut> {
    Json(tenant.into())
}

/// Update a tenant's uid, name, metadata or limits.
#[utoipa::path(patch, path = "/v1/tenants/{tenant}", tag = "tenants", params(TenantScope),
    request_body = TenantPatch,
    responses((status = 200, body = TenantOut), (status = 409, description = "uid already taken", body = super::error::Problem)))]
pub async fn update(
    State(state): State<AppState>,
    AdminTenant(mut tenant): AdminTenant,
    JsonBody(patch): JsonBody<TenantPatch>,
) -> ApiResult<Json<TenantOut>> {
    if let Some(uid) = patch.uid {
        tenant.uid = uid;
    }
    if let Some(new_name) = patch.name {
        tenant.name = name(&new_name)?;
    }
    if let Some(metadata) = patch.metadata {
        tenant.metadata = metadata;
    }
    if let Some(limits) = patch.limits {
        tenant.limits = limits;
    }
    tenant.updated_at = state.clock.now();
    let updated = state.access.update_tenant(&tenant).await;
    if !updated? {
        return Err(ApiError::not_found("tenant"));
    }
    Ok(Json(tenant.into()))
}

/// The tenant's deliveries in flight, waiting and undecided now, and its limits in effect (an
/// admin key, or the tenant's own key). In-flight and held counts are the answering instance's.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/stats", tag = "tenants", params(TenantScope),
    responses((status = 200, body = TenantStatsOut)))]
pub async fn stats(
    State(state): State<AppState>,
    TenantScope(tenant): TenantScope,
) -> ApiResult<Json<TenantStatsOut>> {
    let load = state.flow.tenant_load(&tenant.id);
    let backlog = state.store.tenant_backlog(&tenant.id, state.clock.now()).await?;
    Ok(Json(TenantStatsOut {
        in_flight: load.in_flight,
        waiting: backlog.due + u64::from(load.held),
        backlog: backlog.backlog,
        limits: TenantLimits {
            max_in_flight: Some(load.max_in_flight),
            publish_per_second: tenant.limits.publish_per_second.or(state.config.tenant_publish_per_second),
            retention_days: tenant.limits.retention_days.or(state.config.retention.days()),
        },
    }))
}

/// Delete a tenant and everything it owns (keys, endpoints, events, deliveries).
#[utoipa::path(delete, path = "/v1/tenants/{tenant}", tag = "tenants", params(TenantScope),
    responses((status = 204, description = "deleted")))]
pub async fn delete(
    State(state): State<AppState>,
    AdminTenant(tenant): AdminTenant,
) -> ApiResult<StatusCode> {
    let deleted = state.access.delete_tenant(&tenant.id).await;
    if !deleted? {
        return Err(ApiError::not_found("tenant"));
    }
    Ok(StatusCode::NO_CONTENT)
}
