//! `/v1/tenants/{tenant}/events`: publishing, and the event log.

use herald_core::Timestamp;
use herald_core::delivery::{Delivery, DeliveryStatus, FailureReason};
use herald_core::event::{Event, EventId};
use herald_core::event_type::EventTypeName;
use herald_core::id::{DeliveryId, EndpointId, TenantId};
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventIn {
    /// Your id for the event; publishing the same id again returns the first event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<EventId>,
    #[serde(rename = "type")]
    pub event_type: EventTypeName,
    /// The payload: a JSON object.
    #[schema(value_type = Object)]
    pub data: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Headers to send with every delivery of the event (at most 20; names the server allows,
    /// by default `X-…`; never framing headers or those Herald signs with).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

/// One endpoint's delivery of an event.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventDeliveryOut {
    pub delivery_id: DeliveryId,
    pub endpoint_id: EndpointId,
    pub status: DeliveryStatus,
    pub attempt_count: u32,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_attempt_at: Option<Timestamp>,
    pub failure_reason: Option<FailureReason>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventOut {
    pub id: EventId,
    #[serde(rename = "type")]
    pub event_type: EventTypeName,
    pub tenant_id: TenantId,
    #[schema(value_type = Object)]
    pub data: Map<String, Value>,
    pub subject: Option<String>,
    pub source: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// When the retention removed the payload (`data` is then `{}`); absent while it is kept.
    #[schema(value_type = Option<String>, format = DateTime)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_removed_at: Option<Timestamp>,
    /// The headers sent with every delivery of the event (absent: none).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Per-endpoint delivery statuses (on publish and on get; not in lists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deliveries: Option<Vec<EventDeliveryOut>>,
}

impl EventOut {
    /// An event as shown, with its deliveries (on publish and on get) or without (in lists).
    pub fn new(event: Event, deliveries: Option<Vec<Delivery>>) -> Self {
        Self {
            id: event.id,
            event_type: event.event_type,
            tenant_id: event.tenant_id,
            data: event.data,
            subject: event.subject,
            source: event.source,
            created_at: event.created_at,
            payload_removed_at: event.payload_removed_at,
            headers: event.headers.into_map(),
            deliveries: deliveries.map(|list| {
                list.into_iter()
                    .map(|d| EventDeliveryOut {
                        delivery_id: d.id,
                        endpoint_id: d.endpoint_id,
                        status: d.status,
                        attempt_count: d.attempt_count,
                        next_attempt_at: d.next_attempt_at.filter(|_| d.status != DeliveryStatus::Delivered),
                        failure_reason: d.failure_reason,
                    })
                    .collect()
            }),
        }
    }
}

/// The event log's filters.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventListParams {
    /// Only events of this type.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    #[param(rename = "type")]
    pub event_type: Option<EventTypeName>,
    /// Only events published at or after this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    #[serde(default, deserialize_with = "crate::text::timestamp", skip_serializing_if = "Option::is_none")]
    pub since: Option<Timestamp>,
    /// Only events published before this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    #[serde(default, deserialize_with = "crate::text::timestamp", skip_serializing_if = "Option::is_none")]
    pub until: Option<Timestamp>,
}
