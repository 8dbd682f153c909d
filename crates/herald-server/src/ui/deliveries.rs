//! A tenant's delivery log (filters, paging, live updates) and one delivery with its attempts
//! and a retry button.
//!
//! The live view is a server-sent event stream of the log's first page: every second it reads
//! the page again with the same filters and, when anything changed, sends the rendered rows,
//! which the page's script puts in place. It reads the store, not one instance's memory, so it
//! shows attempts made by every instance sharing the database.

use std::convert::Infallible;
use std::time::Duration;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use futures::Stream;
use herald_core::api_key::KeyHash;
use herald_core::delivery::{Attempt, Delivery, DeliveryStatus};
use herald_core::endpoint::Endpoint;
use herald_core::event::{Event, EventId};
use herald_core::event_type::EventTypeName;
use herald_core::id::{DeliveryId, EndpointId};
use herald_core::payload::Envelope;
use herald_core::tenant::Tenant;
use herald_store::{DeliveryFilter, PageRequest};
use maud::{Markup, html};
use serde::Deserialize;

use super::form::{self, Invalid, described_by, field};
use super::layout::{message, page};
use super::pages::{
    PAGE_SIZE, crumbs, form_tenant, not_found, pager, tenant_tabs, unavailable, visible_tenant,
};
use super::session::SignedIn;
use crate::api::extract::{InPath, TenantScope};
use crate::state::AppState;

/// How often the live view reads the log again.
const LIVE_EVERY: Duration = Duration::from_secs(1);

/// The log's filters as typed in the form (and kept in the URL).
#[derive(Debug, Default, Deserialize)]
pub struct LogQuery {
    #[serde(default)]
    cursor: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    endpoint: String,
    #[serde(default)]
    event_type: String,
    #[serde(default)]
    event: String,
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
}

impl LogQuery {
    /// The store's filter, or the fields that do not read.
    fn filter(&self) -> Result<DeliveryFilter, Invalid> {
        let mut errors = Vec::new();
        let status = form::filter_field(
            &self.status,
            "/status",
            |s| s.parse::<DeliveryStatus>().map_err(|_| "pending, retrying, delivered or failed"),
            &mut errors,
        );
        let endpoint_id = form::filter_field(&self.endpoint, "/endpoint", EndpointId::parse, &mut errors);
        let event_type =
            form::filter_field(&self.event_type, "/eventType", EventTypeName::parse, &mut errors);
        let event_id = form::filter_field(&self.event, "/event", EventId::parse, &mut errors);
        let (since, until) = form::time_range(&self.since, &self.until, &mut errors);
        let filter = DeliveryFilter { endpoint_id, event_id, status, event_type, since, until };
        if errors.is_empty() { Ok(filter) } else { Err(Invalid::fields(errors)) }
    }

    /// The filters as a query string (without the cursor), for paging and the live view.
    fn query_string(&self) -> String {
        form::query_string(&[
            ("status", &self.status),
            ("endpoint", &self.endpoint),
            ("event_type", &self.event_type),
            ("event", &self.event),
            ("since", &self.since),
            ("until", &self.until),
        ])
    }

    fn page(&self) -> PageRequest {
        let cursor =
            Some(self.cursor.as_str()).filter(|c| !c.is_empty()).and_then(crate::api::extract::decode_cursor);
        PageRequest { limit: PAGE_SIZE, cursor }
    }
}

fn status_badge(status: DeliveryStatus) -> Markup {
    let class = match status {
        DeliveryStatus::Delivered => "ok",
        DeliveryStatus::Pending | DeliveryStatus::Retrying => "warn",
        DeliveryStatus::Failed => "bad",
    };
    html! { span class={ "badge " (class) } { (status.as_str()) } }
}

fn delivery_row(d: &Delivery) -> Markup {
    html! {
        tr data-delivery=(d.id) {
            td data-label="Delivery" { a href={ "/ui/tenants/" (d.tenant_id) "/deliveries/" (d.id) } { code { (d.id) } } }
            td data-label="Event" { code { (d.event_id.as_str()) } }
            td data-label="Endpoint" { a href={ "/ui/tenants/" (d.tenant_id) "/endpoints/" (d.endpoint_id) } { code { (d.endpoint_id) } } }
            td data-label="Status" { (status_badge(d.status)) }
            td data-label="Attempts" { (d.attempt_count) }
            td data-label="Created" { time datetime=(d.created_at) { (d.created_at) } }
        }
    }
}

