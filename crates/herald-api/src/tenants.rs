//! `/v1/tenants`: the provider's customers.

use herald_core::Timestamp;
use herald_core::id::TenantId;
use herald_core::metadata::Metadata;
use herald_core::tenant::{Tenant, TenantLimits, TenantUid};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantIn {
    /// Your own identifier for this tenant; usable in paths instead of the id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
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

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantPatch {
    /// A new uid, or `null` to remove it.
    #[serde(default, deserialize_with = "crate::double_option", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<TenantUid>)]
    pub uid: Option<Option<TenantUid>>,
    /// A name shown to people: 1 to 256 characters, not only spaces (trimmed).
    #[schema(min_length = 1, max_length = 256, pattern = r"\S")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
    /// Replaces the tenant's own limits: a field left out or `null` takes the instance's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<TenantLimits>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
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

/// A tenant's deliveries right now, and the limits in effect for it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
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
