//! How requests are signed, by the endpoint's signature profiles:
//! - `standard` (Standard Webhooks): `webhook-signature: v1,` + base64(HMAC-SHA256(key,
//!   "{id}.{timestamp}.{body}")), the key being the base64 part of the `whsec_` secret (or `v1a,`
//!   with an ed25519 key); with several live secrets (during a rotation), one signature per
//!   secret, space-separated.
//! - `hmac`: one header holding an HMAC (SHA-256 or SHA-512, hex or base64, an optional prefix
//!   such as `sha256=`) of the raw body, or of the timestamp and the body joined by a layout
//!   (`{timestamp}.{body}`), the timestamp in a header of its own or in a `t=…,v1=…` header.
//!   The key is the secret's text exactly as the receiver holds it (its UTF-8 bytes), as GitHub's
//!   and Stripe's receivers use theirs. With several live secrets: one signature per secret,
//!   `, `-separated (as the header repeated would be), or one `v1=` entry each.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Sha256, Sha512};

use crate::secret::SigningSecret;

/// The `v1,…` or `v1a,…` signature of one message with one secret; `None` for a secret that
/// has no Standard Webhooks form (a receiver's own secret text, usable by `hmac` profiles only).
pub fn sign(secret: &SigningSecret, msg_id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    if let Some(key) = secret.hmac_key() {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
        mac.update(msg_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        return Some(format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes())));
    }
    let mut message = Vec::with_capacity(msg_id.len() + body.len() + 24);
    message.extend_from_slice(msg_id.as_bytes());
    message.push(b'.');
    message.extend_from_slice(timestamp.to_string().as_bytes());
    message.push(b'.');
    message.extend_from_slice(body);
    let signature = secret.ed25519_sign(&message)?;
    Some(format!("v1a,{}", STANDARD.encode(signature)))
}

/// The `webhook-signature` header value: one signature per secret, space-separated.
pub fn signature_header<'a>(
    secrets: impl IntoIterator<Item = &'a SigningSecret>,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    secrets.into_iter().filter_map(|s| sign(s, msg_id, timestamp, body)).collect::<Vec<_>>().join(" ")
}

/// One way of signing an endpoint's requests; an endpoint has one or more (a receiver moving
/// from one convention to another can check either while it moves).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum SignatureProfile {
    /// Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature`.
    Standard,
    /// One HMAC header in a convention of your choosing (GitHub, Stripe, and their like).
    Hmac(HmacProfile),
}

