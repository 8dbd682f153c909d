//! `/v1/tenants/{tenant}/endpoints`: a tenant's receivers.
//!
//! Credentials (the signing secret, `auth` secrets, custom header values, the TLS client key) are
//! write-only: they are sealed with the master key before they reach the store, and responses
//! show only that they are set (the secret itself appears once, in the create response).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use herald_core::Timestamp;
use herald_core::delivery::{DeliveryStatus, Trigger};
use herald_core::duration::HumanDuration;
use herald_core::endpoint::{
    CustomHeaders, Endpoint, EndpointAuth, EndpointCredentials, EndpointSpec, EndpointUrl, HttpMethod,
    KeyLocation, PayloadFormat, RateLimit, is_sensitive_header, parse_certificates_pem,
    parse_private_key_pem,
};
use herald_core::event::{Event, EventId};
use herald_core::event_type::EventTypeName;
use herald_core::filter::PayloadFilter;
use herald_core::id::{DeliveryId, EndpointId, GeneratedEventId, TenantId};
use herald_core::metadata::Metadata;
use herald_core::pattern::EventPattern;
use herald_core::reachability::Policy;
use herald_core::retry::RetryPolicy;
use herald_core::secret::{SignatureScheme, SigningSecret};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult, FieldError};
use super::extract::{JsonBody, OptionalJsonBody, Pagination, TenantScope};
use super::query::QueryParams;
use super::{ListResponse, double_option};
use crate::state::AppState;

const MAX_DESCRIPTION: usize = 1024;
const MAX_PATTERNS: usize = 100;
const MAX_PEM: usize = 64 * 1024;

/// TLS settings for one endpoint.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TlsIn {
    /// Trust this CA (PEM) when connecting to this endpoint.
    pub ca_cert_pem: Option<String>,
    /// Client certificate chain (PEM) for mutual TLS; needs `clientKeyPem`.
    pub client_cert_pem: Option<String>,
    /// Client private key (PEM) for mutual TLS. Write-only.
    pub client_key_pem: Option<String>,
}

/// An endpoint as created (POST) or replaced (PUT).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EndpointIn {
    pub url: EndpointUrl,
    #[serde(default)]
    pub description: String,
    /// Event-type patterns (`contract.created`, `contract.*`, `*`); empty or absent: all types.
    #[serde(default)]
    pub events: Vec<EventPattern>,
    pub filter: Option<PayloadFilter>,
    #[serde(default)]
    pub http_method: HttpMethod,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// `whsec_…` (or `whsk_…` for `v1a`); generated when absent (create only: use
    /// `secret/rotate` afterwards).
    pub secret: Option<SigningSecret>,
    /// `v1` (HMAC-SHA256, the default) or `v1a` (ed25519: receivers verify with `publicKey`).
    /// Chosen at creation.
    pub signature_scheme: Option<SignatureScheme>,
    #[serde(default)]
    #[schema(value_type = Option<AuthIn>)]
    pub auth: EndpointAuth,
    #[serde(default)]
    pub headers: CustomHeaders,
    pub tls: Option<TlsIn>,
    #[schema(value_type = Option<herald_core::retry::RetryPolicyIn>)]
    pub retry_policy: Option<RetryPolicy>,
    pub rate_limit: Option<RateLimit>,
    #[serde(default)]
    pub payload_format: PayloadFormat,
    #[serde(default)]
    pub metadata: Metadata,
}

fn enabled_by_default() -> bool {
    true
}

/// Fields to change; absent fields stay as they are, `null` clears the nullable ones.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EndpointPatch {
    pub url: Option<EndpointUrl>,
    pub description: Option<String>,
    pub events: Option<Vec<EventPattern>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<PayloadFilter>)]
    pub filter: Option<Option<PayloadFilter>>,
    pub http_method: Option<HttpMethod>,
    pub enabled: Option<bool>,
    #[schema(value_type = Option<AuthIn>)]
    pub auth: Option<EndpointAuth>,
    pub headers: Option<CustomHeaders>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<TlsIn>)]
    pub tls: Option<Option<TlsIn>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<herald_core::retry::RetryPolicyIn>)]
    pub retry_policy: Option<Option<RetryPolicy>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<RateLimit>)]
    pub rate_limit: Option<Option<RateLimit>>,
    pub payload_format: Option<PayloadFormat>,
    pub metadata: Option<Metadata>,
}

