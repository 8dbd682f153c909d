//! `/v1/tenants/{tenant}/endpoints`: a tenant's receivers — their configuration as written and as
//! shown, secret rotation, test sends, recovery and stats.
//!
//! Credentials (the signing secret, `auth` secrets, custom header values, the TLS client key) are
//! write-only: responses show only that they are set (the secret itself appears once, in the
//! create response and on rotation).

use std::collections::BTreeMap;

use herald_core::Timestamp;
use herald_core::circuit::CircuitState;
use herald_core::duration::HumanDuration;
use herald_core::endpoint::{
    CustomHeaders, EndpointAuth, EndpointUrl, HttpMethod, KeyLocation, PayloadFormat, RateLimit,
};
use herald_core::event::EventId;
use herald_core::event_type::EventTypeName;
use herald_core::filter::PayloadFilter;
use herald_core::handshake::HandshakeStatus;
use herald_core::id::{DeliveryId, EndpointId, TenantId};
use herald_core::metadata::Metadata;
use herald_core::pattern::EventPattern;
use herald_core::retry::RetryPolicy;
use herald_core::secret::{SignatureScheme, SigningSecret};
use herald_core::signing::SignatureProfile;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// TLS settings for one endpoint.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TlsIn {
    /// Trust this CA (PEM) when connecting to this endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert_pem: Option<String>,
    /// Client certificate chain (PEM) for mutual TLS; needs `clientKeyPem`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert_pem: Option<String>,
    /// Client private key (PEM) for mutual TLS. Write-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key_pem: Option<String>,
}

/// An endpoint as created (POST) or replaced (PUT).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EndpointIn {
    pub url: EndpointUrl,
    #[serde(default)]
    pub description: String,
    /// Event-type patterns (`contract.created`, `contract.*`, `*`); empty or absent: all types.
    #[serde(default)]
    pub events: Vec<EventPattern>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<PayloadFilter>,
    #[serde(default)]
    pub http_method: HttpMethod,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// `whsec_…` (or `whsk_…` for `v1a`), or — for an endpoint signed by `hmac` profiles only —
    /// the secret the receiver already holds, as it holds it. Generated when absent (create
    /// only: use `secret/rotate` afterwards).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<SigningSecret>,
    /// `v1` (HMAC-SHA256, the default) or `v1a` (ed25519: receivers verify with `publicKey`).
    /// Chosen at creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature_scheme: Option<SignatureScheme>,
    #[serde(default)]
    #[schema(value_type = Option<herald_core::endpoint::AuthIn>)]
    pub auth: EndpointAuth,
    #[serde(default)]
    pub headers: CustomHeaders,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsIn>,
    #[schema(value_type = Option<herald_core::retry::RetryPolicyIn>)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_policy: Option<RetryPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    #[serde(default)]
    pub payload_format: PayloadFormat,
    /// The body of a `template` endpoint: JSON whose strings may reference the event (`{{id}}`,
    /// `{{type}}`, `{{timestamp}}`, `{{tenant}}`, `{{subject}}`, `{{source}}`, `{{data}}`,
    /// `{{data.some.path}}`). Required with `payloadFormat: template`, refused otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_template: Option<serde_json::Value>,
    /// How requests are signed (default: `[{"type": "standard"}]`). Several may be active at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature_profiles: Option<Vec<SignatureProfile>>,
    /// Require the CloudEvents validation handshake before delivering (CloudEvents formats only).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cloudevents_handshake: bool,
    #[serde(default)]
    pub metadata: Metadata,
}

fn enabled_by_default() -> bool {
    true
}

impl EndpointIn {
    /// An enabled endpoint at `url` for every event type, with every other setting at its default.
    pub fn new(url: EndpointUrl) -> Self {
        Self {
            url,
            description: String::new(),
            events: Vec::new(),
            filter: None,
            http_method: HttpMethod::default(),
            enabled: true,
            secret: None,
            signature_scheme: None,
            auth: EndpointAuth::default(),
            headers: CustomHeaders::default(),
            tls: None,
            retry_policy: None,
            rate_limit: None,
            payload_format: PayloadFormat::default(),
            payload_template: None,
            signature_profiles: None,
            cloudevents_handshake: false,
            metadata: Metadata::default(),
        }
    }
}

