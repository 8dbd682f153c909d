//! `/v1/tenants/{tenant}/keys`: API keys scoped to one tenant. Admin keys only. The key text is
//! returned once, on creation; only its hash is stored.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use herald_core::Timestamp;
use herald_core::api_key::{ApiKey, ApiKeySecret, Scope};
use herald_core::id::{ApiKeyId, TenantId};
use herald_core::tenant::parse_name;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ListResponse;
use super::error::{ApiError, ApiResult};
use super::extract::{JsonBody, Pagination};
use super::tenants::AdminTenant;
use crate::api::extract::InPath;
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiKeyIn {
    /// What the key is for (shown in lists): 1 to 256 characters, not only spaces (trimmed).
    #[schema(min_length = 1, max_length = 256, pattern = r"\S")]
    pub name: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyOut {
    pub id: ApiKeyId,
    pub tenant_id: TenantId,
    pub name: String,
    /// The first characters of the key, to recognise it.
    pub prefix: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyCreated {
    #[serde(flatten)]
    pub api_key: ApiKeyOut,
    /// The key itself. Shown only in this response.
    pub key: String,
}

impl ApiKeyOut {
    /// How a key is shown (never its secret text).
    fn new(key: ApiKey, tenant_id: TenantId) -> Self {
        ApiKeyOut { id: key.id, tenant_id, name: key.name, prefix: key.prefix, created_at: key.created_at }
    }
}

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
    Ok(Json(page.map(|k| ApiKeyOut::new(k, tenant.id.clone())).into()))
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
