//! The CloudEvents validation handshake (CloudEvents Web Hook 1.0, "abuse protection"): before
//! an endpoint that asks for it gets any delivery, Herald sends `OPTIONS` with
//! `WebHook-Request-Origin` (and `WebHook-Request-Rate`, requests per minute, when the endpoint
//! has a rate limit); the receiver agrees by answering 2xx with `WebHook-Allowed-Origin` naming
//! that origin (or `*`), and may cap the rate with `WebHook-Allowed-Rate`.
//!
//! A result holds for the URL it was made with: moving the endpoint asks again.

use serde::{Deserialize, Serialize};

use crate::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HandshakeStatus {
    /// Not asked yet for the endpoint's URL.
    Pending,
    /// The receiver agreed: deliveries flow (at most at `allowedRate`).
    Validated,
    /// The receiver refused or could not be asked; deliveries wait and it is asked again at
    /// each of their attempts.
    Refused,
}

/// The last handshake with an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Handshake {
    /// The URL it was made with.
    pub url: String,
    pub status: HandshakeStatus,
    pub checked_at: Timestamp,
    /// Requests per minute the receiver allowed (`None`: no cap).
    pub allowed_rate: Option<u32>,
    /// Why it was refused.
    pub detail: Option<String>,
}

/// The receiver's answer to the `OPTIONS` request, judged: `Ok(allowed rate)` when it agrees.
pub fn judge(
    status: u16,
    allowed_origin: Option<&str>,
    allowed_rate: Option<&str>,
    origin: &str,
) -> Result<Option<u32>, String> {
    if !(200..300).contains(&status) {
        return Err(format!("the receiver answered the validation request with {status}"));
    }
    let origins = allowed_origin.unwrap_or_default();
    let allowed = origins.split(',').map(str::trim).any(|o| o == "*" || o.eq_ignore_ascii_case(origin));
    if !allowed {
        return Err(match allowed_origin {
            None => "the answer has no WebHook-Allowed-Origin".to_owned(),
            Some(other) => format!("the answer allows origin `{other}`, not `{origin}`"),
        });
    }
    match allowed_rate.map(str::trim) {
        None | Some("*") => Ok(None),
        Some(rate) => match rate.parse::<u32>() {
            Ok(0) | Err(_) => Err(format!("WebHook-Allowed-Rate `{rate}` is not a positive number or `*`")),
            Ok(n) => Ok(Some(n)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_receiver_agrees_with_its_origin_or_a_star_and_may_cap_the_rate() {
        assert_eq!(judge(200, Some("herald.example.com"), None, "herald.example.com"), Ok(None));
        assert_eq!(judge(204, Some("*"), Some("120"), "herald.example.com"), Ok(Some(120)));
        assert_eq!(
            judge(200, Some("a.example, herald.example.com"), Some("*"), "herald.example.com"),
            Ok(None)
        );
        for (status, origin, rate) in [
            (403, Some("*"), None),
            (200, None, None),
            (200, Some("other.example"), None),
            (200, Some("*"), Some("fast")),
            (200, Some("*"), Some("0")),
        ] {
            assert!(
                judge(status, origin, rate, "herald.example.com").is_err(),
                "{status} {origin:?} {rate:?}"
            );
        }
    }
}
