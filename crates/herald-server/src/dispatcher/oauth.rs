//! OAuth2 client credentials for endpoints that demand them: the token is fetched from
//! the endpoint's `tokenUrl` through the same guarded client as deliveries (the reachability
//! policy applies), cached until shortly before it expires, and fetched anew once when the
//! receiver answers 401.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use herald_core::delivery::ErrorKind;
use herald_core::id::EndpointId;
use reqwest::header::HeaderMap;
use serde::Deserialize;

use super::sender::{Failed, Outbound, Sender};

/// Tokens are refreshed this long before they expire.
const EARLY: Duration = Duration::from_secs(30);
/// How long a token without `expires_in` is reused.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client<'a> {
    pub token_url: &'a str,
    pub client_id: &'a str,
    pub client_secret: &'a str,
    pub scope: Option<&'a str>,
    pub audience: Option<&'a str>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: Option<u64>,
}

#[derive(Debug, Default)]
pub struct Tokens {
    cache: Mutex<HashMap<EndpointId, (String, Instant)>>,
}

impl Tokens {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<EndpointId, (String, Instant)>> {
        self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A valid token for the endpoint: cached, or fetched now.
    pub async fn token(
        &self,
        sender: &Sender,
        endpoint: &EndpointId,
        client: &Client<'_>,
        timeout: Duration,
    ) -> Result<String, Failed> {
        if let Some((token, until)) = self.lock().get(endpoint)
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let (token, lifetime) = fetch(sender, client, timeout).await?;
        let until = Instant::now() + lifetime.saturating_sub(EARLY);
        self.lock().insert(endpoint.clone(), (token.clone(), until));
        Ok(token)
    }

    /// Forgets the endpoint's token (the receiver refused it).
    pub fn forget(&self, endpoint: &EndpointId) {
        self.lock().remove(endpoint);
    }
}

async fn fetch(
    sender: &Sender,
    client: &Client<'_>,
    timeout: Duration,
) -> Result<(String, Duration), Failed> {
    let failed = |kind, message: String| Failed { kind, message: format!("OAuth2 token request: {message}") };
    let url = url::Url::parse(client.token_url).map_err(|e| failed(ErrorKind::Connect, e.to_string()))?;
    let body = {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "client_credentials")
            .append_pair("client_id", client.client_id)
            .append_pair("client_secret", client.client_secret);
        if let Some(scope) = client.scope {
            form.append_pair("scope", scope);
        }
        if let Some(audience) = client.audience {
            form.append_pair("audience", audience);
        }
        form.finish()
    };
    let mut headers = HeaderMap::new();
    super::sender::insert(&mut headers, "content-type", "application/x-www-form-urlencoded");
    super::sender::insert(&mut headers, "accept", "application/json");
    let request = Outbound {
        client: None,
        method: reqwest::Method::POST,
        url,
        headers,
        body: body.into_bytes().into(),
        timeout,
    };
    let (result, _) = sender.send(request).await;
    let received = result.map_err(|f| failed(f.kind, f.message))?;
    if !(200..300).contains(&received.status) {
        return Err(failed(
            ErrorKind::HttpStatus,
            format!("the token endpoint answered {}", received.status),
        ));
    }
    let token: TokenResponse = serde_json::from_str(&received.body)
        .map_err(|e| failed(ErrorKind::HttpStatus, format!("unreadable token response: {e}")))?;
    let lifetime = token.expires_in.map_or(DEFAULT_LIFETIME, Duration::from_secs);
    Ok((token.access_token, lifetime))
}
