//! The embeddable tenant portal: a one-time link that opens one tenant's pages of the web
//! interface without a key, and the branding those pages then wear.
//!
//! The platform (holding an admin key) asks for a link for one of its tenants and shows it to
//! that tenant's user, typically as the `src` of an `<iframe>`. The link carries a random token
//! (`hp_` + base64url of 32 bytes); the store keeps only its SHA-256 and uses it up on the first
//! opening, which becomes a session of its own (see [`crate::session`]).

use std::fmt;
use std::time::Duration;

use crate::Timestamp;
use crate::api_key::KeyHash;
use crate::id::TenantId;
use crate::session::{parse_token, random_token};

pub const PREFIX: &str = "hp_";

/// How long a link may be opened, unless its creator says otherwise.
pub const DEFAULT_LINK_TTL: Duration = Duration::from_secs(10 * 60);
/// The shortest and the longest a link may be made to last: it is a bearer credential in a URL,
/// meant to be opened at once.
pub const MIN_LINK_TTL: Duration = Duration::from_secs(60);
pub const MAX_LINK_TTL: Duration = Duration::from_secs(3600);

/// A portal link's token: in the link's URL, never stored.
#[derive(Clone, PartialEq, Eq)]
pub struct PortalToken(String);

impl PortalToken {
    pub fn generate() -> Self {
        Self(random_token(PREFIX))
    }

    /// A token as a link's path presents it: `hp_` and 43 base64url characters, else nothing.
    pub fn parse(s: &str) -> Option<Self> {
        parse_token(PREFIX, s).map(Self)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What the store keeps and looks the link up by.
    pub fn hash(&self) -> KeyHash {
        KeyHash::of(&self.0)
    }
}

impl fmt::Debug for PortalToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PortalToken(<redacted>)")
    }
}

/// A stored portal link: whose pages it opens, dressed how, until when.
#[derive(Debug, Clone, PartialEq)]
pub struct PortalLink {
    pub hash: KeyHash,
    pub tenant: TenantId,
    pub branding: Option<Branding>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// How a portal presents itself: the platform's name instead of "Herald", its logo, its colour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Branding {
    pub name: BrandName,
    pub logo_url: Option<LogoUrl>,
    pub accent_color: Option<AccentColor>,
}

/// The name a portal shows in its header and titles: 1 to 64 characters (trimmed), no control
/// characters.
#[derive(Clone, PartialEq, Eq)]
pub struct BrandName(String);

impl BrandName {
    pub const MAX_CHARS: usize = 64;

    pub fn parse(s: &str) -> Result<Self, String> {
        let trimmed = s.trim();
        if trimmed.is_empty() || trimmed.chars().count() > Self::MAX_CHARS {
            return Err(format!("a name has 1 to {} characters", Self::MAX_CHARS));
        }
        if trimmed.chars().any(char::is_control) {
            return Err("a name has no control characters (line breaks, tabs, …)".into());
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for BrandName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// Where a portal's logo is: an absolute `https://` URL with a host and no credentials, at most
/// 2048 characters. (The page's Content-Security-Policy lets images load from `https:` only.)
#[derive(Clone, PartialEq, Eq)]
pub struct LogoUrl(String);

impl LogoUrl {
    pub const MAX_LEN: usize = 2048;

    pub fn parse(s: &str) -> Result<Self, String> {
        if s.len() > Self::MAX_LEN {
            return Err(format!("a URL has at most {} characters", Self::MAX_LEN));
        }
        let url = url::Url::parse(s).map_err(|e| format!("`{s}` is not an absolute URL: {e}"))?;
        if url.scheme() != "https" {
            return Err("the logo's URL must start with https://".into());
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err("the URL must name a host".into());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("the URL must not carry credentials".into());
        }
        let normalized = String::from(url);
        if normalized.len() > Self::MAX_LEN {
            return Err(format!("a URL has at most {} characters", Self::MAX_LEN));
        }
        Ok(Self(normalized))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for LogoUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A portal's accent colour: exactly `#rrggbb` (hex digits of either case; kept in lower case).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AccentColor([u8; 3]);

impl AccentColor {
    pub fn parse(s: &str) -> Result<Self, String> {
        let error = || format!("`{s}` is not a colour written #rrggbb (six hex digits)");
        let hex = s.strip_prefix('#').filter(|h| h.len() == 6).ok_or_else(error)?;
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(error());
        }
        let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|_| error());
        Ok(Self([byte(0)?, byte(2)?, byte(4)?]))
    }

    /// The colour of text on the accent (buttons): black or white, whichever contrasts more
    /// (WCAG relative luminance).
    pub fn ink(self) -> AccentColor {
        let channel = |c: u8| {
            let c = f64::from(c) / 255.0;
            if c <= 0.039_28 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
        };
        let [r, g, b] = self.0;
        let luminance = 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
        // Contrast with white: 1.05 / (L + 0.05); with black: (L + 0.05) / 0.05.
        if 1.05 / (luminance + 0.05) >= (luminance + 0.05) / 0.05 {
            AccentColor([0xff; 3])
        } else {
            AccentColor([0x11; 3])
        }
    }
}

impl fmt::Display for AccentColor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [r, g, b] = self.0;
        write!(f, "#{r:02x}{g:02x}{b:02x}")
    }
}

impl fmt::Debug for AccentColor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

macro_rules! text_serde {
    ($ty:ty, $shown:expr) => {
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(&$shown(self))
            }
        }
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}
text_serde!(BrandName, BrandName::as_str);
text_serde!(LogoUrl, LogoUrl::as_str);
text_serde!(AccentColor, ToString::to_string);

