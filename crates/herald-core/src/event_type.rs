//! The event-type catalog: what a provider publishes and customers subscribe to. Global to
//! the instance.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::Timestamp;

/// A dotted event-type name: 1–128 characters, segments of `[A-Za-z0-9_-]` separated by `.`
/// (`contract.created`, `DataFile_Processed`, `billing.invoice.paid`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct EventTypeName(String);

pub(crate) fn is_segment(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl EventTypeName {
    pub const MAX_LEN: usize = 128;

    pub fn parse(s: &str) -> Result<Self, String> {
        if s.is_empty() || s.len() > Self::MAX_LEN || !s.split('.').all(is_segment) {
            return Err(format!(
                "`{s}` is not an event-type name: 1 to {} characters, dot-separated segments of A-Z, a-z, 0-9, `_`, `-`",
                Self::MAX_LEN
            ));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `herald.ping`: the type of test events sent when no catalog example is asked for.
    pub fn ping() -> Self {
        Self("herald.ping".to_owned())
    }
}

impl fmt::Display for EventTypeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for EventTypeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for EventTypeName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

crate::schema::string_schema!(
    EventTypeName,
    "Dotted event-type name: segments of A-Z, a-z, 0-9, `_`, `-`, at most 128 characters.",
    example = "contract.created",
    pattern = r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*$",
    length = 1..=128
);

/// A JSON Schema that compiles: stored with the event type, used to validate published data.
/// Compiled once, when parsed.
#[derive(Clone)]
pub struct EventSchema(Value, std::sync::Arc<jsonschema::Validator>);

impl Serialize for EventSchema {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl utoipa::PartialSchema for EventSchema {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .description(Some("A JSON Schema (draft 2020-12 by default)."))
            .into()
    }
}

impl utoipa::ToSchema for EventSchema {}

impl EventSchema {
    pub fn parse(value: Value) -> Result<Self, String> {
        if !value.is_object() {
            return Err("a JSON Schema must be an object".into());
        }
        let validator =
            jsonschema::validator_for(&value).map_err(|e| format!("not a valid JSON Schema: {e}"))?;
        Ok(Self(value, std::sync::Arc::new(validator)))
    }

    pub fn as_value(&self) -> &Value {
        &self.0
    }

    /// The paths (JSON pointers) and messages where `instance` breaks the schema; empty when valid.
    pub fn violations(&self, instance: &Value) -> Vec<(String, String)> {
        self.1.iter_errors(instance).map(|e| (e.instance_path.to_string(), e.to_string())).collect()
    }
}

impl PartialEq for EventSchema {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl fmt::Debug for EventSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("EventSchema").field(&self.0).finish()
    }
}

impl<'de> Deserialize<'de> for EventSchema {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::parse(Value::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct EventType {
    pub name: EventTypeName,
    pub label: String,
    pub description: String,
    pub schema: Option<EventSchema>,
    pub example: Option<Value>,
    pub deprecated: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl EventType {
    /// Cross-field rule: an example must satisfy the schema when both are present.
    pub fn check_example(schema: Option<&EventSchema>, example: Option<&Value>) -> Result<(), String> {
        if let (Some(schema), Some(example)) = (schema, example)
            && let Some((path, message)) = schema.violations(example).into_iter().next()
        {
            return Err(format!("the example does not match the schema at `{path}`: {message}"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names() {
        for ok in ["contract.created", "DataFile_Processed", "billing.invoice.paid", "a-b.c_d"] {
            assert!(EventTypeName::parse(ok).is_ok(), "{ok}");
        }
        assert_eq!(EventTypeName::parse("herald.ping").unwrap(), EventTypeName::ping());
        for bad in ["", ".a", "a.", "a..b", "a b", "a.*", "é"] {
            assert!(EventTypeName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn schema_must_compile_and_reports_paths() {
        assert!(EventSchema::parse(json!({"type": "nonsense"})).is_err());
        assert!(EventSchema::parse(json!([1])).is_err());
        let schema = EventSchema::parse(json!({
            "type": "object",
            "required": ["amount"],
            "properties": {"amount": {"type": "number"}}
        }))
        .unwrap();
        assert!(schema.violations(&json!({"amount": 3})).is_empty());
        let v = schema.violations(&json!({"amount": "3"}));
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].0, "/amount");
        assert!(EventType::check_example(Some(&schema), Some(&json!({}))).is_err());
        let stored = serde_json::to_value(&schema).unwrap();
        assert_eq!(stored["required"], json!(["amount"]), "serialized as the schema itself");
        assert_eq!(serde_json::from_value::<EventSchema>(stored).unwrap(), schema);
    }
}