/// Outbound authentication, as sent (documentation of the accepted shapes).
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)] // describes the request shape in the OpenAPI document; `EndpointAuth` parses it
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
pub enum AuthIn {
    None,
    #[serde(rename_all = "camelCase")]
    Basic {
        username: String,
        password: String,
    },
    #[serde(rename_all = "camelCase")]
    Bearer {
        token: String,
    },
    #[serde(rename_all = "camelCase")]
    ApiKey {
        key_name: String,
        key_value: String,
        #[serde(rename = "in")]
        location: Option<KeyLocation>,
    },
    #[serde(rename_all = "camelCase")]
    Oauth2ClientCredentials {
        token_url: String,
        client_id: String,
        client_secret: String,
        scope: Option<String>,
        audience: Option<String>,
    },
}

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

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointCreated {
    #[serde(flatten)]
    pub endpoint: EndpointOut,
    /// The signing secret. Shown only in this response (and on rotation).
    pub secret: SigningSecret,
}

const REDACTED: &str = "********";

fn out(endpoint: Endpoint, credentials: &EndpointCredentials) -> EndpointOut {
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

fn open(state: &AppState, endpoint: &Endpoint) -> ApiResult<EndpointCredentials> {
    endpoint.open_credentials(&state.master_key).map_err(|e| ApiError::internal(&e))
}

fn check_description(description: &str) -> Result<(), FieldError> {
    if description.chars().count() > MAX_DESCRIPTION {
        return Err(FieldError::new("/description", format!("at most {MAX_DESCRIPTION} characters")));
    }
    Ok(())
}

fn check_patterns(patterns: &[EventPattern]) -> Result<(), FieldError> {
    if patterns.len() > MAX_PATTERNS {
        return Err(FieldError::new("/events", format!("at most {MAX_PATTERNS} patterns")));
    }
    Ok(())
}

/// `tls` checked: PEM that parses, client key and certificate together. Absent: all unset.
fn check_tls(tls: Option<TlsIn>) -> Result<TlsIn, Vec<FieldError>> {
    let Some(tls) = tls else { return Ok(TlsIn::default()) };
    let mut errors = Vec::new();
    let mut check = |field: &str, value: &Option<String>, parse: fn(&str, &str) -> Result<(), String>| {
        if let Some(pem) = value {
            if pem.len() > MAX_PEM {
                errors.push(FieldError::new(format!("/tls/{field}"), "at most 64 KiB of PEM"));
            } else if let Err(e) = parse(field, pem) {
                errors.push(FieldError::new(format!("/tls/{field}"), e));
            }
        }
    };
    check("caCertPem", &tls.ca_cert_pem, parse_certificates_pem);
    check("clientCertPem", &tls.client_cert_pem, parse_certificates_pem);
    check("clientKeyPem", &tls.client_key_pem, parse_private_key_pem);
    if tls.client_cert_pem.is_some() != tls.client_key_pem.is_some() {
        errors.push(FieldError::new("/tls", "clientCertPem and clientKeyPem go together"));
    }
    if errors.is_empty() { Ok(tls) } else { Err(errors) }
}

/// What the reachability policy can refuse at registration: the scheme, and IP-literal hosts (of
/// the URL and of an OAuth2 token URL). Names are checked at every attempt, once resolved.
fn check_reachable(policy: &Policy, url: &EndpointUrl, auth: &EndpointAuth) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if let Err(blocked) = policy.check_url(url.as_url()) {
        errors.push(FieldError::new("/url", blocked.to_string()));
    }
    if let EndpointAuth::Oauth2ClientCredentials { token_url, .. } = auth
        && let Ok(token_url) = url::Url::parse(token_url)
        && let Err(blocked) = policy.check_url(&token_url)
    {
        errors.push(FieldError::new("/auth/tokenUrl", blocked.to_string()));
    }
    errors
}

