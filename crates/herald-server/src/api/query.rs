//! Query strings as typed structs: [`QueryParams<T>`] reads the query into `T`, whose fields
//! parse their values (ids, statuses, times) and which also describes the parameters for the
//! OpenAPI document (`IntoParams`). A bad value is a 422 naming the parameter (`/since`).
//! The `text` helpers parse values that arrive as text but are not text (times, numbers, flags).

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::error::ApiError;

/// The query string, read into `T`.
#[derive(Debug)]
pub struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
            .map_err(|e| ApiError::malformed(format!("bad query string: {}", e.body_text())))?;
        let params: Map<String, Value> = pairs.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
        super::extract::read_value(&Value::Object(params)).map(Self)
    }
}

/// Deserializers for query values.
pub mod text {
    use herald_core::Timestamp;
    use serde::{Deserialize, Deserializer};

    fn raw<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Option::<String>::deserialize(d)
    }

    /// An RFC 3339 time (`2026-11-23T10:00:00Z`).
    pub fn timestamp<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
        raw(d)?
            .map(|text| {
                text.parse::<Timestamp>().map_err(|_| {
                    serde::de::Error::custom("expected an RFC 3339 time such as 2026-11-23T10:00:00Z")
                })
            })
            .transpose()
    }

    /// `true` or `false`.
    pub fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
        raw(d)?
            .map(|text| match text.as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(serde::de::Error::custom("must be true or false")),
            })
            .transpose()
    }

    /// A page size: a whole number from 1 to [`super::super::extract::MAX_LIMIT`].
    pub fn limit<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
        use super::super::extract::MAX_LIMIT;
        raw(d)?
            .map(|text| {
                text.parse::<u32>().ok().filter(|n| (1..=MAX_LIMIT).contains(n)).ok_or_else(|| {
                    serde::de::Error::custom(format!("limit must be a whole number from 1 to {MAX_LIMIT}"))
                })
            })
            .transpose()
    }

    /// A page cursor: the `nextCursor` of the previous page (the form of `CURSOR_PATTERN`).
    pub fn cursor<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        use super::super::extract::decode_cursor;
        raw(d)?
            .filter(|text| !text.is_empty())
            .map(|text| {
                decode_cursor(&text).ok_or_else(|| {
                    serde::de::Error::custom(
                        "not a cursor: pass the `nextCursor` of the previous page as it is",
                    )
                })
            })
            .transpose()
    }
}