fn rows(deliveries: &[Delivery]) -> Markup {
    html! { @for d in deliveries { (delivery_row(d)) } }
}

/// The log's first page as a table that follows new attempts live (`filters`: the query string
/// of the live stream), or `empty` when there is nothing yet (the table is there all the same,
/// hidden, for the first delivery to appear in).
pub fn deliveries_table(tenant: &Tenant, deliveries: &[Delivery], filters: &str, empty: &str) -> Markup {
    live_table(tenant, deliveries, Some(filters), empty)
}

fn live_table(tenant: &Tenant, deliveries: &[Delivery], live: Option<&str>, empty: &str) -> Markup {
    let source = live.map(|filters| format!("/ui/tenants/{}/deliveries/live?{filters}", tenant.id));
    html! {
        div.live-log data-live=[source.as_deref()] {
            div.card.empty data-empty hidden[!deliveries.is_empty()] { p { (empty) } }
            table.list hidden[deliveries.is_empty()] {
                thead { tr { th { "Delivery" } th { "Event" } th { "Endpoint" } th { "Status" } th { "Attempts" } th { "Created" } } }
                tbody data-rows { (rows(deliveries)) }
            }
            @if source.is_some() { p.live-note.muted aria-live="polite" { "Updates live." } }
        }
    }
}

pub async fn log(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(segment): Path<String>,
    Query(query): Query<LogQuery>,
) -> Response {
    let tenant = match visible_tenant(&state, &signed_in, &segment).await {
        Ok(t) => t,
        Err(page) => return page,
    };
    let base = format!("/ui/tenants/{}/deliveries", tenant.id);
    let filter = query.filter();
    let listed = match &filter {
        Ok(filter) => match state.store.list_deliveries(&tenant.id, filter, &query.page()).await {
            Ok(page) => Some(page),
            Err(e) => return unavailable(Some(&signed_in), &e),
        },
        Err(_) => None,
    };
    let invalid = filter.err().unwrap_or_default();
    let filtered = !query.query_string().is_empty();
    let errors = |pointer: &str| invalid.at(pointer);
    let bad = |pointer: &str| (!invalid.at(pointer).is_empty()).then_some("true");
    let body = html! {
        h1 { (tenant.name) " " span.muted { "· deliveries" } }
        (tenant_tabs(&tenant, "Deliveries"))
        form.filters method="get" action=(base) {
            (field("status", "Status", None, &errors("/status"), html! {
                select #status name="status" {
                    option value="" { "any" }
                    @for s in ["pending", "retrying", "delivered", "failed"] {
                        option value=(s) selected[query.status == s] { (s) }
                    }
                }
            }))
            (field("endpoint", "Endpoint id", None, &errors("/endpoint"), html! {
                input #endpoint type="text" name="endpoint" value=(query.endpoint) aria-describedby=(described_by("endpoint")) aria-invalid=[bad("/endpoint")];
            }))
            (field("event_type", "Event type", None, &errors("/eventType"), html! {
                input #event_type type="text" name="event_type" value=(query.event_type) placeholder="order.created" aria-describedby=(described_by("event_type")) aria-invalid=[bad("/eventType")];
            }))
            (field("event", "Event id", None, &errors("/event"), html! {
                input #event type="text" name="event" value=(query.event) aria-describedby=(described_by("event")) aria-invalid=[bad("/event")];
            }))
            (field("since", "Since (UTC)", None, &errors("/since"), html! {
                input #since type="datetime-local" name="since" value=(query.since) aria-describedby=(described_by("since")) aria-invalid=[bad("/since")];
            }))
            (field("until", "Until (UTC)", None, &errors("/until"), html! {
                input #until type="datetime-local" name="until" value=(query.until) aria-describedby=(described_by("until")) aria-invalid=[bad("/until")];
            }))
            div.actions {
                button type="submit" { "Filter" }
                @if filtered { " " a href=(base) { "Clear" } }
            }
        }
        @if let Some(listed) = listed {
            @let empty = if filtered {
                "No deliveries match these filters."
            } else {
                "No deliveries yet. Publish an event (POST /v1/tenants/…/events) or send an endpoint a test event: each subscribed endpoint gets a delivery here."
            };
            @if query.status == "failed" && !listed.items.is_empty() {
                (bulk_retry_form(&signed_in, &tenant, &query))
            }
            @if query.cursor.is_empty() {
                (live_table(&tenant, &listed.items, Some(&query.query_string()), empty))
            } @else {
                (live_table(&tenant, &listed.items, None, empty))
            }
            @let next = listed.next_cursor.as_deref().map(|c| {
                let filters = query.query_string();
                if filters.is_empty() { c.to_owned() } else { format!("{c}&{filters}") }
            });
            (pager(&base, next.as_deref()))
        }
    };
    let status = if invalid.is_empty() { axum::http::StatusCode::OK } else { invalid.status() };
    (status, page(&format!("{} deliveries", tenant.name), Some(&signed_in), body)).into_response()
}

