//! Signing secrets (Standard Webhooks): `whsec_` followed by the base64 of the key bytes.
//!
//! A secret never appears in `Debug` output; it is shown to people once, on creation.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub const PREFIX: &str = "whsec_";
pub const GENERATED_LEN: usize = 32;
pub const MIN_LEN: usize = 24;
pub const MAX_LEN: usize = 64;

#[derive(Clone, PartialEq, Eq)]
pub struct SigningSecret(Vec<u8>);

impl SigningSecret {
    /// `whsec_` + base64 of 32 random bytes.
    pub fn generate() -> Self {
        let mut key = vec![0u8; GENERATED_LEN];
        rand::rng().fill_bytes(&mut key);
        Self(key)
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        let body = s
            .strip_prefix(PREFIX)
            .ok_or_else(|| format!("a secret starts with `{PREFIX}` followed by base64"))?;
        let key = STANDARD
            .decode(body)
            .map_err(|_| format!("the part after `{PREFIX}` must be standard base64"))?;
        if !(MIN_LEN..=MAX_LEN).contains(&key.len()) {
            return Err(format!(
                "a secret must encode {MIN_LEN} to {MAX_LEN} bytes, this one has {}",
                key.len()
            ));
        }
        Ok(Self(key))
    }

    /// The raw HMAC key.
    pub fn key(&self) -> &[u8] {
        &self.0
    }

    /// The `whsec_…` text: only for the creation response and sealed storage.
    pub fn expose(&self) -> String {
        format!("{PREFIX}{}", STANDARD.encode(&self.0))
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
        Self::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

crate::schema::string_schema!(
    SigningSecret,
    "Signing secret: `whsec_` + base64 of 24 to 64 bytes.",
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
        assert_eq!(s.key().len(), 32);
        assert!(!format!("{s:?}").contains(&text[6..]));
    }

    #[test]
    fn invalid_secrets() {
        assert!(SigningSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_err());
        assert!(SigningSecret::parse("whsec_!!!").is_err());
        assert!(SigningSecret::parse("whsec_c2hvcnQ=").is_err(), "too short");
        assert!(SigningSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_ok());
    }
}
