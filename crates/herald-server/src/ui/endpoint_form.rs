//! The endpoint form: every setting of an endpoint as form fields, read back into the API's
//! request body (`EndpointIn`), and shown again with the API's errors beside their fields.
//!
//! Credentials are write-only here as in the API: an edit form shows them empty (header values
//! that look like credentials as `********`), and an empty secret field keeps the stored value.

use herald_core::endpoint::{Endpoint, EndpointAuth, EndpointCredentials, is_sensitive_header};
use herald_core::event_type::EventType;
use maud::{Markup, html};
use serde_json::{Map, Value, json};

use super::form::{self, Invalid, described_by, field};
use crate::api::error::FieldError;

/// What a header value is shown as when it looks like a credential; sent back, it keeps the
/// stored value.
pub const KEPT: &str = "********";

/// The form's fields, as typed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EndpointForm {
    pub url: String,
    pub description: String,
    pub http_method: String,
    pub enabled: bool,
    /// Catalog types ticked, and patterns typed (wildcards), one list.
    pub events: Vec<String>,
    pub more_events: String,
    pub filter_key: String,
    pub filter_values: String,
    pub payload_format: String,
    /// The payload template as JSON text (sent with the `template` format only).
    pub payload_template: String,
    /// The signature profiles as a JSON array; empty: the default (Standard Webhooks).
    pub signature_profiles: String,
    pub cloudevents_handshake: bool,
    pub signature_scheme: String,
    pub auth_type: String,
    pub auth_username: String,
    pub auth_password: String,
    pub auth_token: String,
    pub auth_key_name: String,
    pub auth_key_value: String,
    pub auth_token_url: String,
    pub auth_client_id: String,
    pub auth_client_secret: String,
    pub auth_scope: String,
    pub auth_audience: String,
    pub headers: String,
    pub tls_ca: String,
    pub tls_cert: String,
    pub tls_key: String,
    pub retry_mode: String,
    pub retry_delays: String,
    pub retry_initial: String,
    pub retry_factor: String,
    pub retry_max: String,
    pub retry_max_attempts: String,
    pub retry_ttl: String,
    pub retry_jitter: String,
    pub rate_per_second: String,
    pub rate_max_in_flight: String,
    pub metadata: String,
}

const TEXT_FIELDS: &[&str] = &[
    "url",
    "description",
    "http_method",
    "more_events",
    "filter_key",
    "filter_values",
    "payload_format",
    "payload_template",
    "signature_profiles",
    "signature_scheme",
    "auth_type",
    "auth_username",
    "auth_password",
    "auth_token",
    "auth_key_name",
    "auth_key_value",
    "auth_token_url",
    "auth_client_id",
    "auth_client_secret",
    "auth_scope",
    "auth_audience",
    "headers",
    "tls_ca",
    "tls_cert",
    "tls_key",
    "retry_mode",
    "retry_delays",
    "retry_initial",
    "retry_factor",
    "retry_max",
    "retry_max_attempts",
    "retry_ttl",
    "retry_jitter",
    "rate_per_second",
    "rate_max_in_flight",
    "metadata",
];

impl EndpointForm {
    /// A new endpoint's form: enabled, POST, JSON, no auth, the default retry schedule.
    pub fn blank() -> Self {
        Self {
            http_method: "POST".into(),
            enabled: true,
            payload_format: "json".into(),
            signature_scheme: "v1".into(),
            auth_type: "none".into(),
            retry_mode: "default".into(),
            ..Self::default()
        }
    }

    /// The form as posted (`name=value` pairs; `events` repeats).
    pub fn from_pairs(pairs: &[(String, String)]) -> Self {
        let mut this = Self {
            enabled: form::value(pairs, "enabled") == "on",
            cloudevents_handshake: form::value(pairs, "cloudevents_handshake") == "on",
            events: form::values(pairs, "events").map(str::to_owned).collect(),
            ..Self::default()
        };
        for name in TEXT_FIELDS {
            let value = form::value(pairs, name).to_owned();
            *this.text_mut(name) = value;
        }
        this
    }

