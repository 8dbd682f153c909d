//! The event-type catalog (operator only): the list, and a form to add or edit a type with its
//! label, description, JSON Schema and example. Saving goes through the API's own handlers.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use herald_core::event_type::{EventType, EventTypeName};
use herald_store::PageRequest;
use maud::{Markup, html};
use serde_json::{Map, Value};

use super::form::{self, Invalid, described_by, field};
use super::layout::{message, page};
use super::pages::{not_found, operator_only, unavailable};
use super::session::SignedIn;
use crate::api::error::FieldError;
use crate::api::event_types;
use crate::api::extract::{Admin, InPath, JsonBody};
use crate::state::AppState;

pub async fn list(State(state): State<AppState>, signed_in: SignedIn) -> Response {
    if let Some(page) = operator_only(&signed_in) {
        return page;
    }
    let types = match state.store.list_event_types(&PageRequest { limit: 1000, cursor: None }, true).await {
        Ok(page) => page.items,
        Err(e) => return unavailable(Some(&signed_in), &e),
    };
    let body = html! {
        h1 { "Event types" }
        div.toolbar { a.button.primary href="/ui/new-event-type" { "New event type" } }
        @if types.is_empty() {
            div.card.empty {
                p { "The catalog is empty." }
                p.hint { "Add the event types your platform publishes, with a schema and an example: endpoints subscribe to them, and test sends use the example." }
            }
        } @else {
            table.list {
                thead { tr { th { "Name" } th { "Label" } th { "Schema" } th { "Example" } th { "Updated" } } }
                tbody {
                    @for t in &types {
                        tr {
                            td data-label="Name" {
                                a href={ "/ui/event-types/" (t.name.as_str()) } { code { (t.name.as_str()) } }
                                @if t.deprecated { " " span.badge.warn { "deprecated" } }
                            }
                            td data-label="Label" { (t.label) }
                            td data-label="Schema" { @if t.schema.is_some() { "yes" } @else { span.muted { "none" } } }
                            td data-label="Example" { @if t.example.is_some() { "yes" } @else { span.muted { "none" } } }
                            td data-label="Updated" { time datetime=(t.updated_at) { (t.updated_at) } }
                        }
                    }
                }
            }
        }
    };
    page("Event types", Some(&signed_in), body).into_response()
}

/// The form's fields, as typed.
#[derive(Debug, Default)]
struct TypeForm {
    name: String,
    label: String,
    description: String,
    schema: String,
    example: String,
    deprecated: bool,
}

impl TypeForm {
    fn of(t: &EventType) -> Self {
        let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_default();
        Self {
            name: t.name.as_str().to_owned(),
            label: t.label.clone(),
            description: t.description.clone(),
            schema: t
                .schema
                .as_ref()
                .and_then(|s| serde_json::to_value(s).ok())
                .map(|v| pretty(&v))
                .unwrap_or_default(),
            example: t.example.as_ref().map(pretty).unwrap_or_default(),
            deprecated: t.deprecated,
        }
    }

    fn from_pairs(pairs: &[(String, String)]) -> Self {
        Self {
            name: form::value(pairs, "name").trim().to_owned(),
            label: form::value(pairs, "label").to_owned(),
            description: form::value(pairs, "description").to_owned(),
            schema: form::value(pairs, "schema").to_owned(),
            example: form::value(pairs, "example").to_owned(),
            deprecated: form::value(pairs, "deprecated") == "on",
        }
    }

    /// The API's body (`name` only when creating).
    fn to_body(&self, creating: bool) -> Result<Value, Invalid> {
        let mut errors = Vec::new();
        let mut body = Map::new();
        if creating {
            body.insert("name".into(), self.name.clone().into());
        }
        if !self.label.trim().is_empty() {
            body.insert("label".into(), self.label.trim().into());
        }
        body.insert("description".into(), self.description.trim().into());
        body.insert("deprecated".into(), self.deprecated.into());
        for (key, text) in [("schema", &self.schema), ("example", &self.example)] {
            if text.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Value>(text) {
                Ok(value) => {
                    body.insert(key.into(), value);
                }
                Err(e) => errors.push(FieldError::new(format!("/{key}"), format!("this is not JSON: {e}"))),
            }
        }
        if errors.is_empty() { Ok(Value::Object(body)) } else { Err(Invalid::fields(errors)) }
    }

