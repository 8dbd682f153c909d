//! API keys: bearer credentials for the whole instance (admin) or one tenant.
//!
//! The key text is `hk_` + base64url of 32 random bytes. Only its SHA-256 is stored; with that
//! much entropy a fast hash is enough (no password-stretching needed), and lookups stay O(1).

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::Timestamp;
use crate::id::{ApiKeyId, TenantId};

pub const PREFIX: &str = "hk_";
/// How many leading characters of a key are kept in clear to help people recognise it.
pub const DISPLAY_PREFIX_LEN: usize = 10;

/// The key text itself, held only between creation and the response that shows it once.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeySecret(String);

impl ApiKeySecret {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// Accepts an operator-supplied key (from configuration): at least 32 characters.
    pub fn from_configured(s: &str) -> Result<Self, String> {
        if s.len() < 32 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("an API key must have at least 32 characters and no spaces".into());
        }
        Ok(Self(s.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> KeyHash {
        KeyHash::of(&self.0)
    }

    pub fn display_prefix(&self) -> String {
        self.0.chars().take(DISPLAY_PREFIX_LEN).collect()
    }
}

impl fmt::Debug for ApiKeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKeySecret(<redacted>)")
    }
}

/// Hex SHA-256 of a key: what the store keeps and looks keys up by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyHash(String);

impl KeyHash {
    pub fn of(presented: &str) -> Self {
        Self(hex::encode(Sha256::digest(presented.as_bytes())))
    }

    pub fn from_stored(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whom a key speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Admin,
    Tenant(TenantId),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub scope: Scope,
    pub name: String,
    pub prefix: String,
    pub hash: KeyHash,
    pub created_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_and_hash_stably() {
        let a = ApiKeySecret::generate();
        let b = ApiKeySecret::generate();
        assert_ne!(a, b);
        assert_eq!(a.hash(), KeyHash::of(a.expose()));
        assert_ne!(a.hash(), b.hash());
        assert_eq!(a.hash().as_str().len(), 64);
        assert!(a.expose().starts_with(PREFIX) && a.expose().len() == 3 + 43);
        assert!(!format!("{a:?}").contains(&a.expose()[3..]));
    }
}
