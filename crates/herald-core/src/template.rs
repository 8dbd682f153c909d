//! Payload templates: a JSON document, chosen per endpoint, that shapes the body a receiver gets.
//!
//! Every value of the document is sent as written, except strings that reference the event:
//! - a string that is exactly one reference (`"{{data.amount}}"`) becomes that value with its
//!   JSON type (a number stays a number, `{{data}}` an object; a missing value is `null`);
//! - a string with references among other text (`"order {{data.id}} paid"`) gets each
//!   reference's text put in (strings as they are, other values as JSON, missing ones as nothing).
//!
//! References: `{{id}}`, `{{type}}`, `{{timestamp}}` (RFC 3339), `{{tenant}}`, `{{subject}}`,
//! `{{source}}`, `{{data}}` and `{{data.some.path}}` (object keys, or array indexes as numbers).
//! Spaces inside the braces are allowed. Object keys are always literal.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::event::Event;

/// A template, checked: every reference names something an event has.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Value", into = "Value")]
pub struct PayloadTemplate {
    source: Value,
    parsed: Node,
}

/// Where a template is wrong: a JSON pointer into the template, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{pointer}: {message}")]
pub struct TemplateError {
    /// A JSON pointer into the template (`""` for the template itself).
    pub pointer: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Literal(Value),
    Reference(Reference),
    Text(Vec<Piece>),
    Object(Vec<(String, Node)>),
    Array(Vec<Node>),
}

#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(String),
    Reference(Reference),
}

#[derive(Debug, Clone, PartialEq)]
enum Reference {
    Id,
    Type,
    Timestamp,
    Tenant,
    Subject,
    Source,
    Data(Vec<String>),
}

impl PayloadTemplate {
    /// The most bytes a template may have, written as compact JSON.
    pub const MAX_BYTES: usize = 16 * 1024;
    /// The deepest nesting of objects and arrays.
    pub const MAX_DEPTH: usize = 32;

    pub fn parse(source: Value) -> Result<Self, TemplateError> {
        let size = serde_json::to_vec(&source).map(|v| v.len()).unwrap_or(usize::MAX);
        if size > Self::MAX_BYTES {
            return Err(TemplateError {
                pointer: String::new(),
                message: format!("a template has at most {} bytes of JSON", Self::MAX_BYTES),
            });
        }
        let parsed = node(&source, &mut String::new(), 0)?;
        Ok(Self { source, parsed })
    }

    /// The template as written.
    pub fn as_value(&self) -> &Value {
        &self.source
    }

    /// The body for `event`.
    pub fn render(&self, event: &Event) -> Value {
        render(&self.parsed, event)
    }
}

impl fmt::Debug for PayloadTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PayloadTemplate({})", self.source)
    }
}

impl TryFrom<Value> for PayloadTemplate {
    type Error = TemplateError;
    fn try_from(value: Value) -> Result<Self, TemplateError> {
        Self::parse(value)
    }
}

impl From<PayloadTemplate> for Value {
    fn from(template: PayloadTemplate) -> Value {
        template.source
    }
}

fn node(value: &Value, pointer: &mut String, depth: usize) -> Result<Node, TemplateError> {
    if depth > PayloadTemplate::MAX_DEPTH {
        return Err(TemplateError {
            pointer: pointer.clone(),
            message: format!("a template nests at most {} levels", PayloadTemplate::MAX_DEPTH),
        });
    }
    let mut child = |key: &str, value: &Value| {
        let len = pointer.len();
        pointer.push('/');
        pointer.push_str(&crate::json_pointer_token(key));
        let node = node(value, pointer, depth + 1);
        pointer.truncate(len);
        node
    };
    Ok(match value {
        Value::String(text) => {
            text_node(text).map_err(|message| TemplateError { pointer: pointer.clone(), message })?
        }
        Value::Object(map) => {
            Node::Object(map.iter().map(|(k, v)| Ok((k.clone(), child(k, v)?))).collect::<Result<_, _>>()?)
        }
        Value::Array(items) => Node::Array(
            items.iter().enumerate().map(|(i, v)| child(&i.to_string(), v)).collect::<Result<_, _>>()?,
        ),
        other => Node::Literal(other.clone()),
    })
}

/// A string of the template: a literal, one reference (typed), or text with references.
fn text_node(text: &str) -> Result<Node, String> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            pieces.push(Piece::Text(rest[..start].to_owned()));
        }
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or_else(|| format!("`{{{{` without a closing `}}}}` in `{text}`"))?;
        pieces.push(Piece::Reference(reference(after[..end].trim())?));
        rest = &after[end + 2..];
    }
    if rest.contains("}}") {
        return Err(format!("`}}}}` without an opening `{{{{` in `{text}`"));
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest.to_owned()));
    }
    Ok(match pieces.as_slice() {
        [] => Node::Literal(Value::String(String::new())),
        [Piece::Text(_)] => Node::Literal(Value::String(text.to_owned())),
        [Piece::Reference(reference)] => Node::Reference(reference.clone()),
        _ => Node::Text(pieces),
    })
}

fn reference(name: &str) -> Result<Reference, String> {
    Ok(match name {
        "id" => Reference::Id,
        "type" => Reference::Type,
        "timestamp" => Reference::Timestamp,
        "tenant" => Reference::Tenant,
        "subject" => Reference::Subject,
        "source" => Reference::Source,
        "data" => Reference::Data(Vec::new()),
        _ => match name.strip_prefix("data.") {
            Some(path) if path.split('.').all(|segment| !segment.is_empty()) => {
                Reference::Data(path.split('.').map(str::to_owned).collect())
            }
            _ => {
                return Err(format!(
                    "`{{{{{name}}}}}` is not a reference: use id, type, timestamp, tenant, subject, source, \
                     data or data.some.path"
                ));
            }
        },
    })
}

