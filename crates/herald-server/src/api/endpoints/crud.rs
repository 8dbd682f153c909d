//! Create, list, get, replace, update and delete endpoints; their request types and checks.

use super::*;

const MAX_DESCRIPTION: usize = 1024;
const MAX_PATTERNS: usize = 100;
const MAX_PEM: usize = 64 * 1024;

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

/// The template a `template` endpoint needs (and only such an endpoint), checked; errors point
/// into the template.
fn check_template(
    format: PayloadFormat,
    template: Option<&Value>,
) -> Result<Option<PayloadTemplate>, FieldError> {
    match (format, template) {
        (PayloadFormat::Template, Some(source)) => PayloadTemplate::parse(source.clone())
            .map(Some)
            .map_err(|e| FieldError::new(format!("/payloadTemplate{}", e.pointer), e.message)),
        (PayloadFormat::Template, None) => {
            Err(FieldError::new("/payloadTemplate", "payloadFormat template needs a payloadTemplate"))
        }
        (_, Some(_)) => Err(FieldError::new("/payloadTemplate", "only with payloadFormat template")),
        (_, None) => Ok(None),
    }
}

/// The most signature profiles an endpoint has at once.
const MAX_PROFILES: usize = 4;

/// The endpoint's signature profiles and handshake setting, against its secrets, scheme, format
/// and custom headers. `secret_field`: where a secret that cannot serve a profile is reported.
pub(super) fn check_signing(
    spec: &EndpointSpec,
    credentials: &EndpointCredentials,
    secret_field: &str,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let profiles = &spec.signature_profiles;
    if profiles.is_empty() || profiles.len() > MAX_PROFILES {
        errors.push(FieldError::new("/signatureProfiles", format!("1 to {MAX_PROFILES} profiles")));
    }
    let mut names: Vec<String> = Vec::new();
    let mut standard = 0;
    for (i, profile) in profiles.iter().enumerate() {
        let at = format!("/signatureProfiles/{i}");
        match profile {
            SignatureProfile::Standard => standard += 1,
            SignatureProfile::Hmac(hmac) => {
                if spec.signature_scheme == SignatureScheme::V1a {
                    errors.push(FieldError::new(
                        at.clone(),
                        "hmac profiles sign with a shared secret; this v1a endpoint has an ed25519 key",
                    ));
                }
                for name in std::iter::once(&hmac.header).chain(hmac.timestamp_header.as_ref()) {
                    let lower = name.to_ascii_lowercase();
                    if names.contains(&lower) {
                        errors.push(FieldError::new(
                            at.clone(),
                            format!("another profile already sets `{name}`"),
                        ));
                    }
                    if credentials.headers.iter().any(|(custom, _)| custom.eq_ignore_ascii_case(name)) {
                        errors.push(FieldError::new("/headers", format!("`{name}` carries a signature")));
                    }
                    names.push(lower);
                }
            }
        }
    }
    if standard > 1 {
        errors.push(FieldError::new("/signatureProfiles", "the standard profile is given twice"));
    }
    if standard > 0 && !credentials.secret.is_standard() {
        let why = SigningSecret::parse(&credentials.secret.expose()).err().unwrap_or_default();
        errors.push(FieldError::new(
            secret_field,
            format!("the standard signature profile needs a whsec_ (or whsk_) secret: {why}"),
        ));
    }
    if spec.cloudevents_handshake && !spec.payload_format.is_cloudevents() {
        errors.push(FieldError::new(
            "/cloudeventsHandshake",
            "the validation handshake is for CloudEvents formats (cloudevents, cloudevents-binary)",
        ));
    }
    errors
}

/// What the reachability policy can refuse at registration: the scheme, and IP-literal hosts (of
/// the URL and of an OAuth2 token URL). Names are checked at every attempt, once resolved.
fn check_reachable(policy: &Policy, url: &EndpointUrl, auth: &EndpointAuth) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if url.as_url().host_str() == Some(herald_api::listen::LISTEN_HOST) {
        errors.push(FieldError::new(
            "/url",
            "this host names `herald listen` sessions; it is not for endpoints",
        ));
    } else if let Err(blocked) = policy.check_url(url.as_url()) {
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
    let payload_template = check_template(input.payload_format, input.payload_template.as_ref())
        .unwrap_or_else(|e| {
            errors.push(e);
            None
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
        payload_template,
        metadata: input.metadata,
        ca_cert_pem: tls.ca_cert_pem,
        client_cert_pem: tls.client_cert_pem,
        signature_scheme,
        signature_profiles: input.signature_profiles.unwrap_or_else(SignatureProfile::defaults),
        cloudevents_handshake: input.cloudevents_handshake,
    };
    let credentials = EndpointCredentials {
        secret,
        retiring: Vec::new(),
        auth: input.auth,
        headers: input.headers,
        client_key_pem: tls.client_key_pem,
    };
    let errors = check_signing(&spec, &credentials, "/secret");
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    Ok((spec, credentials, input.enabled))
}

/// Create an endpoint. The response carries the signing secret, shown only here.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/endpoints", tag = "endpoints", params(TenantScope),
    request_body = EndpointIn, responses((status = 201, body = EndpointCreated, headers(("ETag" = String, description = "The endpoint's version, for If-Match")))))]
