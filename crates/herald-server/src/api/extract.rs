//! Request extractors: the authenticated principal, tenant scoping, JSON bodies that fail as
//! problem documents, and pagination parameters.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use herald_core::api_key::Scope;
use herald_core::tenant::Tenant;
use herald_store::PageRequest;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::query::QueryParams;
use crate::state::AppState;

/// Who is calling: the scope of the presented API key.
#[derive(Debug, Clone)]
pub struct Principal(pub Scope);

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(ApiError::unauthorized)?;
        let (scheme, token) = value.trim().split_once(' ').ok_or_else(ApiError::unauthorized)?;
        if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
            return Err(ApiError::unauthorized());
        }
        let scope = state.access.scope_of(token.trim()).await?.ok_or_else(ApiError::unauthorized)?;
        Ok(Self(scope))
    }
}

/// An admin key; a tenant key gets 403.
#[derive(Debug, Clone, Copy)]
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match Principal::from_request_parts(parts, state).await?.0 {
            Scope::Admin => Ok(Self),
            Scope::Tenant(_) => Err(ApiError::forbidden()),
        }
    }
}

/// The tenant named by the `{tenant}` path segment (id or uid), which the caller may act on:
/// admins on any tenant, a tenant key on its own only. Anything else is 404, exactly as for a
/// tenant that does not exist, so that ids of other tenants are never confirmed.
#[derive(Debug, Clone)]
pub struct TenantScope(pub Tenant);

impl FromRequestParts<AppState> for TenantScope {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let principal = Principal::from_request_parts(parts, state).await?;
        let tenant = tenant_from_path(parts, state).await?;
        match principal.0 {
            Scope::Tenant(own) if own != tenant.id => Err(ApiError::not_found("tenant")),
            _ => Ok(Self(tenant)),
        }
    }
}

/// Resolves the `{tenant}` path segment, without any authorization.
pub async fn tenant_from_path(parts: &mut Parts, state: &AppState) -> Result<Tenant, ApiError> {
    let params = axum::extract::RawPathParams::from_request_parts(parts, state)
        .await
        .map_err(|_| ApiError::not_found("tenant"))?;
    let segment = params.iter().find(|(name, _)| *name == "tenant").map(|(_, value)| value);
    let segment = segment.ok_or_else(|| ApiError::not_found("tenant"))?;
    state.access.tenant(segment).await?.ok_or_else(|| ApiError::not_found("tenant"))
}

/// A JSON request body. Malformed JSON → 400; a value of the wrong shape or an invalid value →
/// 422 naming the field; too large → 413; not JSON → 415.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|mime| {
                let mime = mime.trim().to_ascii_lowercase();
                mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with `Content-Type: application/json`",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::payload_too_large(state.config.max_body_bytes)
            } else {
                ApiError::malformed(rejection.body_text())
            }
        })?;
        parse_json(&bytes).map(Self)
    }
}

/// A JSON body that may be absent (no body at all, or `null`): `None` then.
#[derive(Debug)]
pub struct OptionalJsonBody<T>(pub Option<T>);

impl<T: DeserializeOwned> FromRequest<AppState> for OptionalJsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let empty = req.headers().get(header::CONTENT_LENGTH).is_some_and(|len| len.as_bytes() == b"0")
            || (req.headers().get(header::CONTENT_TYPE).is_none()
                && req.headers().get(header::TRANSFER_ENCODING).is_none()
                && req.headers().get(header::CONTENT_LENGTH).is_none());
        if empty {
            return Ok(Self(None));
        }
        // A JSON `null` is no body too, as the document's `oneOf [null, …]` says.
        JsonBody::<Option<T>>::from_request(req, state).await.map(|JsonBody(value)| Self(value))
    }
}

/// Parses a JSON document, classifying failures as malformed (400) or invalid (422). Read
/// strictly (see [`super::strict_json`]): an array is not an object, text holds no NUL, and
/// messages use JSON's words.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::malformed(format!("the body is not valid JSON: {e}")))?;
    read_value(&value)
}

/// Reads a parsed JSON value (a body, or a query string as an object of strings) into `T`; a
/// failure is a 422 naming the field.
pub fn read_value<T: DeserializeOwned>(value: &serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(super::strict_json::Strict(value)).map_err(|e| {
        let mut path = pointer(e.path());
        let message = strip_position(&e.into_inner());
        // A missing field is reported by the object that lacks it: point at the field itself.
        if let Some(name) = message.strip_prefix("missing field `").and_then(|rest| rest.strip_suffix('`')) {
            path.push('/');
            path.push_str(&herald_core::json_pointer_token(name));
        }
        ApiError::invalid_field(path, super::strict_json::humanize(&message))
    })
}

fn strip_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// A serde path as a JSON pointer (`/retryPolicy/delays/0`).
fn pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("/{index}")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                out.push('/');
                out.push_str(&herald_core::json_pointer_token(key));
            }
            Segment::Unknown => {}
        }
    }
    out
}

pub use herald_api::page::{CURSOR_PATTERN, DEFAULT_LIMIT, MAX_LIMIT, decode_cursor};

/// `?limit=&cursor=`: at most 250 per page, 50 when unset.
#[derive(Debug, Clone)]
pub struct Pagination(pub PageRequest);

