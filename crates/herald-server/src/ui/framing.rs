//! Who may show Herald's pages inside a frame, and the headers that say so.
//!
//! By default no one: every page is sent with `frame-ancestors 'none'` and `X-Frame-Options:
//! DENY`, so another site cannot overlay Herald's buttons with its own (clickjacking). The one
//! exception is the tenant portal: with `ui_frame_ancestors` configured, the responses to a
//! portal session (and the portal link itself) name those sites in `frame-ancestors` instead, so
//! the platform can show a tenant its pages in an `<iframe>`. Operator pages, pages opened with
//! a key, and the sign-in page are never framable, whatever is configured.

use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};

use crate::config::Config;

/// The sites that may frame portal pages: CSP source expressions (`https://app.example.com`,
/// `https://*.example.com`, `'self'`), written as one space-separated string or as a list.
/// Empty: nothing may be framed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Sources", into = "String")]
pub struct FrameAncestors(Vec<String>);

#[derive(Deserialize)]
#[serde(untagged)]
enum Sources {
    Text(String),
    List(Vec<String>),
}

impl TryFrom<Sources> for FrameAncestors {
    type Error = String;
    fn try_from(sources: Sources) -> Result<Self, String> {
        match sources {
            Sources::Text(text) => Self::parse(&text),
            Sources::List(list) => Self::from_sources(list.iter().flat_map(|s| s.split_ascii_whitespace())),
        }
    }
}

impl From<FrameAncestors> for String {
    fn from(f: FrameAncestors) -> String {
        f.0.join(" ")
    }
}

impl FrameAncestors {
    /// A space-separated list, as in a CSP header.
    pub fn parse(text: &str) -> Result<Self, String> {
        Self::from_sources(text.split_ascii_whitespace())
    }

    fn from_sources<'a>(sources: impl Iterator<Item = &'a str>) -> Result<Self, String> {
        let mut list: Vec<String> = Vec::new();
        for source in sources {
            let source = source_expression(source)?;
            if !list.contains(&source) {
                list.push(source);
            }
        }
        Ok(Self(list))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn sources(&self) -> &[String] {
        &self.0
    }
}

/// One source of `frame-ancestors`, checked against CSP's grammar and narrowed to what names
/// sites: `'self'`, or a host source `[http(s)://]host[:port][/path]` whose host may start with
/// `*.`. Refused: `'none'` (leave the setting empty instead), other keywords, and the sources
/// that allow any site (`*`, `https:`, `https://*`). Nothing that could end the directive or the
/// header (`;`, `,`, quotes, spaces) gets through.
fn source_expression(source: &str) -> Result<String, String> {
    let refuse = |why: &str| Err(format!("`{source}` {why}"));
    if source.eq_ignore_ascii_case("'self'") {
        return Ok("'self'".to_owned());
    }
    if source.eq_ignore_ascii_case("'none'") {
        return refuse("cannot be combined with sites: leave the setting empty to allow no framing");
    }
    if source.starts_with('\'') {
        return refuse("is not a source frame-ancestors takes: name sites, or 'self'");
    }
    if !source.contains("://") && source.ends_with(':') {
        return refuse("is a whole scheme and would allow every site of it: name the sites");
    }
    let (scheme, rest) = match source.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, source),
    };
    if let Some(scheme) = scheme
        && !(scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("http"))
    {
        return refuse("must use https:// (or http://)");
    }
    let (authority, path) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    if host == "*" {
        return refuse("would allow every site: name the sites");
    }
    let labels = host.strip_prefix("*.").unwrap_or(host);
    let valid_label = |l: &str| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !labels.split('.').all(valid_label) {
        return refuse("is not a site: write it like https://app.example.com or https://*.example.com");
    }
    if let Some(port) = port
        && !(port == "*" || (!port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit())))
    {
        return refuse("has an invalid port");
    }
    let path_char = |b: u8| b.is_ascii_alphanumeric() || b"-._~!$&()*+=:@%/".contains(&b);
    if !path.is_empty() && (path.starts_with("//") || !path.bytes().all(path_char)) {
        return refuse("has an invalid path");
    }
    // Schemes and hosts are case-insensitive; a path is kept as written.
    Ok(format!("{}{path}", source[..source.len() - path.len()].to_ascii_lowercase()))
}