/// The live view: the log's first page, rendered, each time it changes.
pub async fn live(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(segment): Path<String>,
    Query(query): Query<LogQuery>,
) -> Response {
    let tenant = match visible_tenant(&state, &signed_in, &segment).await {
        Ok(t) => t,
        Err(page) => return page,
    };
    let Ok(filter) = query.filter() else { return not_found(&signed_in) };
    let page = PageRequest { limit: PAGE_SIZE, cursor: None };
    let session = signed_in.token.hash();
    let stream = Sse::new(updates(state, session, tenant, filter, page)).keep_alive(KeepAlive::default());
    // A proxy in front (nginx) would otherwise hold the events back to fill its buffer.
    ([("x-accel-buffering", "no")], stream).into_response()
}

/// The rows each time they change, for as long as the session lasts (signing out, or revoking
/// the key it was opened with, ends the stream too).
fn updates(
    state: AppState,
    session: KeyHash,
    tenant: Tenant,
    filter: DeliveryFilter,
    page: PageRequest,
) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    futures::stream::unfold(String::new(), move |last| {
        let (state, session, tenant, filter, page) =
            (state.clone(), session.clone(), tenant.clone(), filter.clone(), page.clone());
        async move {
            let mut wait = Duration::ZERO;
            loop {
                tokio::time::sleep(wait).await;
                wait = LIVE_EVERY;
                match state.store.ui_session(&session, state.clock.now()).await {
                    Ok(Some(_)) => {}
                    Ok(None) => return None,
                    Err(e) => {
                        tracing::warn!(error = %e, "the live delivery log could not read its session");
                        continue;
                    }
                }
                match state.store.list_deliveries(&tenant.id, &filter, &page).await {
                    Ok(listed) => {
                        let html = rows(&listed.items).into_string();
                        if html != last {
                            return Some((Ok(SseEvent::default().event("rows").data(&html)), html));
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "the live delivery log could not read the store"),
                }
            }
        }
    })
}

/// How far back "retry all" reaches when the log's filter names no start.
const BULK_DEFAULT_DAYS: i64 = 30;

/// A button queueing again every delivery the log's filters match (failed ones: the dead letters).
fn bulk_retry_form(signed_in: &SignedIn, tenant: &Tenant, query: &LogQuery) -> Markup {
    html! {
        form.toolbar method="post" action={ "/ui/tenants/" (tenant.id) "/bulk-retries" } {
            input type="hidden" name="csrf" value=(signed_in.csrf());
            @for (name, value) in [("status", &query.status), ("endpoint", &query.endpoint), ("event_type", &query.event_type), ("since", &query.since), ("until", &query.until)] {
                @if !value.trim().is_empty() { input type="hidden" name=(name) value=(value.trim()); }
            }
            button.primary type="submit" {
                @if query.since.trim().is_empty() { "Retry every failed delivery of the last " (BULK_DEFAULT_DAYS) " days that matches" }
                @else { "Retry every failed delivery that matches" }
            }
        }
    }
}

