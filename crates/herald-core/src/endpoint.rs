//! Endpoints: a tenant's receivers and everything about how Herald talks to them.
//!
//! An endpoint is stored in two parts: an [`EndpointSpec`] (what may be shown: url, patterns,
//! filter, method, retry policy, …) and [`EndpointCredentials`] (signing secret, outbound auth,
//! custom headers, TLS client key), which are only ever stored sealed with the master key and
//! never returned after creation.

use std::collections::BTreeMap;
use std::fmt;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::filter::PayloadFilter;
use crate::id::{EndpointId, TenantId};
use crate::metadata::Metadata;
use crate::pattern::EventPattern;
use crate::retry::RetryPolicy;
use crate::secret::SigningSecret;

/// The receiver's URL: absolute `http` or `https`, with a host, no credentials, no fragment.
/// Which hosts may actually be contacted is the reachability guard's decision, not this type's.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EndpointUrl(url::Url);

impl EndpointUrl {
    pub const MAX_LEN: usize = 2048;

    pub fn parse(s: &str) -> Result<Self, String> {
        if s.len() > Self::MAX_LEN {
            return Err(format!("a URL has at most {} characters", Self::MAX_LEN));
        }
        let url = url::Url::parse(s).map_err(|e| format!("`{s}` is not an absolute URL: {e}"))?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err("the URL scheme must be https (or http where the policy allows it)".into());
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err("the URL must name a host".into());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("put credentials in `auth`, not in the URL".into());
        }
        if url.fragment().is_some() {
            return Err("the URL must not have a fragment".into());
        }
        Ok(Self(url))
    }

    pub fn as_url(&self) -> &url::Url {
        &self.0
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl TryFrom<String> for EndpointUrl {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl From<EndpointUrl> for String {
    fn from(u: EndpointUrl) -> String {
        u.0.into()
    }
}

impl fmt::Debug for EndpointUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

crate::schema::string_schema!(EndpointUrl, "Receiver URL (https).", example = "https://example.com/webhooks");

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    #[default]
    Post,
    Put,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PayloadFormat {
    /// Herald's JSON envelope `{id, type, timestamp, tenant, data, …}`.
    #[default]
    Json,
    /// CloudEvents 1.0 structured mode (`application/cloudevents+json`).
    Cloudevents,
    /// CloudEvents 1.0 binary mode (`ce-*` headers, `data` as the body).
    CloudeventsBinary,
    /// The event's `data` alone.
    Data,
    /// The endpoint's `payloadTemplate`, filled in from the event.
    Template,
}

impl PayloadFormat {
    /// Whether receivers get a CloudEvent (and may ask for the validation handshake).
    pub fn is_cloudevents(self) -> bool {
        matches!(self, Self::Cloudevents | Self::CloudeventsBinary)
    }
}

/// Flow limits for one endpoint. At least one of the two is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", try_from = "RawRateLimit")]
pub struct RateLimit {
    /// Deliveries per second (1–100000).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 100_000)]
    pub per_second: Option<u32>,
    /// Requests in flight at once (1–1000).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 1000)]
    pub max_in_flight: Option<u32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawRateLimit {
    per_second: Option<u32>,
    max_in_flight: Option<u32>,
}

impl TryFrom<RawRateLimit> for RateLimit {
    type Error = String;
    fn try_from(raw: RawRateLimit) -> Result<Self, String> {
        if raw.per_second.is_none() && raw.max_in_flight.is_none() {
            return Err("give perSecond, maxInFlight or both".into());
        }
        if raw.per_second.is_some_and(|n| !(1..=100_000).contains(&n)) {
            return Err("perSecond must be between 1 and 100000".into());
        }
        if raw.max_in_flight.is_some_and(|n| !(1..=1000).contains(&n)) {
            return Err("maxInFlight must be between 1 and 1000".into());
        }
        Ok(Self { per_second: raw.per_second, max_in_flight: raw.max_in_flight })
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum KeyLocation {
    #[default]
    Header,
}

/// How Herald authenticates to the receiver, besides signing. Credentials are write-only.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase", try_from = "AuthIn")]
pub enum EndpointAuth {
    #[default]
    None,
    Basic {
        username: String,
        password: String,
    },
    Bearer {
        token: String,
    },
    ApiKey {
        key_name: String,
        key_value: String,
        #[serde(rename = "in")]
        location: KeyLocation,
    },
    Oauth2ClientCredentials {
        token_url: String,
        client_id: String,
        client_secret: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        scope: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        audience: Option<String>,
    },
}

/// Outbound authentication as a caller writes it; checked into an [`EndpointAuth`].
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase", deny_unknown_fields)]
pub enum AuthIn {
    None,
    Basic {
        username: String,
        password: String,
    },
    Bearer {
        token: String,
    },
    ApiKey {
        key_name: String,
        key_value: String,
        #[serde(rename = "in", default)]
        location: KeyLocation,
    },
    Oauth2ClientCredentials {
        token_url: String,
        client_id: String,
        client_secret: String,
        scope: Option<String>,
        audience: Option<String>,
    },
}

impl fmt::Debug for AuthIn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthIn(<redacted>)")
    }
}

fn non_empty(field: &str, value: &str, max: usize) -> Result<(), String> {
    if value.is_empty() || value.len() > max {
        return Err(format!("{field} must have 1 to {max} characters"));
    }
    if value.chars().any(char::is_control) {
        return Err(format!("{field} must not contain control characters"));
    }
    Ok(())
}

impl TryFrom<AuthIn> for EndpointAuth {
    type Error = String;
    fn try_from(raw: AuthIn) -> Result<Self, String> {
        Ok(match raw {
            AuthIn::None => Self::None,
            AuthIn::Basic { username, password } => {
                non_empty("username", &username, 256)?;
                if username.contains(':') {
                    return Err("a basic-auth username must not contain `:`".into());
                }
                non_empty("password", &password, 1024)?;
                Self::Basic { username, password }
            }
            AuthIn::Bearer { token } => {
                non_empty("token", &token, 4096)?;
                Self::Bearer { token }
            }
            AuthIn::ApiKey { key_name, key_value, location } => {
                check_header_name(&key_name)?;
                http::HeaderValue::from_str(&key_value)
                    .map_err(|_| "keyValue is not a valid header value".to_owned())?;
                non_empty("keyValue", &key_value, 4096)?;
                Self::ApiKey { key_name, key_value, location }
            }
            AuthIn::Oauth2ClientCredentials { token_url, client_id, client_secret, scope, audience } => {
                EndpointUrl::parse(&token_url).map_err(|e| format!("tokenUrl: {e}"))?;
                non_empty("clientId", &client_id, 1024)?;
                non_empty("clientSecret", &client_secret, 4096)?;
                if let Some(scope) = &scope {
                    non_empty("scope", scope, 1024)?;
                }
                if let Some(audience) = &audience {
                    non_empty("audience", audience, 1024)?;
                }
                Self::Oauth2ClientCredentials { token_url, client_id, client_secret, scope, audience }
            }
        })
    }
}

impl fmt::Debug for EndpointAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::None => "None",
            Self::Basic { .. } => "Basic(<redacted>)",
            Self::Bearer { .. } => "Bearer(<redacted>)",
            Self::ApiKey { .. } => "ApiKey(<redacted>)",
            Self::Oauth2ClientCredentials { .. } => "Oauth2ClientCredentials(<redacted>)",
        })
    }
}

