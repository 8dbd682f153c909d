//! The pages: sign-in and sign-out, the operator's tenant list, a tenant's endpoints; and what
//! the other pages share (paging, the tenant's tabs, the answers for missing and unreadable).

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use herald_core::api_key::{KeyHash, Scope};
use herald_core::circuit::CircuitState;
use herald_core::endpoint::Endpoint;
use herald_core::session::{Session, SessionToken, Viewer};
use herald_core::tenant::Tenant;
use herald_store::PageRequest;
use maud::{Markup, html};
use serde::Deserialize;

use super::form::{self, Invalid, described_by, field};
use super::framing::Framing;
use super::layout::{message, page};
use super::session::{self, CookieSite, SESSION_TTL, SignedIn};
use crate::state::AppState;

/// Rows per page of a list.
pub const PAGE_SIZE: u32 = 50;

#[derive(Debug, Deserialize)]
pub struct Paging {
    cursor: Option<String>,
}

impl Paging {
    /// A cursor not of the API's form starts from the first page.
    fn request(&self) -> PageRequest {
        let cursor = self.cursor.as_deref().and_then(crate::api::extract::decode_cursor);
        PageRequest { limit: PAGE_SIZE, cursor }
    }
}

/// A failure reading the store, shown as a page.
pub fn unavailable(signed_in: Option<&SignedIn>, error: &herald_store::StoreError) -> Response {
    tracing::error!(error = %error, "a web interface page could not read the store");
    (StatusCode::SERVICE_UNAVAILABLE, message("Database unavailable", signed_in, session::UNAVAILABLE))
        .into_response()
}

pub fn not_found(signed_in: &SignedIn) -> Response {
    (StatusCode::NOT_FOUND, message("Not found", Some(signed_in), "There is nothing here, or not for you."))
        .into_response()
}

pub async fn home(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(paging): Query<Paging>,
) -> Response {
    if let Viewer::Tenant { tenant, .. } = signed_in.viewer() {
        return Redirect::to(&format!("/ui/tenants/{tenant}")).into_response();
    }
    let tenants = match state.store.list_tenants(&paging.request()).await {
        Ok(page) => page,
        Err(e) => return unavailable(Some(&signed_in), &e),
    };
    let body = html! {
        h1 { "Tenants" }
        div.toolbar { a.button.primary href="/ui/new-tenant" { "New tenant" } }
        @if tenants.items.is_empty() {
            div.card.empty {
                p { "No tenants yet." }
                p.hint { "Create one with " a href="/ui/new-tenant" { "New tenant" } " (or " code { "POST /v1/tenants" } "): each of your customers is a tenant with its own endpoints and logs." }
            }
        } @else {
            table.list {
                thead { tr { th { "Name" } th { "Id" } th { "Uid" } th { "Created" } } }
                tbody {
                    @for t in &tenants.items { (tenant_row(t)) }
                }
            }
            (pager("/ui", tenants.next_cursor.as_deref()))
        }
    };
    page("Tenants", Some(&signed_in), body).into_response()
}

fn tenant_form(signed_in: &SignedIn, name: &str, uid: &str, invalid: &Invalid) -> Response {
    let bad = |pointer: &str| (!invalid.at(pointer).is_empty()).then_some("true");
    let body = html! {
        h1 { "New tenant" }
        (invalid.summary())
        form method="post" action="/ui/tenants" novalidate {
            input type="hidden" name="csrf" value=(signed_in.csrf());
            (field("name", "Name", Some("Shown to people, e.g. the customer's company name."), &invalid.at("/name"), html! {
                input #name type="text" name="name" value=(name) required autofocus
                    aria-describedby=(described_by("name")) aria-invalid=[bad("/name")];
            }))
            (field("uid", "Your id for it (optional)", Some("Your own identifier, usable in URLs instead of Herald's id."), &invalid.at("/uid"), html! {
                input #uid type="text" name="uid" value=(uid) autocomplete="off"
                    aria-describedby=(described_by("uid")) aria-invalid=[bad("/uid")];
            }))
            div.actions { button.primary type="submit" { "Create tenant" } }
        }
    };
    let status = if invalid.is_empty() { StatusCode::OK } else { invalid.status() };
    (status, page("New tenant", Some(signed_in), body)).into_response()
}

