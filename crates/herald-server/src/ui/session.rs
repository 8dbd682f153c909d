//! The session behind a page: read from the cookie, checked against the store; the cookie's
//! attributes; and the guard every state-changing form passes (same origin, the session's CSRF
//! token).

use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use herald_core::session::{Session, SessionToken, Viewer};

use super::framing::Framing;
use crate::config::Config;
use crate::state::AppState;

/// The cookie that holds the session token.
pub const COOKIE: &str = "herald_session";
/// How long a session lasts after sign-in.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

/// A signed-in viewer: the session's token (for CSRF tokens and sign-out) and whom it shows.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub token: SessionToken,
    pub session: Session,
}

impl SignedIn {
    pub fn viewer(&self) -> &Viewer {
        &self.session.viewer
    }

    pub fn csrf(&self) -> String {
        self.token.csrf()
    }
}

/// The session token the request's cookie carries, if it has one of the right form.
pub fn token_of(headers: &HeaderMap) -> Option<SessionToken> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .and_then(|(_, value)| SessionToken::parse(value))
}

/// What a page says when the store cannot be read.
pub const UNAVAILABLE: &str =
    "Herald could not read its database. Try again in a moment; the error has been logged.";

/// A page that needs a session: without one, the browser is sent to sign in — unless the page
/// was asked for inside a frame where portals may be shown: the sign-in page may not be framed,
/// so the frame is told to reload instead (its portal session has ended).
#[derive(Debug)]
pub enum NotSignedIn {
    Redirect,
    EndedInFrame,
    Unavailable,
}

impl IntoResponse for NotSignedIn {
    fn into_response(self) -> Response {
        match self {
            Self::Redirect => Redirect::to("/ui/sign-in").into_response(),
            Self::EndedInFrame => {
                let text = "This view has ended. Reload the page around it to open it again.";
                let page = super::layout::message_without_links("Session ended", text);
                (StatusCode::FORBIDDEN, page).into_response()
            }
            Self::Unavailable => {
                let page = super::layout::message("Database unavailable", None, UNAVAILABLE);
                (StatusCode::SERVICE_UNAVAILABLE, page).into_response()
            }
        }
    }
}

/// The open session the request's cookie names, if any.
pub async fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<SignedIn>, herald_store::StoreError> {
    let Some(token) = token_of(headers) else { return Ok(None) };
    let session = state.store.ui_session(&token.hash(), state.clock.now()).await?;
    Ok(session.map(|session| SignedIn { token, session }))
}

/// A portal session's pages may be framed by the configured sites (see [`super::framing`]).
impl FromRequestParts<AppState> for SignedIn {
    type Rejection = NotSignedIn;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, NotSignedIn> {
        let signed_in = signed_in(state, &parts.headers).await.map_err(|e| {
            tracing::error!(error = %e, "reading a web interface session failed");
            NotSignedIn::Unavailable
        })?;
        let framing = parts.extensions.get::<Framing>();
        let Some(signed_in) = signed_in else {
            let in_frame = parts.headers.get("sec-fetch-dest").is_some_and(|d| d == "iframe");
            if in_frame
                && !state.config.ui_frame_ancestors.is_empty()
                && let Some(framing) = framing
            {
                framing.allow(&state.config);
                return Err(NotSignedIn::EndedInFrame);
            }
            return Err(NotSignedIn::Redirect);
        };
        if signed_in.session.is_portal()
            && let Some(framing) = framing
        {
            framing.allow(&state.config);
        }
        Ok(signed_in)
    }
}

/// Whether the request was sent by a page of this same site: a browser names the sending
/// site in `Sec-Fetch-Site` and `Origin`, and a cross-site form post is refused on either.
/// Requests without both (not from a browser) pass here; they still need the CSRF token.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if site.is_some_and(|s| s != "same-origin" && s != "none") {
        return false;
    }
    match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        None => true,
        Some(origin) => {
            let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
            let authority = origin.split_once("://").map_or("", |(_, rest)| rest);
            !host.is_empty() && authority.eq_ignore_ascii_case(host)
        }
    }
}

/// Whether the request reached Herald over HTTPS (directly, or as the proxy in front says).
pub fn over_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
}

/// How a session's cookie is kept by the browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookieSite {
    /// Sent only with requests from Herald's own pages (`SameSite=Strict`); `Secure` when the
    /// request came over HTTPS.
    Strict { secure: bool },
    /// Also sent inside a frame on another site (`SameSite=None; Secure`), kept apart for each
    /// embedding site (`Partitioned`, CHIPS): a portal session with frame ancestors configured.
    Embedded,
}

