//! Deserializers for query values, which arrive as text but are not text (times, numbers,
//! flags). Serialized, the same fields are plain values, which a query string writes as this text.

use herald_core::Timestamp;
use serde::{Deserialize, Deserializer};

use crate::page::{MAX_LIMIT, decode_cursor};

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

/// A page size: a whole number from 1 to [`MAX_LIMIT`].
pub fn limit<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
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
    raw(d)?
        .filter(|text| !text.is_empty())
        .map(|text| {
            decode_cursor(&text).ok_or_else(|| {
                serde::de::Error::custom("not a cursor: pass the `nextCursor` of the previous page as it is")
            })
        })
        .transpose()
}
