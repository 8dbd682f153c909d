//! The signing secret: rotation with a grace period, and ending grace periods early.

use super::*;
use crate::endpoints::EndpointError;

/// Longest grace period of a rotation.
const MAX_GRACE: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// Rotate the signing secret. During the grace period every attempt carries one signature per
/// live secret, so receivers can switch to the new secret at their own pace.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/endpoints/{endpoint}/secret/rotate", tag = "endpoints",
    params(TenantScope, InPath<EndpointId>, IfMatch), request_body(content = Option<RotateIn>),
    responses((status = 200, body = RotateOut, headers(("ETag" = String, description = "The endpoint's version, for If-Match"))), (status = 412, description = "The endpoint is no longer at a version If-Match names; nothing changed.", body = crate::api::error::Problem, content_type = "application/problem+json")))]
pub async fn rotate(
    State(state): State<AppState>,
    TenantScope(tenant): TenantScope,
    InPath(id): InPath<EndpointId>,
    IfMatch(expected): IfMatch,
    body: OptionalJsonBody<RotateIn>,
) -> ApiResult<(HeaderMap, Json<RotateOut>)> {
    let input = body.0.unwrap_or_default();
    let grace = input.grace_period.map_or(std::time::Duration::from_secs(24 * 3600), |g| g.get());
    if grace > MAX_GRACE {
        return Err(ApiError::invalid_field("/gracePeriod", "at most 7d"));
    }
    let now = state.clock.now();
    let mut new_secret = None;
    let changed = state
        .endpoints
        .change(&tenant.id, &id, expected.as_deref(), |endpoint, credentials| {
            let scheme = credentials.secret.scheme();
            let new = input.secret.clone().unwrap_or_else(|| SigningSecret::generate_for(scheme));
            if new.scheme() != scheme {
                return Err(ApiError::invalid_field(
                    "/secret",
                    "the new secret must be of the endpoint's signature scheme",
                ));
            }
            credentials.rotate(new.clone(), now, grace);
            let errors = crud::check_signing(&endpoint.spec, credentials, "/secret");
            if !errors.is_empty() {
                return Err(ApiError::invalid(errors));
            }
            new_secret = Some(new);
            Ok(())
        })
        .await?;
    let secret = new_secret.ok_or_else(|| ApiError::internal(&EndpointError::Contended))?;
    let previous_expires_at = (!grace.is_zero()).then(|| herald_core::time::add(now, grace));
    let headers = etag(changed.endpoint.version);
    Ok((headers, Json(RotateOut { public_key: secret.public_key(), secret, previous_expires_at })))
}

/// End every grace period now: only the current signing secret signs from here on (after a
/// rotation, once every receiver has switched to the new secret).
#[utoipa::path(post, path = "/v1/tenants/{tenant}/endpoints/{endpoint}/secret/retire-previous", tag = "endpoints",
    params(TenantScope, InPath<EndpointId>, IfMatch),
    responses((status = 204, description = "Only the current secret signs now."), (status = 412, description = "The endpoint is no longer at a version If-Match names; nothing changed.", body = crate::api::error::Problem, content_type = "application/problem+json")))]
pub async fn retire_previous(
    State(state): State<AppState>,
    TenantScope(tenant): TenantScope,
    InPath(id): InPath<EndpointId>,
    IfMatch(expected): IfMatch,
) -> ApiResult<StatusCode> {
    let now = state.clock.now();
    state
        .endpoints
        .change(&tenant.id, &id, expected.as_deref(), |_, credentials| {
            credentials.retire_previous(now);
            Ok::<_, ApiError>(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
