//! An endpoint's pages: its settings, figures and charts, recent deliveries; the create and edit
//! form; and its actions (test send, secret rotation, recover, delete).
//!
//! Every action calls the REST API's own handler with the request body the form describes, so
//! the web interface and the API accept, refuse and do exactly the same things.

use std::time::Duration;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use herald_core::circuit::CircuitState;
use herald_core::delivery::DeliveryStatus;
use herald_core::endpoint::{Endpoint, EndpointAuth};
use herald_core::event_type::EventType;
use herald_core::id::EndpointId;
use herald_core::tenant::Tenant;
use herald_store::{DeliveryFilter, PageRequest};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};

use super::chart;
use super::deliveries::deliveries_table;
use super::endpoint_form::EndpointForm;
use super::form::{self, Invalid};
use super::layout::{message, page};
use super::pages::{crumbs, form_tenant, not_found, tenant_tabs, unavailable, visible_tenant};
use super::session::SignedIn;
use crate::api::endpoints::{crud, recover, secret, test};
use crate::api::error::ApiError;
use crate::api::extract::{IfMatch, InPath, JsonBody, OptionalJsonBody, TenantScope};
use crate::state::AppState;

type Pairs = Vec<(String, String)>;

/// The catalog's event types (the first thousand), for the form's choices and test sends.
async fn catalog(state: &AppState) -> Result<Vec<EventType>, herald_store::StoreError> {
    Ok(state.store.list_event_types(&PageRequest { limit: 1000, cursor: None }, false).await?.items)
}

/// The tenant and endpoint a path names, if this viewer may see them.
async fn visible_endpoint(
    state: &AppState,
    signed_in: &SignedIn,
    tenant: &str,
    endpoint: &str,
) -> Result<(Tenant, Endpoint), Response> {
    let tenant = visible_tenant(state, signed_in, tenant).await?;
    endpoint_of(state, signed_in, tenant, endpoint).await
}

/// The endpoint a path names, in a tenant the viewer may see.
async fn endpoint_of(
    state: &AppState,
    signed_in: &SignedIn,
    tenant: Tenant,
    endpoint: &str,
) -> Result<(Tenant, Endpoint), Response> {
    let Ok(id) = EndpointId::parse(endpoint) else { return Err(not_found(signed_in)) };
    match state.store.endpoint(&tenant.id, &id).await {
        Ok(Some(endpoint)) => Ok((tenant, endpoint)),
        Ok(None) => Err(not_found(signed_in)),
        Err(e) => Err(unavailable(Some(signed_in), &e)),
    }
}

fn endpoint_path(endpoint: &Endpoint) -> String {
    format!("/ui/tenants/{}/endpoints/{}", endpoint.tenant_id, endpoint.id)
}

/// An API failure that is not about the form's fields, as a page.
fn refused(signed_in: &SignedIn, error: &ApiError) -> Response {
    let title = match error.status() {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::CONFLICT | StatusCode::PRECONDITION_FAILED => "Changed meanwhile",
        s if s.is_server_error() => "Something went wrong",
        _ => "Refused",
    };
    (error.status(), message(title, Some(signed_in), error.detail())).into_response()
}

pub async fn new_form(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(segment): Path<String>,
) -> Response {
    let tenant = match visible_tenant(&state, &signed_in, &segment).await {
        Ok(t) => t,
        Err(page) => return page,
    };
    let catalog = match catalog(&state).await {
        Ok(c) => c,
        Err(e) => return unavailable(Some(&signed_in), &e),
    };
    form_page(&signed_in, &tenant, None, &EndpointForm::blank(), &catalog, &Invalid::none()).into_response()
}

fn form_page(
    signed_in: &SignedIn,
    tenant: &Tenant,
    endpoint: Option<&Endpoint>,
    form: &EndpointForm,
    catalog: &[EventType],
    invalid: &Invalid,
) -> Markup {
    let (title, action, version) = match endpoint {
        Some(e) => ("Edit endpoint".to_owned(), format!("{}/edit", endpoint_path(e)), Some(e.version)),
        None => ("New endpoint".to_owned(), format!("/ui/tenants/{}/endpoints", tenant.id), None),
    };
    let body = html! {
        h1 { (title) " " span.muted { "· " (tenant.name) } }
        (tenant_tabs(tenant, "Endpoints"))
        (form.render(&action, &signed_in.csrf(), version, catalog, invalid))
    };
    page(&title, Some(signed_in), body)
}

