//! The pages: sign-in and sign-out, the operator's tenant list, a tenant's endpoints and its
//! delivery log.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use herald_core::api_key::{KeyHash, Scope};
use herald_core::circuit::CircuitState;
use herald_core::delivery::{Attempt, Delivery, DeliveryStatus};
use herald_core::endpoint::Endpoint;
use herald_core::id::DeliveryId;
use herald_core::session::{Session, SessionToken, Viewer};
use herald_core::tenant::Tenant;
use herald_store::{DeliveryFilter, PageRequest};
use maud::{Markup, html};
use serde::Deserialize;

use super::framing::Framing;
use super::layout::{message, page};
use super::session::{self, CookieSite, SESSION_TTL, SignedIn};
use crate::state::AppState;

/// Rows per page of a list.
const PAGE_SIZE: u32 = 50;

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
fn unavailable(signed_in: Option<&SignedIn>, error: &herald_store::StoreError) -> Response {
    tracing::error!(error = %error, "a web interface page could not read the store");
    (StatusCode::SERVICE_UNAVAILABLE, message("Database unavailable", signed_in, session::UNAVAILABLE))
        .into_response()
}

fn not_found(signed_in: &SignedIn) -> Response {
    (StatusCode::NOT_FOUND, message("Not found", Some(signed_in), "There is nothing here, or not for you."))
        .into_response()
}

