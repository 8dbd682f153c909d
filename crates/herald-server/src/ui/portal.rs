//! Opening a tenant portal link (`/ui/portal/{token}`): the link is used up and becomes a
//! session of its tenant without a key, carrying the link's branding; the browser gets the
//! session's cookie and is sent on to the tenant's pages, so the token does not stay in the
//! address bar. (The API makes the links: `api::portal`.)
//!
//! Sent on how: a `303` redirect, unless the cookie is `SameSite=Strict` and the link was
//! followed from another site. A browser does not send a strict cookie with a navigation another
//! site started, redirects included, so the redirect would land on the sign-in page; instead the
//! answer is a page that moves on by itself (`<meta http-equiv="refresh">`): that navigation is
//! started by Herald's own page, and the cookie goes with it.
//!
//! A link opens once: a second opening, an expired or an unknown link gets a page that says so,
//! never a session. These pages and the redirect may be framed by the configured sites, like
//! the portal's pages.

use std::borrow::Cow;

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use herald_core::portal::PortalToken;
use herald_core::session::SessionToken;
use herald_store::PortalOpening;
use maud::{DOCTYPE, Markup, html};

use super::framing::Framing;
use super::layout::message_without_links;
use super::session::{self, CookieSite, SESSION_TTL};
use crate::state::AppState;

const PREFIX: &str = "/ui/portal/";

/// The path of a portal link.
pub fn portal_path(token: &PortalToken) -> String {
    format!("{PREFIX}{}", token.expose())
}

/// A request's URI as it may be logged: a portal link's token (and anything after it) left out.
pub fn loggable_uri(uri: &Uri) -> Cow<'_, str> {
    if uri.path().starts_with(PREFIX) {
        Cow::Owned(format!("{PREFIX}<token>"))
    } else {
        Cow::Borrowed(uri.path_and_query().map_or("/", |p| p.as_str()))
    }
}

/// A page saying why a link opened nothing, and what to do instead.
fn refused(status: StatusCode, title: &str, why: &str) -> Response {
    let text = format!(
        "{why} Go back to the site that showed you the link and open the portal from there again: \
         it makes a new link each time."
    );
    (status, message_without_links(title, &text)).into_response()
}

/// Whether the browser says the request was typed in or sent by a page of Herald's own site
/// (`Sec-Fetch-Site`): a redirect then carries a strict cookie. Unknown (an older browser) is
/// taken as no.
fn started_by_this_site(headers: &HeaderMap) -> bool {
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    matches!(site, Some("none" | "same-origin" | "same-site"))
}

/// A page that moves on to `to` at once, as a navigation of its own; with a link, in case it
/// does not.
fn forward(to: &str) -> Markup {
    let body = html! {
        section.card.message {
            h1 { "Opening the portal…" }
            p { a href=(to) { "Continue" } }
        }
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="refresh" content={ "0; url=" (to) };
                title { "Opening the portal…" }
                link rel="stylesheet" href="/ui/assets/app.css";
            }
            body { main { (body) } }
        }
    }
}

pub async fn open(
    State(state): State<AppState>,
    Extension(framing): Extension<Framing>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    framing.allow(&state.config);
    let unknown =
        || refused(StatusCode::NOT_FOUND, "This link is not valid", "There is no portal link like it.");
    let Some(token) = PortalToken::parse(&token) else { return unknown() };
    let now = state.clock.now();
    let session_token = SessionToken::generate();
    let expires_at = herald_core::time::add(now, SESSION_TTL);
    let opening = state.store.open_portal_link(&token.hash(), &session_token.hash(), expires_at, now).await;
    match opening {
        Ok(PortalOpening::Opened(session)) => {
            let Some(tenant) = session.viewer.tenant() else { return unknown() };
            tracing::info!(tenant.id = %tenant, "a portal link opened a session");
            let site = CookieSite::of(true, &state.config, &headers);
            let cookie = [(header::SET_COOKIE, session::open_cookie(&session_token, site))];
            let to = format!("/ui/tenants/{tenant}");
            if matches!(site, CookieSite::Strict { .. }) && !started_by_this_site(&headers) {
                return (cookie, forward(&to)).into_response();
            }
            (cookie, Redirect::to(&to)).into_response()
        }
        Ok(PortalOpening::Used) => {
            refused(StatusCode::GONE, "This link was already used", "A portal link opens only once.")
        }
        Ok(PortalOpening::Expired) => refused(
            StatusCode::GONE,
            "This link has expired",
            "A portal link must be opened within minutes of being made.",
        ),
        Ok(PortalOpening::Unknown) => unknown(),
        Err(e) => {
            tracing::error!(error = %e, "opening a portal link failed");
            let page = super::layout::message("Database unavailable", None, session::UNAVAILABLE);
            (StatusCode::SERVICE_UNAVAILABLE, page).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_of_a_portal_link_is_never_logged() {
        let token = PortalToken::generate();
        let uri = |s: &str| s.parse::<Uri>().unwrap();
        let link = uri(&format!("https://herald.example.com{}?x=1", portal_path(&token)));
        assert_eq!(loggable_uri(&link), "/ui/portal/<token>");
        assert_eq!(loggable_uri(&uri("/ui/tenants/ten_1?cursor=abc")), "/ui/tenants/ten_1?cursor=abc");
    }
}