pub async fn create(
    State(state): State<AppState>,
    signed_in: SignedIn,
    headers: HeaderMap,
    Path(segment): Path<String>,
    Form(pairs): Form<Pairs>,
) -> Response {
    let tenant = match form_tenant(&state, &signed_in, &headers, &segment, &pairs).await {
        Ok(t) => t,
        Err(page) => return page,
    };
    let catalog = match catalog(&state).await {
        Ok(c) => c,
        Err(e) => return unavailable(Some(&signed_in), &e),
    };
    let input = EndpointForm::from_pairs(&pairs);
    let again = |invalid: Invalid| {
        (invalid.status(), form_page(&signed_in, &tenant, None, &input, &catalog, &invalid)).into_response()
    };
    let body = match input.to_body(None, true) {
        Ok(body) => body,
        Err(invalid) => return again(invalid),
    };
    let created = form::through_api(&body, |parsed| {
        crud::create(State(state.clone()), TenantScope(tenant.clone()), JsonBody(parsed))
    })
    .await;
    match created {
        Ok((_, _, created)) => {
            let created = created.0;
            let path = format!("/ui/tenants/{}/endpoints/{}", tenant.id, created.endpoint.id);
            let body = html! {
                h1 { "Endpoint created" }
                (secret_card(&created.secret.expose(), created.endpoint.public_key.as_deref(), "This endpoint signs every request with this secret."))
                p { a.button href=(path) { "Open the endpoint" } }
            };
            (StatusCode::CREATED, page("Endpoint created", Some(&signed_in), body)).into_response()
        }
        Err(e) if e.status() == StatusCode::UNPROCESSABLE_ENTITY || e.status() == StatusCode::CONFLICT => {
            again(Invalid::from_api(&e))
        }
        Err(e) => refused(&signed_in, &e),
    }
}

