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

pub use herald_api::text;
