//! `/v1/tenants/{tenant}/deliveries`: the delivery log — every event's journey to every endpoint,
//! with each attempt's request and response.

use herald_core::Timestamp;
use herald_core::delivery::{
    Attempt, Delivery, DeliveryStatus, ErrorKind, FailureReason, SentRequest, Trigger,
};
use herald_core::event::EventId;
use herald_core::event_type::EventTypeName;
use herald_core::id::{AttemptId, DeliveryId, EndpointId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryOut {
    pub id: DeliveryId,
    pub event_id: EventId,
    pub endpoint_id: EndpointId,
    pub status: DeliveryStatus,
    pub attempt_count: u32,
    /// When the next attempt is due (pending and retrying deliveries).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_attempt_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_attempt_at: Option<Timestamp>,
    /// Why a failed delivery gave up: `attempts_exhausted`, `ttl_expired`, `endpoint_deleted`, …
    pub failure_reason: Option<FailureReason>,
    /// When the delivery was created: a delivery to a subscribed endpoint is created with its
    /// event (at the event's `createdAt`, even when a large fan-out's rows are written a moment
    /// later). Time filters of the delivery log and an endpoint's stats and `recover` use it.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    /// The attempts, oldest first (when getting one delivery).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts: Option<Vec<AttemptOut>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResponseOut {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// At most the first 4096 bytes of the body.
    pub body: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttemptOut {
    pub id: AttemptId,
    pub attempt_no: u32,
    pub trigger: Trigger,
    #[schema(value_type = String, format = DateTime)]
    pub started_at: Timestamp,
    pub duration_ms: u64,
    /// What was sent; credentials in headers are shown as `********`.
    pub request: SentRequest,
    /// What came back, when anything did.
    pub response: Option<ResponseOut>,
    /// Why the attempt failed: timeout, connect, tls, dns, blocked, http_status, handshake (the CloudEvents validation request was refused).
    pub error_kind: Option<ErrorKind>,
    pub error_message: Option<String>,
}

impl From<Attempt> for AttemptOut {
    fn from(a: Attempt) -> Self {
        let response = a.response_status.map(|status| ResponseOut {
            status,
            headers: a.response_headers,
            body: a.response_body,
        });
        Self {
            id: a.id,
            attempt_no: a.attempt_no,
            trigger: a.trigger,
            started_at: a.started_at,
            duration_ms: a.duration_ms,
            request: a.request,
            response,
            error_kind: a.error_kind,
            error_message: a.error_message,
        }
    }
}

impl DeliveryOut {
    /// A delivery as shown, with its attempts (when getting one) or without (in lists).
    pub fn new(d: Delivery, attempts: Option<Vec<Attempt>>) -> Self {
        let open = matches!(d.status, DeliveryStatus::Pending | DeliveryStatus::Retrying);
        Self {
            id: d.id,
            event_id: d.event_id,
            endpoint_id: d.endpoint_id,
            status: d.status,
            attempt_count: d.attempt_count,
            next_attempt_at: d.next_attempt_at.filter(|_| open),
            last_attempt_at: d.last_attempt_at,
            failure_reason: d.failure_reason,
            created_at: d.created_at,
            updated_at: d.updated_at,
            attempts: attempts.map(|list| list.into_iter().map(AttemptOut::from).collect()),
        }
    }
}

/// The delivery log's filters.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryListParams {
    /// Only deliveries to this endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_id: Option<EndpointId>,
    /// Only deliveries of this event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<EventId>,
    /// pending, retrying, delivered or failed (`failed` is the dead-letter set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<DeliveryStatus>,
    /// Only deliveries of events of this type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<EventTypeName>,
    /// Created at or after (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    #[serde(default, deserialize_with = "crate::text::timestamp", skip_serializing_if = "Option::is_none")]
    pub since: Option<Timestamp>,
    /// Created before (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    #[serde(default, deserialize_with = "crate::text::timestamp", skip_serializing_if = "Option::is_none")]
    pub until: Option<Timestamp>,
}
