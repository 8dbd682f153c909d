//! `/v1/tenants`: the provider's customers. Admin keys only.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::request::Parts;
use herald_core::Timestamp;
use herald_core::id::TenantId;
use herald_core::metadata::Metadata;
use herald_core::tenant::{Tenant, TenantLimits, TenantUid, parse_name};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult};
use super::extract::{Admin, JsonBody, Pagination, TenantScope, tenant_from_path};
use super::{ListResponse, double_option};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantIn {
    /// Your own identifier for this tenant; usable in paths instead of the id.
    pub uid: Option<TenantUid>,
    /// A name shown to people: 1 to 256 characters, not only spaces (trimmed).
    #[schema(min_length = 1, max_length = 256, pattern = r"\S")]
    pub name: String,
    #[serde(default)]
    pub metadata: Metadata,
    /// The tenant's own limits; unset ones (and an absent object) take the instance's defaults.
    #[serde(default)]
    pub limits: TenantLimits,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantPatch {
    /// A new uid, or `null` to remove it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<TenantUid>)]
    pub uid: Option<Option<TenantUid>>,
    /// A name shown to people: 1 to 256 characters, not only spaces (trimmed).
    #[schema(min_length = 1, max_length = 256, pattern = r"\S")]
    pub name: Option<String>,
    pub metadata: Option<Metadata>,
    /// Replaces the tenant's own limits: a field left out or `null` takes the instance's default.
    pub limits: Option<TenantLimits>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantOut {
    pub id: TenantId,
    pub uid: Option<TenantUid>,
    pub name: String,
    pub metadata: Metadata,
    /// The tenant's own limits (`null`: the instance's default applies).
    pub limits: TenantLimits,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl From<Tenant> for TenantOut {
    fn from(t: Tenant) -> Self {
        Self {
            id: t.id,
            uid: t.uid,
            name: t.name,
            metadata: t.metadata,
            limits: t.limits,
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

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
    Ok(Json(state.store.list_tenants(&page).await?.map(TenantOut::from).into()))
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

/// A tenant's deliveries right now, and the limits in effect for it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantStatsOut {
    /// Requests to the tenant's endpoints in flight now, in the instance that answers.
    pub in_flight: u32,
    /// Deliveries due now that have not started: due in the database, plus those the answering
    /// instance holds while they wait for a flow slot (the tenant's share, an endpoint's cap or
    /// rate) or a worker.
    pub waiting: u64,
    /// Deliveries not yet delivered or failed (pending or retrying), whenever due.
    pub backlog: u64,
    /// The limits in effect: the tenant's own where set, else the instance's defaults
    /// (`publishPerSecond` `null`: no publish quota). `maxInFlight` applies per instance.
    pub limits: TenantLimits,
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