    fn text_mut(&mut self, name: &str) -> &mut String {
        match name {
            "url" => &mut self.url,
            "description" => &mut self.description,
            "http_method" => &mut self.http_method,
            "more_events" => &mut self.more_events,
            "filter_key" => &mut self.filter_key,
            "filter_values" => &mut self.filter_values,
            "payload_format" => &mut self.payload_format,
            "payload_template" => &mut self.payload_template,
            "signature_profiles" => &mut self.signature_profiles,
            "signature_scheme" => &mut self.signature_scheme,
            "auth_type" => &mut self.auth_type,
            "auth_username" => &mut self.auth_username,
            "auth_password" => &mut self.auth_password,
            "auth_token" => &mut self.auth_token,
            "auth_key_name" => &mut self.auth_key_name,
            "auth_key_value" => &mut self.auth_key_value,
            "auth_token_url" => &mut self.auth_token_url,
            "auth_client_id" => &mut self.auth_client_id,
            "auth_client_secret" => &mut self.auth_client_secret,
            "auth_scope" => &mut self.auth_scope,
            "auth_audience" => &mut self.auth_audience,
            "headers" => &mut self.headers,
            "tls_ca" => &mut self.tls_ca,
            "tls_cert" => &mut self.tls_cert,
            "tls_key" => &mut self.tls_key,
            "retry_mode" => &mut self.retry_mode,
            "retry_delays" => &mut self.retry_delays,
            "retry_initial" => &mut self.retry_initial,
            "retry_factor" => &mut self.retry_factor,
            "retry_max" => &mut self.retry_max,
            "retry_max_attempts" => &mut self.retry_max_attempts,
            "retry_ttl" => &mut self.retry_ttl,
            "retry_jitter" => &mut self.retry_jitter,
            "rate_per_second" => &mut self.rate_per_second,
            "rate_max_in_flight" => &mut self.rate_max_in_flight,
            "metadata" => &mut self.metadata,
            other => unreachable!("`{other}` is not a text field of the endpoint form"),
        }
    }

    /// An endpoint's current settings, credentials left empty (kept unless typed again).
    pub fn of(endpoint: &Endpoint, credentials: &EndpointCredentials, catalog: &[EventType]) -> Self {
        let spec = &endpoint.spec;
        let patterns: Vec<String> = spec.events.iter().map(ToString::to_string).collect();
        let (ticked, typed): (Vec<String>, Vec<String>) =
            patterns.into_iter().partition(|p| catalog.iter().any(|t| t.name.as_str() == p));
        let filter = spec.filter.as_ref().and_then(|f| serde_json::to_value(f).ok());
        let mut this = Self {
            url: spec.url.as_str().to_owned(),
            description: spec.description.clone(),
            http_method: json_text(&spec.http_method),
            enabled: endpoint.enabled,
            events: ticked,
            more_events: typed.join(", "),
            payload_format: json_text(&spec.payload_format),
            payload_template: spec
                .payload_template
                .as_ref()
                .and_then(|t| serde_json::to_string_pretty(t.as_value()).ok())
                .unwrap_or_default(),
            signature_profiles: serde_json::to_string_pretty(&spec.signature_profiles).unwrap_or_default(),
            cloudevents_handshake: spec.cloudevents_handshake,
            signature_scheme: json_text(&spec.signature_scheme),
            auth_type: "none".into(),
            retry_mode: "default".into(),
            ..Self::default()
        };
        if let Some(filter) = filter {
            this.filter_key = filter["keyToFilter"].as_str().unwrap_or_default().to_owned();
            this.filter_values = filter["supportedValues"]
                .as_array()
                .map(|values| values.iter().map(filter_value_text).collect::<Vec<_>>().join(", "))
                .unwrap_or_default();
        }
        match &credentials.auth {
            EndpointAuth::None => {}
            EndpointAuth::Basic { username, .. } => {
                this.auth_type = "basic".into();
                this.auth_username = username.clone();
            }
            EndpointAuth::Bearer { .. } => this.auth_type = "bearer".into(),
            EndpointAuth::ApiKey { key_name, .. } => {
                this.auth_type = "apiKey".into();
                this.auth_key_name = key_name.clone();
            }
            EndpointAuth::Oauth2ClientCredentials { token_url, client_id, scope, audience, .. } => {
                this.auth_type = "oauth2ClientCredentials".into();
                this.auth_token_url = token_url.clone();
                this.auth_client_id = client_id.clone();
                this.auth_scope = scope.clone().unwrap_or_default();
                this.auth_audience = audience.clone().unwrap_or_default();
            }
        }
        this.headers = credentials
            .headers
            .iter()
            .map(|(name, value)| format!("{name}: {}", if is_sensitive_header(name) { KEPT } else { value }))
            .collect::<Vec<_>>()
            .join("\n");
        this.tls_ca = spec.ca_cert_pem.clone().unwrap_or_default();
        this.tls_cert = spec.client_cert_pem.clone().unwrap_or_default();
        if let Some(policy) = &spec.retry_policy {
            this.retry_max_attempts = policy.max_attempts.to_string();
            this.retry_ttl = policy.ttl.to_string();
            this.retry_jitter = policy.jitter.to_string();
            if let Some(delays) = &policy.delays {
                this.retry_mode = "delays".into();
                this.retry_delays = delays.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
            } else if let Some(exponential) = &policy.exponential {
                this.retry_mode = "exponential".into();
                this.retry_initial = exponential.initial.to_string();
                this.retry_factor = exponential.factor.to_string();
                this.retry_max = exponential.max.to_string();
            }
        }
        if let Some(limit) = &spec.rate_limit {
            this.rate_per_second = limit.per_second.map(|n| n.to_string()).unwrap_or_default();
            this.rate_max_in_flight = limit.max_in_flight.map(|n| n.to_string()).unwrap_or_default();
        }
        this.metadata =
            spec.metadata.as_map().iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join("\n");
        this
    }