fn render(node: &Node, event: &Event) -> Value {
    match node {
        Node::Literal(value) => value.clone(),
        Node::Reference(reference) => resolve(reference, event),
        Node::Text(pieces) => {
            let mut text = String::new();
            for piece in pieces {
                match piece {
                    Piece::Text(literal) => text.push_str(literal),
                    Piece::Reference(reference) => match resolve(reference, event) {
                        Value::Null => {}
                        Value::String(s) => text.push_str(&s),
                        other => text.push_str(&other.to_string()),
                    },
                }
            }
            Value::String(text)
        }
        Node::Object(entries) => {
            Value::Object(entries.iter().map(|(k, v)| (k.clone(), render(v, event))).collect::<Map<_, _>>())
        }
        Node::Array(items) => Value::Array(items.iter().map(|v| render(v, event)).collect()),
    }
}

fn resolve(reference: &Reference, event: &Event) -> Value {
    let optional = |s: &Option<String>| s.clone().map_or(Value::Null, Value::String);
    match reference {
        Reference::Id => Value::String(event.id.as_str().to_owned()),
        Reference::Type => Value::String(event.event_type.as_str().to_owned()),
        Reference::Timestamp => Value::String(event.created_at.to_string()),
        Reference::Tenant => Value::String(event.tenant_id.as_str().to_owned()),
        Reference::Subject => optional(&event.subject),
        Reference::Source => optional(&event.source),
        Reference::Data(path) => {
            let Some((first, rest)) = path.split_first() else {
                return Value::Object(event.data.clone());
            };
            let mut at = event.data.get(first);
            for segment in rest {
                at = match at {
                    Some(Value::Object(map)) => map.get(segment),
                    Some(Value::Array(items)) => segment.parse::<usize>().ok().and_then(|n| items.get(n)),
                    _ => None,
                };
            }
            at.cloned().unwrap_or(Value::Null)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventId;
    use crate::event_type::EventTypeName;
    use crate::id::{GeneratedEventId, TenantId};
    use serde_json::json;

    fn event() -> Event {
        Event {
            key: GeneratedEventId::generate(),
            id: EventId::parse("evt_1").unwrap(),
            tenant_id: TenantId::parse("ten_01ARZ3NDEKTSV4RRFFQ69G5FAV").unwrap(),
            event_type: EventTypeName::parse("payment.verified").unwrap(),
            data: serde_json::from_value(
                json!({"user_id": "u_123", "amount": 49.99, "items": [{"sku": "a"}, {"sku": "b"}], "ok": true}),
            )
            .unwrap(),
            subject: Some("u_123".into()),
            source: None,
            traceparent: None,
            payload_removed_at: None,
            headers: Default::default(),
            created_at: crate::Timestamp::from_second(1_700_000_000).unwrap(),
        }
    }

    fn rendered(template: Value) -> Value {
        PayloadTemplate::parse(template).unwrap().render(&event())
    }

    #[test]
    fn whole_references_keep_their_json_type() {
        assert_eq!(
            rendered(json!({"event": "{{type}}", "data": "{{data}}", "amount": "{{ data.amount }}",
                            "ok": "{{data.ok}}", "second": "{{data.items.1.sku}}", "missing": "{{data.nope.x}}",
                            "source": "{{source}}", "v": 2, "list": ["{{id}}", null, false]})),
            json!({"event": "payment.verified",
                   "data": {"user_id": "u_123", "amount": 49.99, "items": [{"sku": "a"}, {"sku": "b"}], "ok": true},
                   "amount": 49.99, "ok": true, "second": "b", "missing": null, "source": null, "v": 2,
                   "list": ["evt_1", null, false]})
        );
    }

    #[test]
    fn references_within_text_are_written_in() {
        assert_eq!(
            rendered(json!({"text": "{{type}} for {{subject}}: {{data.amount}} {{source}}at {{timestamp}}"})),
            json!({"text": "payment.verified for u_123: 49.99 at 2023-11-14T22:13:20Z"})
        );
        assert_eq!(rendered(json!("{{tenant}}")), json!("ten_01ARZ3NDEKTSV4RRFFQ69G5FAV"));
        assert_eq!(rendered(json!("no references")), json!("no references"));
    }

    #[test]
    fn bad_templates_are_refused_with_the_pointer_to_the_bad_value() {
        let error = PayloadTemplate::parse(json!({"a": {"b/c": ["x", "{{nope}}"]}})).unwrap_err();
        assert_eq!(error.pointer, "/a/b~1c/1");
        assert!(error.message.contains("{{nope}}"), "{}", error.message);
        for bad in ["{{data.}}", "{{data..x}}", "{{id", "id}}", "{{}}", "{{ type }} {{x}}"] {
            assert!(PayloadTemplate::parse(json!({"v": bad})).is_err(), "{bad}");
        }
        let deep = (0..40).fold(json!(1), |inner, _| json!([inner]));
        assert!(PayloadTemplate::parse(deep).is_err());
        let big = json!({"x": "y".repeat(PayloadTemplate::MAX_BYTES)});
        assert!(PayloadTemplate::parse(big).is_err());
    }

    #[test]
    fn a_template_round_trips_as_its_source() {
        let source = json!({"event": "{{type}}", "data": "{{data}}"});
        let template = PayloadTemplate::parse(source.clone()).unwrap();
        assert_eq!(serde_json::to_value(&template).unwrap(), source);
        let back: PayloadTemplate = serde_json::from_value(source).unwrap();
        assert_eq!(back, template);
    }
}
