//! Signing secrets (Standard Webhooks).
//!
//! - Symmetric (`v1`): `whsec_` + base64 of the HMAC-SHA256 key (24–64 bytes; generated: 32).
//! - Asymmetric (`v1a`): `whsk_` + base64 of an ed25519 private key (its 32-byte seed, or the
//!   64-byte seed-and-public-key form); receivers verify with the public key, `whpk_` + base64 of
//!   its 32 bytes, which may be shown to anyone.
//!
//! - A receiver's own secret text (any other form, 8–512 bytes, no control characters), given
//!   when an endpoint moves to Herald with a receiver that keeps its secret: only `hmac`
//!   signature profiles sign with it (their key is a secret's text, whatever its form).
//!
//! A secret never appears in `Debug` output; it is shown to people once, on creation or rotation.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signer, SigningKey};
use rand::RngCore;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub const PREFIX: &str = "whsec_";
pub const ASYMMETRIC_PREFIX: &str = "whsk_";
pub const PUBLIC_PREFIX: &str = "whpk_";
pub const GENERATED_LEN: usize = 32;
pub const MIN_LEN: usize = 24;
pub const MAX_LEN: usize = 64;
/// The shortest and longest receiver's own secret text, in bytes.
pub const TEXT_MIN: usize = 8;
pub const TEXT_MAX: usize = 512;

#[derive(Clone, PartialEq, Eq)]
enum Key {
    Hmac(Vec<u8>),
    Ed25519([u8; 32]),
    Text(String),
}

#[derive(Clone, PartialEq, Eq)]
pub struct SigningSecret(Key);

/// Which kind of signature an endpoint's secret makes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SignatureScheme {
    /// `v1`: HMAC-SHA256 with a shared `whsec_` secret.
    #[default]
    V1,
    /// `v1a`: ed25519; receivers verify with the endpoint's public key.
    V1a,
}

impl SigningSecret {
    /// `whsec_` + base64 of 32 random bytes.
    pub fn generate() -> Self {
        let mut key = vec![0u8; GENERATED_LEN];
        rand::rng().fill_bytes(&mut key);
        Self(Key::Hmac(key))
    }

    /// A new secret of the given scheme.
    pub fn generate_for(scheme: SignatureScheme) -> Self {
        match scheme {
            SignatureScheme::V1 => Self::generate(),
            SignatureScheme::V1a => {
                let mut seed = [0u8; 32];
                rand::rng().fill_bytes(&mut seed);
                Self(Key::Ed25519(seed))
            }
        }
    }

    /// A secret in one of the Standard Webhooks forms, or else a receiver's own secret text.
    pub fn parse_any(s: &str) -> Result<Self, String> {
        Self::parse(s).or_else(|standard| {
            if !(TEXT_MIN..=TEXT_MAX).contains(&s.len()) || s.chars().any(char::is_control) {
                return Err(format!(
                    "{standard}; a receiver's own secret has {TEXT_MIN} to {TEXT_MAX} bytes and no control characters"
                ));
            }
            Ok(Self(Key::Text(s.to_owned())))
        })
    }

    /// Whether the secret is in a Standard Webhooks form (`whsec_`, `whsk_`), which the standard
    /// signature profile needs.
    pub fn is_standard(&self) -> bool {
        !matches!(self.0, Key::Text(_))
    }

    /// A secret in a Standard Webhooks form (`whsec_…` or `whsk_…`).
    pub fn parse(s: &str) -> Result<Self, String> {
        if let Some(body) = s.strip_prefix(ASYMMETRIC_PREFIX) {
            let bytes = STANDARD
                .decode(body)
                .map_err(|_| format!("the part after `{ASYMMETRIC_PREFIX}` must be standard base64"))?;
            let seed: [u8; 32] = match bytes.len() {
                32 | 64 => bytes[..32].try_into().map_err(|_| "bad key".to_owned())?,
                n => return Err(format!("an ed25519 secret encodes 32 or 64 bytes, this one has {n}")),
            };
            if bytes.len() == 64 && SigningKey::from_bytes(&seed).verifying_key().as_bytes() != &bytes[32..] {
                return Err("the public half of this ed25519 key does not match its private half".into());
            }
            return Ok(Self(Key::Ed25519(seed)));
        }
        let body = s.strip_prefix(PREFIX).ok_or_else(|| {
            format!("a secret starts with `{PREFIX}` (HMAC) or `{ASYMMETRIC_PREFIX}` (ed25519), followed by base64")
        })?;
        let key = STANDARD
            .decode(body)
            .map_err(|_| format!("the part after `{PREFIX}` must be standard base64"))?;
        if !(MIN_LEN..=MAX_LEN).contains(&key.len()) {
            return Err(format!(
                "a secret must encode {MIN_LEN} to {MAX_LEN} bytes, this one has {}",
                key.len()
            ));
        }
        Ok(Self(Key::Hmac(key)))
    }

