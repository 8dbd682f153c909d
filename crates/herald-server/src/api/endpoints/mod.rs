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

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::header::ETAG;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use herald_core::Timestamp;
use herald_core::delivery::DeliveryStatus;
use herald_core::duration::HumanDuration;
use herald_core::endpoint::{
    CustomHeaders, Endpoint, EndpointAuth, EndpointCredentials, EndpointSpec, EndpointUrl, HttpMethod,
    KeyLocation, PayloadFormat, RateLimit, is_sensitive_header, parse_certificates_pem,
    parse_private_key_pem,
};
use herald_core::event::EventId;
use herald_core::event_type::EventTypeName;
use herald_core::filter::PayloadFilter;
use herald_core::id::{DeliveryId, EndpointId, TenantId};
use herald_core::metadata::Metadata;
use herald_core::pattern::EventPattern;
use herald_core::reachability::Policy;
use herald_core::retry::RetryPolicy;
use herald_core::secret::{SignatureScheme, SigningSecret};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult, FieldError};
use super::extract::{IfMatch, InPath, JsonBody, OptionalJsonBody, Pagination, TenantScope};
use super::query::QueryParams;
use super::{ListResponse, double_option};
use crate::state::AppState;

/// Outbound authentication as shown: non-secret parts, and which secrets are set.
#[derive(Debug, Serialize, ToSchema)]
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
        #[serde(skip_serializing_if = "Option::is_none")]
        scope: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
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

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TlsOut {
    pub ca_cert_pem: Option<String>,
    pub client_cert_pem: Option<String>,
    pub client_key_set: bool,
}

#[derive(Debug, Serialize, ToSchema)]
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
    pub metadata: Metadata,
    pub signature_scheme: SignatureScheme,
    /// For `v1a` endpoints: the `whpk_…` key receivers verify signatures with.
    pub public_key: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

const REDACTED: &str = "********";

/// An endpoint as shown: its configuration, and which credentials are set (never their values).
fn shown(endpoint: Endpoint, credentials: &EndpointCredentials) -> EndpointOut {
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