/// The operator's alone (tenants, the catalog), as in the API: a tenant's session gets the same
/// 404 as a page that does not exist.
pub fn operator_only(signed_in: &SignedIn) -> Option<Response> {
    signed_in.viewer().tenant().is_some().then(|| not_found(signed_in))
}

pub async fn new_tenant_form(signed_in: SignedIn) -> Response {
    if let Some(refused) = operator_only(&signed_in) {
        return refused;
    }
    tenant_form(&signed_in, "", "", &Invalid::none())
}

pub async fn create_tenant(
    State(state): State<AppState>,
    signed_in: SignedIn,
    headers: HeaderMap,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    if let Some(refused) = form::refusal(&headers, &signed_in, form::value(&pairs, "csrf")) {
        return refused;
    }
    if let Some(refused) = operator_only(&signed_in) {
        return refused;
    }
    let (name, uid) = (form::value(&pairs, "name"), form::value(&pairs, "uid").trim());
    let mut body = serde_json::json!({ "name": name });
    if !uid.is_empty() {
        body["uid"] = uid.into();
    }
    let created = form::through_api(&body, |input| {
        crate::api::tenants::create(
            State(state.clone()),
            crate::api::extract::Admin,
            crate::api::extract::JsonBody(input),
        )
    })
    .await;
    match created {
        Ok((_, tenant)) => Redirect::to(&format!("/ui/tenants/{}", tenant.0.id)).into_response(),
        Err(e) if e.status().is_client_error() => tenant_form(&signed_in, name, uid, &Invalid::from_api(&e)),
        Err(e) => (e.status(), message("Not saved", Some(&signed_in), e.detail())).into_response(),
    }
}

fn tenant_row(t: &Tenant) -> Markup {
    html! {
        tr {
            td data-label="Name" { a href={ "/ui/tenants/" (t.id) } { (t.name) } }
            td data-label="Id" { code { (t.id) } }
            td data-label="Uid" { @if let Some(uid) = &t.uid { (uid.as_str()) } @else { span.muted { "–" } } }
            td data-label="Created" { time datetime=(t.created_at) { (t.created_at) } }
        }
    }
}

pub fn pager(base: &str, next: Option<&str>) -> Markup {
    html! {
        @if let Some(next) = next {
            nav.pager aria-label="Pages" {
                a href={ (base) "?cursor=" (next) } { "Next page →" }
            }
        }
    }
}

/// The tenant a path names, if this viewer may see it; otherwise the page to answer with (the
/// same 404 for another tenant's page as for one that does not exist).
pub async fn visible_tenant(
    state: &AppState,
    signed_in: &SignedIn,
    segment: &str,
) -> Result<Tenant, Response> {
    let tenant = match state.access.tenant(segment).await {
        Ok(Some(t)) => t,
        Ok(None) => return Err(not_found(signed_in)),
        Err(e) => return Err(unavailable(Some(signed_in), &e)),
    };
    if signed_in.viewer().tenant().is_some_and(|own| *own != tenant.id) {
        return Err(not_found(signed_in));
    }
    Ok(tenant)
}

/// Where a page sits: the tenant, and the list it belongs to.
pub fn crumbs(tenant: &Tenant, list: &str) -> Markup {
    html! {
        p.crumbs {
            a href={ "/ui/tenants/" (tenant.id) } { (tenant.name) }
            " › " (list)
        }
    }
}

/// The tenant a posted form acts on: the form must pass the guard (same origin, the session's
/// CSRF token), and the tenant be one this viewer may see.
pub async fn form_tenant(
    state: &AppState,
    signed_in: &SignedIn,
    headers: &HeaderMap,
    segment: &str,
    pairs: &[(String, String)],
) -> Result<Tenant, Response> {
    if let Some(refused) = form::refusal(headers, signed_in, form::value(pairs, "csrf")) {
        return Err(refused);
    }
    visible_tenant(state, signed_in, segment).await
}