/// The Content-Security-Policy of every page: Herald's own script and styles only, images also
/// from `https:` (a portal's logo), and framing by `ancestors` only — by no one without them.
pub fn content_security_policy(ancestors: Option<&FrameAncestors>) -> String {
    let frame_ancestors = match ancestors {
        Some(list) if !list.is_empty() => list.0.join(" "),
        _ => "'none'".to_owned(),
    };
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; \
         connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors {frame_ancestors}"
    )
}

/// Whether the response being made may be framed by the configured sites. The security-headers
/// layer puts one in every web interface request; what serves a portal session (the session
/// extractor) or a portal link allows it.
#[derive(Debug, Clone, Default)]
pub struct Framing(Arc<OnceLock<FrameAncestors>>);

impl Framing {
    /// Lets the configured sites frame this response (nothing changes when none are).
    pub fn allow(&self, config: &Config) {
        if !config.ui_frame_ancestors.is_empty() {
            let _ = self.0.set(config.ui_frame_ancestors.clone());
        }
    }

    /// The sites that may frame the response, if any.
    pub fn allowed(&self) -> Option<&FrameAncestors> {
        self.0.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sites_and_self_are_taken_normalised_and_deduplicated() {
        let list = FrameAncestors::parse(
            "  https://app.example.com https://*.Example.com:8443 'SELF' http://localhost:3000/Embed/ \
             app.example.org https://app.example.com",
        )
        .unwrap();
        assert_eq!(
            list.sources(),
            [
                "https://app.example.com",
                "https://*.example.com:8443",
                "'self'",
                "http://localhost:3000/Embed/",
                "app.example.org",
            ]
        );
        assert!(FrameAncestors::parse("").unwrap().is_empty());
        assert!(FrameAncestors::parse("https://app.example.com:*").is_ok());
    }

    #[test]
    fn sources_that_allow_any_site_or_break_the_header_are_refused() {
        for bad in [
            "*",
            "https:",
            "https://*",
            "http://*:443",
            "'none'",
            "'unsafe-inline'",
            "'self",
            "ftp://files.example.com",
            "data:",
            "https://app.example.com;script-src",
            "https://app.example.com,https://b.example.com",
            "https://app.example.com/'x'",
            "https://app..example.com",
            "https://ex\"ample.com",
            "https://app.example.com:80a",
            "https://app.example.com:123456",
            "https://*example.com",
            "https://app.example.com//x",
            "https://user@app.example.com",
            "https://",
            "https://[::1]",
        ] {
            assert!(FrameAncestors::parse(bad).is_err(), "{bad:?}");
        }
        for any in ["*", "https:", "https://*"] {
            let error = FrameAncestors::parse(&format!("https://ok.example.com {any}")).unwrap_err();
            assert!(error.contains("every site"), "{error}");
        }
    }

    #[test]
    fn a_list_reads_like_the_text_and_writes_back_as_text() {
        let list: FrameAncestors =
            serde_json::from_value(serde_json::json!(["https://a.example.com", "'self'"])).unwrap();
        let text: FrameAncestors =
            serde_json::from_value(serde_json::json!("https://a.example.com 'self'")).unwrap();
        assert_eq!(list, text);
        assert_eq!(serde_json::to_value(&list).unwrap(), "https://a.example.com 'self'");
        assert!(serde_json::from_value::<FrameAncestors>(serde_json::json!(["*"])).is_err());
    }

    #[test]
    fn the_policy_names_the_sites_or_no_one() {
        let none = content_security_policy(None);
        assert!(none.ends_with("frame-ancestors 'none'") && !none.contains("unsafe-inline"), "{none}");
        assert_eq!(content_security_policy(Some(&FrameAncestors::default())), none);
        let list = FrameAncestors::parse("https://a.example.com https://*.b.example.com").unwrap();
        let some = content_security_policy(Some(&list));
        assert!(some.ends_with("frame-ancestors https://a.example.com https://*.b.example.com"), "{some}");
        assert!(
            some.contains("style-src 'self';") && some.contains("img-src 'self' data: https:;"),
            "{some}"
        );
    }
}
