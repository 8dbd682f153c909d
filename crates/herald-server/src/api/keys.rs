//! `/v1/tenants/{tenant}/keys`: API keys scoped to one tenant. Admin keys only. The key text is
//! returned once, on creation; only its hash is stored.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use herald_core::api_key::{ApiKey, ApiKeySecret, Scope};
use herald_core::id::ApiKeyId;
use herald_core::tenant::parse_name;

use super::ListResponse;
use super::error::{ApiError, ApiResult};
use super::extract::{JsonBody, Pagination};
use super::tenants::AdminTenant;
use crate::api::extract::InPath;
use crate::state::AppState;
pub use herald_api::keys::{ApiKeyCreated, ApiKeyIn, ApiKeyOut};

/// Create an API key for the tenant; the key is shown once.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/keys", tag = "api keys", params(crate::api::extract::TenantScope),
    request_body = ApiKeyIn, responses((status = 201, body = ApiKeyCreated)))]
pub async fn create(
    State(state): State<AppState>,
    AdminTenant(tenant): AdminTenant,
    JsonBody(input): JsonBody<ApiKeyIn>,
) -> ApiResult<(StatusCode, Json<ApiKeyCreated>)> {
    let name = match input.name {
        Some(n) => parse_name(&n).map_err(|e| ApiError::invalid_field("/name", e))?,
        None => "unnamed".to_owned(),
    };
    let secret = ApiKeySecret::generate();
    let now = state.clock.now();
    let key = ApiKey {
        id: ApiKeyId::generate_at(now),
        scope: Scope::Tenant(tenant.id.clone()),
        name,
        prefix: secret.display_prefix(),
        hash: secret.hash(),
        created_at: now,
    };
    state.access.create_key(&key).await?;
    let created = ApiKeyCreated { api_key: ApiKeyOut::new(key, tenant.id), key: secret.expose().to_owned() };
    Ok((StatusCode::CREATED, Json(created)))
}

/// List the tenant's API keys (never the keys themselves).
#[utoipa::path(get, path = "/v1/tenants/{tenant}/keys", tag = "api keys", params(crate::api::extract::TenantScope, super::PageParams),
    responses((status = 200, body = ListResponse<ApiKeyOut>)))]
pub async fn list(
    State(state): State<AppState>,
    AdminTenant(tenant): AdminTenant,
    Pagination(page): Pagination,
) -> ApiResult<Json<ListResponse<ApiKeyOut>>> {
    let page = state.store.list_api_keys(&tenant.id, &page).await?;
    Ok(Json(super::listed(page.map(|k| ApiKeyOut::new(k, tenant.id.clone())))))
}

/// Revoke an API key: it stops working at once.
#[utoipa::path(delete, path = "/v1/tenants/{tenant}/keys/{key}", tag = "api keys",
    params(crate::api::extract::TenantScope, InPath<ApiKeyId>),
    responses((status = 204, description = "revoked")))]
pub async fn revoke(
    State(state): State<AppState>,
    AdminTenant(tenant): AdminTenant,
    InPath(id): InPath<ApiKeyId>,
) -> ApiResult<StatusCode> {
    if !state.access.revoke_key(&tenant.id, &id).await? {
        return Err(ApiError::not_found("API key"));
    }
    Ok(StatusCode::NO_CONTENT)
}