impl<S: Send + Sync> FromRequestParts<S> for Pagination {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let QueryParams(params) = QueryParams::<super::PageParams>::from_request_parts(parts, state).await?;
        Ok(Self(PageRequest { limit: params.limit.unwrap_or(DEFAULT_LIMIT), cursor: params.cursor }))
    }
}

/// `If-Match` on a write: the versions (strong `ETag`s such as `"3"`) the caller expects the
/// resource to be at, or `None` without the header (or with `*`): then the write applies to
/// whatever the resource is now. A write to any other version is refused with 412. Weak tags
/// (`W/"3"`) and tags that name no version match nothing, as RFC 9110 says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfMatch(pub Option<Vec<u64>>);

impl IfMatch {
    fn parse(values: &[&str]) -> Self {
        if values.is_empty() {
            return Self(None);
        }
        let mut versions = Vec::new();
        for tag in values.iter().flat_map(|v| v.split(',')).map(str::trim) {
            if tag == "*" {
                return Self(None);
            }
            if let Some(version) =
                tag.strip_prefix('"').and_then(|t| t.strip_suffix('"')).and_then(|t| t.parse().ok())
            {
                versions.push(version);
            }
        }
        Self(Some(versions))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let values: Vec<&str> = parts
            .headers
            .get_all(header::IF_MATCH)
            .iter()
            .map(|v| {
                v.to_str().map_err(|_| ApiError::invalid_field("/If-Match", "entity tags such as \"3\""))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self::parse(&values))
    }
}

impl utoipa::IntoParams for IfMatch {
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        vec![
            ParameterBuilder::new()
                .name("If-Match")
                .parameter_in(ParameterIn::Header)
                .description(Some(
                    "Apply the write only if the endpoint is still at this version (the `ETag` of \
                     a previous response, e.g. `\"3\"`); otherwise 412. Absent: apply it to the \
                     endpoint as it is now.",
                ))
                .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                .build(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::IfMatch;

    #[test]
    fn if_match_reads_strong_tags() {
        assert_eq!(IfMatch::parse(&[]), IfMatch(None));
        assert_eq!(IfMatch::parse(&["*"]), IfMatch(None));
        assert_eq!(IfMatch::parse(&["\"3\""]), IfMatch(Some(vec![3])));
        assert_eq!(IfMatch::parse(&["\"3\", \"5\"", "\"7\""]), IfMatch(Some(vec![3, 5, 7])));
        assert_eq!(IfMatch::parse(&["W/\"3\""]), IfMatch(Some(vec![])), "weak tags match nothing");
        assert_eq!(IfMatch::parse(&["3", "\"x\""]), IfMatch(Some(vec![])));
    }
}

/// A value that a path segment names: its segment's name in the route, what it is called in a
/// 404, and how it parses.
pub trait PathValue: Sized + utoipa::PartialSchema {
    /// The segment's name in the route (`{endpoint}`).
    const SEGMENT: &'static str;
    /// What a 404 calls it.
    const WHAT: &'static str;
    fn parse(segment: &str) -> Option<Self>;
}

macro_rules! path_value {
    ($ty:ty, $segment:literal, $what:literal) => {
        impl PathValue for $ty {
            const SEGMENT: &'static str = $segment;
            const WHAT: &'static str = $what;
            fn parse(segment: &str) -> Option<Self> {
                <$ty>::parse(segment).ok()
            }
        }
    };
}
path_value!(herald_core::id::EndpointId, "endpoint", "endpoint");
path_value!(herald_core::id::DeliveryId, "delivery", "delivery");
path_value!(herald_core::id::BulkRetryId, "bulkRetry", "bulk retry");
path_value!(herald_core::id::ApiKeyId, "key", "API key");
path_value!(herald_core::event::EventId, "event", "event");
path_value!(herald_core::event_type::EventTypeName, "name", "event type");

/// The path segment `{T::SEGMENT}`, parsed; anything that does not parse is a 404, exactly like
/// a well-formed id that names nothing. Also describes the parameter for the OpenAPI document.
#[derive(Debug, Clone)]
pub struct InPath<T>(pub T);

impl<S: Send + Sync, T: PathValue> FromRequestParts<S> for InPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let params = axum::extract::RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::not_found(T::WHAT))?;
        let segment = params.iter().find(|(name, _)| *name == T::SEGMENT).map(|(_, value)| value);
        segment.and_then(T::parse).map(Self).ok_or_else(|| ApiError::not_found(T::WHAT))
    }
}

impl<T: PathValue> utoipa::IntoParams for InPath<T> {
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
        vec![
            ParameterBuilder::new()
                .name(T::SEGMENT)
                .parameter_in(ParameterIn::Path)
                .required(utoipa::openapi::Required::True)
                .schema(Some(T::schema()))
                .build(),
        ]
    }
}

/// Documents the `{tenant}` segment that [`TenantScope`] and `AdminTenant` read.
impl utoipa::IntoParams for TenantScope {
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        vec![
            ParameterBuilder::new()
                .name("tenant")
                .parameter_in(ParameterIn::Path)
                .required(utoipa::openapi::Required::True)
                .description(Some("Tenant id (`ten_…`) or uid."))
                .schema(Some(ObjectBuilder::new().schema_type(Type::String).min_length(Some(1))))
                .build(),
        ]
    }
}
