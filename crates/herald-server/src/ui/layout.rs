//! The page shell every page shares (as Herald, or as a portal's branding says), the two static
//! assets (embedded in the binary), and a portal session's accent colour as a stylesheet: the
//! Content-Security-Policy allows no inline style, so the colour comes from a stylesheet of its
//! own.

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use maud::{DOCTYPE, Markup, html};

use super::session::{self, SignedIn};
use crate::state::AppState;
use herald_core::session::Viewer;

const CSS: &str = include_str!("assets/app.css");
const JS: &str = include_str!("assets/app.js");

pub async fn css() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=300")], CSS)
}

pub async fn js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        JS,
    )
}

/// The signed-in session's accent colour (and the text colour on it), as CSS variables that
/// override app.css's; empty without one.
pub async fn brand_css(State(state): State<AppState>, headers: HeaderMap) -> impl IntoResponse {
    let signed_in = session::signed_in(&state, &headers).await.unwrap_or_else(|e| {
        tracing::error!(error = %e, "reading a web interface session failed");
        None
    });
    let accent = signed_in.and_then(|s| s.session.branding).and_then(|b| b.accent_color);
    let css = accent
        .map(|c| format!(":root {{ --accent: {c}; --accent-ink: {}; }}\n", c.ink()))
        .unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "private, no-store")], css)
}

/// A whole page: the header (with the viewer and sign-out when signed in) around `main`. A
/// portal session's branding replaces Herald's name, adds its logo and its accent colour.
pub fn page(title: &str, signed_in: Option<&SignedIn>, main: Markup) -> Markup {
    let branding = signed_in.and_then(|s| s.session.branding.as_ref());
    let name = branding.map_or("Herald", |b| b.name.as_str());
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (name) }
                link rel="stylesheet" href="/ui/assets/app.css";
                @if branding.is_some_and(|b| b.accent_color.is_some()) {
                    link rel="stylesheet" href="/ui/assets/brand.css";
                }
                script src="/ui/assets/app.js" defer {}
            }
            body {
                header.top {
                    @if signed_in.is_some() {
                        a.brand href="/ui" {
                            @if let Some(logo) = branding.and_then(|b| b.logo_url.as_ref()) {
                                img src=(logo.as_str()) alt="";
                            }
                            (name)
                        }
                    } @else {
                        // Signed out, the start page is the sign-in form: nothing to link to.
                        span.brand { (name) }
                    }
                    @if let Some(s) = signed_in {
                        nav {
                            @match s.viewer() {
                                Viewer::Operator { .. } => { a href="/ui" { "Tenants" } a href="/ui/event-types" { "Event types" } }
                                Viewer::Tenant { tenant, .. } => { a href={ "/ui/tenants/" (tenant) } { "Endpoints" } }
                            }
                        }
                        form.sign-out method="post" action="/ui/sign-out" {
                            input type="hidden" name="csrf" value=(s.csrf());
                            @if let Some(label) = viewer_label(s.viewer()) { span.viewer { (label) } }
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main { (main) }
            }
        }
    }
}

/// Who is signed in, as the header says; nothing for a portal session (its user is the
/// platform's, who knows).
fn viewer_label(viewer: &Viewer) -> Option<String> {
    match viewer {
        Viewer::Operator { .. } => Some("Operator".to_owned()),
        Viewer::Tenant { key: Some(_), tenant } => Some(format!("Tenant {tenant}")),
        Viewer::Tenant { key: None, .. } => None,
    }
}

/// A short page for a refusal or an error, with where to go next.
pub fn message(title: &str, signed_in: Option<&SignedIn>, text: &str) -> Markup {
    page(
        title,
        signed_in,
        html! {
            section.card.message {
                h1 { (title) }
                p { (text) }
                p { a href="/ui" { "Back to the start page" } }
            }
        },
    )
}

/// A short page with nowhere to go from it (a refused portal link, an ended portal session: the
/// start page would be the sign-in form, which a portal's user has no key for).
pub fn message_without_links(title: &str, text: &str) -> Markup {
    page(
        title,
        None,
        html! {
            section.card.message {
                h1 { (title) }
                p { (text) }
            }
        },
    )
}
