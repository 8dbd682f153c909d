//! Events: one published occurrence, stored once, delivered to every subscribed endpoint.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::Timestamp;
use crate::event_type::EventTypeName;
use crate::id::{GeneratedEventId, TenantId};

/// An event's public id: caller-chosen (and then also its idempotency key) or generated
/// (`evt_…`). 1–256 characters of `[A-Za-z0-9_.:-]`. It is the `webhook-id` of every attempt.
#[derive(Clone, PartialEq, Eq, Hash, Serialize)]
pub struct EventId(std::sync::Arc<str>);

impl EventId {
    pub fn parse(s: &str) -> Result<Self, String> {
        let ok = s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-'));
        if s.is_empty() || s.len() > 256 || !ok {
            return Err("an event id has 1 to 256 characters from A-Z, a-z, 0-9, `_`, `.`, `:`, `-`".into());
        }
        Ok(Self(std::sync::Arc::from(s)))
    }

    pub fn generated(key: &GeneratedEventId) -> Self {
        Self(std::sync::Arc::from(key.as_str()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for EventId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

crate::schema::string_schema!(
    EventId,
    "Event id: yours (1 to 256 characters of A-Z, a-z, 0-9, `_`, `.`, `:`, `-`), or generated (`evt_…`).",
    example = "evt_01JD3Y3M5Q8W3N8K3V9W2X7Z4A",
    pattern = r"^[A-Za-z0-9_.:\-]{1,256}$",
    length = 1..=256
);

/// A short free-text attribute (`subject`, `source`): 1–256 characters, no control characters.
pub fn parse_attribute(name: &str, value: &str) -> Result<String, String> {
    if value.is_empty() || value.chars().count() > 256 || value.chars().any(char::is_control) {
        return Err(format!("{name} must have 1 to 256 characters and no control characters"));
    }
    Ok(value.to_owned())
}

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Herald's own, time-sortable id: the order of the event log.
    pub key: GeneratedEventId,
    pub id: EventId,
    pub tenant_id: TenantId,
    pub event_type: EventTypeName,
    pub data: Map<String, Value>,
    pub subject: Option<String>,
    pub source: Option<String>,
    /// The W3C `traceparent` the publish carried, passed on to every delivery.
    pub traceparent: Option<crate::trace::TraceParent>,
    pub created_at: Timestamp,
    /// When the retention removed `data` (then `{}`), keeping the event's other fields.
    pub payload_removed_at: Option<Timestamp>,
    /// Headers the publisher asked to send with every delivery of the event.
    pub headers: EventHeaders,
}

/// Which header names publishers may give events: exact names, or prefixes ending in `*`
/// (`x-*`), compared without regard to case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct HeaderAllowList(Vec<String>);

impl HeaderAllowList {
    pub fn allows(&self, name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        self.0.iter().any(|pattern| match pattern.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => name == *pattern,
        })
    }
}

impl Default for HeaderAllowList {
    /// `x-*`: the names applications give their own headers.
    fn default() -> Self {
        Self(vec!["x-*".to_owned()])
    }
}

impl TryFrom<Vec<String>> for HeaderAllowList {
    type Error = String;
    fn try_from(patterns: Vec<String>) -> Result<Self, String> {
        patterns
            .into_iter()
            .map(|pattern| {
                let name = pattern.strip_suffix('*').unwrap_or(&pattern);
                let valid = name.is_empty() || http::HeaderName::from_bytes(name.as_bytes()).is_ok();
                if pattern == "*" || !valid || name.contains('*') {
                    return Err(format!(
                        "`{pattern}` is not a header name, or a name's start followed by `*`"
                    ));
                }
                Ok(pattern.to_ascii_lowercase())
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

impl From<HeaderAllowList> for Vec<String> {
    fn from(list: HeaderAllowList) -> Self {
        list.0
    }
}

/// Headers one event carries to its receivers (names from the server's allow-list; never the
/// framing headers or those Herald signs with).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventHeaders(std::collections::BTreeMap<String, String>);

impl EventHeaders {
    pub const MAX: usize = 20;
    pub const MAX_VALUE: usize = 1024;

    /// Checks the headers a publisher gave: at most [`Self::MAX`], each allowed, valid, not reserved,
    /// a value of at most [`Self::MAX_VALUE`] bytes. An error names the header and says why.
    pub fn parse(
        given: std::collections::BTreeMap<String, String>,
        allowed: &HeaderAllowList,
    ) -> Result<Self, (Option<String>, String)> {
        if given.len() > Self::MAX {
            return Err((None, format!("at most {} headers", Self::MAX)));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (name, value) in &given {
            let refuse = |why: String| Err((Some(name.clone()), why));
            if let Err(why) = crate::endpoint::check_header_name(name) {
                return refuse(why);
            }
            if !allowed.allows(name) {
                return refuse(format!(
                    "`{name}` is not among the header names events may carry on this server"
                ));
            }
            if !seen.insert(name.to_ascii_lowercase()) {
                return refuse(format!("header `{name}` is given twice"));
            }
            if value.len() > Self::MAX_VALUE || http::HeaderValue::from_str(value).is_err() {
                return refuse(format!("a valid header value of at most {} bytes", Self::MAX_VALUE));
            }
        }
        Ok(Self(given))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.0.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_map(self) -> std::collections::BTreeMap<String, String> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn event_headers_are_allowed_by_name_and_never_reserved() {
        let allowed = HeaderAllowList::default();
        assert!(EventHeaders::parse(map(&[("X-Request-Id", "r1"), ("x-shop", "s")]), &allowed).is_ok());
        for bad in [
            map(&[("Authorization", "Bearer x")]),
            map(&[("X-Ok", "line\nbreak")]),
            map(&[("X-Big", &"v".repeat(1025))]),
            map(&[("Content-Type", "text/plain")]),
            map(&[("Webhook-Signature", "v1,x")]),
        ] {
            assert!(EventHeaders::parse(bad.clone(), &allowed).is_err(), "{bad:?}");
        }
        let exact =
            HeaderAllowList::try_from(vec!["X-Shop-Domain".to_owned(), "x-acme-*".to_owned()]).unwrap();
        assert!(exact.allows("x-shop-domain") && exact.allows("X-Acme-Trace") && !exact.allows("X-Other"));
        assert!(HeaderAllowList::try_from(vec!["*".to_owned()]).is_err());
        assert!(HeaderAllowList::try_from(vec!["bad name".to_owned()]).is_err());
        let many: BTreeMap<String, String> = (0..21).map(|i| (format!("x-h{i}"), "v".to_owned())).collect();
        assert!(EventHeaders::parse(many, &allowed).is_err());
    }
}