crate::schema::string_schema!(
    BrandName,
    "The name the portal shows instead of \"Herald\": 1 to 64 characters, not only spaces \
     (trimmed), no control characters.",
    example = "Acme Cloud",
    pattern = r"\S",
    length = 1..=64
);
crate::schema::string_schema!(
    LogoUrl,
    "The logo's URL: https:// only, no credentials, at most 2048 characters.",
    example = "https://cdn.example.com/logo.svg",
    pattern = "^https://",
    length = 9..=2048
);
crate::schema::string_schema!(
    AccentColor,
    "The accent colour (links, buttons, the current tab): exactly #rrggbb.",
    example = "#0a7cff",
    pattern = "^#[0-9A-Fa-f]{6}$"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_parse_back_hash_and_hide_in_debug() {
        let a = PortalToken::generate();
        assert_ne!(a, PortalToken::generate());
        assert!(a.expose().starts_with("hp_"));
        assert_eq!(PortalToken::parse(a.expose()), Some(a.clone()));
        assert_eq!(a.hash(), KeyHash::of(a.expose()));
        assert!(!format!("{a:?}").contains(&a.expose()[3..]));
        let session_shaped = format!("hs_{}", &a.expose()[3..]);
        for bad in ["", "hp_", &a.expose()[..40], &format!("{}=", &a.expose()[..45]), &session_shaped] {
            assert_eq!(PortalToken::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn brand_names_are_trimmed_short_and_printable() {
        assert_eq!(BrandName::parse("  Acme Cloud ").unwrap().as_str(), "Acme Cloud");
        assert!(BrandName::parse(&"é".repeat(64)).is_ok(), "characters, not bytes");
        for bad in ["", "   ", &"a".repeat(65), "Acme\nCloud", "Acme\u{7}"] {
            assert!(BrandName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn logos_are_https_urls_only() {
        assert_eq!(
            LogoUrl::parse("https://cdn.example.com/logo.svg?v=2").unwrap().as_str(),
            "https://cdn.example.com/logo.svg?v=2"
        );
        for bad in [
            "http://cdn.example.com/logo.svg",
            "javascript:alert(1)",
            "data:image/svg+xml,<svg/>",
            "//cdn.example.com/logo.svg",
            "/logo.svg",
            "https://user:pw@cdn.example.com/logo.svg",
            "https://",
            "",
        ] {
            assert!(LogoUrl::parse(bad).is_err(), "{bad:?}");
        }
        assert!(LogoUrl::parse(&format!("https://example.com/{}", "a".repeat(2048))).is_err());
    }

    #[test]
    fn accent_colours_are_exactly_six_hex_digits() {
        assert_eq!(AccentColor::parse("#0A7cFF").unwrap().to_string(), "#0a7cff");
        for bad in [
            "", "#", "0a7cff", "#0a7cf", "#0a7cfff", "#0a7cfg", "red", "#fff", "#0a7cff ", " #0a7cff",
            "#+a7cff",
        ] {
            assert!(AccentColor::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_ink_on_an_accent_is_the_readable_one() {
        let ink = |c: &str| AccentColor::parse(c).unwrap().ink().to_string();
        assert_eq!(ink("#2856d8"), "#ffffff", "Herald's own blue takes white");
        assert_eq!(ink("#000000"), "#ffffff");
        assert_eq!(ink("#ffd400"), "#111111", "yellow takes dark text");
        assert_eq!(ink("#ffffff"), "#111111");
    }
}