/// The links between a tenant's pages.
pub fn tenant_tabs(tenant: &Tenant, current: &str) -> Markup {
    html! {
        nav.tabs aria-label="Tenant pages" {
            @for (name, path) in [("Endpoints", ""), ("Events", "/events"), ("Deliveries", "/deliveries")] {
                a href={ "/ui/tenants/" (tenant.id) (path) } aria-current=[(name == current).then_some("page")] { (name) }
            }
        }
    }
}

pub async fn tenant(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(segment): Path<String>,
    Query(paging): Query<Paging>,
) -> Response {
    let tenant = match visible_tenant(&state, &signed_in, &segment).await {
        Ok(t) => t,
        Err(page) => return page,
    };
    let endpoints = match state.store.list_endpoints(&tenant.id, &paging.request()).await {
        Ok(page) => page,
        Err(e) => return unavailable(Some(&signed_in), &e),
    };
    let now = state.clock.now();
    // The success rate of each endpoint's attempts over the last day: one bucket of a day.
    let day = std::time::Duration::from_secs(24 * 3600);
    let since =
        herald_core::Timestamp::from_millisecond(now.as_millisecond() - 24 * 3600 * 1000).unwrap_or(now);
    let until = herald_core::Timestamp::from_millisecond(now.as_millisecond() + 1).unwrap_or(now);
    let mut rates = Vec::with_capacity(endpoints.items.len());
    for e in &endpoints.items {
        match state.store.endpoint_timeline(&e.id, since, until, day).await {
            Ok(buckets) => {
                let (attempts, ok) =
                    buckets.iter().fold((0, 0), |(a, s), b| (a + b.attempts, s + b.succeeded));
                rates.push((attempts > 0).then(|| 100.0 * ok as f64 / attempts as f64));
            }
            Err(e) => return unavailable(Some(&signed_in), &e),
        }
    }
    let body = html! {
        h1 { (tenant.name) " " span.muted { "· endpoints" } }
        (tenant_tabs(&tenant, "Endpoints"))
        div.toolbar { a.button.primary href={ "/ui/tenants/" (tenant.id) "/endpoints/new" } { "New endpoint" } }
        @if endpoints.items.is_empty() {
            div.card.empty {
                p { "This tenant has no endpoints yet." }
                p.hint { "Add one with " a href={ "/ui/tenants/" (tenant.id) "/endpoints/new" } { "New endpoint" } ", or with " code { "POST /v1/tenants/" (tenant.id) "/endpoints" } "." }
            }
        } @else {
            table.list {
                thead { tr { th { "URL" } th { "Events" } th { "Status" } th { "Circuit" } th { "Success (24 h)" } th { "Created" } } }
                tbody {
                    @for (e, rate) in endpoints.items.iter().zip(&rates) { (endpoint_row(e, *rate, now)) }
                }
            }
            (pager(&format!("/ui/tenants/{}", tenant.id), endpoints.next_cursor.as_deref()))
        }
    };
    page(&tenant.name, Some(&signed_in), body).into_response()
}