/// Builds spec and credentials from a full body, collecting every field error.
fn from_input(
    policy: &Policy,
    input: EndpointIn,
    secret: SigningSecret,
) -> ApiResult<(EndpointSpec, EndpointCredentials, bool)> {
    let mut errors: Vec<FieldError> = check_reachable(policy, &input.url, &input.auth);
    let signature_scheme = secret.scheme();
    if input.signature_scheme.is_some_and(|asked| asked != signature_scheme) {
        errors.push(FieldError::new(
            "/signatureScheme",
            "the signature scheme is chosen at creation (and must match the secret's kind)",
        ));
    }
    errors.extend(check_description(&input.description).err());
    errors.extend(check_patterns(&input.events).err());
    let tls = check_tls(input.tls).unwrap_or_else(|e| {
        errors.extend(e);
        TlsIn::default()
    });
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    let spec = EndpointSpec {
        url: input.url,
        description: input.description,
        events: input.events,
        filter: input.filter,
        http_method: input.http_method,
        retry_policy: input.retry_policy,
        rate_limit: input.rate_limit,
        payload_format: input.payload_format,
        metadata: input.metadata,
        ca_cert_pem: tls.ca_cert_pem,
        client_cert_pem: tls.client_cert_pem,
        signature_scheme,
    };
    let credentials = EndpointCredentials {
        secret,
        retiring: Vec::new(),
        auth: input.auth,
        headers: input.headers,
        client_key_pem: tls.client_key_pem,
    };
    Ok((spec, credentials, input.enabled))
}

async fn existing(state: &AppState, tenant: &TenantId, raw_id: &str) -> ApiResult<Endpoint> {
    let id = EndpointId::parse(raw_id).map_err(|_| ApiError::not_found("endpoint"))?;
    state.store.endpoint(tenant, &id).await?.ok_or_else(|| ApiError::not_found("endpoint"))
}

/// Seals the credentials and stores the endpoint (update), answering with its shown form.
async fn save(
    state: &AppState,
    mut endpoint: Endpoint,
    credentials: &EndpointCredentials,
    health_reset: bool,
) -> ApiResult<EndpointOut> {
    endpoint.sealed_credentials = Endpoint::seal_credentials(&state.master_key, &endpoint.id, credentials);
    endpoint.updated_at = state.clock.now();
    let updated = state.store.update_endpoint(&endpoint).await;
    state.caches.endpoints.clear();
    if !updated? {
        return Err(ApiError::not_found("endpoint"));
    }
    if health_reset {
        reset_health(state, &mut endpoint).await?;
    }
    state.operational.endpoint("endpoint.updated", &endpoint, announced(&endpoint)).await;
    Ok(out(endpoint, credentials))
}

/// What `endpoint.created` / `endpoint.updated` carry besides the ids and the URL.
fn announced(endpoint: &Endpoint) -> Value {
    serde_json::json!({"enabled": endpoint.enabled, "description": endpoint.spec.description})
}

/// Closes the endpoint's circuit and forgets its failures (re-enabled, or sent elsewhere): what
/// the circuit held is due at once.
async fn reset_health(state: &AppState, endpoint: &mut Endpoint) -> ApiResult<()> {
    let now = state.clock.now();
    let Some(probe_at) = endpoint.health.probe_at.or(endpoint.health.failing_since.map(|_| now)) else {
        return Ok(());
    };
    let up_to = herald_core::delivery::add(probe_at, state.config.delivery.probe_time());
    let closed = herald_core::circuit::Health { changed_at: Some(now), ..Default::default() };
    let released = state
        .store
        .set_endpoint_health(&endpoint.id, &closed, herald_store::Shift::Release { up_to }, now)
        .await;
    state.caches.endpoints.clear();
    released?;
    state.wakeup.notify_one();
    endpoint.health = closed;
    Ok(())
}

/// Create an endpoint. The response carries the signing secret, shown only here.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/endpoints", tag = "endpoints", params(super::TenantParam),
    request_body = EndpointIn, responses((status = 201, body = EndpointCreated)))]
pub async fn create(
    State(state): State<AppState>,
    TenantScope(tenant): TenantScope,
    JsonBody(mut input): JsonBody<EndpointIn>,
) -> ApiResult<(StatusCode, Json<EndpointCreated>)> {
    let scheme = input.signature_scheme.unwrap_or_default();
    let secret = input.secret.take().unwrap_or_else(|| SigningSecret::generate_for(scheme));
    if secret.scheme() != scheme {
        return Err(ApiError::invalid_field(
            "/secret",
            "a v1 endpoint takes a whsec_ secret, a v1a endpoint a whsk_ ed25519 key",
        ));
    }
    let (spec, credentials, enabled) = from_input(&state.config.outbound.policy(), input, secret)?;
    let id = EndpointId::generate();
    let now = state.clock.now();
    let endpoint = Endpoint {
        sealed_credentials: Endpoint::seal_credentials(&state.master_key, &id, &credentials),
        id,
        tenant_id: tenant.id,
        spec,
        enabled,
        disabled_reason: None,
        created_at: now,
        updated_at: now,
        health: Default::default(),
    };
    let inserted = state.store.insert_endpoint(&endpoint).await;
    state.caches.endpoints.clear();
    inserted?;
    state.operational.endpoint("endpoint.created", &endpoint, announced(&endpoint)).await;
    let secret = credentials.secret.clone();
    Ok((StatusCode::CREATED, Json(EndpointCreated { endpoint: out(endpoint, &credentials), secret })))
}

