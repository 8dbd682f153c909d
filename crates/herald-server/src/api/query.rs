//! Parsing query-string values into domain values, failing as 422 naming the parameter.

use std::collections::HashMap;

use herald_core::Timestamp;

use super::error::{ApiError, ApiResult};

/// An RFC 3339 timestamp parameter (`2026-11-23T10:00:00Z`), if present.
pub fn timestamp(params: &HashMap<String, String>, name: &str) -> ApiResult<Option<Timestamp>> {
    params
        .get(name)
        .map(|raw| {
            raw.parse::<Timestamp>().map_err(|_| {
                ApiError::invalid_field(
                    format!("/{name}"),
                    "expected an RFC 3339 time such as 2026-11-23T10:00:00Z",
                )
            })
        })
        .transpose()
}

/// A parsed parameter, if present.
pub fn parsed<T>(
    params: &HashMap<String, String>,
    name: &str,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> ApiResult<Option<T>> {
    params
        .get(name)
        .map(|raw| parse(raw).map_err(|e| ApiError::invalid_field(format!("/{name}"), e)))
        .transpose()
}
