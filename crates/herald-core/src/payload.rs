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

use serde::Serialize;
use serde_json::{Map, Value};

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
    match envelope {
        Envelope::Data => {
            Payload { body: to_vec(&event.data), content_type: "application/json", headers: vec![] }
        }
        Envelope::Template(template) => Payload {
            body: to_vec(&template.render(event)),
            content_type: "application/json",
            headers: vec![],
        },
        Envelope::Json => Payload {
            body: to_vec(&JsonEnvelope {
                data: &event.data,
                id: event.id.as_str(),
                source: event.source.as_deref(),
                subject: event.subject.as_deref(),
                tenant: event.tenant_id.as_str(),
                timestamp: rfc3339(event),
                event_type: event.event_type.as_str(),
            }),
            content_type: "application/json",
            headers: vec![],
        },
        Envelope::Cloudevents => Payload {
            body: to_vec(&StructuredCloudEvent {
                data: &event.data,
                datacontenttype: "application/json",
                id: event.id.as_str(),
                source: event.source.clone().unwrap_or_else(|| default_source(event)),
                specversion: "1.0",
                subject: event.subject.as_deref(),
                time: rfc3339(event),
                event_type: event.event_type.as_str(),
            }),
            content_type: "application/cloudevents+json",
            headers: vec![],
        },
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
            Payload { body: to_vec(&event.data), content_type: "application/json", headers }
        }
    }
}

/// Herald's `json` envelope, serialized straight from the event (nothing copied). Its fields are
/// in the order of their names, as a JSON object of the same members is written.
#[derive(Serialize)]
struct JsonEnvelope<'a> {
    data: &'a Map<String, Value>,
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<&'a str>,
    tenant: &'a str,
    timestamp: String,
    #[serde(rename = "type")]
    event_type: &'a str,
}

/// A CloudEvents 1.0 structured-mode event, its members in the order of their names too.
#[derive(Serialize)]
struct StructuredCloudEvent<'a> {
    data: &'a Map<String, Value>,
    datacontenttype: &'static str,
    id: &'a str,
    source: String,
    specversion: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<&'a str>,
    time: String,
    #[serde(rename = "type")]
    event_type: &'a str,
}

fn to_vec(value: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventId;
    use crate::event_type::EventTypeName;
    use crate::id::{GeneratedEventId, TenantId};
    use serde_json::json;

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

    /// The envelopes are written straight from the event; their bytes are those of the same
    /// members gathered in a JSON object (members in name order, strings escaped alike).
    #[test]
    fn envelopes_are_the_bytes_of_the_same_members_as_a_json_object() {
        for (subject, source) in
            [(None, None), (Some("c_1"), None), (None, Some("/a\"q")), (Some("é\n"), Some("s"))]
        {
            let mut e = event(subject);
            e.source = source.map(str::to_owned);
            e.data =
                serde_json::from_value(json!({"z": [1, {"b": null}], "a": "\u{1}\"", "m": 1.5})).unwrap();
            let mut members = json!({"id": e.id.as_str(), "type": e.event_type.as_str(),
                "timestamp": e.created_at.to_string(), "tenant": e.tenant_id.as_str(), "data": e.data});
            if let Some(subject) = subject {
                members["subject"] = json!(subject);
            }
            if let Some(source) = source {
                members["source"] = json!(source);
            }
            assert_eq!(render(&e, Envelope::Json).body, serde_json::to_vec(&members).unwrap());

            let mut ce = json!({"specversion": "1.0", "id": e.id.as_str(), "type": e.event_type.as_str(),
                "source": source.unwrap_or("/tenants/ten_01ARZ3NDEKTSV4RRFFQ69G5FAV"),
                "time": e.created_at.to_string(), "datacontenttype": "application/json", "data": e.data});
            if let Some(subject) = subject {
                ce["subject"] = json!(subject);
            }
            assert_eq!(render(&e, Envelope::Cloudevents).body, serde_json::to_vec(&ce).unwrap());
            assert_eq!(render(&e, Envelope::Data).body, serde_json::to_vec(&e.data).unwrap());
        }
    }
}
