//! `/v1/tenants/{tenant}/bulk-retries`: queue again every delivery matching a filter, in the
//! background, and follow the operation through its status resource.

use herald_core::Timestamp;
use herald_core::delivery::DeliveryStatus;
use herald_core::event_type::EventTypeName;
use herald_core::id::{BulkRetryId, EndpointId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Which deliveries a bulk retry queues again: those created since `since` (required, so a
/// retry never sweeps the whole log by accident) that match every other field given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BulkFilter {
    /// Deliveries created at or after this time (RFC 3339).
    #[schema(value_type = String, format = DateTime)]
    pub since: Timestamp,
    /// …and before this time (default: when the operation began).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub until: Option<Timestamp>,
    /// Only deliveries with this status (`failed` for the dead letters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<DeliveryStatus>,
    /// Only deliveries to this endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub endpoint_id: Option<EndpointId>,
    /// Only deliveries of events of this type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub event_type: Option<EventTypeName>,
}

/// Where a bulk retry stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum BulkRetryStatus {
    Running,
    Done,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BulkRetryOut {
    pub id: BulkRetryId,
    pub status: BulkRetryStatus,
    /// Deliveries queued again so far (each gets an attempt with trigger `manual`).
    pub retried: u64,
    /// How many deliveries the filter matched when the operation began: what `retried` counts
    /// towards (a delivery that no longer matches when its page comes is skipped).
    pub total: Option<u64>,
    pub filter: BulkFilter,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub finished_at: Option<Timestamp>,
}