pub async fn create(
    State(state): State<AppState>,
    TenantScope(tenant): TenantScope,
    JsonBody(mut input): JsonBody<EndpointIn>,
) -> ApiResult<(StatusCode, HeaderMap, Json<EndpointCreated>)> {
    let scheme = input.signature_scheme.unwrap_or_default();
    let secret = input.secret.take().unwrap_or_else(|| SigningSecret::generate_for(scheme));
    if secret.scheme() != scheme {
        return Err(ApiError::invalid_field(
            "/secret",
            "a v1 endpoint takes a whsec_ secret, a v1a endpoint a whsk_ ed25519 key",
        ));
    }
    let (spec, credentials, enabled) = from_input(&state.config.outbound.policy(), input, secret)?;
    let endpoint = state.endpoints.create(tenant.id, spec, &credentials, enabled).await?;
    let secret = credentials.secret.clone();
    let headers = etag(endpoint.version);
    Ok((
        StatusCode::CREATED,
        headers,
        Json(EndpointCreated { endpoint: shown(endpoint, &credentials), secret }),
    ))
}

/// List the tenant's endpoints, newest first.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/endpoints", tag = "endpoints", params(TenantScope, crate::api::PageParams),
    responses((status = 200, body = ListResponse<EndpointOut>)))]
pub async fn list(
    State(state): State<AppState>,
    TenantScope(tenant): TenantScope,
    Pagination(page): Pagination,
) -> ApiResult<Json<ListResponse<EndpointOut>>> {
    let page = state.store.list_endpoints(&tenant.id, &page).await?;
    let mut items = Vec::with_capacity(page.items.len());
    for endpoint in page.items {
        let credentials = credentials_of(&state, &endpoint)?;
        items.push(shown(endpoint, &credentials));
    }
    Ok(Json(ListResponse { data: items, next_cursor: page.next_cursor }))
}

/// Get one endpoint.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/endpoints/{endpoint}", tag = "endpoints",
    params(TenantScope, InPath<EndpointId>), responses((status = 200, body = EndpointOut, headers(("ETag" = String, description = "The endpoint's version, for If-Match")))))]
pub async fn get(
    State(state): State<AppState>,
    TenantScope(tenant): TenantScope,
    InPath(id): InPath<EndpointId>,
) -> ApiResult<(HeaderMap, Json<EndpointOut>)> {
    let endpoint = find_endpoint(&state, &tenant.id, &id).await?;
    let credentials = credentials_of(&state, &endpoint)?;
    Ok(tagged(endpoint, &credentials))
}

/// Replace an endpoint's configuration. The signing secret is kept (rotate it separately);
/// write-only fields not sent are cleared, as every other absent field is.
#[utoipa::path(put, path = "/v1/tenants/{tenant}/endpoints/{endpoint}", tag = "endpoints",
    params(TenantScope, InPath<EndpointId>, IfMatch), request_body = EndpointIn,
    responses((status = 200, body = EndpointOut, headers(("ETag" = String, description = "The endpoint's version, for If-Match"))), (status = 412, description = "The endpoint is no longer at a version If-Match names; nothing changed.", body = crate::api::error::Problem, content_type = "application/problem+json")))]
pub async fn replace(
    State(state): State<AppState>,
    TenantScope(tenant): TenantScope,
    InPath(id): InPath<EndpointId>,
    IfMatch(expected): IfMatch,
    JsonBody(input): JsonBody<EndpointIn>,
) -> ApiResult<(HeaderMap, Json<EndpointOut>)> {
    if input.secret.is_some() {
        return Err(ApiError::invalid_field(
            "/secret",
            "the secret cannot be replaced here: use POST …/secret/rotate",
        ));
    }
    // The new configuration, checked once; the secrets it keeps are the stored ones (checked
    // against its signature profiles once known).
    let placeholder = SigningSecret::generate();
    let (spec, template, enabled) = from_input(&state.config.outbound.policy(), input, placeholder)?;
    let changed = state
        .endpoints
        .change(&tenant.id, &id, expected.as_deref(), |endpoint, credentials| {
            let kept = std::mem::replace(credentials, template.clone());
            credentials.secret = kept.secret;
            credentials.retiring = kept.retiring;
            let mut checked = spec.clone();
            checked.signature_scheme = endpoint.spec.signature_scheme;
            let errors = check_signing(&checked, credentials, "/signatureProfiles");
            if !errors.is_empty() {
                return Err(ApiError::invalid(errors));
            }
            if enabled {
                endpoint.disabled_reason = None;
            }
            endpoint.spec = checked;
            endpoint.enabled = enabled;
            Ok::<_, ApiError>(())
        })
        .await?;
    Ok(tagged(changed.endpoint, &changed.credentials))
}

