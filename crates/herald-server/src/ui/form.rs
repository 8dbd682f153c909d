//! What every form of the web interface shares: the guard a posted form passes, the API's
//! problem details shown beside the fields they name, and labelled fields.
//!
//! Forms do not have rules of their own: a form is turned into the API's request body and
//! handed to the API's handler, so the web interface accepts and refuses exactly what the REST
//! API does, with the same messages.

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use herald_core::Timestamp;
use maud::{Markup, html};

use super::layout::message;
use super::session::{self, SignedIn};
use crate::api::error::{ApiError, ApiResult, FieldError};

/// The refusal of a posted form that another site sent, or that lacks this session's CSRF
/// token; `None` when the form may be acted on.
pub fn refusal(headers: &HeaderMap, signed_in: &SignedIn, csrf: &str) -> Option<Response> {
    let ours = session::same_origin(headers) && signed_in.token.csrf_matches(csrf);
    (!ours).then(|| cross_site(Some(signed_in)))
}

/// The page a refused cross-site (or token-less) form gets.
pub fn cross_site(signed_in: Option<&SignedIn>) -> Response {
    let text =
        "This form was sent from another site, so Herald refused it. Open Herald directly and try again.";
    (StatusCode::FORBIDDEN, message("Request refused", signed_in, text)).into_response()
}

/// Reads `body` as the API reads a request body, then hands it to one of the API's handlers:
/// how every form of the web interface acts.
pub async fn through_api<T, R, Fut>(body: &serde_json::Value, handler: impl FnOnce(T) -> Fut) -> ApiResult<R>
where
    T: serde::de::DeserializeOwned,
    Fut: Future<Output = ApiResult<R>>,
{
    handler(crate::api::extract::read_value(body)?).await
}

/// The first value of a field in a posted form (`name=value&…`, in order).
pub fn value<'a>(pairs: &'a [(String, String)], name: &str) -> &'a str {
    pairs.iter().find(|(n, _)| n == name).map_or("", |(_, v)| v.as_str())
}

/// Every value of a repeated field (checkboxes).
pub fn values<'a>(pairs: &'a [(String, String)], name: &'a str) -> impl Iterator<Item = &'a str> {
    pairs.iter().filter(move |(n, _)| n == name).map(|(_, v)| v.as_str())
}

/// Why a form was refused: the API's problem, its fields by JSON pointer.
#[derive(Debug, Default, Clone)]
pub struct Invalid {
    pub status: Option<StatusCode>,
    pub detail: String,
    pub errors: Vec<FieldError>,
}

impl Invalid {
    pub fn none() -> Self {
        Self::default()
    }

    pub fn from_api(error: &ApiError) -> Self {
        Self {
            status: Some(error.status()),
            detail: error.detail().to_owned(),
            errors: error.errors().to_vec(),
        }
    }

    /// Field errors found while reading the form itself, phrased as the API would.
    pub fn fields(errors: Vec<FieldError>) -> Self {
        Self::from_api(&ApiError::invalid(errors))
    }

    pub fn is_empty(&self) -> bool {
        self.status.is_none()
    }

    /// The messages of the fields at `pointer` or inside it (`/auth` holds `/auth/password`).
    pub fn at(&self, pointer: &str) -> Vec<String> {
        self.errors
            .iter()
            .filter(|e| e.path == pointer || e.path.starts_with(&format!("{pointer}/")))
            .map(|e| match e.path.strip_prefix(pointer).filter(|rest| !rest.is_empty()) {
                Some(rest) => format!("{}: {}", rest.trim_start_matches('/'), e.message),
                None => e.message.clone(),
            })
            .collect()
    }

    /// The status to answer with: the API's, or 422.
    pub fn status(&self) -> StatusCode {
        self.status.unwrap_or(StatusCode::UNPROCESSABLE_ENTITY)
    }

    /// The summary above a refused form (`role="alert"`, so screen readers announce it).
    pub fn summary(&self) -> Markup {
        html! {
            @if !self.is_empty() {
                div.card.problem role="alert" {
                    p { strong { "Not saved: " } (self.detail) }
                }
            }
        }
    }
}