/// Starts a bulk retry of what the log's filters match (the API's own), and shows its progress.
pub async fn bulk_retry(
    State(state): State<AppState>,
    signed_in: SignedIn,
    headers: HeaderMap,
    Path(segment): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let tenant = match form_tenant(&state, &signed_in, &headers, &segment, &pairs).await {
        Ok(t) => t,
        Err(page) => return page,
    };
    let query = LogQuery {
        status: form::value(&pairs, "status").to_owned(),
        endpoint: form::value(&pairs, "endpoint").to_owned(),
        event_type: form::value(&pairs, "event_type").to_owned(),
        since: form::value(&pairs, "since").to_owned(),
        until: form::value(&pairs, "until").to_owned(),
        ..LogQuery::default()
    };
    let filter = match query.filter() {
        Ok(filter) => filter,
        Err(invalid) => {
            return (invalid.status(), message("Not retried", Some(&signed_in), &invalid.detail))
                .into_response();
        }
    };
    let now = state.clock.now();
    let since = filter.since.unwrap_or_else(|| {
        herald_core::Timestamp::from_millisecond(now.as_millisecond() - BULK_DEFAULT_DAYS * 24 * 3_600_000)
            .unwrap_or(now)
    });
    let mut body = serde_json::json!({ "since": since });
    if let Some(until) = filter.until {
        body["until"] = serde_json::json!(until);
    }
    if let Some(status) = filter.status {
        body["status"] = status.as_str().into();
    }
    if let Some(endpoint) = &filter.endpoint_id {
        body["endpointId"] = endpoint.as_str().into();
    }
    if let Some(event_type) = &filter.event_type {
        body["eventType"] = event_type.as_str().into();
    }
    let started = form::through_api(&body, |filter| {
        crate::api::bulk_retries::create(
            State(state.clone()),
            TenantScope(tenant.clone()),
            crate::api::extract::JsonBody(filter),
        )
    })
    .await;
    match started {
        Ok((_, _, op)) => {
            Redirect::to(&format!("/ui/tenants/{}/bulk-retries/{}", tenant.id, op.0.id)).into_response()
        }
        Err(e) => (e.status(), message("Not retried", Some(&signed_in), e.detail())).into_response(),
    }
}

fn deliveries_count(n: u64) -> String {
    if n == 1 { "1 delivery".to_owned() } else { format!("{n} deliveries") }
}

/// A bulk retry's progress; the page refreshes until it is done.
pub async fn bulk_retry_status(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path((segment, id)): Path<(String, String)>,
) -> Response {
    let tenant = match visible_tenant(&state, &signed_in, &segment).await {
        Ok(t) => t,
        Err(page) => return page,
    };
    let Ok(id) = herald_core::id::BulkRetryId::parse(&id) else { return not_found(&signed_in) };
    let op = match state.store.bulk_retry(&tenant.id, &id).await {
        Ok(Some(op)) => op,
        Ok(None) => return not_found(&signed_in),
        Err(e) => return unavailable(Some(&signed_in), &e),
    };
    let body = html! {
        (crumbs(&tenant, "Deliveries"))
        h1 { "Bulk retry" }
        (tenant_tabs(&tenant, "Deliveries"))
        section.card role="status" {
            @match op.finished_at {
                Some(at) => p { span.badge.ok { "done" } " " (deliveries_count(op.retried)) " queued again; finished " time datetime=(at) { (at) } "." },
                None => p data-refresh="2" { span.badge.warn { "running" } " " (deliveries_count(op.retried)) " queued again so far; this page refreshes." },
            }
            p.hint { "Each one gets an attempt with trigger manual, and shows in the log as it happens." }
            p { a.button href={ "/ui/tenants/" (tenant.id) "/deliveries" } { "Back to the delivery log" } }
        }
    };
    page("Bulk retry", Some(&signed_in), body).into_response()
}

fn headers_table(headers: &[(String, String)]) -> Markup {
    html! {
        table.headers {
            tbody { @for (name, value) in headers { tr { th scope="row" { (name) } td { (value) } } } }
        }
    }
}