fn endpoint_row(e: &Endpoint, success: Option<f64>, now: herald_core::Timestamp) -> Markup {
    let events: Vec<String> = e.spec.events.iter().map(ToString::to_string).collect();
    html! {
        tr {
            td.url data-label="URL" {
                a href={ "/ui/tenants/" (e.tenant_id) "/endpoints/" (e.id) } { (e.spec.url.as_str()) }
                @if !e.spec.description.is_empty() { div.hint { (e.spec.description) } }
            }
            td data-label="Events" {
                @if events.is_empty() { span.muted { "all events" } } @else { (events.join(", ")) }
            }
            td data-label="Status" {
                @if e.enabled { span.badge.ok { "enabled" } } @else { span.badge.bad { "disabled" } }
            }
            td data-label="Circuit" {
                @match e.health.state(now) {
                    CircuitState::Closed => span.badge.ok { "closed" },
                    CircuitState::Open => span.badge.bad { "open" },
                    CircuitState::HalfOpen => span.badge.warn { "half-open" },
                }
            }
            td data-label="Success (24 h)" {
                @match success {
                    Some(rate) => { (format!("{rate:.1}%")) }
                    None => span.muted { "no attempts" },
                }
            }
            td data-label="Created" { time datetime=(e.created_at) { (e.created_at) } }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    key: String,
}

fn sign_in_page(error: Option<&str>) -> Markup {
    let body = html! {
        section.card.narrow {
            h1 { "Sign in" }
            form method="post" action="/ui/sign-in" novalidate {
                div.field {
                    label for="key" { "API key" }
                    input #key type="password" name="key" autocomplete="off" required autofocus
                        aria-describedby="key-hint" aria-invalid=[error.map(|_| "true")];
                    @if let Some(error) = error { p.error #key-error role="alert" { (error) } }
                    p.hint #key-hint {
                        "An admin key opens the operator console; a tenant's key opens that tenant's pages. "
                        "The key is sent once and kept only as a session cookie."
                    }
                }
                button type="submit" { "Sign in" }
            }
        }
    };
    page("Sign in", None, body)
}

pub async fn sign_in_form() -> Markup {
    sign_in_page(None)
}

pub async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    if !session::same_origin(&headers) {
        return form::cross_site(None);
    }
    let key = form.key.trim();
    if key.is_empty() {
        return (StatusCode::UNPROCESSABLE_ENTITY, sign_in_page(Some("Enter an API key."))).into_response();
    }
    let found = match state.store.api_key_by_hash(&KeyHash::of(key)).await {
        Ok(found) => found,
        Err(e) => return unavailable(None, &e),
    };
    let Some(key) = found else {
        return (
            StatusCode::UNAUTHORIZED,
            sign_in_page(Some("That key is not valid: check it and try again.")),
        )
            .into_response();
    };
    let viewer = match key.scope {
        Scope::Admin => Viewer::Operator { key: key.id },
        Scope::Tenant(tenant) => Viewer::Tenant { tenant, key: Some(key.id) },
    };
    let now = state.clock.now();
    let token = SessionToken::generate();
    let session = Session {
        hash: token.hash(),
        viewer,
        branding: None,
        created_at: now,
        expires_at: herald_core::time::add(now, SESSION_TTL),
    };
    if let Err(e) = state.store.insert_ui_session(&session, now).await {
        return unavailable(None, &e);
    }
    let cookie = session::open_cookie(&token, CookieSite::of(false, &state.config, &headers));
    ([(header::SET_COOKIE, cookie)], Redirect::to("/ui")).into_response()
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// Ends the session. A portal session is told so on a page (it may be inside a frame, and has
/// no key to sign in with again); any other goes back to the sign-in form.
pub async fn sign_out(
    State(state): State<AppState>,
    Extension(framing): Extension<Framing>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !session::same_origin(&headers) {
        return form::cross_site(None);
    }
    let mut portal = false;
    if let Some(token) = session::token_of(&headers) {
        if !token.csrf_matches(&form.csrf) {
            return form::cross_site(None);
        }
        match state.store.ui_session(&token.hash(), state.clock.now()).await {
            Ok(session) => portal = session.is_some_and(|s| s.is_portal()),
            Err(e) => return unavailable(None, &e),
        }
        if let Err(e) = state.store.delete_ui_session(&token.hash()).await {
            return unavailable(None, &e);
        }
    }
    let cookie = session::closed_cookie(CookieSite::of(portal, &state.config, &headers));
    if portal {
        framing.allow(&state.config);
        let text = "You have left the portal. Open it again from the site that showed it to you.";
        let page = super::layout::message_without_links("Signed out", text);
        return ([(header::SET_COOKIE, cookie)], page).into_response();
    }
    ([(header::SET_COOKIE, cookie)], Redirect::to("/ui/sign-in")).into_response()
}
