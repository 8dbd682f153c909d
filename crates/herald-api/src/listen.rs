//! `/v1/tenants/{tenant}/listen`: `herald listen` — a WebSocket over which a developer's machine
//! receives a temporary endpoint's deliveries and answers them.
//!
//! The server opens the session with [`ServerMessage::Ready`], then sends each attempt as a
//! [`ServerMessage::Request`], signed exactly like a delivery to any endpoint. The client
//! forwards it where it likes and answers with [`ClientMessage::Response`] (what the local
//! receiver said) or [`ClientMessage::Failed`] (it could not be reached); that answer is the
//! attempt's outcome, recorded in the delivery log like any other. Messages are JSON text frames.

use herald_core::delivery::ErrorKind;
use herald_core::event::EventId;
use herald_core::event_type::EventTypeName;
use herald_core::id::{DeliveryId, EndpointId};
use herald_core::pattern::EventPattern;
use herald_core::secret::SigningSecret;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// The hostname of every listen session's endpoint URL (`https://listen.herald.invalid/ep_…`):
/// the `.invalid` top-level domain never resolves, and the API refuses it for other endpoints.
pub const LISTEN_HOST: &str = "listen.herald.invalid";

/// How a session starts.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct ListenParams {
    /// Event-type patterns to receive, comma-separated (`contract.*,invoice.paid`); default all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<String>,
    /// Resume this session (the `endpointId` of an earlier `ready`) instead of opening a new one:
    /// its waiting deliveries come to this connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<EndpointId>,
    /// Where the client forwards deliveries, shown in the endpoint's description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forward_to: Option<String>,
}

/// What the server sends.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ServerMessage {
    /// The session is open: deliveries to `endpointId` come over this connection.
    #[serde(rename_all = "camelCase")]
    Ready {
        endpoint_id: EndpointId,
        /// The endpoint's signing secret, to verify what is forwarded with.
        secret: SigningSecret,
        events: Vec<EventPattern>,
        /// Seconds the session lives on without a connection before its endpoint is removed.
        idle_timeout_secs: u64,
        /// Whether this resumed an earlier session.
        resumed: bool,
    },
    /// One attempt of a delivery, to forward and answer.
    Request(RelayedRequest),
}

/// An attempt, as it would be sent to an endpoint's URL.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RelayedRequest {
    /// Names this request's answer.
    pub id: u64,
    pub delivery_id: DeliveryId,
    pub event_id: EventId,
    pub event_type: EventTypeName,
    pub attempt_no: u32,
    /// `POST` or `PUT`.
    pub method: String,
    /// Every header a receiver gets: content type, `webhook-id`, `webhook-timestamp`,
    /// `webhook-signature`, and the endpoint's own.
    pub headers: Vec<(String, String)>,
    /// The body, exactly as signed.
    pub body: String,
}

/// What the client sends.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ClientMessage {
    /// The local receiver's answer to request `id`.
    #[serde(rename_all = "camelCase")]
    Response {
        id: u64,
        status: u16,
        headers: Vec<(String, String)>,
        /// The start of the body (the server keeps at most 4096 bytes).
        body: String,
        duration_ms: u64,
    },
    /// The local receiver could not be reached or did not answer in time.
    #[serde(rename_all = "camelCase")]
    Failed { id: u64, kind: ErrorKind, message: String, duration_ms: u64 },
}