/// A new secret, shown this once.
fn secret_card(secret: &str, public_key: Option<&str>, what: &str) -> Markup {
    html! {
        section.card.secret role="status" {
            h2 { "Signing secret" }
            p { (what) " Copy it now: Herald shows it only this once." }
            pre.secret-value data-copy { (secret) }
            @if let Some(key) = public_key {
                p { "Receivers verify signatures with this public key:" }
                pre.secret-value { (key) }
            }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct Range {
    range: Option<String>,
}

/// The chart ranges offered: name, length, bucket count.
const RANGES: [(&str, u64, usize); 3] = [("1h", 3600, 30), ("24h", 24 * 3600, 24), ("7d", 7 * 24 * 3600, 28)];

pub async fn show(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path((segment, id)): Path<(String, String)>,
    Query(range): Query<Range>,
) -> Response {
    let (tenant, endpoint) = match visible_endpoint(&state, &signed_in, &segment, &id).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let credentials = match state.endpoints.credentials(&endpoint) {
        Ok(c) => c,
        Err(e) => return refused(&signed_in, &ApiError::from(e)),
    };
    let (range_name, seconds, buckets) =
        RANGES.iter().copied().find(|(name, ..)| Some(*name) == range.range.as_deref()).unwrap_or(RANGES[1]);
    let now = state.clock.now();
    let width = Duration::from_secs(seconds / buckets as u64);
    // Buckets end at the next whole bucket after now, so they stay put between reloads.
    let width_ms = width.as_millis() as i64;
    let end = (now.as_millisecond() / width_ms + 1) * width_ms;
    let since = herald_core::Timestamp::from_millisecond(end - width_ms * buckets as i64).unwrap_or(now);
    let until = herald_core::Timestamp::from_millisecond(end).unwrap_or(now);
    let stats = state.store.endpoint_stats(&endpoint.id, since, until).await;
    let timeline = state.store.endpoint_timeline(&endpoint.id, since, until, width).await;
    let filter = DeliveryFilter { endpoint_id: Some(endpoint.id.clone()), ..DeliveryFilter::default() };
    let recent =
        state.store.list_deliveries(&tenant.id, &filter, &PageRequest { limit: 10, cursor: None }).await;
    let catalog = catalog(&state).await;
    let (stats, timeline, recent, catalog) = match (stats, timeline, recent, catalog) {
        (Ok(s), Ok(t), Ok(r), Ok(c)) => (s, t, r, c),
        (Err(e), ..) | (_, Err(e), ..) | (_, _, Err(e), _) | (.., Err(e)) => {
            return unavailable(Some(&signed_in), &e);
        }
    };
    let path = endpoint_path(&endpoint);
    let csrf = signed_in.csrf();
    let spec = &endpoint.spec;
    let finished: u64 = stats
        .by_status
        .iter()
        .filter(|(s, _)| matches!(s, DeliveryStatus::Delivered | DeliveryStatus::Failed))
        .map(|(_, n)| n)
        .sum();
    let delivered =
        stats.by_status.iter().find(|(s, _)| *s == DeliveryStatus::Delivered).map_or(0, |(_, n)| *n);
    let examples: Vec<&EventType> = catalog.iter().filter(|t| t.example.is_some()).collect();
    let body = html! {
        (crumbs(&tenant, "Endpoints"))
        h1.url-title { (spec.url.as_str()) }
        (tenant_tabs(&tenant, "Endpoints"))
        div.toolbar {
            a.button href={ (path) "/edit" } { "Edit settings" }
            a.button href={ "/ui/tenants/" (tenant.id) "/deliveries?endpoint=" (endpoint.id) } { "All its deliveries" }
            form.inline method="post" action={ (path) "/delete" } data-confirm="Delete this endpoint? Its delivery log stays." {
                input type="hidden" name="csrf" value=(csrf);
                button.danger type="submit" { "Delete" }
            }
        }
        div.columns {
            section.card {
                h2 { "Settings" }
                dl.facts {
                    dt { "Id" } dd { code { (endpoint.id) } }
                    @if !spec.description.is_empty() { dt { "Description" } dd { (spec.description) } }
                    dt { "Status" } dd {
                        @if endpoint.enabled { span.badge.ok { "enabled" } } @else {
                            span.badge.bad { "disabled" }
                            @if let Some(reason) = &endpoint.disabled_reason { " " span.muted { (reason) } }
                        }
                    }
                    dt { "Circuit" } dd {
                        @match endpoint.health.state(now) {
                            CircuitState::Closed => span.badge.ok { "closed" },
                            CircuitState::Open => span.badge.bad { "open" },
                            CircuitState::HalfOpen => span.badge.warn { "half-open" },
                        }
                    }
                    dt { "Events" } dd {
                        @if spec.events.is_empty() { "all event types" } @else {
                            (spec.events.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))
                        }
                    }
                    @if let Some(filter) = &spec.filter {
                        dt { "Payload filter" } dd { code { (serde_json::to_string(filter).unwrap_or_default()) } }
                    }
                    dt { "Request" } dd { (json_text(&spec.http_method)) ", " (json_text(&spec.payload_format)) ", signed " (json_text(&spec.signature_scheme)) }
                    dt { "Signatures" } dd {
                        (spec.signature_profiles.iter().map(|p| match p {
                            herald_core::signing::SignatureProfile::Standard => "Standard Webhooks".to_owned(),
                            herald_core::signing::SignatureProfile::Hmac(h) => format!("HMAC in {}", h.header),
                        }).collect::<Vec<_>>().join(", "))
                    }
                    @if let Some(status) = endpoint.handshake_status() {
                        dt { "Validation handshake" } dd data-handshake=(json_text(&status)) {
                            (json_text(&status))
                            @if let Some(detail) = endpoint.handshake.as_ref().and_then(|h| h.detail.as_deref()).filter(|_| status == herald_core::handshake::HandshakeStatus::Refused) {
                                ": " (detail)
                            }
                        }
                    }
                    dt { "Authentication" } dd { (auth_label(&credentials.auth)) }
                    @if !credentials.headers.is_empty() {
                        dt { "Custom headers" } dd { (credentials.headers.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")) }
                    }
                    @if spec.ca_cert_pem.is_some() || spec.client_cert_pem.is_some() {
                        dt { "TLS" } dd {
                            @if spec.ca_cert_pem.is_some() { "own CA" }
                            @if spec.ca_cert_pem.is_some() && spec.client_cert_pem.is_some() { ", " }
                            @if spec.client_cert_pem.is_some() { "client certificate" }
                        }
                    }
                    dt { "Retries" } dd {
                        @match &spec.retry_policy {
                            Some(policy) => code { (serde_json::to_string(policy).unwrap_or_default()) },
                            None => "Herald's default schedule",
                        }
                    }
                    @if let Some(limit) = &spec.rate_limit {
                        dt { "Rate limit" } dd {
                            @if let Some(n) = limit.per_second { (n) " per second " }
                            @if let Some(n) = limit.max_in_flight { (n) " in flight" }
                        }
                    }
                    @if let Some(key) = credentials.secret.public_key() { dt { "Public key" } dd { code { (key) } } }
                    dt { "Created" } dd { time datetime=(endpoint.created_at) { (endpoint.created_at) } }
                    dt { "Updated" } dd { time datetime=(endpoint.updated_at) { (endpoint.updated_at) } }
                }
            }
            section.card {
                h2 { "Last " (range_name) }
                nav.tabs.small aria-label="Range" {
                    @for (name, ..) in RANGES {
                        a href={ (path) "?range=" (name) } aria-current=[(name == range_name).then_some("page")] { (name) }
                    }
                }
                dl.figures {
                    div { dt { "Delivered, of finished" } dd data-figure="success-rate" {
                        @if finished > 0 { (format!("{:.1}%", 100.0 * delivered as f64 / finished as f64)) } @else { "–" }
                    } }
                    div { dt { "Attempts" } dd { (stats.attempts) } }
                    div { dt { "Latency p50 / p90 / p99" } dd {
                        @if let Some([p50, p90, p99, _]) = stats.duration_ms { (p50) " / " (p90) " / " (p99) " ms" } @else { "–" }
                    } }
                    div { dt { "Waiting now" } dd { (stats.backlog) } }
                }
                (chart::endpoint_charts(&timeline, since, width, buckets))
            }
        }
        h2 { "Recent deliveries" }
        (deliveries_table(&tenant, &recent.items, &format!("endpoint={}", endpoint.id), "This endpoint has no deliveries yet: send it a test event below."))
        div.columns {
            section.card {
                h2 { "Send a test event" }
                form method="post" action={ (path) "/test" } {
                    input type="hidden" name="csrf" value=(csrf);
                    div.field {
                        label for="test_type" { "Event" }
                        select #test_type name="event_type" {
                            option value="" { "herald.ping (a short test message)" }
                            @for t in &examples { option value=(t.name.as_str()) { (t.name.as_str()) " (the catalog's example)" } }
                        }
                    }
                    button type="submit" { "Send test event" }
                }
            }
            section.card {
                h2 { "Rotate the signing secret" }
                form method="post" action={ (path) "/rotate" } {
                    input type="hidden" name="csrf" value=(csrf);
                    div.field {
                        label for="grace" { "The current secret keeps signing for" }
                        select #grace name="grace_period" {
                            @for (value, label) in [("24h", "24 hours"), ("1h", "1 hour"), ("7d", "7 days"), ("0s", "no time: retire it now")] {
                                option value=(value) { (label) }
                            }
                        }
                    }
                    button type="submit" { "Rotate secret" }
                }
            }
            section.card {
                h2 { "Recover failed deliveries" }
                form method="post" action={ (path) "/recover" } {
                    input type="hidden" name="csrf" value=(csrf);
                    div.field {
                        label for="since" { "Failed deliveries created since (UTC)" }
                        input #since type="datetime-local" name="since" required
                            value=(form::time_input(herald_core::Timestamp::from_millisecond(now.as_millisecond() - 24 * 3600 * 1000).unwrap_or(now)));
                    }
                    button type="submit" { "Queue them again" }
                }
            }
        }
    };
    page(spec.url.as_str(), Some(&signed_in), body).into_response()
}

fn json_text<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(s)) => s,
        _ => String::new(),
    }
}

