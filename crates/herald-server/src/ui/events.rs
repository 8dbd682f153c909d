//! A tenant's events: the published log, filtered by type and time, each linked to its
//! deliveries.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use herald_core::event_type::EventTypeName;
use herald_store::{EventFilter, PageRequest};
use maud::html;
use serde::Deserialize;

use super::form::{self, Invalid, described_by, field};
use super::layout::page;
use super::pages::{PAGE_SIZE, pager, tenant_tabs, unavailable, visible_tenant};
use super::session::SignedIn;
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
pub struct EventQuery {
    #[serde(default)]
    cursor: String,
    #[serde(default)]
    event_type: String,
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
}

impl EventQuery {
    fn filter(&self) -> Result<EventFilter, Invalid> {
        let mut errors = Vec::new();
        let event_type =
            form::filter_field(&self.event_type, "/eventType", EventTypeName::parse, &mut errors);
        let (since, until) = form::time_range(&self.since, &self.until, &mut errors);
        let filter = EventFilter { event_type, since, until };
        if errors.is_empty() { Ok(filter) } else { Err(Invalid::fields(errors)) }
    }

    fn query_string(&self) -> String {
        form::query_string(&[
            ("event_type", &self.event_type),
            ("since", &self.since),
            ("until", &self.until),
        ])
    }
}

pub async fn list(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(segment): Path<String>,
    Query(query): Query<EventQuery>,
) -> Response {
    let tenant = match visible_tenant(&state, &signed_in, &segment).await {
        Ok(t) => t,
        Err(page) => return page,
    };
    let base = format!("/ui/tenants/{}/events", tenant.id);
    let cursor =
        Some(query.cursor.as_str()).filter(|c| !c.is_empty()).and_then(crate::api::extract::decode_cursor);
    let filter = query.filter();
    let listed = match &filter {
        Ok(filter) => {
            match state.store.list_events(&tenant.id, filter, &PageRequest { limit: PAGE_SIZE, cursor }).await
            {
                Ok(page) => Some(page),
                Err(e) => return unavailable(Some(&signed_in), &e),
            }
        }
        Err(_) => None,
    };
    let invalid = filter.err().unwrap_or_default();
    let filters = query.query_string();
    let bad = |pointer: &str| (!invalid.at(pointer).is_empty()).then_some("true");
    let body = html! {
        h1 { (tenant.name) " " span.muted { "· events" } }
        (tenant_tabs(&tenant, "Events"))
        form.filters method="get" action=(base) {
            (field("event_type", "Event type", None, &invalid.at("/eventType"), html! {
                input #event_type type="text" name="event_type" value=(query.event_type) placeholder="order.created" aria-describedby=(described_by("event_type")) aria-invalid=[bad("/eventType")];
            }))
            (field("since", "Since (UTC)", None, &invalid.at("/since"), html! {
                input #since type="datetime-local" name="since" value=(query.since) aria-describedby=(described_by("since")) aria-invalid=[bad("/since")];
            }))
            (field("until", "Until (UTC)", None, &invalid.at("/until"), html! {
                input #until type="datetime-local" name="until" value=(query.until) aria-describedby=(described_by("until")) aria-invalid=[bad("/until")];
            }))
            div.actions {
                button type="submit" { "Filter" }
                @if !filters.is_empty() { " " a href=(base) { "Clear" } }
            }
        }
        @if let Some(listed) = listed {
            @if listed.items.is_empty() {
                div.card.empty {
                    @if filters.is_empty() {
                        p { "No events yet." }
                        p.hint { "Publish one with " code { "POST /v1/tenants/" (tenant.id) "/events" } "." }
                    } @else {
                        p { "No events match these filters." }
                    }
                }
            } @else {
                table.list {
                    thead { tr { th { "Event" } th { "Type" } th { "Subject" } th { "Published" } th { "Deliveries" } } }
                    tbody {
                        @for e in &listed.items {
                            tr {
                                td data-label="Event" { code { (e.id.as_str()) } }
                                td data-label="Type" { code { (e.event_type.as_str()) } }
                                td data-label="Subject" { @if let Some(s) = &e.subject { (s) } @else { span.muted { "–" } } }
                                td data-label="Published" { time datetime=(e.created_at) { (e.created_at) } }
                                td data-label="Deliveries" {
                                    a href={ "/ui/tenants/" (tenant.id) "/deliveries?event=" (e.id.as_str()) } { "Its deliveries" }
                                }
                            }
                        }
                    }
                }
                @let next = listed.next_cursor.as_deref().map(|c| if filters.is_empty() { c.to_owned() } else { format!("{c}&{filters}") });
                (pager(&base, next.as_deref()))
            }
        }
    };
    let status = if invalid.is_empty() { StatusCode::OK } else { invalid.status() };
    (status, page(&format!("{} events", tenant.name), Some(&signed_in), body)).into_response()
}