    /// The API's request body for this form. `kept`: the stored credentials an edit keeps where
    /// the form leaves a secret empty. `creating`: whether to send the signature scheme (chosen
    /// at creation only).
    pub fn to_body(&self, kept: Option<&EndpointCredentials>, creating: bool) -> Result<Value, Invalid> {
        let mut errors = Vec::new();
        let mut body = Map::new();
        body.insert("url".into(), self.url.trim().into());
        body.insert("description".into(), self.description.trim().into());
        body.insert("httpMethod".into(), self.http_method.clone().into());
        body.insert("enabled".into(), self.enabled.into());
        body.insert("payloadFormat".into(), self.payload_format.clone().into());
        if self.payload_format == "template" {
            match json_field("/payloadTemplate", &self.payload_template) {
                Ok(Some(template)) => {
                    body.insert("payloadTemplate".into(), template);
                }
                Ok(None) => {}
                Err(e) => errors.push(e),
            }
        }
        match json_field("/signatureProfiles", &self.signature_profiles) {
            Ok(Some(profiles)) => {
                body.insert("signatureProfiles".into(), profiles);
            }
            Ok(None) => {}
            Err(e) => errors.push(e),
        }
        if self.cloudevents_handshake {
            body.insert("cloudeventsHandshake".into(), true.into());
        }
        if creating {
            body.insert("signatureScheme".into(), self.signature_scheme.clone().into());
        }
        let mut events: Vec<Value> = self.events.iter().map(|e| Value::from(e.as_str())).collect();
        events.extend(split_list(&self.more_events).map(Value::from));
        body.insert("events".into(), Value::Array(events));
        match (self.filter_key.trim(), self.filter_values.trim()) {
            ("", "") => {}
            ("", _) => errors
                .push(FieldError::new("/filter/keyToFilter", "name the field the values are compared with")),
            (key, values) => {
                let values: Vec<Value> = split_list(values).map(filter_value).collect();
                body.insert("filter".into(), json!({"keyToFilter": key, "supportedValues": values}));
            }
        }
        body.insert("auth".into(), self.auth(kept.map(|k| &k.auth)));
        match lines("/headers", &self.headers) {
            Ok(pairs) => {
                let mut headers = Map::new();
                for (name, value) in pairs {
                    let value = match kept.filter(|_| value == KEPT) {
                        Some(kept) => kept
                            .headers
                            .iter()
                            .find(|(n, _)| n.eq_ignore_ascii_case(&name))
                            .map(|(_, v)| v.clone()),
                        None => Some(value),
                    };
                    match value {
                        Some(value) => {
                            headers.insert(name, value.into());
                        }
                        None => errors.push(FieldError::new(
                            format!("/headers/{name}"),
                            "this header has no stored value to keep: type its value",
                        )),
                    }
                }
                body.insert("headers".into(), Value::Object(headers));
            }
            Err(e) => errors.push(e),
        }
        let kept_key =
            kept.and_then(|k| k.client_key_pem.clone()).filter(|_| !self.tls_cert.trim().is_empty());
        let tls_key = Some(self.tls_key.trim().to_owned()).filter(|k| !k.is_empty()).or(kept_key);
        let tls: Map<String, Value> = [
            ("caCertPem", Some(self.tls_ca.trim().to_owned())),
            ("clientCertPem", Some(self.tls_cert.trim().to_owned())),
            ("clientKeyPem", tls_key),
        ]
        .into_iter()
        .filter_map(|(name, value)| {
            value.filter(|v| !v.is_empty()).map(|v| (name.to_owned(), Value::from(v)))
        })
        .collect();
        if !tls.is_empty() {
            body.insert("tls".into(), Value::Object(tls));
        }
        match self.retry_policy() {
            Ok(Some(policy)) => {
                body.insert("retryPolicy".into(), policy);
            }
            Ok(None) => {}
            Err(e) => errors.push(e),
        }
        let mut rate = Map::new();
        for (name, text) in [("perSecond", &self.rate_per_second), ("maxInFlight", &self.rate_max_in_flight)]
        {
            match number(&format!("/rateLimit/{name}"), text) {
                Ok(Some(n)) => {
                    rate.insert(name.into(), n);
                }
                Ok(None) => {}
                Err(e) => errors.push(e),
            }
        }
        if !rate.is_empty() {
            body.insert("rateLimit".into(), Value::Object(rate));
        }
        match lines("/metadata", &self.metadata) {
            Ok(pairs) => {
                body.insert(
                    "metadata".into(),
                    Value::Object(pairs.into_iter().map(|(k, v)| (k, Value::from(v))).collect()),
                );
            }
            Err(e) => errors.push(e),
        }
        if errors.is_empty() { Ok(Value::Object(body)) } else { Err(Invalid::fields(errors)) }
    }