/// Fields to change; absent fields stay as they are, `null` clears the nullable ones.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EndpointPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<EndpointUrl>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<EventPattern>>,
    #[serde(default, deserialize_with = "crate::double_option", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<PayloadFilter>)]
    pub filter: Option<Option<PayloadFilter>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_method: Option<HttpMethod>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[schema(value_type = Option<herald_core::endpoint::AuthIn>)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<EndpointAuth>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<CustomHeaders>,
    #[serde(default, deserialize_with = "crate::double_option", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<TlsIn>)]
    pub tls: Option<Option<TlsIn>>,
    #[serde(default, deserialize_with = "crate::double_option", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<herald_core::retry::RetryPolicyIn>)]
    pub retry_policy: Option<Option<RetryPolicy>>,
    #[serde(default, deserialize_with = "crate::double_option", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<RateLimit>)]
    pub rate_limit: Option<Option<RateLimit>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_format: Option<PayloadFormat>,
    #[serde(default, deserialize_with = "crate::double_option", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub payload_template: Option<Option<serde_json::Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature_profiles: Option<Vec<SignatureProfile>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloudevents_handshake: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
}

/// Outbound authentication as shown: non-secret parts, and which secrets are set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum AuthOut {
    None,
    #[serde(rename_all = "camelCase")]
    Basic {
        username: String,
        password_set: bool,
    },
    #[serde(rename_all = "camelCase")]
    Bearer {
        token_set: bool,
    },
    #[serde(rename_all = "camelCase")]
    ApiKey {
        key_name: String,
        #[serde(rename = "in")]
        location: KeyLocation,
        key_value_set: bool,
    },
    #[serde(rename_all = "camelCase")]
    Oauth2ClientCredentials {
        token_url: String,
        client_id: String,
        client_secret_set: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        scope: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        audience: Option<String>,
    },
}