/// The body an attempt sent: the event rendered in the format its headers name (rendering is
/// deterministic, and the same for every attempt of an event).
/// The body an attempt sent, rendered again from the event: with the endpoint's payload
/// settings while it exists, else in the format the attempt's headers show.
fn sent_body(a: &Attempt, event: &Event, endpoint: Option<&Endpoint>) -> String {
    let header = |name: &str| {
        a.request.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    };
    let envelope = if let Some(endpoint) = endpoint {
        endpoint.spec.envelope()
    } else if header("ce-specversion").is_some() {
        Envelope::CloudeventsBinary
    } else if header("content-type").is_some_and(|t| t.starts_with("application/cloudevents+json")) {
        Envelope::Cloudevents
    } else {
        Envelope::Json
    };
    let body = herald_core::payload::render(event, envelope).body;
    match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(json) => serde_json::to_string_pretty(&json).unwrap_or_default(),
        Err(_) => String::from_utf8_lossy(&body).into_owned(),
    }
}

fn attempt_card(a: &Attempt, event: Option<&Event>, endpoint: Option<&Endpoint>) -> Markup {
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
                @if let Some(event) = event { pre.body { (sent_body(a, event, endpoint)) } }
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

/// One delivery with every attempt: what was sent, what came back; and a retry button.
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
    let (attempts, event, endpoint) = match (
        state.store.attempts(&delivery.id).await,
        state.store.event(&tenant.id, &delivery.event_id).await,
        state.store.endpoint(&tenant.id, &delivery.endpoint_id).await,
    ) {
        (Ok(a), Ok(e), Ok(p)) => (a, e, p),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return unavailable(Some(&signed_in), &e),
    };
    let path = format!("/ui/tenants/{}/deliveries/{}", tenant.id, delivery.id);
    let waiting = matches!(delivery.status, DeliveryStatus::Pending | DeliveryStatus::Retrying);
    let body = html! {
        (crumbs(&tenant, "Deliveries"))
        h1 { "Delivery " code { (delivery.id) } }
        (tenant_tabs(&tenant, "Deliveries"))
        div.toolbar {
            form.inline method="post" action={ (path) "/retry" } {
                input type="hidden" name="csrf" value=(signed_in.csrf());
                button.primary type="submit" { "Retry now" }
            }
            // Reloads the page while attempts are still to come.
            @if waiting { span.muted data-refresh="3" { "Waiting for the next attempt; this page refreshes." } }
        }
        dl.facts.card {
            dt { "Status" } dd data-status=(delivery.status.as_str()) { (status_badge(delivery.status)) }
            dt { "Event" } dd {
                code { (delivery.event_id.as_str()) }
                @if let Some(event) = &event { " " span.muted { (event.event_type.as_str()) } }
            }
            dt { "Endpoint" } dd { a href={ "/ui/tenants/" (tenant.id) "/endpoints/" (delivery.endpoint_id) } { code { (delivery.endpoint_id) } } }
            dt { "Attempts" } dd { (delivery.attempt_count) }
            @if let Some(next) = delivery.next_attempt_at.filter(|_| waiting) {
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
        @for a in attempts.iter().rev() { (attempt_card(a, event.as_ref(), endpoint.as_ref())) }
    };
    page(&format!("Delivery {}", delivery.id), Some(&signed_in), body).into_response()
}

/// Retry a delivery now: the API's retry, which queues it with trigger `manual`.
pub async fn retry(
    State(state): State<AppState>,
    signed_in: SignedIn,
    headers: HeaderMap,
    Path((segment, id)): Path<(String, String)>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let tenant = match form_tenant(&state, &signed_in, &headers, &segment, &pairs).await {
        Ok(t) => t,
        Err(page) => return page,
    };
    let Ok(id) = DeliveryId::parse(&id) else { return not_found(&signed_in) };
    match crate::api::deliveries::retry(State(state.clone()), TenantScope(tenant.clone()), InPath(id.clone()))
        .await
    {
        Ok(_) => Redirect::to(&format!("/ui/tenants/{}/deliveries/{id}", tenant.id)).into_response(),
        Err(e) => (e.status(), message("Not retried", Some(&signed_in), e.detail())).into_response(),
    }
}