fn auth_label(auth: &EndpointAuth) -> String {
    match auth {
        EndpointAuth::None => "signature only".into(),
        EndpointAuth::Basic { username, .. } => format!("HTTP Basic as {username}"),
        EndpointAuth::Bearer { .. } => "bearer token".into(),
        EndpointAuth::ApiKey { key_name, .. } => format!("API key in {key_name}"),
        EndpointAuth::Oauth2ClientCredentials { client_id, .. } => {
            format!("OAuth 2.0 client credentials ({client_id})")
        }
    }
}

pub async fn edit_form(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path((segment, id)): Path<(String, String)>,
) -> Response {
    let (tenant, endpoint) = match visible_endpoint(&state, &signed_in, &segment, &id).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let (credentials, catalog) = match (state.endpoints.credentials(&endpoint), catalog(&state).await) {
        (Ok(c), Ok(cat)) => (c, cat),
        (Err(e), _) => return refused(&signed_in, &ApiError::from(e)),
        (_, Err(e)) => return unavailable(Some(&signed_in), &e),
    };
    let form = EndpointForm::of(&endpoint, &credentials, &catalog);
    form_page(&signed_in, &tenant, Some(&endpoint), &form, &catalog, &Invalid::none()).into_response()
}

pub async fn edit(
    State(state): State<AppState>,
    signed_in: SignedIn,
    headers: HeaderMap,
    Path((segment, id)): Path<(String, String)>,
    Form(pairs): Form<Pairs>,
) -> Response {
    let (tenant, endpoint) = match action(&state, &signed_in, &headers, (&segment, &id), &pairs).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let (credentials, catalog) = match (state.endpoints.credentials(&endpoint), catalog(&state).await) {
        (Ok(c), Ok(cat)) => (c, cat),
        (Err(e), _) => return refused(&signed_in, &ApiError::from(e)),
        (_, Err(e)) => return unavailable(Some(&signed_in), &e),
    };
    let input = EndpointForm::from_pairs(&pairs);
    let again = |invalid: Invalid| {
        (invalid.status(), form_page(&signed_in, &tenant, Some(&endpoint), &input, &catalog, &invalid))
            .into_response()
    };
    // The version the form was filled from: a change made meanwhile is not overwritten.
    let Ok(version) = form::value(&pairs, "version").parse::<u64>() else {
        return again(Invalid::fields(vec![crate::api::error::FieldError::new(
            "",
            "the form lacks its version: open it again",
        )]));
    };
    let body = match input.to_body(Some(&credentials), false) {
        Ok(body) => body,
        Err(invalid) => return again(invalid),
    };
    let replaced = form::through_api(&body, |parsed| {
        crud::replace(
            State(state.clone()),
            TenantScope(tenant.clone()),
            InPath(endpoint.id.clone()),
            IfMatch(Some(vec![version])),
            JsonBody(parsed),
        )
    })
    .await;
    match replaced {
        Ok(_) => Redirect::to(&endpoint_path(&endpoint)).into_response(),
        Err(e)
            if matches!(e.status(), StatusCode::UNPROCESSABLE_ENTITY | StatusCode::PRECONDITION_FAILED) =>
        {
            again(Invalid::from_api(&e))
        }
        Err(e) => refused(&signed_in, &e),
    }
}

