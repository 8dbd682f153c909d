//! The outbound HTTP client: sends one request, never follows redirects, never uses a system
//! proxy, connects only to addresses the reachability policy allows, and reports what happened
//! as a response or a classified error.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use herald_core::Timestamp;
use herald_core::delivery::{ErrorKind, RESPONSE_BODY_LIMIT};
use herald_core::endpoint::{Endpoint, EndpointCredentials};
use herald_core::id::EndpointId;
use herald_core::reachability::Policy;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

/// One request to send.
#[derive(Debug, Clone)]
pub struct Outbound {
    /// The endpoint's own client when it has TLS settings; the shared one otherwise.
    pub client: Option<reqwest::Client>,
    pub method: reqwest::Method,
    pub url: url::Url,
    pub headers: HeaderMap,
    /// Shared by every endpoint the event goes to.
    pub body: bytes::Bytes,
    pub timeout: Duration,
}

/// What came back.
#[derive(Debug)]
pub struct Received {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// The first [`RESPONSE_BODY_LIMIT`] bytes of the body, lossily decoded.
    pub body: String,
}

#[derive(Debug)]
pub struct Failed {
    pub kind: ErrorKind,
    pub message: String,
}

#[derive(Debug, Clone)]
pub struct Sender {
    client: reqwest::Client,
    policy: Policy,
    proxy: Option<reqwest::Proxy>,
    /// The local address every connection is made from (`delivery.source_address`).
    source_address: Option<IpAddr>,
    /// Clients of endpoints with their own TLS settings, by endpoint and version.
    tls_clients: Arc<Mutex<HashMap<EndpointId, (Timestamp, reqwest::Client)>>>,
}

/// Marks a resolution refused by the reachability policy, so the failure is classified `blocked`.
const BLOCKED_MARK: &str = "blocked by the reachability policy";

