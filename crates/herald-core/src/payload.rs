//! What an attempt sends: the body and content headers for an endpoint's payload format.
//!
//! - `json`: Herald's envelope `{"id","type","timestamp","tenant","data"}`, plus `subject` and
//!   `source` when set.
//! - `cloudevents`: CloudEvents 1.0 structured mode, `application/cloudevents+json`.
//! - `cloudevents-binary`: CloudEvents 1.0 binary mode: `ce-*` headers, `data` as the body.
//! - `data`: the event's data alone, `application/json`.
//! - `template`: the endpoint's [`PayloadTemplate`] filled in from the event, `application/json`.
//!
//! The body is a pure function of the stored event and the endpoint's settings: the same bytes for
//! every attempt of an event (rendered once and kept while its deliveries are sent); only the
//! signature headers change.

use serde_json::{Map, Value, json};

use crate::endpoint::PayloadFormat;
use crate::event::Event;
use crate::template::PayloadTemplate;

/// What an endpoint's requests carry: its payload format, with the template of a `template` one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Envelope<'a> {
    Json,
    Cloudevents,
    CloudeventsBinary,
    Data,
    Template(&'a PayloadTemplate),
}

impl Envelope<'_> {
    pub fn format(&self) -> PayloadFormat {
        match self {
            Self::Json => PayloadFormat::Json,
            Self::Cloudevents => PayloadFormat::Cloudevents,
            Self::CloudeventsBinary => PayloadFormat::CloudeventsBinary,
            Self::Data => PayloadFormat::Data,
            Self::Template(_) => PayloadFormat::Template,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Payload {
    pub body: Vec<u8>,
    pub content_type: &'static str,
    /// Format-specific headers (`ce-*` in binary mode).
    pub headers: Vec<(&'static str, String)>,
}

/// RFC 3339 in UTC, as the API shows timestamps (fractional seconds without trailing zeros).
fn rfc3339(event: &Event) -> String {
    event.created_at.to_string()
}

/// The CloudEvents `source` when the publisher gave none: the tenant, as a URI reference.
fn default_source(event: &Event) -> String {
    format!("/tenants/{}", event.tenant_id)
}

pub fn render(event: &Event, envelope: Envelope<'_>) -> Payload {
    let data = Value::Object(event.data.clone());
    match envelope {
        Envelope::Data => Payload { body: to_vec(&data), content_type: "application/json", headers: vec![] },
        Envelope::Template(template) => Payload {
            body: to_vec(&template.render(event)),
            content_type: "application/json",
            headers: vec![],
        },
        Envelope::Json => {
            let mut envelope = Map::new();
            envelope.insert("id".into(), json!(event.id.as_str()));
            envelope.insert("type".into(), json!(event.event_type.as_str()));
            envelope.insert("timestamp".into(), json!(rfc3339(event)));
            envelope.insert("tenant".into(), json!(event.tenant_id.as_str()));
            if let Some(subject) = &event.subject {
                envelope.insert("subject".into(), json!(subject));
            }
            if let Some(source) = &event.source {
                envelope.insert("source".into(), json!(source));
            }
            envelope.insert("data".into(), data);
            Payload {
                body: to_vec(&Value::Object(envelope)),
                content_type: "application/json",
                headers: vec![],
            }
        }
        Envelope::Cloudevents => {
            let mut ce = Map::new();
            ce.insert("specversion".into(), json!("1.0"));
            ce.insert("id".into(), json!(event.id.as_str()));
            ce.insert("source".into(), json!(event.source.clone().unwrap_or_else(|| default_source(event))));
            ce.insert("type".into(), json!(event.event_type.as_str()));
            if let Some(subject) = &event.subject {
                ce.insert("subject".into(), json!(subject));
            }
            ce.insert("time".into(), json!(rfc3339(event)));
            ce.insert("datacontenttype".into(), json!("application/json"));
            ce.insert("data".into(), data);
            Payload {
                body: to_vec(&Value::Object(ce)),
                content_type: "application/cloudevents+json",
                headers: vec![],
            }
        }
        Envelope::CloudeventsBinary => {
            let mut headers = vec![
                ("ce-specversion", "1.0".to_owned()),
                ("ce-id", event.id.to_string()),
                ("ce-source", event.source.clone().unwrap_or_else(|| default_source(event))),
                ("ce-type", event.event_type.to_string()),
                ("ce-time", rfc3339(event)),
            ];
            if let Some(subject) = &event.subject {
                headers.push(("ce-subject", subject.clone()));
            }
            Payload { body: to_vec(&data), content_type: "application/json", headers }
        }
    }
}

fn to_vec(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventId;
    use crate::event_type::EventTypeName;
    use crate::id::{GeneratedEventId, TenantId};

    fn event(subject: Option<&str>) -> Event {
        Event {
            key: GeneratedEventId::generate(),
            id: EventId::parse("evt_abc").unwrap(),
            tenant_id: TenantId::parse("ten_01ARZ3NDEKTSV4RRFFQ69G5FAV").unwrap(),
            event_type: EventTypeName::parse("contract.created").unwrap(),
            data: serde_json::from_value(json!({"contractId": "c_1"})).unwrap(),
            subject: subject.map(str::to_owned),
            source: None,
            traceparent: None,
            payload_removed_at: None,
            headers: Default::default(),
            created_at: crate::Timestamp::from_millisecond(1_700_000_000_123).unwrap(),
        }
    }

    #[test]
    fn json_envelope() {
        let p = render(&event(Some("c_1")), Envelope::Json);
        let v: Value = serde_json::from_slice(&p.body).unwrap();
        assert_eq!(
            v,
            json!({"id": "evt_abc", "type": "contract.created", "timestamp": "2023-11-14T22:13:20.123Z",
                   "tenant": "ten_01ARZ3NDEKTSV4RRFFQ69G5FAV", "subject": "c_1", "data": {"contractId": "c_1"}})
        );
        assert_eq!(p.content_type, "application/json");
        let without: Value = serde_json::from_slice(&render(&event(None), Envelope::Json).body).unwrap();
        assert!(without.get("subject").is_none() && without.get("source").is_none());
    }

    #[test]
    fn cloudevents_structured_and_binary() {
        let p = render(&event(None), Envelope::Cloudevents);
        let v: Value = serde_json::from_slice(&p.body).unwrap();
        assert_eq!(v["specversion"], "1.0");
        assert_eq!(v["source"], "/tenants/ten_01ARZ3NDEKTSV4RRFFQ69G5FAV");
        assert_eq!(v["datacontenttype"], "application/json");
        assert_eq!(v["data"]["contractId"], "c_1");
        assert_eq!(p.content_type, "application/cloudevents+json");

        let b = render(&event(Some("s")), Envelope::CloudeventsBinary);
        assert_eq!(serde_json::from_slice::<Value>(&b.body).unwrap(), json!({"contractId": "c_1"}));
        assert!(b.headers.contains(&("ce-id", "evt_abc".to_owned())));
        assert!(b.headers.contains(&("ce-subject", "s".to_owned())));
    }

    #[test]
    fn data_alone_and_templates() {
        let d = render(&event(None), Envelope::Data);
        assert_eq!(serde_json::from_slice::<Value>(&d.body).unwrap(), json!({"contractId": "c_1"}));
        assert_eq!(d.content_type, "application/json");
        let template = PayloadTemplate::parse(json!({"event": "{{type}}", "data": "{{data}}"})).unwrap();
        let t = render(&event(None), Envelope::Template(&template));
        assert_eq!(
            serde_json::from_slice::<Value>(&t.body).unwrap(),
            json!({"event": "contract.created", "data": {"contractId": "c_1"}})
        );
        assert_eq!((t.content_type, t.headers.len()), ("application/json", 0));
    }
}
