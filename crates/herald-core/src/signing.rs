//! Standard Webhooks signatures: `v1,` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")).
//! With several live secrets (during a rotation), one signature per secret, space-separated.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::secret::SigningSecret;

/// The `v1,…` or `v1a,…` signature of one message with one secret.
pub fn sign(secret: &SigningSecret, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    match secret.hmac_key() {
        Some(key) => {
            let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
            mac.update(msg_id.as_bytes());
            mac.update(b".");
            mac.update(timestamp.to_string().as_bytes());
            mac.update(b".");
            mac.update(body);
            format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
        }
        None => {
            let mut message = Vec::with_capacity(msg_id.len() + body.len() + 24);
            message.extend_from_slice(msg_id.as_bytes());
            message.push(b'.');
            message.extend_from_slice(timestamp.to_string().as_bytes());
            message.push(b'.');
            message.extend_from_slice(body);
            let signature = secret.ed25519_sign(&message).unwrap_or([0; 64]);
            format!("v1a,{}", STANDARD.encode(signature))
        }
    }
}

/// The `webhook-signature` header value: one signature per secret, space-separated.
pub fn signature_header<'a>(
    secrets: impl IntoIterator<Item = &'a SigningSecret>,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    secrets.into_iter().map(|s| sign(s, msg_id, timestamp, body)).collect::<Vec<_>>().join(" ")
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
            sign(&secret, "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk", 1649367553, body),
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
        let header = sign(&secret, "evt_1", 1700000000, b"{\"a\":1}");
        let (version, signature) = header.split_once(',').unwrap();
        assert_eq!(version, "v1a");
        let public = STANDARD.decode(&secret.public_key().unwrap()[5..]).unwrap();
        let key = VerifyingKey::from_bytes(&public.try_into().unwrap()).unwrap();
        let signature = Signature::from_slice(&STANDARD.decode(signature).unwrap()).unwrap();
        assert!(key.verify(b"evt_1.1700000000.{\"a\":1}", &signature).is_ok());
        assert!(key.verify(b"evt_1.1700000000.{\"a\":2}", &signature).is_err());
    }

    proptest! {
        #[test]
        fn agrees_with_the_official_library(id in "[a-zA-Z0-9_]{1,40}", body in "\\PC{0,200}", key in proptest::collection::vec(any::<u8>(), 24..64)) {
            let secret = SigningSecret::parse(&format!("whsec_{}", STANDARD.encode(&key))).unwrap();
            let ts = now();
            let ours = sign(&secret, &id, ts, body.as_bytes());
            let official = standardwebhooks::Webhook::new(&secret.expose()).unwrap();
            prop_assert_eq!(&ours, &official.sign(&id, ts, body.as_bytes()).unwrap());
            prop_assert!(official.verify(body.as_bytes(), &headers(&id, ts, &ours)).is_ok());
            let tampered = format!("{body}x");
            prop_assert!(official.verify(tampered.as_bytes(), &headers(&id, ts, &ours)).is_err());
        }
    }
}