    fn render(&self, action: &str, csrf: &str, creating: bool, invalid: &Invalid) -> Markup {
        let bad = |pointer: &str| (!invalid.at(pointer).is_empty()).then_some("true");
        html! {
            (invalid.summary())
            form method="post" action=(action) novalidate {
                input type="hidden" name="csrf" value=(csrf);
                @if creating {
                    (field("name", "Name", Some("Dot-separated, e.g. invoice.paid. Fixed once created."), &invalid.at("/name"), html! {
                        input #name type="text" name="name" value=(self.name) required autocomplete="off"
                            aria-describedby=(described_by("name")) aria-invalid=[bad("/name")];
                    }))
                }
                (field("label", "Label", Some("A short human name; the name when empty."), &invalid.at("/label"), html! {
                    input #label type="text" name="label" value=(self.label) aria-describedby=(described_by("label")) aria-invalid=[bad("/label")];
                }))
                (field("description", "Description", None, &invalid.at("/description"), html! {
                    textarea #description name="description" rows="2" aria-describedby=(described_by("description")) aria-invalid=[bad("/description")] { (self.description) }
                }))
                (field("schema", "JSON Schema of the data", Some("Events of this type are checked against it when published."), &invalid.at("/schema"), html! {
                    textarea.code #schema name="schema" rows="8" spellcheck="false" aria-describedby=(described_by("schema")) aria-invalid=[bad("/schema")] { (self.schema) }
                }))
                (field("example", "Example data", Some("Sent by test sends; must satisfy the schema."), &invalid.at("/example"), html! {
                    textarea.code #example name="example" rows="6" spellcheck="false" aria-describedby=(described_by("example")) aria-invalid=[bad("/example")] { (self.example) }
                }))
                div.field.check {
                    input #deprecated type="checkbox" name="deprecated" checked[self.deprecated];
                    label for="deprecated" { "Deprecated: hidden from the catalog's default list" }
                }
                div.actions { button.primary type="submit" { @if creating { "Create event type" } @else { "Save changes" } } }
            }
        }
    }
}

fn form_page(
    signed_in: &SignedIn,
    title: &str,
    form: &TypeForm,
    action: &str,
    creating: bool,
    invalid: &Invalid,
) -> Response {
    let body = html! {
        h1 { (title) }
        p { a href="/ui/event-types" { "← Event types" } }
        (form.render(action, &signed_in.csrf(), creating, invalid))
    };
    let status = if invalid.is_empty() { StatusCode::OK } else { invalid.status() };
    (status, page(title, Some(signed_in), body)).into_response()
}

pub async fn new_form(signed_in: SignedIn) -> Response {
    if let Some(page) = operator_only(&signed_in) {
        return page;
    }
    form_page(&signed_in, "New event type", &TypeForm::default(), "/ui/event-types", true, &Invalid::none())
}

pub async fn create(
    State(state): State<AppState>,
    signed_in: SignedIn,
    headers: HeaderMap,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    if let Some(refused) = form::refusal(&headers, &signed_in, form::value(&pairs, "csrf")) {
        return refused;
    }
    if let Some(page) = operator_only(&signed_in) {
        return page;
    }
    let input = TypeForm::from_pairs(&pairs);
    let again =
        |invalid: Invalid| form_page(&signed_in, "New event type", &input, "/ui/event-types", true, &invalid);
    let body = match input.to_body(true) {
        Ok(body) => body,
        Err(invalid) => return again(invalid),
    };
    let created =
        form::through_api(&body, |parsed| event_types::create(State(state.clone()), Admin, JsonBody(parsed)))
            .await;
    match created {
        Ok(_) => Redirect::to("/ui/event-types").into_response(),
        Err(e) if e.status().is_client_error() => again(Invalid::from_api(&e)),
        Err(e) => (e.status(), message("Not saved", Some(&signed_in), e.detail())).into_response(),
    }
}

async fn find(state: &AppState, signed_in: &SignedIn, name: &str) -> Result<EventType, Response> {
    if let Some(page) = operator_only(signed_in) {
        return Err(page);
    }
    let Ok(name) = EventTypeName::parse(name) else { return Err(not_found(signed_in)) };
    match state.store.event_type(&name).await {
        Ok(Some(t)) => Ok(t),
        Ok(None) => Err(not_found(signed_in)),
        Err(e) => Err(unavailable(Some(signed_in), &e)),
    }
}

pub async fn edit_form(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(name): Path<String>,
) -> Response {
    let current = match find(&state, &signed_in, &name).await {
        Ok(t) => t,
        Err(page) => return page,
    };
    let title = format!("Event type {}", current.name);
    let action = format!("/ui/event-types/{}", current.name);
    form_page(&signed_in, &title, &TypeForm::of(&current), &action, false, &Invalid::none())
}

pub async fn edit(
    State(state): State<AppState>,
    signed_in: SignedIn,
    headers: HeaderMap,
    Path(name): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    if let Some(refused) = form::refusal(&headers, &signed_in, form::value(&pairs, "csrf")) {
        return refused;
    }
    let current = match find(&state, &signed_in, &name).await {
        Ok(t) => t,
        Err(page) => return page,
    };
    let title = format!("Event type {}", current.name);
    let action = format!("/ui/event-types/{}", current.name);
    let input = TypeForm { name: current.name.as_str().to_owned(), ..TypeForm::from_pairs(&pairs) };
    let again = |invalid: Invalid| form_page(&signed_in, &title, &input, &action, false, &invalid);
    let body = match input.to_body(false) {
        Ok(body) => body,
        Err(invalid) => return again(invalid),
    };
    let replaced = form::through_api(&body, |parsed| {
        event_types::replace(State(state.clone()), Admin, InPath(current.name.clone()), JsonBody(parsed))
    })
    .await;
    match replaced {
        Ok(_) => Redirect::to("/ui/event-types").into_response(),
        Err(e) if e.status().is_client_error() => again(Invalid::from_api(&e)),
        Err(e) => (e.status(), message("Not saved", Some(&signed_in), e.detail())).into_response(),
    }
}
