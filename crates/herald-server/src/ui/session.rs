//! The session behind a page: read from the cookie, checked against the store; and the guard
//! every state-changing form passes (same origin, the session's CSRF token).

use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use herald_core::session::{Session, SessionToken, Viewer};

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

/// A page that needs a session: without one, the browser is sent to sign in.
#[derive(Debug)]
pub enum NotSignedIn {
    Redirect,
    Unavailable,
}

impl IntoResponse for NotSignedIn {
    fn into_response(self) -> Response {
        match self {
            Self::Redirect => Redirect::to("/ui/sign-in").into_response(),
            Self::Unavailable => {
                let page = super::layout::message("Database unavailable", None, UNAVAILABLE);
                (StatusCode::SERVICE_UNAVAILABLE, page).into_response()
            }
        }
    }
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = NotSignedIn;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, NotSignedIn> {
        let token = token_of(&parts.headers).ok_or(NotSignedIn::Redirect)?;
        let session = state.store.ui_session(&token.hash(), state.clock.now()).await.map_err(|e| {
            tracing::error!(error = %e, "reading a web interface session failed");
            NotSignedIn::Unavailable
        })?;
        session.map(|session| Self { token, session }).ok_or(NotSignedIn::Redirect)
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

/// The `Set-Cookie` value that opens a session.
pub fn open_cookie(token: &SessionToken, secure: bool) -> String {
    format!(
        "{COOKIE}={}; Path=/ui; Max-Age={}; HttpOnly; SameSite=Strict{}",
        token.expose(),
        SESSION_TTL.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that removes it.
pub fn closed_cookie(secure: bool) -> String {
    format!(
        "{COOKIE}=; Path=/ui; Max-Age=0; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    )
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
        let plain = open_cookie(&token, false);
        assert!(
            plain.contains("HttpOnly") && plain.contains("SameSite=Strict") && plain.contains("Path=/ui")
        );
        assert!(!plain.contains("Secure"));
        assert!(open_cookie(&token, true).ends_with("; Secure"));
        assert!(closed_cookie(false).contains("Max-Age=0"));
    }
}