impl SignatureProfile {
    /// The profiles of an endpoint that names none.
    pub fn defaults() -> Vec<Self> {
        vec![Self::Standard]
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HmacAlgorithm {
    #[default]
    Sha256,
    Sha512,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SignatureEncoding {
    #[default]
    Hex,
    Base64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum SignedContent {
    /// The raw body.
    #[default]
    Body,
    /// The timestamp and the body, joined by `layout`.
    TimestampAndBody,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum HeaderFormat {
    /// `{prefix}{signature}`.
    #[default]
    Signature,
    /// `t={timestamp},v1={signature}` (Stripe's form).
    Timestamped,
}

/// An HMAC header: what is signed, with what, and how it is written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", try_from = "RawHmacProfile")]
pub struct HmacProfile {
    /// The header that carries the signature (`X-Hub-Signature-256`).
    pub header: String,
    #[serde(default)]
    pub algorithm: HmacAlgorithm,
    #[serde(default)]
    pub encoding: SignatureEncoding,
    /// Written before the signature (`sha256=`); only with the `signature` header format.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub prefix: String,
    #[serde(default)]
    pub signed_content: SignedContent,
    /// How the timestamp and the body are joined (`timestampAndBody`): `{timestamp}` and
    /// `{body}` once each, optionally `{id}`, and literal text. Default `{timestamp}.{body}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<String>,
    /// The header that carries the Unix timestamp (needed by `timestampAndBody` with the
    /// `signature` header format; optional with `timestamped`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_header: Option<String>,
    #[serde(default)]
    pub header_format: HeaderFormat,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawHmacProfile {
    header: String,
    #[serde(default)]
    algorithm: HmacAlgorithm,
    #[serde(default)]
    encoding: SignatureEncoding,
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    signed_content: SignedContent,
    layout: Option<String>,
    timestamp_header: Option<String>,
    #[serde(default)]
    header_format: HeaderFormat,
}

/// The layout when none is given.
pub const DEFAULT_LAYOUT: &str = "{timestamp}.{body}";

impl TryFrom<RawHmacProfile> for HmacProfile {
    type Error = String;
    fn try_from(raw: RawHmacProfile) -> Result<Self, String> {
        crate::endpoint::check_header_name(&raw.header).map_err(|e| format!("header: {e}"))?;
        if raw.prefix.len() > 64 || raw.prefix.chars().any(|c| !c.is_ascii_graphic()) {
            return Err("prefix: at most 64 visible ASCII characters".into());
        }
        if !raw.prefix.is_empty() && raw.header_format == HeaderFormat::Timestamped {
            return Err("prefix: the timestamped header format writes `t=…,v1=…` and takes no prefix".into());
        }
        let timed = raw.signed_content == SignedContent::TimestampAndBody;
        if let Some(layout) = &raw.layout {
            if !timed {
                return Err("layout: only with signedContent timestampAndBody".into());
            }
            check_layout(layout).map_err(|e| format!("layout: {e}"))?;
        }
        if let Some(name) = &raw.timestamp_header {
            crate::endpoint::check_header_name(name).map_err(|e| format!("timestampHeader: {e}"))?;
            if name.eq_ignore_ascii_case(&raw.header) {
                return Err("timestampHeader: must differ from header".into());
            }
            if !timed {
                return Err("timestampHeader: only with signedContent timestampAndBody".into());
            }
        }
        match (raw.header_format, timed, raw.timestamp_header.is_some()) {
            (HeaderFormat::Signature, true, false) => {
                return Err("timestampHeader: a signed timestamp must reach the receiver: name its header,                             or use the timestamped header format"
                    .into());
            }
            (HeaderFormat::Timestamped, false, _) => {
                return Err(
                    "headerFormat: timestamped signs the timestamp: use signedContent timestampAndBody"
                        .into(),
                );
            }
            _ => {}
        }
        Ok(Self {
            header: raw.header,
            algorithm: raw.algorithm,
            encoding: raw.encoding,
            prefix: raw.prefix,
            signed_content: raw.signed_content,
            layout: raw.layout,
            timestamp_header: raw.timestamp_header,
            header_format: raw.header_format,
        })
    }
}

/// `{timestamp}` and `{body}` once each, `{id}` at most once, nothing else in braces.
fn check_layout(layout: &str) -> Result<(), String> {
    if layout.len() > 128 || layout.chars().any(char::is_control) {
        return Err("at most 128 characters, no control characters".into());
    }
    let mut rest = layout;
    let (mut timestamp, mut body, mut id) = (0, 0, 0);
    while let Some(start) = rest.find('{') {
        let end = rest[start..].find('}').ok_or("a `{` without its `}`")? + start;
        match &rest[start + 1..end] {
            "timestamp" => timestamp += 1,
            "body" => body += 1,
            "id" => id += 1,
            other => return Err(format!("`{{{other}}}` is not {{timestamp}}, {{body}} or {{id}}")),
        }
        rest = &rest[end + 1..];
    }
    if rest.contains('}') {
        return Err("a `}` without its `{`".into());
    }
    if (timestamp, body) != (1, 1) || id > 1 {
        return Err("{timestamp} and {body} exactly once each, {id} at most once".into());
    }
    Ok(())
}

impl HmacProfile {
    /// The headers this profile adds to a request: the signature, and the timestamp's own.
    pub fn headers<'a>(
        &self,
        secrets: impl IntoIterator<Item = &'a SigningSecret>,
        msg_id: &str,
        timestamp: i64,
        body: &[u8],
    ) -> Vec<(String, String)> {
        let message = match self.signed_content {
            SignedContent::Body => None,
            SignedContent::TimestampAndBody => {
                Some(self.signed_message(msg_id, &timestamp.to_string(), body))
            }
        };
        let signed = message.as_deref().unwrap_or(body);
        let signatures: Vec<String> = secrets
            .into_iter()
            .map(|secret| self.encode(&self.mac(secret.expose().as_bytes(), signed)))
            .collect();
        let value = match self.header_format {
            HeaderFormat::Signature => signatures
                .iter()
                .map(|signature| format!("{}{signature}", self.prefix))
                .collect::<Vec<_>>()
                .join(", "),
            HeaderFormat::Timestamped => std::iter::once(format!("t={timestamp}"))
                .chain(signatures.iter().map(|signature| format!("v1={signature}")))
                .collect::<Vec<_>>()
                .join(","),
        };
        let mut headers = vec![(self.header.clone(), value)];
        if let Some(name) = &self.timestamp_header {
            headers.push((name.clone(), timestamp.to_string()));
        }
        headers
    }

    fn signed_message(&self, msg_id: &str, timestamp: &str, body: &[u8]) -> Vec<u8> {
        let layout = self.layout.as_deref().unwrap_or(DEFAULT_LAYOUT);
        let mut message = Vec::with_capacity(layout.len() + body.len() + msg_id.len() + timestamp.len());
        let mut rest = layout;
        while let Some(start) = rest.find('{') {
            message.extend_from_slice(&rest.as_bytes()[..start]);
            let end = rest[start..].find('}').map_or(rest.len(), |n| n + start);
            match &rest[start + 1..end] {
                "timestamp" => message.extend_from_slice(timestamp.as_bytes()),
                "body" => message.extend_from_slice(body),
                "id" => message.extend_from_slice(msg_id.as_bytes()),
                _ => {}
            }
            rest = rest.get(end + 1..).unwrap_or("");
        }
        message.extend_from_slice(rest.as_bytes());
        message
    }

    fn mac(&self, key: &[u8], message: &[u8]) -> Vec<u8> {
        match self.algorithm {
            HmacAlgorithm::Sha256 => {
                let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
                mac.update(message);
                mac.finalize().into_bytes().to_vec()
            }
            HmacAlgorithm::Sha512 => {
                let mut mac = Hmac::<Sha512>::new_from_slice(key).expect("HMAC accepts keys of any length");
                mac.update(message);
                mac.finalize().into_bytes().to_vec()
            }
        }
    }

    fn encode(&self, mac: &[u8]) -> String {
        match self.encoding {
            SignatureEncoding::Hex => hex::encode(mac),
            SignatureEncoding::Base64 => STANDARD.encode(mac),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn headers(id: &str, ts: i64, signature: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert("webhook-id", id.parse().unwrap());
        h.insert("webhook-timestamp", ts.to_string().parse().unwrap());
        h.insert("webhook-signature", signature.parse().unwrap());
        h
    }

    fn now() -> i64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
    }

    #[test]
    fn matches_the_standard_webhooks_reference_vector() {
        // The reference secret decodes to 24 bytes, our minimum.
        let secret = SigningSecret::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        let body = br#"{"email":"test@example.com","username":"test_user"}"#;
        assert_eq!(
            sign(&secret, "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk", 1649367553, body).unwrap(),
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
        );
    }

    #[test]
    fn the_official_verifier_accepts_any_of_several_secrets_and_refuses_others() {
        let old = SigningSecret::generate();
        let new = SigningSecret::generate();
        let ts = now();
        let header = signature_header([&new, &old], "evt_1", ts, b"{}");
        assert_eq!(header.split(' ').count(), 2);
        for secret in [&old, &new] {
            let wh = standardwebhooks::Webhook::new(&secret.expose()).unwrap();
            wh.verify(b"{}", &headers("evt_1", ts, &header)).unwrap();
        }
        let stranger = standardwebhooks::Webhook::new(&SigningSecret::generate().expose()).unwrap();
        assert!(stranger.verify(b"{}", &headers("evt_1", ts, &header)).is_err());
    }

    #[test]
    fn ed25519_signatures_verify_with_the_public_key() {
        use ed25519_dalek::{Signature, Verifier, VerifyingKey};
        let secret = SigningSecret::generate_for(crate::secret::SignatureScheme::V1a);
        let header = sign(&secret, "evt_1", 1700000000, b"{\"a\":1}").unwrap();
        let (version, signature) = header.split_once(',').unwrap();
        assert_eq!(version, "v1a");
        let public = STANDARD.decode(&secret.public_key().unwrap()[5..]).unwrap();
        let key = VerifyingKey::from_bytes(&public.try_into().unwrap()).unwrap();
        let signature = Signature::from_slice(&STANDARD.decode(signature).unwrap()).unwrap();
        assert!(key.verify(b"evt_1.1700000000.{\"a\":1}", &signature).is_ok());
        assert!(key.verify(b"evt_1.1700000000.{\"a\":2}", &signature).is_err());
    }

    fn profile(json: serde_json::Value) -> Result<HmacProfile, String> {
        serde_json::from_value(json).map_err(|e| e.to_string())
    }

    #[test]
    fn a_github_style_profile_signs_the_body_with_the_secret_text() {
        // GitHub's documented test vector: secret "It's a Secret to Everybody", body "Hello, World!".
        let secret = SigningSecret::parse_any("It's a Secret to Everybody").unwrap();
        let github =
            profile(serde_json::json!({"header": "X-Hub-Signature-256", "prefix": "sha256="})).unwrap();
        assert_eq!(
            github.headers([&secret], "evt_1", 1, b"Hello, World!"),
            [(
                "X-Hub-Signature-256".to_owned(),
                "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17".to_owned()
            )]
        );
    }

    #[test]
    fn a_stripe_style_profile_writes_one_v1_per_live_secret() {
        let new = SigningSecret::parse_any("whsec_new_secret_text_1234").unwrap();
        let old = SigningSecret::parse_any("whsec_old_secret_text_5678").unwrap();
        let stripe =
            profile(serde_json::json!({"header": "Stripe-Signature", "signedContent": "timestampAndBody",
                                                "headerFormat": "timestamped"}))
            .unwrap();
        let headers = stripe.headers([&new, &old], "evt_1", 1700000000, b"{}");
        let mac = |key: &str| {
            let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
            mac.update(b"1700000000.{}");
            hex::encode(mac.finalize().into_bytes())
        };
        let expected = format!("t=1700000000,v1={},v1={}", mac(&new.expose()), mac(&old.expose()));
        assert_eq!(headers, [("Stripe-Signature".to_owned(), expected)]);
    }

    #[test]
    fn layouts_timestamp_headers_sha512_and_base64() {
        let secret = SigningSecret::parse_any("a receiver's secret").unwrap();
        let p = profile(serde_json::json!({"header": "X-Sig", "algorithm": "sha512", "encoding": "base64",
                                           "signedContent": "timestampAndBody", "layout": "v0:{id}:{timestamp}:{body}",
                                           "timestampHeader": "X-Sig-Time"}))
        .unwrap();
        let headers = p.headers([&secret], "evt_9", 42, b"body");
        let mut mac = Hmac::<Sha512>::new_from_slice(b"a receiver's secret").unwrap();
        mac.update(b"v0:evt_9:42:body");
        assert_eq!(
            headers,
            [
                ("X-Sig".to_owned(), STANDARD.encode(mac.finalize().into_bytes())),
                ("X-Sig-Time".to_owned(), "42".into())
            ]
        );
    }

    #[test]
    fn inconsistent_profiles_are_refused() {
        for bad in [
            serde_json::json!({"header": "Bad Header"}),
            serde_json::json!({"header": "webhook-signature"}),
            serde_json::json!({"header": "X-Sig", "layout": "{timestamp}.{body}"}),
            serde_json::json!({"header": "X-Sig", "signedContent": "timestampAndBody"}),
            serde_json::json!({"header": "X-Sig", "signedContent": "timestampAndBody", "timestampHeader": "x-sig"}),
            serde_json::json!({"header": "X-Sig", "headerFormat": "timestamped"}),
            serde_json::json!({"header": "X-Sig", "signedContent": "timestampAndBody", "headerFormat": "timestamped",
                               "prefix": "sha256="}),
            serde_json::json!({"header": "X-Sig", "signedContent": "timestampAndBody", "headerFormat": "timestamped",
                               "layout": "{body}"}),
            serde_json::json!({"header": "X-Sig", "signedContent": "timestampAndBody", "headerFormat": "timestamped",
                               "layout": "{timestamp}{body}{nonce}"}),
            serde_json::json!({"header": "X-Sig", "algorithm": "md5"}),
            serde_json::json!({"header": "X-Sig", "extra": 1}),
        ] {
            assert!(profile(bad.clone()).is_err(), "{bad}");
        }
        let standard: SignatureProfile =
            serde_json::from_value(serde_json::json!({"type": "standard"})).unwrap();
        assert_eq!(standard, SignatureProfile::Standard);
        let hmac: SignatureProfile =
            serde_json::from_value(serde_json::json!({"type": "hmac", "header": "X-Sig"})).unwrap();
        assert!(matches!(hmac, SignatureProfile::Hmac(_)));
        assert_eq!(
            serde_json::to_value(&hmac).unwrap(),
            serde_json::json!({"type": "hmac", "header": "X-Sig",
            "algorithm": "sha256", "encoding": "hex", "signedContent": "body", "headerFormat": "signature"})
        );
    }

    #[test]
    fn a_receivers_own_secret_text_makes_no_standard_signature() {
        let text = SigningSecret::parse_any("not-a-whsec-secret").unwrap();
        assert_eq!(sign(&text, "evt_1", 1, b"{}"), None);
        let standard = SigningSecret::generate();
        assert_eq!(signature_header([&text, &standard], "evt_1", 1, b"{}").split(' ').count(), 1);
    }

    proptest! {
        #[test]
        fn agrees_with_the_official_library(id in "[a-zA-Z0-9_]{1,40}", body in "\\PC{0,200}", key in proptest::collection::vec(any::<u8>(), 24..64)) {
            let secret = SigningSecret::parse(&format!("whsec_{}", STANDARD.encode(&key))).unwrap();
            let ts = now();
            let ours = sign(&secret, &id, ts, body.as_bytes()).unwrap();
            let official = standardwebhooks::Webhook::new(&secret.expose()).unwrap();
            prop_assert_eq!(&ours, &official.sign(&id, ts, body.as_bytes()).unwrap());
            prop_assert!(official.verify(body.as_bytes(), &headers(&id, ts, &ours)).is_ok());
            let tampered = format!("{body}x");
            prop_assert!(official.verify(tampered.as_bytes(), &headers(&id, ts, &ours)).is_err());
        }
    }
}
