//! Web interface sessions: who signed in to the dashboard, and until when.
//!
//! The browser holds a random token (`hs_` + base64url of 32 bytes) in an `HttpOnly` cookie; the
//! store keeps only its SHA-256, like an API key's. Every form of a session carries a CSRF token
//! derived from the session token, so a page of another site, which cannot read the cookie,
//! cannot produce it either. A session opened from a portal link ([`crate::portal`]) has no key
//! and may carry the portal's branding.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use crate::Timestamp;
use crate::api_key::KeyHash;
use crate::id::{ApiKeyId, TenantId};
use crate::portal::Branding;

pub const PREFIX: &str = "hs_";

/// The session token itself: in the browser's cookie, never stored.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken(String);

impl SessionToken {
    pub fn generate() -> Self {
        Self(random_token(PREFIX))
    }

    /// A token as a cookie presents it: `hs_` and 43 base64url characters, else nothing.
    pub fn parse(s: &str) -> Option<Self> {
        parse_token(PREFIX, s).map(Self)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What the store keeps and looks the session up by.
    pub fn hash(&self) -> KeyHash {
        KeyHash::of(&self.0)
    }

    /// The MAC that names this session's CSRF tokens: keyed by the session token, so it needs no
    /// storage and reveals nothing about the token.
    fn csrf_mac(&self) -> Hmac<Sha256> {
        let mac = Hmac::<Sha256>::new_from_slice(self.0.as_bytes()).expect("HMAC takes keys of any length");
        mac.chain_update(b"herald-csrf")
    }

    /// The CSRF token of this session's forms.
    pub fn csrf(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.csrf_mac().finalize().into_bytes())
    }

    /// Whether `presented` is this session's CSRF token (compared in constant time by the MAC).
    pub fn csrf_matches(&self, presented: &str) -> bool {
        URL_SAFE_NO_PAD.decode(presented).is_ok_and(|tag| self.csrf_mac().verify_slice(&tag).is_ok())
    }
}

/// `prefix` and the base64url of 32 random bytes (43 characters).
pub(crate) fn random_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// `s` if it is `prefix` and 43 base64url characters.
pub(crate) fn parse_token(prefix: &str, s: &str) -> Option<String> {
    let rest = s.strip_prefix(prefix)?;
    let valid = rest.len() == 43 && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    valid.then(|| s.to_owned())
}

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionToken(<redacted>)")
    }
}

/// Whom a session shows the dashboard to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Viewer {
    /// The operator console, signed in with an admin key.
    Operator { key: ApiKeyId },
    /// One tenant's pages only: signed in with that tenant's key, or opened from a portal link
    /// (`key` is then `None`).
    Tenant { tenant: TenantId, key: Option<ApiKeyId> },
}

impl Viewer {
    /// The key the session was opened with: deleting it ends the session.
    pub fn key(&self) -> Option<&ApiKeyId> {
        match self {
            Self::Operator { key } => Some(key),
            Self::Tenant { key, .. } => key.as_ref(),
        }
    }

    /// The one tenant this viewer may see; `None` for the operator, who sees every tenant.
    pub fn tenant(&self) -> Option<&TenantId> {
        match self {
            Self::Operator { .. } => None,
            Self::Tenant { tenant, .. } => Some(tenant),
        }
    }
}

/// A stored session.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub hash: KeyHash,
    pub viewer: Viewer,
    /// How the pages present themselves (portal sessions only); `None`: as Herald.
    pub branding: Option<Branding>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

impl Session {
    /// Whether it was opened from a portal link (a tenant's pages, without a key).
    pub fn is_portal(&self) -> bool {
        matches!(self.viewer, Viewer::Tenant { key: None, .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_parse_back_and_hide_in_debug() {
        let a = SessionToken::generate();
        let b = SessionToken::generate();
        assert_ne!(a, b);
        assert_eq!(SessionToken::parse(a.expose()), Some(a.clone()));
        assert_eq!(a.hash(), KeyHash::of(a.expose()));
        assert!(!format!("{a:?}").contains(&a.expose()[3..]));
        for bad in ["", "hs_", "hk_aaaa", &a.expose()[..40], &format!("{}!", &a.expose()[..45])] {
            assert_eq!(SessionToken::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_csrf_token_is_the_sessions_own() {
        let a = SessionToken::generate();
        let b = SessionToken::generate();
        assert!(a.csrf_matches(&a.csrf()));
        assert!(!a.csrf_matches(&b.csrf()), "another session's token");
        assert!(!a.csrf_matches(""), "no token");
        assert!(!a.csrf_matches(&a.csrf()[1..]), "a shorter one");
        assert!(!a.csrf().contains(&a.expose()[3..]));
    }
}