impl CookieSite {
    /// The cookie of a session: embedded for a portal session when `ui_frame_ancestors` names
    /// sites, strict otherwise.
    pub fn of(portal: bool, config: &Config, headers: &HeaderMap) -> Self {
        if portal && !config.ui_frame_ancestors.is_empty() {
            Self::Embedded
        } else {
            Self::Strict { secure: over_https(headers) }
        }
    }

    fn attributes(self) -> &'static str {
        match self {
            Self::Strict { secure: false } => "SameSite=Strict",
            Self::Strict { secure: true } => "SameSite=Strict; Secure",
            Self::Embedded => "SameSite=None; Secure; Partitioned",
        }
    }
}

/// The `Set-Cookie` value that opens a session.
pub fn open_cookie(token: &SessionToken, site: CookieSite) -> String {
    format!(
        "{COOKIE}={}; Path=/ui; Max-Age={}; HttpOnly; {}",
        token.expose(),
        SESSION_TTL.as_secs(),
        site.attributes()
    )
}

/// The `Set-Cookie` value that removes it (with the attributes it was set with: a partitioned
/// cookie is removed only by a partitioned one).
pub fn closed_cookie(site: CookieSite) -> String {
    format!("{COOKIE}=; Path=/ui; Max-Age=0; HttpOnly; {}", site.attributes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(*name, value.parse().unwrap());
        }
        h
    }

    #[test]
    fn cross_site_requests_are_told_apart() {
        let host = ("host", "127.0.0.1:8080");
        assert!(same_origin(&headers(&[host])), "no browser headers");
        assert!(same_origin(&headers(&[host, ("origin", "http://127.0.0.1:8080")])));
        assert!(same_origin(&headers(&[host, ("sec-fetch-site", "same-origin")])));
        assert!(!same_origin(&headers(&[host, ("origin", "http://127.0.0.1:9999")])), "another port");
        assert!(!same_origin(&headers(&[host, ("origin", "null")])), "an opaque origin");
        assert!(!same_origin(&headers(&[host, ("sec-fetch-site", "cross-site")])));
        assert!(!same_origin(&headers(&[host, ("sec-fetch-site", "same-site")])), "a sibling subdomain");
        assert!(!same_origin(&headers(&[("origin", "http://127.0.0.1:8080")])), "no host to compare with");
    }

    #[test]
    fn the_cookie_is_read_among_others_and_must_be_a_token() {
        let token = SessionToken::generate();
        let cookie = format!("a=b; {COOKIE}={}; c=d", token.expose());
        assert_eq!(token_of(&headers(&[("cookie", &cookie)])), Some(token));
        assert_eq!(token_of(&headers(&[("cookie", "herald_session=hk_not_a_session")])), None);
        assert_eq!(token_of(&headers(&[])), None);
    }

    #[test]
    fn cookies_are_http_only_strict_and_secure_over_https() {
        let token = SessionToken::generate();
        let plain = open_cookie(&token, CookieSite::Strict { secure: false });
        assert!(
            plain.contains("HttpOnly") && plain.contains("SameSite=Strict") && plain.contains("Path=/ui")
        );
        assert!(!plain.contains("Secure"));
        assert!(open_cookie(&token, CookieSite::Strict { secure: true }).ends_with("; Secure"));
        assert!(closed_cookie(CookieSite::Strict { secure: false }).contains("Max-Age=0"));
    }

    #[test]
    fn only_a_portal_session_with_frame_ancestors_gets_an_embeddable_cookie() {
        let token = SessionToken::generate();
        let mut config = Config::default();
        let https = headers(&[("x-forwarded-proto", "https")]);
        assert_eq!(CookieSite::of(true, &config, &https), CookieSite::Strict { secure: true });
        config.ui_frame_ancestors = crate::ui::FrameAncestors::parse("https://app.example.com").unwrap();
        assert_eq!(
            CookieSite::of(false, &config, &https),
            CookieSite::Strict { secure: true },
            "not a portal"
        );
        assert_eq!(CookieSite::of(false, &config, &headers(&[])), CookieSite::Strict { secure: false });
        assert_eq!(
            CookieSite::of(true, &config, &headers(&[])),
            CookieSite::Embedded,
            "Secure even over http"
        );
        let embedded = open_cookie(&token, CookieSite::Embedded);
        assert!(embedded.ends_with("; HttpOnly; SameSite=None; Secure; Partitioned"), "{embedded}");
        let closed = closed_cookie(CookieSite::Embedded);
        assert!(closed.contains("Max-Age=0") && closed.ends_with("; Partitioned"), "{closed}");
    }
}