/// Headers a customer may not set: hop-by-hop, framing, and the ones Herald signs with.
const RESERVED_HEADERS: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "content-type",
];

pub fn check_header_name(name: &str) -> Result<(), String> {
    http::HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("`{name}` is not a valid header name"))?;
    let lower = name.to_ascii_lowercase();
    if RESERVED_HEADERS.contains(&lower.as_str()) {
        return Err(format!("`{name}` is a hop-by-hop or framing header and cannot be set"));
    }
    if lower.starts_with("webhook-") || lower.starts_with("ce-") {
        return Err(format!("`{name}` is reserved for Herald's signature and CloudEvents headers"));
    }
    Ok(())
}

/// Extra static headers sent with every request to the endpoint.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "BTreeMap<String, String>")]
#[schema(value_type = BTreeMap<String, String>)]
pub struct CustomHeaders(BTreeMap<String, String>);

impl CustomHeaders {
    pub const MAX: usize = 50;

    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.0.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl TryFrom<BTreeMap<String, String>> for CustomHeaders {
    type Error = String;
    fn try_from(map: BTreeMap<String, String>) -> Result<Self, String> {
        if map.len() > Self::MAX {
            return Err(format!("at most {} headers", Self::MAX));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (name, value) in &map {
            check_header_name(name)?;
            if !seen.insert(name.to_ascii_lowercase()) {
                return Err(format!("header `{name}` is given twice"));
            }
            http::HeaderValue::from_str(value)
                .map_err(|_| format!("the value of `{name}` is not a valid header value"))?;
        }
        Ok(Self(map))
    }
}

impl fmt::Debug for CustomHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

/// Whether a header's value should be hidden when headers are shown (it looks like a credential).
pub fn is_sensitive_header(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    ["auth", "token", "secret", "key", "password", "cookie", "signature", "credential", "session"]
        .iter()
        .any(|word| lower.contains(word))
}

/// PEM text that holds at least one certificate.
pub fn parse_certificates_pem(field: &str, pem: &str) -> Result<(), String> {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(pem.as_bytes()).collect();
    match certs {
        Ok(certs) if !certs.is_empty() => Ok(()),
        _ => Err(format!("{field} must be PEM text holding at least one CERTIFICATE")),
    }
}

/// PEM text that holds a private key (PKCS#8, PKCS#1 or SEC1).
pub fn parse_private_key_pem(field: &str, pem: &str) -> Result<(), String> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes())
        .map(|_| ())
        .map_err(|_| format!("{field} must be PEM text holding a PRIVATE KEY"))
}