/// Runs a posted action on a visible endpoint after the form guard.
async fn action(
    state: &AppState,
    signed_in: &SignedIn,
    headers: &HeaderMap,
    (segment, id): (&str, &str),
    pairs: &Pairs,
) -> Result<(Tenant, Endpoint), Response> {
    let tenant = form_tenant(state, signed_in, headers, segment, pairs).await?;
    endpoint_of(state, signed_in, tenant, id).await
}

pub async fn send_test(
    State(state): State<AppState>,
    signed_in: SignedIn,
    headers: HeaderMap,
    Path((segment, id)): Path<(String, String)>,
    Form(pairs): Form<Pairs>,
) -> Response {
    let (tenant, endpoint) = match action(&state, &signed_in, &headers, (&segment, &id), &pairs).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let event_type = form::value(&pairs, "event_type");
    let body = if event_type.is_empty() { json!({}) } else { json!({"eventType": event_type}) };
    let sent = form::through_api(&body, |input| {
        test::test(
            State(state.clone()),
            TenantScope(tenant.clone()),
            InPath(endpoint.id),
            OptionalJsonBody(Some(input)),
        )
    })
    .await;
    match sent {
        Ok((_, sent)) => {
            Redirect::to(&format!("/ui/tenants/{}/deliveries/{}", tenant.id, sent.0.delivery_id))
                .into_response()
        }
        Err(e) => refused(&signed_in, &e),
    }
}