fn cross_site(signed_in: Option<&SignedIn>) -> Response {
    let text =
        "This form was sent from another site, so Herald refused it. Open Herald directly and try again.";
    (StatusCode::FORBIDDEN, message("Request refused", signed_in, text)).into_response()
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
        @if tenants.items.is_empty() {
            div.card.empty {
                p { "No tenants yet." }
                p.hint { "Create one with " code { "POST /v1/tenants" } " and it shows here." }
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

fn pager(base: &str, next: Option<&str>) -> Markup {
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
async fn visible_tenant(state: &AppState, signed_in: &SignedIn, segment: &str) -> Result<Tenant, Response> {
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

/// The links between a tenant's pages.
fn tenant_tabs(tenant: &Tenant, current: &str) -> Markup {
    html! {
        nav.tabs aria-label="Tenant pages" {
            @for (name, path) in [("Endpoints", ""), ("Deliveries", "/deliveries")] {
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
    let body = html! {
        h1 { (tenant.name) " " span.muted { "· endpoints" } }
        (tenant_tabs(&tenant, "Endpoints"))
        @if endpoints.items.is_empty() {
            div.card.empty {
                p { "This tenant has no endpoints yet." }
                p.hint { "Add one with " code { "POST /v1/tenants/" (tenant.id) "/endpoints" } "." }
            }
        } @else {
            table.list {
                thead { tr { th { "URL" } th { "Events" } th { "Status" } th { "Circuit" } th { "Created" } } }
                tbody {
                    @for e in &endpoints.items { (endpoint_row(e, now)) }
                }
            }
            (pager(&format!("/ui/tenants/{}", tenant.id), endpoints.next_cursor.as_deref()))
        }
    };
    page(&tenant.name, Some(&signed_in), body).into_response()
}

fn endpoint_row(e: &Endpoint, now: herald_core::Timestamp) -> Markup {
    let events: Vec<String> = e.spec.events.iter().map(ToString::to_string).collect();
    html! {
        tr {
            td.url data-label="URL" {
                (e.spec.url.as_str())
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
            td data-label="Created" { time datetime=(e.created_at) { (e.created_at) } }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct DeliveryQuery {
    cursor: Option<String>,
    status: Option<String>,
}

pub async fn deliveries(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(segment): Path<String>,
    Query(query): Query<DeliveryQuery>,
) -> Response {
    let tenant = match visible_tenant(&state, &signed_in, &segment).await {
        Ok(t) => t,
        Err(page) => return page,
    };
    // An unknown status shows everything rather than an error: the filter is a select box.
    let status =
        query.status.as_deref().filter(|s| !s.is_empty()).and_then(|s| s.parse::<DeliveryStatus>().ok());
    let filter = DeliveryFilter { status, ..DeliveryFilter::default() };
    let paging = Paging { cursor: query.cursor.clone() };
    let deliveries = match state.store.list_deliveries(&tenant.id, &filter, &paging.request()).await {
        Ok(page) => page,
        Err(e) => return unavailable(Some(&signed_in), &e),
    };
    let base = format!("/ui/tenants/{}/deliveries", tenant.id);
    let chosen = status.map(|s| s.as_str());
    let body = html! {
        h1 { (tenant.name) " " span.muted { "· deliveries" } }
        (tenant_tabs(&tenant, "Deliveries"))
        form.filters method="get" action=(base) {
            label for="status" { "Status" }
            select #status name="status" {
                option value="" { "any" }
                @for s in ["pending", "retrying", "delivered", "failed"] {
                    option value=(s) selected[chosen == Some(s)] { (s) }
                }
            }
            button type="submit" { "Filter" }
        }
        @if deliveries.items.is_empty() {
            div.card.empty {
                @if status.is_some() {
                    p { "No deliveries with this status." }
                } @else {
                    p { "No deliveries yet." }
                    p.hint { "Publish an event with " code { "POST /v1/tenants/" (tenant.id) "/events" } "; each subscribed endpoint gets a delivery here." }
                }
            }
        } @else {
            table.list {
                thead { tr { th { "Delivery" } th { "Event" } th { "Endpoint" } th { "Status" } th { "Attempts" } th { "Created" } } }
                tbody {
                    @for d in &deliveries.items { (delivery_row(d)) }
                }
            }
            @let next = deliveries.next_cursor.as_deref().map(|c| match chosen {
                Some(s) => format!("{c}&status={s}"),
                None => c.to_owned(),
            });
            (pager(&base, next.as_deref()))
        }
    };
    page(&format!("{} deliveries", tenant.name), Some(&signed_in), body).into_response()
}

fn status_badge(status: DeliveryStatus) -> Markup {
    let class = match status {
        DeliveryStatus::Delivered => "ok",
        DeliveryStatus::Pending | DeliveryStatus::Retrying => "warn",
        DeliveryStatus::Failed => "bad",
    };
    html! { span class={ "badge " (class) } { (status.as_str()) } }
}

/// One delivery with every attempt: what was sent, what came back.
pub async fn delivery(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path((segment, id)): Path<(String, String)>,
) -> Response {
    let tenant = match visible_tenant(&state, &signed_in, &segment).await {
        Ok(t) => t,
        Err(page) => return page,
    };
    let Ok(id) = DeliveryId::parse(&id) else { return not_found(&signed_in) };
    let delivery = match state.store.delivery(&tenant.id, &id).await {
        Ok(Some(d)) => d,
        Ok(None) => return not_found(&signed_in),
        Err(e) => return unavailable(Some(&signed_in), &e),
    };
    let attempts = match state.store.attempts(&delivery.id).await {
        Ok(a) => a,
        Err(e) => return unavailable(Some(&signed_in), &e),
    };
    let body = html! {
        h1 { "Delivery " code { (delivery.id) } }
        (tenant_tabs(&tenant, "Deliveries"))
        dl.facts.card {
            dt { "Status" } dd { (status_badge(delivery.status)) }
            dt { "Event" } dd { code { (delivery.event_id.as_str()) } }
            dt { "Endpoint" } dd { code { (delivery.endpoint_id) } }
            dt { "Attempts" } dd { (delivery.attempt_count) }
            @if let Some(next) = delivery.next_attempt_at.filter(|_| matches!(delivery.status, DeliveryStatus::Pending | DeliveryStatus::Retrying)) {
                dt { "Next attempt" } dd { time datetime=(next) { (next) } }
            }
            @if let Some(reason) = delivery.failure_reason {
                dt { "Failure" } dd { (reason.as_str()) }
            }
            dt { "Created" } dd { time datetime=(delivery.created_at) { (delivery.created_at) } }
        }
        h2 { "Attempts" }
        @if attempts.is_empty() {
            div.card.empty { p { "No attempt yet: the first one is on its way." } }
        }
        @for a in attempts.iter().rev() { (attempt_card(a)) }
    };
    page(&format!("Delivery {}", delivery.id), Some(&signed_in), body).into_response()
}

fn headers_table(headers: &[(String, String)]) -> Markup {
    html! {
        table.headers {
            tbody { @for (name, value) in headers { tr { th scope="row" { (name) } td { (value) } } } }
        }
    }
}

fn attempt_card(a: &Attempt) -> Markup {
    html! {
        section.card.attempt {
            h3 {
                "Attempt " (a.attempt_no) " "
                @match (a.response_status, a.error_kind) {
                    (_, Some(kind)) => span.badge.bad { (kind.as_str()) },
                    (Some(status), None) => span.badge.ok { (status) },
                    (None, None) => span.badge.warn { "no response" },
                }
                " " span.muted { (a.duration_ms) " ms · " (a.trigger.as_str()) " · " time datetime=(a.started_at) { (a.started_at) } }
            }
            @if let Some(message) = &a.error_message { p.error { (message) } }
            details {
                summary { "Request: " (a.request.method) " " (a.request.url) }
                (headers_table(&a.request.headers))
            }
            @if a.response_status.is_some() {
                details open {
                    summary { "Response " @if let Some(status) = a.response_status { (status) } }
                    (headers_table(&a.response_headers))
                    @if let Some(body) = a.response_body.as_deref().filter(|b| !b.is_empty()) { pre { (body) } }
                }
            }
        }
    }
}

fn delivery_row(d: &Delivery) -> Markup {
    html! {
        tr {
            td data-label="Delivery" { a href={ "/ui/tenants/" (d.tenant_id) "/deliveries/" (d.id) } { code { (d.id) } } }
            td data-label="Event" { code { (d.event_id.as_str()) } }
            td data-label="Endpoint" { code { (d.endpoint_id) } }
            td data-label="Status" { (status_badge(d.status)) }
            td data-label="Attempts" { (d.attempt_count) }
            td data-label="Created" { time datetime=(d.created_at) { (d.created_at) } }
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
        return cross_site(None);
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
        return cross_site(None);
    }
    let mut portal = false;
    if let Some(token) = session::token_of(&headers) {
        if !token.csrf_matches(&form.csrf) {
            return cross_site(None);
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
