//! `/v1/tenants/{tenant}/endpoints`: a tenant's receivers, one file per concern (CRUD, secret
//! and rotation, test send, recover, stats); the shown form of an endpoint lives here.
//!
//! Credentials (the signing secret, `auth` secrets, custom header values, the TLS client key) are
//! write-only: they are sealed with the master key before they reach the store, and responses
//! show only that they are set (the secret itself appears once, in the create response).

pub mod crud;
pub mod recover;
pub mod secret;
pub mod stats;
pub mod test;

use axum::Json;
use axum::extract::State;
use axum::http::header::ETAG;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use herald_core::Timestamp;
use herald_core::delivery::DeliveryStatus;
use herald_core::endpoint::PayloadFormat;
use herald_core::endpoint::{
    Endpoint, EndpointAuth, EndpointCredentials, EndpointSpec, EndpointUrl, is_sensitive_header,
    parse_certificates_pem, parse_private_key_pem,
};
use herald_core::event_type::EventTypeName;
use herald_core::id::{EndpointId, TenantId};
use herald_core::pattern::EventPattern;
use herald_core::reachability::Policy;
use herald_core::secret::{SignatureScheme, SigningSecret};
use herald_core::signing::SignatureProfile;
use herald_core::template::PayloadTemplate;
use serde_json::{Map, Value};

use super::ListResponse;
use super::error::{ApiError, ApiResult, FieldError};
use super::extract::{IfMatch, InPath, JsonBody, OptionalJsonBody, Pagination, TenantScope};
use super::query::QueryParams;
use crate::state::AppState;
pub use herald_api::endpoints::{
    AuthOut, CircuitOut, DeliveryCounts, EndpointCreated, EndpointIn, EndpointOut, EndpointPatch,
    HandshakeOut, LatencyOut, RecoverIn, RecoverOut, RotateIn, RotateOut, StatsOut, StatsParams, TestIn,
    TestOut, TlsIn, TlsOut,
};

const REDACTED: &str = "********";

/// An endpoint as shown: its configuration, and which credentials are set (never their values).
fn shown(endpoint: Endpoint, credentials: &EndpointCredentials) -> EndpointOut {
    let handshake = HandshakeOut::of(&endpoint);
    let spec = endpoint.spec;
    let tls = (spec.ca_cert_pem.is_some()
        || spec.client_cert_pem.is_some()
        || credentials.client_key_pem.is_some())
    .then(|| TlsOut {
        ca_cert_pem: spec.ca_cert_pem.clone(),
        client_cert_pem: spec.client_cert_pem.clone(),
        client_key_set: credentials.client_key_pem.is_some(),
    });
    let headers = credentials
        .headers
        .iter()
        .map(|(name, value)| {
            let shown = if is_sensitive_header(name) { REDACTED.to_owned() } else { value.clone() };
            (name.clone(), shown)
        })
        .collect();
    EndpointOut {
        id: endpoint.id,
        tenant_id: endpoint.tenant_id,
        url: spec.url,
        description: spec.description,
        events: spec.events,
        filter: spec.filter,
        http_method: spec.http_method,
        enabled: endpoint.enabled,
        disabled_reason: endpoint.disabled_reason,
        auth: AuthOut::from(&credentials.auth),
        headers,
        tls,
        retry_policy: spec.retry_policy,
        rate_limit: spec.rate_limit,
        payload_format: spec.payload_format,
        payload_template: spec.payload_template.map(Value::from),
        signature_profiles: spec.signature_profiles,
        cloudevents_handshake: spec.cloudevents_handshake,
        handshake,
        metadata: spec.metadata,
        signature_scheme: spec.signature_scheme,
        public_key: credentials.secret.public_key(),
        created_at: endpoint.created_at,
        updated_at: endpoint.updated_at,
    }
}

fn credentials_of(state: &AppState, endpoint: &Endpoint) -> ApiResult<EndpointCredentials> {
    Ok(state.endpoints.credentials(endpoint)?)
}

async fn find_endpoint(state: &AppState, tenant: &TenantId, id: &EndpointId) -> ApiResult<Endpoint> {
    Ok(state.endpoints.find(tenant, id).await?)
}

/// An endpoint's shown form with its version as the `ETag` (see `IfMatch`).
fn tagged(endpoint: Endpoint, credentials: &EndpointCredentials) -> (HeaderMap, Json<EndpointOut>) {
    (etag(endpoint.version), Json(shown(endpoint, credentials)))
}

/// The `ETag` header naming an endpoint version.
fn etag(version: u64) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(&format!("\"{version}\"")) {
        headers.insert(ETAG, value);
    }
    headers
}