impl From<&EndpointAuth> for AuthOut {
    fn from(auth: &EndpointAuth) -> Self {
        match auth.clone() {
            EndpointAuth::None => Self::None,
            EndpointAuth::Basic { username, .. } => Self::Basic { username, password_set: true },
            EndpointAuth::Bearer { .. } => Self::Bearer { token_set: true },
            EndpointAuth::ApiKey { key_name, location, .. } => {
                Self::ApiKey { key_name, location, key_value_set: true }
            }
            EndpointAuth::Oauth2ClientCredentials { token_url, client_id, scope, audience, .. } => {
                Self::Oauth2ClientCredentials {
                    token_url,
                    client_id,
                    client_secret_set: true,
                    scope,
                    audience,
                }
            }
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TlsOut {
    pub ca_cert_pem: Option<String>,
    pub client_cert_pem: Option<String>,
    pub client_key_set: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointOut {
    pub id: EndpointId,
    pub tenant_id: TenantId,
    pub url: EndpointUrl,
    pub description: String,
    pub events: Vec<EventPattern>,
    pub filter: Option<PayloadFilter>,
    pub http_method: HttpMethod,
    pub enabled: bool,
    /// Why the endpoint was disabled, when Herald disabled it.
    pub disabled_reason: Option<String>,
    pub auth: AuthOut,
    /// Custom headers; values that look like credentials are shown as `********`.
    pub headers: BTreeMap<String, String>,
    pub tls: Option<TlsOut>,
    pub retry_policy: Option<RetryPolicy>,
    pub rate_limit: Option<RateLimit>,
    pub payload_format: PayloadFormat,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_template: Option<serde_json::Value>,
    pub signature_profiles: Vec<SignatureProfile>,
    pub cloudevents_handshake: bool,
    /// Where the validation handshake stands (endpoints with `cloudeventsHandshake`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handshake: Option<HandshakeOut>,
    pub metadata: Metadata,
    pub signature_scheme: SignatureScheme,
    /// For `v1a` endpoints: the `whpk_…` key receivers verify signatures with.
    pub public_key: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

/// The CloudEvents validation handshake with an endpoint's receiver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HandshakeOut {
    /// `pending` (not asked yet for the current URL), `validated`, or `refused` (deliveries
    /// wait; it is asked again at each of their attempts).
    pub status: HandshakeStatus,
    /// When the receiver was last asked.
    #[schema(value_type = Option<String>, format = DateTime)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked_at: Option<Timestamp>,
    /// Requests per minute the receiver allowed (`WebHook-Allowed-Rate`); absent: no cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_rate: Option<u32>,
    /// Why the last handshake failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl HandshakeOut {
    /// The endpoint's handshake as shown; `None` when it needs none.
    pub fn of(endpoint: &herald_core::endpoint::Endpoint) -> Option<Self> {
        let status = endpoint.handshake_status()?;
        let last = endpoint.handshake.as_ref().filter(|_| status != HandshakeStatus::Pending);
        Some(Self {
            status,
            checked_at: last.map(|h| h.checked_at),
            allowed_rate: last.and_then(|h| h.allowed_rate),
            detail: last.and_then(|h| h.detail.clone()),
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointCreated {
    #[serde(flatten)]
    pub endpoint: EndpointOut,
    /// The signing secret. Shown only in this response (and on rotation).
    pub secret: SigningSecret,
}

/// Which failed deliveries of an endpoint to queue again.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecoverIn {
    /// Re-queue failed deliveries created at or after this time (RFC 3339).
    #[schema(value_type = String, format = DateTime)]
    pub since: Timestamp,
    /// …and before this time (default: now).
    #[schema(value_type = Option<String>, format = DateTime)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Timestamp>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecoverOut {
    /// How many failed deliveries were queued again.
    pub recovered: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RotateIn {
    /// How long the current secret keeps signing alongside the new one (default 24h, at most
    /// 7d). `0s` retires every old secret at once, including those still in the grace period of
    /// an earlier rotation. At most 5 secrets sign at once: beyond that, the old secrets whose
    /// grace periods end soonest are retired early.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_period: Option<HumanDuration>,
    /// The new secret; generated when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<SigningSecret>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RotateOut {
    /// The new signing secret. Shown only in this response.
    pub secret: SigningSecret,
    /// Until when the previous secret also signs (absent with a zero grace period).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub previous_expires_at: Option<Timestamp>,
    /// The new secret's public key (`whpk_…`, `v1a` endpoints only): what receivers verify with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
}

/// What to send as a test.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TestIn {
    /// Send this type's catalog example. Absent: a `herald.ping` event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<EventTypeName>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TestOut {
    pub event_id: EventId,
    pub delivery_id: DeliveryId,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryCounts {
    pub pending: u64,
    pub retrying: u64,
    pub delivered: u64,
    pub failed: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LatencyOut {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatsOut {
    #[schema(value_type = String, format = DateTime)]
    pub since: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub until: Timestamp,
    /// Deliveries created in the range, by status.
    pub deliveries: DeliveryCounts,
    /// delivered / (delivered + failed) over the range; `null` when neither happened.
    pub success_rate: Option<f64>,
    /// Attempts started in the range.
    pub attempts: u64,
    pub attempts_succeeded: u64,
    /// Attempt durations in the range, in milliseconds.
    pub attempt_latency_ms: Option<LatencyOut>,
    /// Whether the endpoint is slow: a tenth or more of the range's attempts took
    /// `delivery.slow_threshold` (default 2 s) or longer. A slow endpoint is not failing — its
    /// circuit stays closed — but holds workers longer; its tenant's share of them bounds that.
    pub slow: bool,
    /// Deliveries waiting now (pending or retrying).
    pub backlog: u64,
    /// The endpoint's circuit breaker, now.
    pub circuit: CircuitOut,
}

/// An endpoint's circuit breaker (see docs/ARCHITECTURE.md, "Endpoint health").
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CircuitOut {
    /// `closed`: deliveries flow. `open`: they wait for the next probe. `half_open`: a probe is
    /// due or under way.
    #[schema(value_type = String, example = "closed")]
    pub state: CircuitState,
    /// When the endpoint began failing without a success since (set while the circuit is open).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub failing_since: Option<Timestamp>,
    /// When the next probe may be sent (while open).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_probe_at: Option<Timestamp>,
    /// Probes that failed since the circuit opened.
    pub failed_probes: u32,
}

/// The range of an endpoint's stats.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsParams {
    /// Start of the range (RFC 3339); default 24 hours before `until`.
    #[param(value_type = Option<String>, format = DateTime)]
    #[serde(default, deserialize_with = "crate::text::timestamp", skip_serializing_if = "Option::is_none")]
    pub since: Option<Timestamp>,
    /// End of the range (RFC 3339); default now.
    #[param(value_type = Option<String>, format = DateTime)]
    #[serde(default, deserialize_with = "crate::text::timestamp", skip_serializing_if = "Option::is_none")]
    pub until: Option<Timestamp>,
}