    pub fn scheme(&self) -> SignatureScheme {
        match self.0 {
            Key::Hmac(_) | Key::Text(_) => SignatureScheme::V1,
            Key::Ed25519(_) => SignatureScheme::V1a,
        }
    }

    /// The HMAC key (symmetric secrets only).
    pub fn hmac_key(&self) -> Option<&[u8]> {
        match &self.0 {
            Key::Hmac(key) => Some(key),
            Key::Ed25519(_) | Key::Text(_) => None,
        }
    }

    /// The `whpk_…` public key (asymmetric secrets only): safe to show.
    pub fn public_key(&self) -> Option<String> {
        match &self.0 {
            Key::Hmac(_) | Key::Text(_) => None,
            Key::Ed25519(seed) => Some(format!(
                "{PUBLIC_PREFIX}{}",
                STANDARD.encode(SigningKey::from_bytes(seed).verifying_key().as_bytes())
            )),
        }
    }

    /// An ed25519 signature of `message` (asymmetric secrets only).
    pub(crate) fn ed25519_sign(&self, message: &[u8]) -> Option<[u8; 64]> {
        match &self.0 {
            Key::Hmac(_) | Key::Text(_) => None,
            Key::Ed25519(seed) => Some(SigningKey::from_bytes(seed).sign(message).to_bytes()),
        }
    }

    /// The secret's text: only for the creation and rotation responses, and sealed storage.
    pub fn expose(&self) -> String {
        match &self.0 {
            Key::Hmac(key) => format!("{PREFIX}{}", STANDARD.encode(key)),
            Key::Ed25519(seed) => format!("{ASYMMETRIC_PREFIX}{}", STANDARD.encode(seed)),
            Key::Text(text) => text.clone(),
        }
    }
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret(<redacted>)")
    }
}

impl Serialize for SigningSecret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.expose())
    }
}

impl<'de> Deserialize<'de> for SigningSecret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::parse_any(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

crate::schema::string_schema!(
    SigningSecret,
    "Signing secret: `whsec_` + base64 of 24 to 64 bytes (HMAC, v1), `whsk_` + base64 of an ed25519 key (v1a), or a receiver's own secret text (8 to 512 bytes; `hmac` signature profiles only).",
    example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secret_round_trips_and_hides_in_debug() {
        let s = SigningSecret::generate();
        let text = s.expose();
        assert!(text.starts_with("whsec_"));
        assert_eq!(SigningSecret::parse(&text).unwrap(), s);
        assert_eq!(s.hmac_key().unwrap().len(), 32);
        assert!(!format!("{s:?}").contains(&text[6..]));
        assert_eq!(s.public_key(), None);
    }

    #[test]
    fn ed25519_secrets() {
        let s = SigningSecret::generate_for(SignatureScheme::V1a);
        let text = s.expose();
        assert!(text.starts_with("whsk_"));
        assert_eq!(SigningSecret::parse(&text).unwrap(), s);
        assert_eq!(s.scheme(), SignatureScheme::V1a);
        let public = s.public_key().unwrap();
        assert!(public.starts_with("whpk_") && !public.contains(&text[5..]));
        // The 64-byte form (seed and public key) is accepted when both halves agree.
        let seed = STANDARD.decode(&text[5..]).unwrap();
        let mut pair = seed.clone();
        pair.extend(STANDARD.decode(&public[5..]).unwrap());
        assert_eq!(SigningSecret::parse(&format!("whsk_{}", STANDARD.encode(&pair))).unwrap(), s);
        pair[40] ^= 1;
        assert!(SigningSecret::parse(&format!("whsk_{}", STANDARD.encode(&pair))).is_err());
        assert!(SigningSecret::parse("whsk_AAAA").is_err());
    }

    #[test]
    fn a_receivers_own_secret_is_kept_as_written() {
        let text = SigningSecret::parse_any("It's a Secret to Everybody").unwrap();
        assert_eq!(text.expose(), "It's a Secret to Everybody");
        assert!(!text.is_standard() && text.hmac_key().is_none() && text.public_key().is_none());
        let back: SigningSecret = serde_json::from_value(serde_json::json!(text.expose())).unwrap();
        assert_eq!(back, text);
        // A secret in the standard form stays one.
        assert!(SigningSecret::parse_any("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap().is_standard());
        for bad in ["short", "with\ncontrol", &"x".repeat(513)] {
            assert!(SigningSecret::parse_any(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn invalid_secrets() {
        assert!(SigningSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_err());
        assert!(SigningSecret::parse("whsec_!!!").is_err());
        assert!(SigningSecret::parse("whsec_c2hvcnQ=").is_err(), "too short");
        assert!(SigningSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_ok());
    }
}
