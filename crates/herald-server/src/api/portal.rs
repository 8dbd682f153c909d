//! `/v1/tenants/{tenant}/portal-sessions`: one-time links that open a tenant's pages of the web
//! interface without a key, branded as the platform likes, for the platform to show its tenant
//! (typically in an `<iframe>`). Admin keys only. The link is returned once; only its token's
//! hash is stored, and its first opening uses it up (`ui::portal`).

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use herald_core::duration::HumanDuration;
use herald_core::portal::{Branding, DEFAULT_LINK_TTL, MAX_LINK_TTL, MIN_LINK_TTL, PortalLink, PortalToken};

use super::error::{ApiError, ApiResult};
use super::extract::OptionalJsonBody;
use super::tenants::AdminTenant;
use crate::config::Config;
use crate::state::AppState;
pub use herald_api::portal::{BrandingIn, PortalSessionIn, PortalSessionOut};

/// How long used and expired links are kept, so that a late second opening is told "already
/// used" or "expired" rather than "not valid".
const KEEP_SPENT: Duration = Duration::from_secs(24 * 3600);

/// Create a one-time link into the tenant's pages of the web interface (the portal), to show
/// or embed for the tenant's user; no key is needed to open it.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/portal-sessions", tag = "portal",
    params(crate::api::extract::TenantScope), request_body(content = Option<PortalSessionIn>),
    responses((status = 201, body = PortalSessionOut)))]
pub async fn create(
    State(state): State<AppState>,
    AdminTenant(tenant): AdminTenant,
    headers: HeaderMap,
    body: OptionalJsonBody<PortalSessionIn>,
) -> ApiResult<(StatusCode, Json<PortalSessionOut>)> {
    let input = body.0.unwrap_or_default();
    let ttl = input.expires_in.map_or(DEFAULT_LINK_TTL, HumanDuration::get);
    if !(MIN_LINK_TTL..=MAX_LINK_TTL).contains(&ttl) {
        return Err(ApiError::invalid_field("/expiresIn", "from 1m to 1h"));
    }
    let now = state.clock.now();
    let token = PortalToken::generate();
    let link = PortalLink {
        hash: token.hash(),
        tenant: tenant.id,
        branding: input.branding.map(Branding::from),
        created_at: now,
        expires_at: herald_core::time::add(now, ttl),
    };
    state.store.insert_portal_link(&link, herald_core::time::sub(now, KEEP_SPENT)).await?;
    let url = format!("{}{}", base_url(&state.config, &headers), crate::ui::portal_path(&token));
    Ok((StatusCode::CREATED, Json(PortalSessionOut { url, expires_at: link.expires_at })))
}

/// Where browsers reach Herald: `public_url` when configured, else the request's `Host` (over
/// https when the proxy in front says so with `X-Forwarded-Proto`), else the listen address.
fn base_url(config: &Config, headers: &HeaderMap) -> String {
    if let Some(public) = &config.public_url {
        return public.join("");
    }
    let scheme = if crate::ui::over_https(headers) { "https" } else { "http" };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            h.parse::<axum::http::uri::Authority>().is_ok_and(|a| a.as_str() == *h && !h.contains('@'))
        })
        .map_or_else(|| config.listen.to_string(), str::to_owned);
    format!("{scheme}://{host}")
}