    /// `auth` as the API reads it; an empty secret keeps the stored one when the kind is the same.
    fn auth(&self, kept: Option<&EndpointAuth>) -> Value {
        let keep = |typed: &str, stored: Option<&String>| -> String {
            match stored {
                Some(stored) if typed.is_empty() => stored.clone(),
                _ => typed.to_owned(),
            }
        };
        fn optional(text: &str) -> Option<&str> {
            Some(text.trim()).filter(|t| !t.is_empty())
        }
        match self.auth_type.as_str() {
            "basic" => {
                let stored = match kept {
                    Some(EndpointAuth::Basic { password, .. }) => Some(password),
                    _ => None,
                };
                json!({"type": "basic", "username": self.auth_username.trim(), "password": keep(&self.auth_password, stored)})
            }
            "bearer" => {
                let stored = match kept {
                    Some(EndpointAuth::Bearer { token }) => Some(token),
                    _ => None,
                };
                json!({"type": "bearer", "token": keep(self.auth_token.trim(), stored)})
            }
            "apiKey" => {
                let stored = match kept {
                    Some(EndpointAuth::ApiKey { key_value, .. }) => Some(key_value),
                    _ => None,
                };
                json!({"type": "apiKey", "keyName": self.auth_key_name.trim(), "keyValue": keep(&self.auth_key_value, stored), "in": "header"})
            }
            "oauth2ClientCredentials" => {
                let stored = match kept {
                    Some(EndpointAuth::Oauth2ClientCredentials { client_secret, .. }) => Some(client_secret),
                    _ => None,
                };
                json!({
                    "type": "oauth2ClientCredentials",
                    "tokenUrl": self.auth_token_url.trim(),
                    "clientId": self.auth_client_id.trim(),
                    "clientSecret": keep(&self.auth_client_secret, stored),
                    "scope": optional(&self.auth_scope),
                    "audience": optional(&self.auth_audience),
                })
            }
            other => json!({"type": other}),
        }
    }

    fn retry_policy(&self) -> Result<Option<Value>, FieldError> {
        let mut policy = Map::new();
        match self.retry_mode.as_str() {
            "delays" => {
                let delays: Vec<Value> = split_list(&self.retry_delays).map(Value::from).collect();
                policy.insert("delays".into(), Value::Array(delays));
            }
            "exponential" => {
                let factor = match self.retry_factor.trim() {
                    "" => Value::from(2),
                    text => match text.parse::<f64>() {
                        Ok(f) if f.is_finite() => Value::from(f),
                        _ => {
                            return Err(FieldError::new(
                                "/retryPolicy/exponential/factor",
                                "a number, e.g. 2",
                            ));
                        }
                    },
                };
                policy.insert(
                    "exponential".into(),
                    json!({"initial": self.retry_initial.trim(), "factor": factor, "max": self.retry_max.trim()}),
                );
            }
            _ => {}
        }
        if let Some(n) = number("/retryPolicy/maxAttempts", &self.retry_max_attempts)? {
            policy.insert("maxAttempts".into(), n);
        }
        if !self.retry_ttl.trim().is_empty() {
            policy.insert("ttl".into(), self.retry_ttl.trim().into());
        }
        match self.retry_jitter.trim() {
            "" => {}
            text => match text.parse::<f64>() {
                Ok(j) if j.is_finite() => {
                    policy.insert("jitter".into(), Value::from(j));
                }
                _ => return Err(FieldError::new("/retryPolicy/jitter", "a number between 0 and 1")),
            },
        }
        Ok((!policy.is_empty()).then_some(Value::Object(policy)))
    }

