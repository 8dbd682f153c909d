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
}