pub async fn rotate(
    State(state): State<AppState>,
    signed_in: SignedIn,
    headers: HeaderMap,
    Path((segment, id)): Path<(String, String)>,
    Form(pairs): Form<Pairs>,
) -> Response {
    let (tenant, endpoint) = match action(&state, &signed_in, &headers, (&segment, &id), &pairs).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let body = json!({"gracePeriod": form::value(&pairs, "grace_period")});
    let rotated = form::through_api(&body, |input| {
        secret::rotate(
            State(state.clone()),
            TenantScope(tenant),
            InPath(endpoint.id.clone()),
            IfMatch(None),
            OptionalJsonBody(Some(input)),
        )
    })
    .await;
    match rotated {
        Ok((_, rotated)) => {
            let rotated = rotated.0;
            let until = match rotated.previous_expires_at {
                Some(t) => html! { "The previous secret also signs until " time datetime=(t) { (t) } "." },
                None => html! { "The previous secrets no longer sign." },
            };
            let body = html! {
                h1 { "Secret rotated" }
                (secret_card(&rotated.secret.expose(), rotated.public_key.as_deref(), "The new secret signs from now on."))
                p { (until) }
                p { a.button href=(endpoint_path(&endpoint)) { "Back to the endpoint" } }
            };
            page("Secret rotated", Some(&signed_in), body).into_response()
        }
        Err(e) => refused(&signed_in, &e),
    }
}

pub async fn recover_failed(
    State(state): State<AppState>,
    signed_in: SignedIn,
    headers: HeaderMap,
    Path((segment, id)): Path<(String, String)>,
    Form(pairs): Form<Pairs>,
) -> Response {
    let (tenant, endpoint) = match action(&state, &signed_in, &headers, (&segment, &id), &pairs).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let since = match form::time(form::value(&pairs, "since")) {
        Ok(Some(since)) => since,
        Ok(None) => {
            return refused(&signed_in, &ApiError::invalid_field("/since", "give the time to recover from"));
        }
        Err(e) => return refused(&signed_in, &ApiError::invalid_field("/since", e)),
    };
    let recovered = form::through_api(&json!({"since": since}), |input| {
        recover::recover(
            State(state.clone()),
            TenantScope(tenant.clone()),
            InPath(endpoint.id.clone()),
            JsonBody(input),
        )
    })
    .await;
    match recovered {
        Ok((_, out)) => {
            let n = out.0.recovered;
            let body = html! {
                h1 { "Recovered" }
                section.card role="status" {
                    p { (n) " failed " (if n == 1 { "delivery was" } else { "deliveries were" }) " queued again." }
                    p {
                        a.button href={ "/ui/tenants/" (tenant.id) "/deliveries?endpoint=" (endpoint.id) } { "See its deliveries" }
                        " "
                        a href=(endpoint_path(&endpoint)) { "Back to the endpoint" }
                    }
                }
            };
            (StatusCode::ACCEPTED, page("Recovered", Some(&signed_in), body)).into_response()
        }
        Err(e) => refused(&signed_in, &e),
    }
}

pub async fn delete(
    State(state): State<AppState>,
    signed_in: SignedIn,
    headers: HeaderMap,
    Path((segment, id)): Path<(String, String)>,
    Form(pairs): Form<Pairs>,
) -> Response {
    let (tenant, endpoint) = match action(&state, &signed_in, &headers, (&segment, &id), &pairs).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    match crud::delete(State(state.clone()), TenantScope(tenant.clone()), InPath(endpoint.id)).await {
        Ok(_) => Redirect::to(&format!("/ui/tenants/{}", tenant.id)).into_response(),
        Err(e) => refused(&signed_in, &e),
    }
}