/// The shown part of an endpoint; stored as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointSpec {
    pub url: EndpointUrl,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub events: Vec<EventPattern>,
    pub filter: Option<PayloadFilter>,
    #[serde(default)]
    pub http_method: HttpMethod,
    pub retry_policy: Option<RetryPolicy>,
    pub rate_limit: Option<RateLimit>,
    #[serde(default)]
    pub payload_format: PayloadFormat,
    /// The body of a `template` endpoint (and only of one: checked at registration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_template: Option<crate::template::PayloadTemplate>,
    #[serde(default)]
    pub metadata: Metadata,
    /// Trust this CA (in addition to nothing else) for this endpoint.
    pub ca_cert_pem: Option<String>,
    /// Client certificate chain for mutual TLS; its key is in the credentials.
    pub client_cert_pem: Option<String>,
    /// `v1` (HMAC) or `v1a` (ed25519): the kind of the endpoint's signing secrets.
    #[serde(default)]
    pub signature_scheme: crate::secret::SignatureScheme,
    /// How requests are signed: one or more profiles (Standard Webhooks by default).
    #[serde(default = "crate::signing::SignatureProfile::defaults")]
    pub signature_profiles: Vec<crate::signing::SignatureProfile>,
    /// Whether deliveries wait for the CloudEvents validation handshake (CloudEvents formats).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cloudevents_handshake: bool,
}

/// A secret replaced by a rotation, still signing until its grace period ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetiringSecret {
    pub secret: SigningSecret,
    pub expires_at: Timestamp,
}

/// The write-only part of an endpoint; only ever stored sealed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointCredentials {
    pub secret: SigningSecret,
    /// Secrets replaced by rotations whose grace period has not ended.
    #[serde(default)]
    pub retiring: Vec<RetiringSecret>,
    #[serde(default)]
    pub auth: EndpointAuth,
    #[serde(default)]
    pub headers: CustomHeaders,
    pub client_key_pem: Option<String>,
}

/// An endpoint as stored: the spec in clear, the credentials sealed to the endpoint's id.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    pub id: EndpointId,
    pub tenant_id: TenantId,
    pub spec: EndpointSpec,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub sealed_credentials: Vec<u8>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Counts changes of the configuration (1 at creation): an update applies only to the
    /// version it was computed from.
    pub version: u64,
    /// The circuit breaker's stored state (changed by the dispatcher, not by updates).
    pub health: crate::circuit::Health,
    /// The last CloudEvents validation handshake (changed by the dispatcher, not by updates).
    pub handshake: Option<crate::handshake::Handshake>,
}