/// List the tenant's endpoints, newest first.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/endpoints", tag = "endpoints", params(super::TenantParam, super::PageParams),
    responses((status = 200, body = ListResponse<EndpointOut>)))]
pub async fn list(
    State(state): State<AppState>,
    TenantScope(tenant): TenantScope,
    Pagination(page): Pagination,
) -> ApiResult<Json<ListResponse<EndpointOut>>> {
    let page = state.store.list_endpoints(&tenant.id, &page).await?;
    let mut items = Vec::with_capacity(page.items.len());
    for endpoint in page.items {
        let credentials = open(&state, &endpoint)?;
        items.push(out(endpoint, &credentials));
    }
    Ok(Json(ListResponse {
        data: items,
        next_cursor: page.next_cursor.as_deref().map(super::extract::encode_cursor),
    }))
}

/// Get one endpoint.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/endpoints/{endpoint}", tag = "endpoints",
    params(super::TenantParam, super::EndpointParam), responses((status = 200, body = EndpointOut)))]
pub async fn get(
    State(state): State<AppState>,
    TenantScope(tenant): TenantScope,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Json<EndpointOut>> {
    let endpoint = existing(&state, &tenant.id, &id).await?;
    let credentials = open(&state, &endpoint)?;
    Ok(Json(out(endpoint, &credentials)))
}

/// Replace an endpoint's configuration. The signing secret is kept (rotate it separately);
/// write-only fields not sent are cleared, as every other absent field is.
#[utoipa::path(put, path = "/v1/tenants/{tenant}/endpoints/{endpoint}", tag = "endpoints",
    params(super::TenantParam, super::EndpointParam), request_body = EndpointIn,
    responses((status = 200, body = EndpointOut)))]
pub async fn replace(
    State(state): State<AppState>,
    TenantScope(tenant): TenantScope,
    Path((_, id)): Path<(String, String)>,
    JsonBody(input): JsonBody<EndpointIn>,
) -> ApiResult<Json<EndpointOut>> {
    let current = existing(&state, &tenant.id, &id).await?;
    if input.secret.is_some() {
        return Err(ApiError::invalid_field(
            "/secret",
            "the secret cannot be replaced here: use POST …/secret/rotate",
        ));
    }
    let kept = open(&state, &current)?;
    let (spec, mut credentials, enabled) = from_input(&state.config.outbound.policy(), input, kept.secret)?;
    credentials.retiring = kept.retiring;
    let disabled_reason = if enabled { None } else { current.disabled_reason.clone() };
    let health_reset = (enabled && !current.enabled) || spec.url != current.spec.url;
    save(&state, Endpoint { spec, enabled, disabled_reason, ..current }, &credentials, health_reset)
        .await
        .map(Json)
}

/// Change some of an endpoint's fields. `{"enabled": true}` re-enables a disabled endpoint.
#[utoipa::path(patch, path = "/v1/tenants/{tenant}/endpoints/{endpoint}", tag = "endpoints",
    params(super::TenantParam, super::EndpointParam), request_body = EndpointPatch,
    responses((status = 200, body = EndpointOut)))]
