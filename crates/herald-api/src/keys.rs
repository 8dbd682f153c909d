//! `/v1/tenants/{tenant}/keys`: API keys scoped to one tenant.

use herald_core::Timestamp;
use herald_core::api_key::ApiKey;
use herald_core::id::{ApiKeyId, TenantId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiKeyIn {
    /// What the key is for (shown in lists): 1 to 256 characters, not only spaces (trimmed).
    #[schema(min_length = 1, max_length = 256, pattern = r"\S")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
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

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyCreated {
    #[serde(flatten)]
    pub api_key: ApiKeyOut,
    /// The key itself. Shown only in this response.
    pub key: String,
}

impl ApiKeyOut {
    /// How a key is shown (never its secret text).
    pub fn new(key: ApiKey, tenant_id: TenantId) -> Self {
        ApiKeyOut { id: key.id, tenant_id, name: key.name, prefix: key.prefix, created_at: key.created_at }
    }
}
