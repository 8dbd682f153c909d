//! Recover: queue again an endpoint's failed deliveries of a time range.

use super::*;

/// Queue again every failed delivery of this endpoint created in `[since, until)`.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/endpoints/{endpoint}/recover", tag = "endpoints",
    params(TenantScope, InPath<EndpointId>), request_body = RecoverIn,
    responses((status = 202, description = "queued", body = RecoverOut)))]
pub async fn recover(
    State(state): State<AppState>,
    TenantScope(tenant): TenantScope,
    InPath(id): InPath<EndpointId>,
    JsonBody(input): JsonBody<RecoverIn>,
) -> ApiResult<(StatusCode, Json<RecoverOut>)> {
    let endpoint = find_endpoint(&state, &tenant.id, &id).await?;
    let now = state.clock.now();
    let until = input.until.unwrap_or(now);
    if input.since >= until {
        return Err(ApiError::invalid_field("/since", "since must be before until"));
    }
    let recovered = state.store.recover_endpoint(&tenant.id, &endpoint.id, input.since, until, now).await?;
    if recovered > 0 {
        state.publisher.wake();
    }
    Ok((StatusCode::ACCEPTED, Json(RecoverOut { recovered })))
}