pub async fn update(
    State(state): State<AppState>,
    TenantScope(tenant): TenantScope,
    Path((_, id)): Path<(String, String)>,
    JsonBody(patch): JsonBody<EndpointPatch>,
) -> ApiResult<Json<EndpointOut>> {
    let mut endpoint = existing(&state, &tenant.id, &id).await?;
    let (was_enabled, old_url) = (endpoint.enabled, endpoint.spec.url.clone());
    let mut credentials = open(&state, &endpoint)?;
    let mut errors = Vec::new();
    let spec = &mut endpoint.spec;
    if let Some(url) = patch.url {
        spec.url = url;
    }
    if let Some(description) = patch.description {
        errors.extend(check_description(&description).err());
        spec.description = description;
    }
    if let Some(events) = patch.events {
        errors.extend(check_patterns(&events).err());
        spec.events = events;
    }
    if let Some(filter) = patch.filter {
        spec.filter = filter;
    }
    if let Some(method) = patch.http_method {
        spec.http_method = method;
    }
    if let Some(retry_policy) = patch.retry_policy {
        spec.retry_policy = retry_policy;
    }
    if let Some(rate_limit) = patch.rate_limit {
        spec.rate_limit = rate_limit;
    }
    if let Some(format) = patch.payload_format {
        spec.payload_format = format;
    }
    if let Some(metadata) = patch.metadata {
        spec.metadata = metadata;
    }
    if let Some(tls) = patch.tls {
        match check_tls(tls) {
            Ok(tls) => {
                spec.ca_cert_pem = tls.ca_cert_pem;
                spec.client_cert_pem = tls.client_cert_pem;
                credentials.client_key_pem = tls.client_key_pem;
            }
            Err(e) => errors.extend(e),
        }
    }
    if let Some(auth) = patch.auth {
        credentials.auth = auth;
    }
    if let Some(headers) = patch.headers {
        credentials.headers = headers;
    }
    if let Some(enabled) = patch.enabled {
        endpoint.enabled = enabled;
        if enabled {
            endpoint.disabled_reason = None;
        }
    }
    if errors.is_empty() {
        errors = check_reachable(&state.config.outbound.policy(), &endpoint.spec.url, &credentials.auth);
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    let health_reset = (endpoint.enabled && !was_enabled) || endpoint.spec.url != old_url;
    save(&state, endpoint, &credentials, health_reset).await.map(Json)
}

/// Delete an endpoint. Its delivery log stays readable.
#[utoipa::path(delete, path = "/v1/tenants/{tenant}/endpoints/{endpoint}", tag = "endpoints",
    params(super::TenantParam, super::EndpointParam), responses((status = 204, description = "deleted")))]
pub async fn delete(
    State(state): State<AppState>,
    TenantScope(tenant): TenantScope,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let id = EndpointId::parse(&id).map_err(|_| ApiError::not_found("endpoint"))?;
    let deleted = state.store.delete_endpoint(&tenant.id, &id).await;
    state.caches.endpoints.clear();
    if !deleted? {
        return Err(ApiError::not_found("endpoint"));
    }
    state.operational.endpoint_deleted(&tenant.id, &id).await;
    Ok(StatusCode::NO_CONTENT)
}

/// What to send as a test.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TestIn {
    /// Send this type's catalog example. Absent: a `herald.ping` event.
    pub event_type: Option<EventTypeName>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TestOut {
    pub event_id: EventId,
    pub delivery_id: DeliveryId,
}

/// Send a test event to this endpoint only (even when disabled): the event type's example, or a
/// `herald.ping`. It is a real event in the log, attempted with trigger `test`.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/endpoints/{endpoint}/test", tag = "endpoints",
    params(super::TenantParam, super::EndpointParam), request_body(content = Option<TestIn>),
    responses((status = 202, description = "queued", body = TestOut)))]