impl EndpointSpec {
    /// What the endpoint's requests carry. A `template` endpoint always has its template (both
    /// are checked together at registration); one stored without would send the data alone.
    pub fn envelope(&self) -> crate::payload::Envelope<'_> {
        use crate::payload::Envelope;
        match (self.payload_format, &self.payload_template) {
            (PayloadFormat::Json, _) => Envelope::Json,
            (PayloadFormat::Cloudevents, _) => Envelope::Cloudevents,
            (PayloadFormat::CloudeventsBinary, _) => Envelope::CloudeventsBinary,
            (PayloadFormat::Template, Some(template)) => Envelope::Template(template),
            (PayloadFormat::Data | PayloadFormat::Template, _) => Envelope::Data,
        }
    }
}

impl Endpoint {
    /// The handshake as it stands for the endpoint's URL: `None` when none is needed.
    pub fn handshake_status(&self) -> Option<crate::handshake::HandshakeStatus> {
        use crate::handshake::HandshakeStatus;
        if !self.spec.cloudevents_handshake {
            return None;
        }
        Some(match &self.handshake {
            Some(h) if h.url == self.spec.url.as_str() => h.status,
            _ => HandshakeStatus::Pending,
        })
    }

    /// Deliveries per second the endpoint may get: its own rate limit, capped by the rate its
    /// receiver allowed in the validation handshake (given per minute). `None`: no limit.
    pub fn rate_per_second(&self) -> Option<f64> {
        let own = self.spec.rate_limit.as_ref().and_then(|l| l.per_second).map(f64::from);
        let allowed = match (&self.handshake, self.handshake_status()) {
            (Some(h), Some(crate::handshake::HandshakeStatus::Validated)) => {
                h.allowed_rate.map(|per_minute| f64::from(per_minute) / 60.0)
            }
            _ => None,
        };
        match (own, allowed) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether the endpoint is subscribed to `event`: one of its patterns matches the type, and
    /// its filter (if any) matches the data. Enabled or not: a disabled endpoint's deliveries are
    /// kept too.
    pub fn subscribes(&self, event: &crate::event::Event) -> bool {
        crate::pattern::subscribed(&self.spec.events, &event.event_type)
            && self
                .spec
                .filter
                .as_ref()
                .is_none_or(|f| f.matches(&serde_json::Value::Object(event.data.clone())))
    }
}

impl EndpointCredentials {
    /// The secrets every attempt at `now` signs with: the current one, then those retiring.
    pub fn live_secrets(&self, now: Timestamp) -> impl Iterator<Item = &SigningSecret> {
        std::iter::once(&self.secret)
            .chain(self.retiring.iter().filter(move |r| r.expires_at > now).map(|r| &r.secret))
    }

    /// Replaces the secret. The old one keeps signing until `now + grace`; a zero grace period
    /// retires every old secret at once, leaving the new one alone. At most
    /// [`MAX_LIVE_SECRETS`] sign at any time: beyond that, the old secrets whose grace periods
    /// end soonest are retired early.
    pub fn rotate(&mut self, new: SigningSecret, now: Timestamp, grace: std::time::Duration) {
        self.retiring.retain(|r| r.expires_at > now);
        let old = std::mem::replace(&mut self.secret, new);
        if grace.is_zero() {
            self.retiring.clear();
            return;
        }
        self.retiring.push(RetiringSecret { secret: old, expires_at: crate::time::add(now, grace) });
        self.retiring.sort_by_key(|r| std::cmp::Reverse(r.expires_at));
        self.retiring.truncate(MAX_LIVE_SECRETS - 1);
    }

    /// Ends every grace period now: only the current secret signs from here on. Returns how many
    /// old secrets were still live.
    pub fn retire_previous(&mut self, now: Timestamp) -> usize {
        let live = self.retiring.iter().filter(|r| r.expires_at > now).count();
        self.retiring.clear();
        live
    }
}

/// The most secrets an endpoint signs with at once (the current one and those in a grace period).
pub const MAX_LIVE_SECRETS: usize = 5;

impl Endpoint {
    pub fn seal_credentials(
        key: &crate::seal::MasterKey,
        id: &EndpointId,
        credentials: &EndpointCredentials,
    ) -> Vec<u8> {
        let plaintext = serde_json::to_vec(credentials).unwrap_or_default();
        key.seal(id.as_str(), &plaintext)
    }