    /// The form, filled in, with `invalid`'s messages beside their fields.
    pub fn render(
        &self,
        action: &str,
        csrf: &str,
        version: Option<u64>,
        catalog: &[EventType],
        invalid: &Invalid,
    ) -> Markup {
        let creating = version.is_none();
        let errors = |pointer: &str| invalid.at(pointer);
        let bad = |pointer: &str| (!invalid.at(pointer).is_empty()).then_some("true");
        let extra_types: Vec<&String> =
            self.events.iter().filter(|e| !catalog.iter().any(|t| t.name.as_str() == e.as_str())).collect();
        html! {
            (invalid.summary())
            form.endpoint-form method="post" action=(action) novalidate {
                input type="hidden" name="csrf" value=(csrf);
                @if let Some(version) = version { input type="hidden" name="version" value=(version); }
                fieldset {
                    legend { "Receiver" }
                    (field("url", "URL", Some("Where Herald sends the events: an https:// URL."), &errors("/url"), html! {
                        input #url type="url" name="url" value=(self.url) required autocomplete="off"
                            aria-describedby=(described_by("url")) aria-invalid=[bad("/url")];
                    }))
                    (field("description", "Description", None, &errors("/description"), html! {
                        input #description type="text" name="description" value=(self.description)
                            aria-describedby=(described_by("description")) aria-invalid=[bad("/description")];
                    }))
                    (field("http_method", "HTTP method", None, &errors("/httpMethod"), html! {
                        select #http_method name="http_method" aria-describedby=(described_by("http_method")) aria-invalid=[bad("/httpMethod")] {
                            @for m in ["POST", "PUT"] { option value=(m) selected[self.http_method == m] { (m) } }
                        }
                    }))
                    div.field.check {
                        input #enabled type="checkbox" name="enabled" checked[self.enabled];
                        label for="enabled" { "Enabled: send events to this endpoint" }
                    }
                }
                fieldset {
                    legend { "Events" }
                    @let event_errors = errors("/events");
                    @if catalog.is_empty() {
                        p.hint { "The event-type catalog is empty: type patterns below." }
                    } @else {
                        div.choices role="group" aria-label="Event types from the catalog" {
                            @for t in catalog {
                                label.choice {
                                    input type="checkbox" name="events" value=(t.name.as_str())
                                        checked[self.events.iter().any(|e| e == t.name.as_str())];
                                    " " code { (t.name.as_str()) } " " span.muted { (t.label) }
                                }
                            }
                            @for e in extra_types {
                                label.choice { input type="checkbox" name="events" value=(e) checked; " " code { (e) } }
                            }
                        }
                    }
                    (field("more_events", "More patterns", Some("Comma-separated; wildcards such as contract.* or *. Nothing ticked or typed: every event type."), &event_errors, html! {
                        input #more_events type="text" name="more_events" value=(self.more_events)
                            aria-describedby=(described_by("more_events")) aria-invalid=[(!event_errors.is_empty()).then_some("true")];
                    }))
                    (field("filter_key", "Payload filter: field", Some("Dot path into the event's data, e.g. order.country. Only events whose value there is one of the values below are sent."), &errors("/filter"), html! {
                        input #filter_key type="text" name="filter_key" value=(self.filter_key)
                            aria-describedby=(described_by("filter_key")) aria-invalid=[bad("/filter")];
                    }))
                    (field("filter_values", "Payload filter: values", Some("Comma-separated; numbers and true/false are compared as such, \"quoted\" text as text."), &[], html! {
                        input #filter_values type="text" name="filter_values" value=(self.filter_values) aria-describedby=(described_by("filter_values"));
                    }))
                }
                fieldset {
                    legend { "Payload and signature" }
                    (field("payload_format", "Payload format", None, &errors("/payloadFormat"), html! {
                        select #payload_format name="payload_format" aria-describedby=(described_by("payload_format")) {
                            @for (value, label) in [("json", "Herald's JSON envelope"), ("cloudevents", "CloudEvents, structured"), ("cloudevents-binary", "CloudEvents, binary"), ("data", "The event's data alone"), ("template", "A template (below)")] {
                                option value=(value) selected[self.payload_format == value] { (label) }
                            }
                        }
                    }))
                    (field("payload_template", "Payload template", Some("JSON, for the template format: strings may reference the event, e.g. {\"event\": \"{{type}}\", \"data\": \"{{data}}\"} (also {{id}}, {{timestamp}}, {{tenant}}, {{subject}}, {{source}}, {{data.some.path}})."), &errors("/payloadTemplate"), html! {
                        textarea #payload_template name="payload_template" rows="4" aria-describedby=(described_by("payload_template")) aria-invalid=[bad("/payloadTemplate")] { (self.payload_template) }
                    }))
                    (field("signature_profiles", "Signature profiles", Some("JSON list; empty: Standard Webhooks. An HMAC header as another convention expects it, e.g. [{\"type\": \"hmac\", \"header\": \"X-Hub-Signature-256\", \"prefix\": \"sha256=\"}]; several sign at once. See docs/receivers.md."), &errors("/signatureProfiles"), html! {
                        textarea #signature_profiles name="signature_profiles" rows="3" aria-describedby=(described_by("signature_profiles")) aria-invalid=[bad("/signatureProfiles")] { (self.signature_profiles) }
                    }))
                    div.field.check {
                        input #cloudevents_handshake type="checkbox" name="cloudevents_handshake" checked[self.cloudevents_handshake];
                        label for="cloudevents_handshake" { "CloudEvents validation handshake: deliver only once the receiver agrees (CloudEvents formats)" }
                    }
                    @if creating {
                        (field("signature_scheme", "Signature scheme", Some("Chosen once, at creation."), &errors("/signatureScheme"), html! {
                            select #signature_scheme name="signature_scheme" aria-describedby=(described_by("signature_scheme")) {
                                option value="v1" selected[self.signature_scheme == "v1"] { "v1: HMAC-SHA256 (whsec_ secret)" }
                                option value="v1a" selected[self.signature_scheme == "v1a"] { "v1a: ed25519 (receivers verify with a public key)" }
                            }
                        }))
                    }
                }
                fieldset {
                    legend { "Authentication" }
                    @let secret_hint = if creating { None } else { Some("Leave empty to keep the stored value.") };
                    (field("auth_type", "Sent with every request", None, &errors("/auth"), html! {
                        select #auth_type name="auth_type" data-toggles="auth" aria-describedby=(described_by("auth_type")) aria-invalid=[bad("/auth")] {
                            @for (value, label) in [("none", "Nothing besides the signature"), ("basic", "HTTP Basic"), ("bearer", "Bearer token"), ("apiKey", "API key header"), ("oauth2ClientCredentials", "OAuth 2.0 client credentials")] {
                                option value=(value) selected[self.auth_type == value] { (label) }
                            }
                        }
                    }))
                    div data-group="auth" data-when="basic" {
                        (field("auth_username", "Username", None, &[], html! { input #auth_username type="text" name="auth_username" value=(self.auth_username) autocomplete="off"; }))
                        (field("auth_password", "Password", secret_hint, &[], html! { input #auth_password type="password" name="auth_password" autocomplete="new-password" aria-describedby=(described_by("auth_password")); }))
                    }
                    div data-group="auth" data-when="bearer" {
                        (field("auth_token", "Token", secret_hint, &[], html! { input #auth_token type="password" name="auth_token" autocomplete="new-password" aria-describedby=(described_by("auth_token")); }))
                    }
                    div data-group="auth" data-when="apiKey" {
                        (field("auth_key_name", "Header name", None, &[], html! { input #auth_key_name type="text" name="auth_key_name" value=(self.auth_key_name) autocomplete="off"; }))
                        (field("auth_key_value", "Key", secret_hint, &[], html! { input #auth_key_value type="password" name="auth_key_value" autocomplete="new-password" aria-describedby=(described_by("auth_key_value")); }))
                    }
                    div data-group="auth" data-when="oauth2ClientCredentials" {
                        (field("auth_token_url", "Token URL", None, &[], html! { input #auth_token_url type="url" name="auth_token_url" value=(self.auth_token_url) autocomplete="off"; }))
                        (field("auth_client_id", "Client id", None, &[], html! { input #auth_client_id type="text" name="auth_client_id" value=(self.auth_client_id) autocomplete="off"; }))
                        (field("auth_client_secret", "Client secret", secret_hint, &[], html! { input #auth_client_secret type="password" name="auth_client_secret" autocomplete="new-password" aria-describedby=(described_by("auth_client_secret")); }))
                        (field("auth_scope", "Scope (optional)", None, &[], html! { input #auth_scope type="text" name="auth_scope" value=(self.auth_scope); }))
                        (field("auth_audience", "Audience (optional)", None, &[], html! { input #auth_audience type="text" name="auth_audience" value=(self.auth_audience); }))
                    }
                    (field("headers", "Custom headers", Some("One per line: Name: value. A value shown as ******** is kept as stored."), &errors("/headers"), html! {
                        textarea #headers name="headers" rows="3" aria-describedby=(described_by("headers")) aria-invalid=[bad("/headers")] { (self.headers) }
                    }))
                }
                fieldset {
                    legend { "TLS" }
                    (field("tls_ca", "Trusted CA certificate (PEM)", Some("Trust this CA for this endpoint, e.g. a private CA."), &errors("/tls/caCertPem"), html! {
                        textarea #tls_ca name="tls_ca" rows="3" aria-describedby=(described_by("tls_ca")) aria-invalid=[bad("/tls/caCertPem")] { (self.tls_ca) }
                    }))
                    (field("tls_cert", "Client certificate (PEM), for mutual TLS", None, &errors("/tls/clientCertPem"), html! {
                        textarea #tls_cert name="tls_cert" rows="3" aria-describedby=(described_by("tls_cert")) aria-invalid=[bad("/tls/clientCertPem")] { (self.tls_cert) }
                    }))
                    @let key_errors = [errors("/tls/clientKeyPem"), invalid.errors.iter().filter(|e| e.path == "/tls").map(|e| e.message.clone()).collect()].concat();
                    (field("tls_key", "Client key (PEM)", if creating { None } else { Some("Leave empty to keep the stored key.") }, &key_errors, html! {
                        textarea #tls_key name="tls_key" rows="3" aria-describedby=(described_by("tls_key")) aria-invalid=[(!key_errors.is_empty()).then_some("true")] {}
                    }))
                }
                fieldset {
                    legend { "Retries and rate" }
                    (field("retry_mode", "Retry schedule", None, &errors("/retryPolicy"), html! {
                        select #retry_mode name="retry_mode" data-toggles="retry" aria-describedby=(described_by("retry_mode")) aria-invalid=[bad("/retryPolicy")] {
                            @for (value, label) in [("default", "Herald's default schedule"), ("delays", "These delays"), ("exponential", "Exponential backoff")] {
                                option value=(value) selected[self.retry_mode == value] { (label) }
                            }
                        }
                    }))
                    div data-group="retry" data-when="delays" {
                        (field("retry_delays", "Delays", Some("Comma-separated waits before attempt 2, 3, …; the last repeats. E.g. 5s, 5m, 30m, 2h."), &[], html! { input #retry_delays type="text" name="retry_delays" value=(self.retry_delays) aria-describedby=(described_by("retry_delays")); }))
                    }
                    div data-group="retry" data-when="exponential" {
                        (field("retry_initial", "First delay", None, &[], html! { input #retry_initial type="text" name="retry_initial" value=(self.retry_initial) placeholder="5s"; }))
                        (field("retry_factor", "Factor", None, &[], html! { input #retry_factor type="text" inputmode="decimal" name="retry_factor" value=(self.retry_factor) placeholder="2"; }))
                        (field("retry_max", "Longest delay", None, &[], html! { input #retry_max type="text" name="retry_max" value=(self.retry_max) placeholder="1h"; }))
                    }
                    div.row {
                        (field("retry_max_attempts", "Attempts at most", None, &[], html! { input #retry_max_attempts type="text" inputmode="numeric" name="retry_max_attempts" value=(self.retry_max_attempts); }))
                        (field("retry_ttl", "Give up after", Some("E.g. 24h."), &[], html! { input #retry_ttl type="text" name="retry_ttl" value=(self.retry_ttl) aria-describedby=(described_by("retry_ttl")); }))
                        (field("retry_jitter", "Jitter (0–1)", None, &[], html! { input #retry_jitter type="text" inputmode="decimal" name="retry_jitter" value=(self.retry_jitter); }))
                    }
                    div.row {
                        (field("rate_per_second", "Deliveries per second at most", None, &errors("/rateLimit"), html! { input #rate_per_second type="text" inputmode="numeric" name="rate_per_second" value=(self.rate_per_second) aria-describedby=(described_by("rate_per_second")) aria-invalid=[bad("/rateLimit")]; }))
                        (field("rate_max_in_flight", "Requests in flight at most", None, &[], html! { input #rate_max_in_flight type="text" inputmode="numeric" name="rate_max_in_flight" value=(self.rate_max_in_flight); }))
                    }
                }
                fieldset {
                    legend { "Metadata" }
                    (field("metadata", "Metadata", Some("Your own labels, one per line: key: value."), &errors("/metadata"), html! {
                        textarea #metadata name="metadata" rows="2" aria-describedby=(described_by("metadata")) aria-invalid=[bad("/metadata")] { (self.metadata) }
                    }))
                }
                div.actions {
                    button.primary type="submit" { @if creating { "Create endpoint" } @else { "Save changes" } }
                }
            }
        }
    }
}

/// A serializable value as the text of its JSON string (`"POST"` → `POST`).
fn json_text<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(s)) => s,
        _ => String::new(),
    }
}

/// Items of a comma- (or line-) separated list, trimmed, empty ones dropped.
fn split_list(text: &str) -> impl Iterator<Item = &str> {
    text.split([',', '\n']).map(str::trim).filter(|s| !s.is_empty())
}

/// A filter value as typed: JSON when it reads as a number, `true`/`false` or a quoted string;
/// otherwise the text itself.
fn filter_value(text: &str) -> Value {
    match serde_json::from_str::<Value>(text) {
        Ok(v @ (Value::Number(_) | Value::Bool(_) | Value::String(_))) => v,
        _ => Value::from(text),
    }
}

/// A filter value as the form shows it (the inverse of [`filter_value`]).
fn filter_value_text(value: &Value) -> String {
    match value {
        Value::String(s) if filter_value(s) != *value => format!("\"{s}\""),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `Name: value` lines.
fn lines(pointer: &str, text: &str) -> Result<Vec<(String, String)>, FieldError> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(n, line)| {
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| FieldError::new(pointer, format!("line {}: write `name: value`", n + 1)))?;
            Ok((name.trim().to_owned(), value.trim().to_owned()))
        })
        .collect()
}

/// A whole number typed in a field (empty: none).
fn number(pointer: &str, text: &str) -> Result<Option<Value>, FieldError> {
    match text.trim() {
        "" => Ok(None),
        text => text
            .parse::<u64>()
            .map(|n| Some(Value::from(n)))
            .map_err(|_| FieldError::new(pointer, "a whole number")),
    }
}

/// A JSON field of the form: empty is absent; text that is not JSON is an error at `path`.
fn json_field(path: &str, text: &str) -> Result<Option<Value>, FieldError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    serde_json::from_str(text).map(Some).map_err(|e| FieldError::new(path, format!("not JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn a_full_form_becomes_the_apis_body() {
        let form = EndpointForm::from_pairs(&pairs(&[
            ("url", " https://example.com/hook "),
            ("http_method", "PUT"),
            ("enabled", "on"),
            ("events", "order.created"),
            ("events", "order.paid"),
            ("more_events", "invoice.*, refund.done"),
            ("filter_key", "country"),
            ("filter_values", "FR, 42, true, \"7\""),
            ("payload_format", "cloudevents"),
            ("signature_scheme", "v1a"),
            ("auth_type", "basic"),
            ("auth_username", "u"),
            ("auth_password", "p"),
            ("headers", "X-Team: payments\n\nX-Other:  two words "),
            ("retry_mode", "exponential"),
            ("retry_initial", "5s"),
            ("retry_factor", "3"),
            ("retry_max", "1h"),
            ("retry_max_attempts", "7"),
            ("rate_per_second", "10"),
            ("metadata", "owner: team-a"),
        ]));
        let body = form.to_body(None, true).unwrap();
        assert_eq!(
            body,
            json!({
                "url": "https://example.com/hook", "description": "", "httpMethod": "PUT", "enabled": true,
                "payloadFormat": "cloudevents", "signatureScheme": "v1a",
                "events": ["order.created", "order.paid", "invoice.*", "refund.done"],
                "filter": {"keyToFilter": "country", "supportedValues": ["FR", 42, true, "7"]},
                "auth": {"type": "basic", "username": "u", "password": "p"},
                "headers": {"X-Team": "payments", "X-Other": "two words"},
                "retryPolicy": {"exponential": {"initial": "5s", "factor": 3.0, "max": "1h"}, "maxAttempts": 7},
                "rateLimit": {"perSecond": 10},
                "metadata": {"owner": "team-a"},
            })
        );
        let read: herald_api::endpoints::EndpointIn = crate::api::extract::read_value(&body).unwrap();
        assert_eq!(read.events.len(), 4);
    }

    #[test]
    fn templates_signature_profiles_and_the_handshake_go_into_the_body() {
        let form = EndpointForm::from_pairs(&pairs(&[
            ("url", "https://example.com/hook"),
            ("payload_format", "template"),
            ("payload_template", r#"{"event": "{{type}}", "data": "{{data}}"}"#),
            (
                "signature_profiles",
                r#"[{"type": "hmac", "header": "X-Hub-Signature-256", "prefix": "sha256="}]"#,
            ),
            ("cloudevents_handshake", "on"),
            ("retry_mode", "default"),
            ("auth_type", "none"),
        ]));
        let body = form.to_body(None, false).unwrap();
        assert_eq!(body["payloadTemplate"], json!({"event": "{{type}}", "data": "{{data}}"}));
        assert_eq!(body["signatureProfiles"][0]["header"], "X-Hub-Signature-256");
        assert_eq!(body["cloudeventsHandshake"], true);
        // A template left in the field is not sent with another format; bad JSON names its field.
        let other =
            EndpointForm { payload_format: "json".into(), signature_profiles: String::new(), ..form.clone() };
        let body = other.to_body(None, false).unwrap();
        assert!(body.get("payloadTemplate").is_none() && body.get("signatureProfiles").is_none());
        let bad =
            EndpointForm { payload_template: "{not json".into(), signature_profiles: "[".into(), ..form };
        let paths: Vec<String> =
            bad.to_body(None, false).unwrap_err().errors.into_iter().map(|e| e.path).collect();
        assert_eq!(paths, ["/payloadTemplate", "/signatureProfiles"]);
    }

    #[test]
    fn mistakes_in_the_form_itself_name_their_fields() {
        let form = EndpointForm::from_pairs(&pairs(&[
            ("url", "https://example.com"),
            ("filter_values", "a"),
            ("headers", "no colon here"),
            ("rate_per_second", "ten"),
            ("retry_mode", "default"),
            ("auth_type", "none"),
        ]));
        let invalid = form.to_body(None, false).unwrap_err();
        let paths: Vec<&str> = invalid.errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["/filter/keyToFilter", "/headers", "/rateLimit/perSecond"]);
        assert!(!invalid.at("/filter").is_empty());
    }

    #[test]
    fn an_edit_keeps_stored_secrets_where_the_form_is_empty() {
        let stored = EndpointCredentials {
            secret: herald_core::secret::SigningSecret::generate(),
            retiring: Vec::new(),
            auth: EndpointAuth::Bearer { token: "stored-token".into() },
            headers: serde_json::from_value(json!({"Authorization": "Bearer s3cret", "X-Team": "a"}))
                .unwrap(),
            client_key_pem: Some("KEY".into()),
        };
        let mut form = EndpointForm::from_pairs(&pairs(&[
            ("url", "https://example.com"),
            ("auth_type", "bearer"),
            ("headers", "Authorization: ********\nX-Team: b"),
            ("tls_cert", "CERT"),
        ]));
        let body = form.to_body(Some(&stored), false).unwrap();
        assert_eq!(body["auth"], json!({"type": "bearer", "token": "stored-token"}));
        assert_eq!(body["headers"], json!({"Authorization": "Bearer s3cret", "X-Team": "b"}));
        assert_eq!(body["tls"]["clientKeyPem"], "KEY");
        assert!(body.get("signatureScheme").is_none(), "chosen at creation only");

        form.auth_type = "basic".into();
        form.auth_username = "u".into();
        let body = form.to_body(Some(&stored), false).unwrap();
        assert_eq!(
            body["auth"]["password"], "",
            "another kind keeps nothing: the API refuses the empty password"
        );

        form.headers = "X-New: ********".into();
        let invalid = form.to_body(Some(&stored), false).unwrap_err();
        assert_eq!(invalid.errors[0].path, "/headers/X-New");
    }

    #[test]
    fn filter_values_show_as_they_are_read() {
        for value in [json!("FR"), json!(42), json!(true), json!("7"), json!("true")] {
            assert_eq!(filter_value(&filter_value_text(&value)), value, "{value}");
        }
    }
}