pub async fn test(
    State(state): State<AppState>,
    TenantScope(tenant): TenantScope,
    Path((_, id)): Path<(String, String)>,
    body: OptionalJsonBody<TestIn>,
) -> ApiResult<(StatusCode, Json<TestOut>)> {
    let endpoint = existing(&state, &tenant.id, &id).await?;
    let input = body.0.unwrap_or_default();
    let (event_type, data) = match input.event_type {
        Some(name) => {
            let known = state.store.event_type(&name).await?;
            match known.and_then(|t| t.example) {
                Some(Value::Object(example)) => (name, example),
                _ => {
                    return Err(ApiError::invalid_field(
                        "/eventType",
                        format!("event type `{name}` has no example in the catalog"),
                    ));
                }
            }
        }
        None => {
            let mut data = Map::new();
            data.insert("message".into(), Value::String("A test event from Herald.".into()));
            data.insert("endpointId".into(), Value::String(endpoint.id.to_string()));
            (EventTypeName::ping(), data)
        }
    };
    let now = state.clock.now();
    let key = GeneratedEventId::generate();
    let event = Event {
        id: EventId::generated(&key),
        key,
        tenant_id: tenant.id,
        event_type,
        data,
        subject: None,
        source: None,
        created_at: now,
    };
    let delivery = herald_core::delivery::Delivery::new(&event, &endpoint.id, Trigger::Test, now);
    state.store.publish(&event, std::slice::from_ref(&delivery), None).await?;
    state.wakeup.notify_one();
    Ok((StatusCode::ACCEPTED, Json(TestOut { event_id: event.id, delivery_id: delivery.id })))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecoverIn {
    /// Re-queue failed deliveries created at or after this time (RFC 3339).
    #[schema(value_type = String, format = DateTime)]
    pub since: Timestamp,
    /// …and before this time (default: now).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub until: Option<Timestamp>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecoverOut {
    /// How many failed deliveries were queued again.
    pub recovered: u64,
}

/// Queue again every failed delivery of this endpoint created in `[since, until)`.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/endpoints/{endpoint}/recover", tag = "endpoints",
    params(super::TenantParam, super::EndpointParam), request_body = RecoverIn,
    responses((status = 202, description = "queued", body = RecoverOut)))]
pub async fn recover(
    State(state): State<AppState>,
    TenantScope(tenant): TenantScope,
    Path((_, id)): Path<(String, String)>,
    JsonBody(input): JsonBody<RecoverIn>,
) -> ApiResult<(StatusCode, Json<RecoverOut>)> {
    let endpoint = existing(&state, &tenant.id, &id).await?;
    let now = state.clock.now();
    let until = input.until.unwrap_or(now);
    if input.since >= until {
        return Err(ApiError::invalid_field("/since", "since must be before until"));
    }
    let recovered = state.store.recover_endpoint(&tenant.id, &endpoint.id, input.since, until, now).await?;
    if recovered > 0 {
        state.wakeup.notify_one();
    }
    Ok((StatusCode::ACCEPTED, Json(RecoverOut { recovered })))
}

/// Longest grace period of a rotation.
const MAX_GRACE: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RotateIn {
    /// How long the current secret keeps signing alongside the new one (default 24h, at most
    /// 7d). `0s` retires every old secret at once, including those still in the grace period of
    /// an earlier rotation. At most 5 secrets sign at once: beyond that, the old secrets whose
    /// grace periods end soonest are retired early.
    pub grace_period: Option<HumanDuration>,
    /// The new secret; generated when absent.
    pub secret: Option<SigningSecret>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RotateOut {
    /// The new signing secret. Shown only in this response.
    pub secret: SigningSecret,
    /// Until when the previous secret also signs (absent with a zero grace period).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub previous_expires_at: Option<Timestamp>,
    /// The new secret's public key (`whpk_…`, `v1a` endpoints only): what receivers verify with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
}

/// Rotate the signing secret. During the grace period every attempt carries one signature per
/// live secret, so receivers can switch to the new secret at their own pace.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/endpoints/{endpoint}/secret/rotate", tag = "endpoints",
    params(super::TenantParam, super::EndpointParam), request_body(content = Option<RotateIn>),
    responses((status = 200, body = RotateOut)))]
pub async fn rotate(
    State(state): State<AppState>,
    TenantScope(tenant): TenantScope,
    Path((_, id)): Path<(String, String)>,
    body: OptionalJsonBody<RotateIn>,
) -> ApiResult<Json<RotateOut>> {
    let endpoint = existing(&state, &tenant.id, &id).await?;
    let input = body.0.unwrap_or_default();
    let grace = input.grace_period.map_or(std::time::Duration::from_secs(24 * 3600), |g| g.get());
    if grace > MAX_GRACE {
        return Err(ApiError::invalid_field("/gracePeriod", "at most 7d"));
    }
    let mut credentials = open(&state, &endpoint)?;
    let scheme = credentials.secret.scheme();
    let new = input.secret.unwrap_or_else(|| SigningSecret::generate_for(scheme));
    if new.scheme() != scheme {
        return Err(ApiError::invalid_field(
            "/secret",
            "the new secret must be of the endpoint's signature scheme",
        ));
    }
    let now = state.clock.now();
    credentials.rotate(new.clone(), now, grace);
    let previous_expires_at = (!grace.is_zero()).then(|| herald_core::delivery::add(now, grace));
    save(&state, endpoint, &credentials, false).await?;
    Ok(Json(RotateOut { public_key: new.public_key(), secret: new, previous_expires_at }))
}

