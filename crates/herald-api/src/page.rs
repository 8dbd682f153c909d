//! Lists: a page of items and the cursor of the next one, and the `?limit=&cursor=` of a request.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Items per page when `limit` is unset.
pub const DEFAULT_LIMIT: u32 = 50;
/// The largest `limit`.
pub const MAX_LIMIT: u32 = 250;

/// The documented form of a cursor (clients treat it as opaque: it is the last item's sort key,
/// an id or a name).
pub const CURSOR_PATTERN: &str = "^[A-Za-z0-9_.:-]{1,256}$";

/// A cursor as the store reads it; `None` unless it has the form of [`CURSOR_PATTERN`].
pub fn decode_cursor(cursor: &str) -> Option<String> {
    let valid = (1..=256).contains(&cursor.len())
        && cursor.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'));
    valid.then(|| cursor.to_owned())
}

/// A page of a list, newest first, and the cursor of the next page (`null` on the last page).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListResponse<T> {
    pub data: Vec<T>,
    pub next_cursor: Option<String>,
}

/// `?limit=&cursor=` on every list.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Items per page, 1–250 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 250)]
    #[serde(default, deserialize_with = "crate::text::limit", skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// The `nextCursor` of the previous page.
    #[param(value_type = Option<String>, pattern = "^[A-Za-z0-9_.:-]{1,256}$")] // = CURSOR_PATTERN (tested)
    #[serde(default, deserialize_with = "crate::text::cursor", skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_of_the_documented_form_are_read_and_others_are_not() {
        assert_eq!(decode_cursor("01JABC_x.y:z-1").as_deref(), Some("01JABC_x.y:z-1"));
        for bad in ["", "a b", "a/b", "é", &"a".repeat(257)] {
            assert_eq!(decode_cursor(bad), None, "{bad:?}");
        }
    }
}
