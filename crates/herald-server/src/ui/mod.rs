//! The web interface (`/ui`): server-rendered pages over the same services as the REST API.
//!
//! Signing in with an API key opens a session: an admin key the operator console, a tenant's
//! key that tenant's pages only. The session lives in an `HttpOnly`, `SameSite=Strict` cookie
//! scoped to `/ui` (`Secure` when the request came over HTTPS, as a TLS-terminating proxy says
//! with `X-Forwarded-Proto`), and the key itself never appears in a URL. Every state-changing
//! form carries the session's CSRF token, and a request another site sent (by its `Origin` or
//! `Sec-Fetch-Site`) is refused before anything else. Pages are served with a
//! Content-Security-Policy that allows only Herald's own script and styles, and may not be
//! framed.
//!
//! The tenant portal (`portal`) is the one other way in: a one-time link the API makes for a
//! platform to show one tenant its pages, branded, inside the platform's own site. Only its
//! sessions' pages may be framed, and only by the sites `ui_frame_ancestors` names (`framing`).

mod catalog;
mod chart;
mod deliveries;
mod endpoint_form;
mod endpoints;
mod events;
mod form;
mod framing;
mod layout;
mod pages;
mod portal;
mod session;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{Redirect, Response};
use axum::routing::{get, post};

use crate::state::AppState;

pub use framing::FrameAncestors;
use framing::content_security_policy;
pub use portal::{loggable_uri, portal_path};
pub use session::{COOKIE, SESSION_TTL, over_https};

/// The web interface's routes, and `/` sending a browser to it.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ui", get(pages::home))
        .route("/ui/sign-in", get(pages::sign_in_form).post(pages::sign_in))
        .route("/ui/sign-out", post(pages::sign_out))
        .route("/ui/event-types", get(catalog::list).post(catalog::create))
        .route("/ui/new-event-type", get(catalog::new_form))
        .route("/ui/event-types/{name}", get(catalog::edit_form).post(catalog::edit))
        .route("/ui/tenants", post(pages::create_tenant))
        .route("/ui/new-tenant", get(pages::new_tenant_form))
        .route("/ui/tenants/{tenant}", get(pages::tenant))
        .route("/ui/tenants/{tenant}/endpoints", post(endpoints::create))
        .route("/ui/tenants/{tenant}/endpoints/new", get(endpoints::new_form))
        .route("/ui/tenants/{tenant}/endpoints/{endpoint}", get(endpoints::show))
        .route(
            "/ui/tenants/{tenant}/endpoints/{endpoint}/edit",
            get(endpoints::edit_form).post(endpoints::edit),
        )
        .route("/ui/tenants/{tenant}/endpoints/{endpoint}/test", post(endpoints::send_test))
        .route("/ui/tenants/{tenant}/endpoints/{endpoint}/rotate", post(endpoints::rotate))
        .route("/ui/tenants/{tenant}/endpoints/{endpoint}/recover", post(endpoints::recover_failed))
        .route("/ui/tenants/{tenant}/endpoints/{endpoint}/delete", post(endpoints::delete))
        .route("/ui/tenants/{tenant}/events", get(events::list))
        .route("/ui/tenants/{tenant}/deliveries", get(deliveries::log))
        .route("/ui/tenants/{tenant}/deliveries/live", get(deliveries::live))
        .route("/ui/tenants/{tenant}/deliveries/{delivery}", get(deliveries::delivery))
        .route("/ui/tenants/{tenant}/deliveries/{delivery}/retry", post(deliveries::retry))
        .route("/ui/tenants/{tenant}/bulk-retries", post(deliveries::bulk_retry))
        .route("/ui/tenants/{tenant}/bulk-retries/{id}", get(deliveries::bulk_retry_status))
        .route("/ui/assets/app.css", get(layout::css))
        .route("/ui/assets/app.js", get(layout::js))
        .route("/ui/assets/brand.css", get(layout::brand_css))
        .route("/ui/portal/{token}", get(portal::open))
        .layer(axum::middleware::from_fn(security_headers))
        .route("/", get(|| async { Redirect::to("/ui") }))
}

/// The headers every page is served with: the Content-Security-Policy (Herald's own script and
/// styles only; no framing, except a portal's by the configured sites), and no caching of pages
/// that show tenants' data.
async fn security_headers(mut request: Request, next: Next) -> Response {
    let framing = framing::Framing::default();
    request.extensions_mut().insert(framing.clone());
    let mut response = next.run(request).await;
    let ancestors = framing.allowed();
    let headers = response.headers_mut();
    let policy = content_security_policy(ancestors);
    let policy = HeaderValue::from_str(&policy).expect("checked sources make a valid header value");
    headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if ancestors.is_none() {
        // The older header knows no list of sites: it is left out where the policy names some.
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
