//! The page shell every page shares, and the two static assets (embedded in the binary).

use axum::http::header;
use axum::response::IntoResponse;
use maud::{DOCTYPE, Markup, html};

use super::session::SignedIn;
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

/// A whole page: the header (with the viewer and sign-out when signed in) around `main`.
pub fn page(title: &str, signed_in: Option<&SignedIn>, main: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Herald" }
                link rel="stylesheet" href="/ui/assets/app.css";
                script src="/ui/assets/app.js" defer {}
            }
            body {
                header.top {
                    a.brand href="/ui" { "Herald" }
                    @if let Some(s) = signed_in {
                        nav {
                            @match s.viewer() {
                                Viewer::Operator { .. } => { a href="/ui" { "Tenants" } a href="/ui/event-types" { "Event types" } }
                                Viewer::Tenant { tenant, .. } => { a href={ "/ui/tenants/" (tenant) } { "Endpoints" } }
                            }
                        }
                        form.sign-out method="post" action="/ui/sign-out" {
                            input type="hidden" name="csrf" value=(s.csrf());
                            span.viewer { (viewer_label(s.viewer())) }
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main { (main) }
            }
        }
    }
}

fn viewer_label(viewer: &Viewer) -> String {
    match viewer {
        Viewer::Operator { .. } => "Operator".to_owned(),
        Viewer::Tenant { tenant, .. } => format!("Tenant {tenant}"),
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