/// End every grace period now: only the current signing secret signs from here on (after a
/// rotation, once every receiver has switched to the new secret).
#[utoipa::path(post, path = "/v1/tenants/{tenant}/endpoints/{endpoint}/secret/retire-previous", tag = "endpoints",
    params(super::TenantParam, super::EndpointParam),
    responses((status = 204, description = "Only the current secret signs now.")))]
pub async fn retire_previous(
    State(state): State<AppState>,
    TenantScope(tenant): TenantScope,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let endpoint = existing(&state, &tenant.id, &id).await?;
    let mut credentials = open(&state, &endpoint)?;
    let stored_any = !credentials.retiring.is_empty();
    credentials.retire_previous(state.clock.now());
    if stored_any {
        save(&state, endpoint, &credentials, false).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryCounts {
    pub pending: u64,
    pub retrying: u64,
    pub delivered: u64,
    pub failed: u64,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LatencyOut {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
}

#[derive(Debug, Serialize, ToSchema)]
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
    /// Deliveries waiting now (pending or retrying).
    pub backlog: u64,
    /// The endpoint's circuit breaker, now.
    pub circuit: CircuitOut,
}

/// An endpoint's circuit breaker (see docs/ARCHITECTURE.md, "Endpoint health").
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CircuitOut {
    /// `closed`: deliveries flow. `open`: they wait for the next probe. `half_open`: a probe is
    /// due or under way.
    #[schema(value_type = String, example = "closed")]
    pub state: herald_core::circuit::CircuitState,
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
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsParams {
    /// Start of the range (RFC 3339); default 24 hours before `until`.
    #[param(value_type = Option<String>, format = DateTime)]
    #[serde(default, deserialize_with = "super::query::text::timestamp")]
    since: Option<Timestamp>,
    /// End of the range (RFC 3339); default now.
    #[param(value_type = Option<String>, format = DateTime)]
    #[serde(default, deserialize_with = "super::query::text::timestamp")]
    until: Option<Timestamp>,
}

/// Counts by status, success rate and attempt latency percentiles of one endpoint over
/// `[since, until)` (default: the last 24 hours), with its current backlog and circuit state.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/endpoints/{endpoint}/stats", tag = "endpoints",
    params(super::TenantParam, super::EndpointParam, StatsParams),
    responses((status = 200, body = StatsOut)))]
pub async fn stats(
    State(state): State<AppState>,
    TenantScope(tenant): TenantScope,
    Path((_, id)): Path<(String, String)>,
    QueryParams(params): QueryParams<StatsParams>,
) -> ApiResult<Json<StatsOut>> {
    let endpoint = existing(&state, &tenant.id, &id).await?;
    let now = state.clock.now();
    let until = params.until.unwrap_or(now);
    let since = match params.since {
        Some(since) => since,
        None => Timestamp::from_millisecond(until.as_millisecond() - 24 * 3600 * 1000).unwrap_or(until),
    };
    if since >= until {
        return Err(ApiError::invalid_field("/since", "since must be before until"));
    }
    let stats = state.store.endpoint_stats(&endpoint.id, since, until).await?;
    let count =
        |status: DeliveryStatus| stats.by_status.iter().find(|(s, _)| *s == status).map_or(0, |(_, n)| *n);
    let deliveries = DeliveryCounts {
        pending: count(DeliveryStatus::Pending),
        retrying: count(DeliveryStatus::Retrying),
        delivered: count(DeliveryStatus::Delivered),
        failed: count(DeliveryStatus::Failed),
    };
    let finished = deliveries.delivered + deliveries.failed;
    Ok(Json(StatsOut {
        since,
        until,
        success_rate: (finished > 0).then(|| deliveries.delivered as f64 / finished as f64),
        deliveries,
        attempts: stats.attempts,
        attempts_succeeded: stats.attempts_succeeded,
        attempt_latency_ms: stats.duration_ms.map(|[p50, p90, p99, max]| LatencyOut { p50, p90, p99, max }),
        backlog: stats.backlog,
        circuit: CircuitOut {
            state: endpoint.health.state(now),
            failing_since: endpoint.health.failing_since,
            next_probe_at: endpoint.health.probe_at,
            failed_probes: endpoint.health.failed_probes,
        },
    }))
}
