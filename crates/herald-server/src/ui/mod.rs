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

mod catalog;
mod chart;
mod deliveries;
mod endpoint_form;
mod endpoints;
mod events;
mod form;
mod layout;
mod pages;
mod session;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::Redirect;
use axum::routing::{get, post};

use crate::state::AppState;

pub use session::{COOKIE, SESSION_TTL};

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
        .route("/ui/assets/app.css", get(layout::css))
        .route("/ui/assets/app.js", get(layout::js))
        .layer(axum::middleware::map_response(security_headers))
        .route("/", get(|| async { Redirect::to("/ui") }))
}

/// The policy every page is served with: Herald's own script and styles only, no framing, no
/// caching of pages that show tenants' data.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data: https:; connect-src 'self'; form-action 'self'; base-uri 'none'; \
     frame-ancestors 'none'";

async fn security_headers(mut response: axum::response::Response) -> axum::response::Response {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