    pub fn open_credentials(
        &self,
        key: &crate::seal::MasterKey,
    ) -> Result<EndpointCredentials, crate::seal::SealError> {
        let plaintext = key.open(self.id.as_str(), &self.sealed_credentials)?;
        serde_json::from_slice(&plaintext).map_err(|_| crate::seal::SealError::Open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rotation_keeps_at_most_five_live_secrets_and_zero_grace_retires_all() {
        let t0 = Timestamp::from_second(1_700_000_000).unwrap();
        let hour = std::time::Duration::from_secs(3600);
        let mut c = EndpointCredentials {
            secret: SigningSecret::generate(),
            retiring: Vec::new(),
            auth: EndpointAuth::None,
            headers: CustomHeaders::default(),
            client_key_pem: None,
        };
        let mut all = vec![c.secret.clone()];
        for n in 1..=7u64 {
            let new = SigningSecret::generate();
            all.push(new.clone());
            c.rotate(new, crate::time::add(t0, std::time::Duration::from_secs(n)), 24 * hour);
        }
        let live: Vec<_> = c.live_secrets(crate::time::add(t0, hour)).cloned().collect();
        assert_eq!(live.len(), MAX_LIVE_SECRETS);
        assert_eq!(live[0], all[7], "the current secret signs first");
        assert!(live[1..].iter().all(|s| all[3..7].contains(s)), "the newest old secrets are kept");

        // A rotation without grace leaves exactly the new secret, whatever earlier grace periods said.
        c.rotate(SigningSecret::generate(), crate::time::add(t0, hour), std::time::Duration::ZERO);
        assert_eq!(c.live_secrets(crate::time::add(t0, hour)).count(), 1);

        c.rotate(SigningSecret::generate(), t0, hour);
        assert_eq!(c.live_secrets(t0).count(), 2);
        assert_eq!(c.retire_previous(t0), 1);
        assert_eq!(c.live_secrets(t0).count(), 1);
    }

    #[test]
    fn urls() {
        assert!(EndpointUrl::parse("https://example.com/hook?x=1").is_ok());
        assert!(EndpointUrl::parse("http://127.0.0.1:8080/").is_ok());
        for bad in
            ["ftp://x/", "/relative", "https://user:pw@example.com/", "https://example.com/#frag", "https://"]
        {
            assert!(EndpointUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn auth_variants_parse_and_validate() {
        let ok = [
            json!({"type": "none"}),
            json!({"type": "basic", "username": "u", "password": "p"}),
            json!({"type": "bearer", "token": "t"}),
            json!({"type": "apiKey", "keyName": "X-Api-Key", "keyValue": "v", "in": "header"}),
            json!({"type": "apiKey", "keyName": "X-Api-Key", "keyValue": "v"}),
            json!({"type": "oauth2ClientCredentials", "tokenUrl": "https://auth.example.com/token",
                   "clientId": "c", "clientSecret": "s", "scope": "a b"}),
        ];
        for v in ok {
            let auth: EndpointAuth = serde_json::from_value(v.clone()).unwrap();
            let back: EndpointAuth = serde_json::from_value(serde_json::to_value(&auth).unwrap()).unwrap();
            assert_eq!(auth, back, "{v}");
        }
        let bad = [
            json!({"type": "basic", "username": "", "password": "p"}),
            json!({"type": "basic", "username": "a:b", "password": "p"}),
            json!({"type": "bearer"}),
            json!({"type": "apiKey", "keyName": "bad name", "keyValue": "v"}),
            json!({"type": "apiKey", "keyName": "Webhook-Signature", "keyValue": "v"}),
            json!({"type": "oauth2ClientCredentials", "tokenUrl": "nope", "clientId": "c", "clientSecret": "s"}),
            json!({"type": "digest"}),
        ];
        for v in bad {
            assert!(serde_json::from_value::<EndpointAuth>(v.clone()).is_err(), "{v}");
        }
    }

    #[test]
    fn debug_never_shows_credentials() {
        let auth: EndpointAuth =
            serde_json::from_value(json!({"type": "bearer", "token": "tok-SECRET"})).unwrap();
        assert!(!format!("{auth:?}").contains("tok-SECRET"));
    }

    #[test]
    fn headers_refuse_hop_by_hop_and_signature_names() {
        for name in ["Connection", "Transfer-Encoding", "webhook-signature", "Webhook-Id", "Host", "ce-id"] {
            let map = BTreeMap::from([(name.to_owned(), "x".to_owned())]);
            assert!(CustomHeaders::try_from(map).is_err(), "{name}");
        }
        let map = BTreeMap::from([("X-Tenant".to_owned(), "acme".to_owned())]);
        assert!(CustomHeaders::try_from(map).is_ok());
        let dup = BTreeMap::from([("X-A".to_owned(), "1".to_owned()), ("x-a".to_owned(), "2".to_owned())]);
        assert!(CustomHeaders::try_from(dup).is_err());
        assert!(is_sensitive_header("X-Api-Key") && !is_sensitive_header("X-Tenant"));
    }

    #[test]
    fn rotation_keeps_the_old_secret_for_the_grace_period_only() {
        let first = SigningSecret::generate();
        let mut c = EndpointCredentials {
            secret: first.clone(),
            retiring: vec![],
            auth: EndpointAuth::None,
            headers: CustomHeaders::default(),
            client_key_pem: None,
        };
        let t0 = Timestamp::from_second(1_000_000).unwrap();
        let second = SigningSecret::generate();
        c.rotate(second.clone(), t0, std::time::Duration::from_secs(3600));
        let live: Vec<_> = c.live_secrets(t0).cloned().collect();
        assert_eq!(live, [second.clone(), first.clone()]);
        let later = Timestamp::from_second(1_000_000 + 3600).unwrap();
        assert_eq!(
            c.live_secrets(later).cloned().collect::<Vec<_>>(),
            std::slice::from_ref(&second),
            "grace over"
        );
        let third = SigningSecret::generate();
        c.rotate(third.clone(), t0, std::time::Duration::ZERO);
        assert_eq!(
            c.live_secrets(t0).cloned().collect::<Vec<_>>(),
            [third],
            "zero grace: every old one at once"
        );
    }

    #[test]
    fn the_rate_a_receiver_allowed_in_the_handshake_caps_the_endpoints_own() {
        use crate::handshake::{Handshake, HandshakeStatus};
        let spec: EndpointSpec = serde_json::from_value(json!({"url": "https://e.example.com/",
            "payloadFormat": "cloudevents", "cloudeventsHandshake": true, "rateLimit": {"perSecond": 10}}))
        .unwrap();
        let mut e = Endpoint {
            id: EndpointId::generate(),
            tenant_id: TenantId::generate(),
            spec,
            enabled: true,
            disabled_reason: None,
            sealed_credentials: vec![],
            created_at: Timestamp::UNIX_EPOCH,
            updated_at: Timestamp::UNIX_EPOCH,
            version: 1,
            health: Default::default(),
            handshake: None,
        };
        assert_eq!((e.handshake_status(), e.rate_per_second()), (Some(HandshakeStatus::Pending), Some(10.0)));
        let validated = |url: &str, per_minute| Handshake {
            url: url.to_owned(),
            status: HandshakeStatus::Validated,
            checked_at: Timestamp::UNIX_EPOCH,
            allowed_rate: per_minute,
            detail: None,
        };
        e.handshake = Some(validated("https://e.example.com/", Some(120)));
        assert_eq!(
            (e.handshake_status(), e.rate_per_second()),
            (Some(HandshakeStatus::Validated), Some(2.0))
        );
        e.handshake = Some(validated("https://e.example.com/", Some(6000)));
        assert_eq!(e.rate_per_second(), Some(10.0), "the endpoint's own limit when lower");
        e.spec.rate_limit = None;
        assert_eq!(e.rate_per_second(), Some(100.0));
        e.handshake = Some(validated("https://moved.example.com/", Some(60)));
        assert_eq!(
            (e.handshake_status(), e.rate_per_second()),
            (Some(HandshakeStatus::Pending), None),
            "another URL"
        );
        e.spec.cloudevents_handshake = false;
        assert_eq!(e.handshake_status(), None);
    }

    #[test]
    fn rate_limits() {
        assert!(serde_json::from_value::<RateLimit>(json!({"perSecond": 10})).is_ok());
        assert!(serde_json::from_value::<RateLimit>(json!({})).is_err());
        assert!(serde_json::from_value::<RateLimit>(json!({"perSecond": 0})).is_err());
        assert!(serde_json::from_value::<RateLimit>(json!({"maxInFlight": 5000})).is_err());
    }

    #[test]
    fn pem_checks() {
        assert!(parse_certificates_pem("caCertPem", "not pem").is_err());
        assert!(
            parse_private_key_pem("clientKeyPem", "-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n")
                .is_ok()
        );
    }
}