/// Resolves names with the system resolver and keeps only the addresses the policy allows; the
/// connection is then made to those addresses only (nothing is resolved twice).
#[derive(Debug, Clone)]
struct GuardedResolver {
    policy: Policy,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refusals = Vec::new();
            let allowed: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|addr| match policy.check(addr.ip()) {
                    Ok(()) => true,
                    Err(e) => {
                        refusals.push(e.to_string());
                        false
                    }
                })
                .collect();
            if allowed.is_empty() {
                let why = refusals.first().cloned().unwrap_or_else(|| "no address".into());
                return Err(format!("{host}: {BLOCKED_MARK}: {why}").into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

impl Sender {
    /// The client every attempt goes through: no redirects, no system proxy, names resolved
    /// through the reachability guard.
    /// With `proxy`, every request goes through it; the guard then vets the proxy's address, and
    /// the proxy resolves the receivers' names (IP-literal receivers are still checked here).
    /// With `source_address`, connections are made from that local address.
    pub fn new(
        policy: Policy,
        proxy: Option<&str>,
        source_address: Option<IpAddr>,
    ) -> Result<Self, reqwest::Error> {
        let proxy = proxy.map(reqwest::Proxy::all).transpose()?;
        let client = builder(&policy, proxy.as_ref(), source_address).build()?;
        Ok(Self { client, policy, proxy, source_address, tls_clients: Arc::default() })
    }

    /// The client for an endpoint with its own TLS settings: only its CA is trusted (when it
    /// gives one) and its client certificate is presented (mutual TLS). `None`: the shared client.
    pub fn client_for(
        &self,
        endpoint: &Endpoint,
        credentials: &EndpointCredentials,
    ) -> Result<Option<reqwest::Client>, Failed> {
        let spec = &endpoint.spec;
        if spec.ca_cert_pem.is_none() && spec.client_cert_pem.is_none() {
            return Ok(None);
        }
        let mut clients = self.tls_clients.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((version, client)) = clients.get(&endpoint.id)
            && *version == endpoint.updated_at
        {
            return Ok(Some(client.clone()));
        }
        let tls_error = |e: reqwest::Error| Failed {
            kind: ErrorKind::Tls,
            message: format!("the endpoint's TLS settings: {e}"),
        };
        let mut builder = builder(&self.policy, self.proxy.as_ref(), self.source_address);
        if let Some(ca) = &spec.ca_cert_pem {
            builder = builder.tls_built_in_root_certs(false);
            for certificate in reqwest::Certificate::from_pem_bundle(ca.as_bytes()).map_err(tls_error)? {
                builder = builder.add_root_certificate(certificate);
            }
        }
        if let (Some(cert), Some(key)) = (&spec.client_cert_pem, &credentials.client_key_pem) {
            let identity =
                reqwest::Identity::from_pem(format!("{cert}\n{key}").as_bytes()).map_err(tls_error)?;
            builder = builder.identity(identity);
        }
        let client = builder.build().map_err(tls_error)?;
        clients.insert(endpoint.id.clone(), (endpoint.updated_at, client.clone()));
        Ok(Some(client))
    }

    /// Sends `request`; returns the response and the time it took.
    pub async fn send(&self, request: Outbound) -> (Result<Received, Failed>, Duration) {
        let started = Instant::now();
        let timeout = request.timeout;
        let result = tokio::time::timeout(timeout, self.exchange(request)).await.unwrap_or_else(|_| {
            Err(Failed {
                kind: ErrorKind::Timeout,
                message: format!("no complete response within {timeout:?}"),
            })
        });
        (result, started.elapsed())
    }

    async fn exchange(&self, request: Outbound) -> Result<Received, Failed> {
        // What resolution cannot catch: the scheme, and hosts written as IP addresses.
        if let Err(blocked) = self.policy.check_url(&request.url) {
            return Err(Failed { kind: ErrorKind::Blocked, message: blocked.to_string() });
        }
        let client = request.client.as_ref().unwrap_or(&self.client);
        let mut response = client
            .request(request.method, request.url)
            .headers(request.headers)
            .body(request.body)
            .send()
            .await
            .map_err(classify)?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| (name.to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
            .collect();
        let mut body = Vec::new();
        while body.len() < RESPONSE_BODY_LIMIT {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) => break,
                // The status is what counts; a body cut short is still worth keeping.
                Err(_) => break,
            }
        }
        body.truncate(RESPONSE_BODY_LIMIT);
        Ok(Received { status, headers, body: String::from_utf8_lossy(&body).into_owned() })
    }
}

/// Every client's settings: rustls, no redirects, no system proxy (only the configured one),
/// names resolved through the reachability guard, connections from the configured source address.
fn builder(
    policy: &Policy,
    proxy: Option<&reqwest::Proxy>,
    source_address: Option<IpAddr>,
) -> reqwest::ClientBuilder {
    let builder = reqwest::Client::builder()
        .use_rustls_tls()
        .local_address(source_address)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(Arc::new(GuardedResolver { policy: policy.clone() }))
        .user_agent(concat!("Herald/", env!("CARGO_PKG_VERSION")))
        .pool_idle_timeout(Duration::from_secs(60));
    match proxy {
        Some(proxy) => builder.proxy(proxy.clone()),
        None => builder,
    }
}

/// Names the failure from the error and its causes.
fn classify(error: reqwest::Error) -> Failed {
    let mut chain = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        chain.push_str(": ");
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    let lower = chain.to_ascii_lowercase();
    let kind = if chain.contains(BLOCKED_MARK) {
        ErrorKind::Blocked
    } else if error.is_timeout() {
        ErrorKind::Timeout
    } else if lower.contains("dns error") || lower.contains("failed to lookup address") {
        ErrorKind::Dns
    } else if ["certificate", "tls", "handshake", "alert"].iter().any(|word| lower.contains(word)) {
        ErrorKind::Tls
    } else {
        ErrorKind::Connect
    };
    Failed { kind, message: chain }
}

/// Adds a header, skipping values that are not valid header text (validated at registration).
pub fn insert(headers: &mut HeaderMap, name: &str, value: &str) {
    if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
        headers.insert(name, value);
    }
}