/// A labelled field: the label, the control (built by the caller with the same `id`, and with
/// `aria-describedby` naming `{id}-hint` and `{id}-error`), its errors and its hint.
pub fn field(id: &str, label: &str, hint: Option<&str>, errors: &[String], control: Markup) -> Markup {
    html! {
        div.field {
            label for=(id) { (label) }
            (control)
            @if !errors.is_empty() {
                p.error id={ (id) "-error" } role="alert" { (errors.join("; ")) }
            }
            @if let Some(hint) = hint { p.hint id={ (id) "-hint" } { (hint) } }
        }
    }
}

/// What `aria-describedby` names for a field.
pub fn described_by(id: &str) -> String {
    format!("{id}-hint {id}-error")
}

/// A time typed in a form: RFC 3339, or a `datetime-local` value (`2026-11-24T10:00`, read as
/// UTC). Empty: none.
pub fn time(text: &str) -> Result<Option<Timestamp>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if let Ok(t) = text.parse::<Timestamp>() {
        return Ok(Some(t));
    }
    let with_seconds = if text.len() == 16 { format!("{text}:00Z") } else { format!("{text}Z") };
    with_seconds
        .parse::<Timestamp>()
        .map(Some)
        .map_err(|_| format!("`{text}` is not a time: write 2026-11-24T10:00 (UTC) or RFC 3339"))
}

/// A filter field as typed: none when empty; otherwise what `parse` makes of it, or its error
/// recorded at `pointer`.
pub fn filter_field<T, E: ToString>(
    typed: &str,
    pointer: &str,
    parse: impl FnOnce(&str) -> Result<T, E>,
    errors: &mut Vec<FieldError>,
) -> Option<T> {
    let typed = typed.trim();
    if typed.is_empty() {
        return None;
    }
    parse(typed).map_err(|e| errors.push(FieldError::new(pointer, e.to_string()))).ok()
}

/// A time range's two ends as typed in a filter form (see [`time`]).
pub fn time_range(
    since: &str,
    until: &str,
    errors: &mut Vec<FieldError>,
) -> (Option<Timestamp>, Option<Timestamp>) {
    let mut end = |typed: &str, pointer: &str| {
        time(typed).unwrap_or_else(|e| {
            errors.push(FieldError::new(pointer, e));
            None
        })
    };
    (end(since, "/since"), end(until, "/until"))
}

/// The non-empty fields of a filter form, as a query string (for paging links and streams).
pub fn query_string(fields: &[(&str, &str)]) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in fields {
        if !value.trim().is_empty() {
            out.append_pair(name, value.trim());
        }
    }
    out.finish()
}

/// A time as a `datetime-local` input shows it (UTC, to the minute).
pub fn time_input(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_found_at_and_under_their_pointer() {
        let invalid = Invalid::fields(vec![
            FieldError::new("/auth/password", "required"),
            FieldError::new("/auth", "unknown type"),
            FieldError::new("/authority", "not this one"),
            FieldError::new("/url", "not https"),
        ]);
        assert_eq!(invalid.at("/auth"), ["password: required", "unknown type"]);
        assert_eq!(invalid.at("/url"), ["not https"]);
        assert!(invalid.at("/headers").is_empty());
        assert_eq!(invalid.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(Invalid::none().is_empty());
    }

    #[test]
    fn times_are_read_from_both_forms_and_refused_otherwise() {
        let t = "2026-11-24T10:00:00Z".parse::<Timestamp>().unwrap();
        assert_eq!(time("2026-11-24T10:00").unwrap(), Some(t));
        assert_eq!(time("2026-11-24T10:00:00").unwrap(), Some(t));
        assert_eq!(time("2026-11-24T11:00:00+01:00").unwrap(), Some(t));
        assert_eq!(time("  ").unwrap(), None);
        assert!(time("yesterday").is_err());
        assert_eq!(time_input(t), "2026-11-24T10:00");
    }

    #[test]
    fn repeated_fields_keep_every_value() {
        let pairs = vec![
            ("events".to_owned(), "a.b".to_owned()),
            ("url".to_owned(), "https://x".to_owned()),
            ("events".to_owned(), "c.*".to_owned()),
        ];
        assert_eq!(values(&pairs, "events").collect::<Vec<_>>(), ["a.b", "c.*"]);
        assert_eq!(value(&pairs, "url"), "https://x");
        assert_eq!(value(&pairs, "missing"), "");
    }
}