/// Change some of an endpoint's fields. `{"enabled": true}` re-enables a disabled endpoint.
#[utoipa::path(patch, path = "/v1/tenants/{tenant}/endpoints/{endpoint}", tag = "endpoints",
    params(TenantScope, InPath<EndpointId>, IfMatch), request_body = EndpointPatch,
    responses((status = 200, body = EndpointOut, headers(("ETag" = String, description = "The endpoint's version, for If-Match"))), (status = 412, description = "The endpoint is no longer at a version If-Match names; nothing changed.", body = crate::api::error::Problem, content_type = "application/problem+json")))]
pub async fn update(
    State(state): State<AppState>,
    TenantScope(tenant): TenantScope,
    InPath(id): InPath<EndpointId>,
    IfMatch(expected): IfMatch,
    JsonBody(patch): JsonBody<EndpointPatch>,
) -> ApiResult<(HeaderMap, Json<EndpointOut>)> {
    let policy = state.config.outbound.policy();
    let changed = state
        .endpoints
        .change(&tenant.id, &id, expected.as_deref(), |endpoint, credentials| {
            apply(&patch, &policy, endpoint, credentials)
        })
        .await?;
    Ok(tagged(changed.endpoint, &changed.credentials))
}

/// Applies a PATCH to an endpoint as read (again, when another change came first).
fn apply(
    patch: &EndpointPatch,
    policy: &Policy,
    endpoint: &mut Endpoint,
    credentials: &mut EndpointCredentials,
) -> ApiResult<()> {
    let mut errors = Vec::new();
    let spec = &mut endpoint.spec;
    if let Some(url) = &patch.url {
        spec.url = url.clone();
    }
    if let Some(description) = &patch.description {
        errors.extend(check_description(description).err());
        spec.description = description.clone();
    }
    if let Some(events) = &patch.events {
        errors.extend(check_patterns(events).err());
        spec.events = events.clone();
    }
    if let Some(filter) = &patch.filter {
        spec.filter = filter.clone();
    }
    if let Some(method) = patch.http_method {
        spec.http_method = method;
    }
    if let Some(retry_policy) = &patch.retry_policy {
        spec.retry_policy = retry_policy.clone();
    }
    if let Some(rate_limit) = &patch.rate_limit {
        spec.rate_limit = rate_limit.clone();
    }
    if let Some(format) = patch.payload_format {
        spec.payload_format = format;
    }
    if patch.payload_format.is_some() || patch.payload_template.is_some() {
        let source = match &patch.payload_template {
            Some(given) => given.clone(),
            None => spec.payload_template.as_ref().map(|t| t.as_value().clone()),
        };
        match check_template(spec.payload_format, source.as_ref()) {
            Ok(template) => spec.payload_template = template,
            Err(e) => errors.push(e),
        }
    }
    if let Some(profiles) = &patch.signature_profiles {
        spec.signature_profiles = profiles.clone();
    }
    if let Some(handshake) = patch.cloudevents_handshake {
        spec.cloudevents_handshake = handshake;
    }
    if let Some(metadata) = &patch.metadata {
        spec.metadata = metadata.clone();
    }
    if let Some(tls) = &patch.tls {
        match check_tls(tls.clone()) {
            Ok(tls) => {
                spec.ca_cert_pem = tls.ca_cert_pem;
                spec.client_cert_pem = tls.client_cert_pem;
                credentials.client_key_pem = tls.client_key_pem;
            }
            Err(e) => errors.extend(e),
        }
    }
    if let Some(auth) = &patch.auth {
        credentials.auth = auth.clone();
    }
    if let Some(headers) = &patch.headers {
        credentials.headers = headers.clone();
    }
    if let Some(enabled) = patch.enabled {
        endpoint.enabled = enabled;
        if enabled {
            endpoint.disabled_reason = None;
        }
    }
    if errors.is_empty() {
        errors = check_reachable(policy, &endpoint.spec.url, &credentials.auth);
        errors.extend(check_signing(&endpoint.spec, credentials, "/signatureProfiles"));
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    Ok(())
}

/// Delete an endpoint. Its delivery log stays readable.
#[utoipa::path(delete, path = "/v1/tenants/{tenant}/endpoints/{endpoint}", tag = "endpoints",
    params(TenantScope, InPath<EndpointId>), responses((status = 204, description = "deleted")))]
pub async fn delete(
    State(state): State<AppState>,
    TenantScope(tenant): TenantScope,
    InPath(id): InPath<EndpointId>,
) -> ApiResult<StatusCode> {
    state.endpoints.delete(&tenant.id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
