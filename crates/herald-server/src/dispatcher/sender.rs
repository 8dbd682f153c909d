//! The outbound HTTP client: sends one request, never follows redirects, never uses a system
//! proxy, connects only to addresses the reachability policy allows, and reports what happened
//! as a response or a classified error.
//!
//! Requests go out through hyper's pooled client over rustls (HTTP/1.1, webpki roots or the
//! endpoint's own CA, its client certificate for mutual TLS). With `outbound.proxy` set they go
//! through reqwest instead, whose proxy support (CONNECT tunnels for HTTPS, absolute-form
//! requests for HTTP) the direct path does not need: the direct path skips reqwest's per-request
//! work (URL conversions, its redirect layer) on every attempt.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::http;
use herald_core::Timestamp;
use herald_core::delivery::{ErrorKind, RESPONSE_BODY_LIMIT};
use herald_core::endpoint::{Endpoint, EndpointCredentials};
use herald_core::id::EndpointId;
use herald_core::reachability::Policy;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use reqwest::header::{ACCEPT, HeaderMap, HeaderName, HeaderValue, USER_AGENT};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};

/// A client that sends straight to the receiver: hyper's pool, connections through the
/// reachability guard, rustls.
type Direct = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<HttpConnector<GuardedResolver>>,
    Full<bytes::Bytes>,
>;

/// The client a request leaves through (the shared one, or an endpoint's own TLS settings).
#[derive(Debug, Clone)]
pub struct Client(Transport);

/// Straight to the receiver, or through the configured proxy.
#[derive(Debug, Clone)]
enum Transport {
    Direct(Direct),
    Proxied(reqwest::Client),
}

/// One request to send.
#[derive(Debug, Clone)]
pub struct Outbound {
    /// The endpoint's own client when it has TLS settings; the shared one otherwise.
    pub client: Option<Client>,
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
    client: Client,
    policy: Policy,
    proxy: Option<reqwest::Proxy>,
    /// The local address every connection is made from (`delivery.source_address`).
    source_address: Option<IpAddr>,
    /// Clients of endpoints with their own TLS settings, by endpoint and version.
    tls_clients: Arc<Mutex<HashMap<EndpointId, (Timestamp, Client)>>>,
}

/// What every request carries unless it sets them itself.
const USER_AGENT_VALUE: &str = concat!("Herald/", env!("CARGO_PKG_VERSION"));

/// Marks a resolution refused by the reachability policy, so the failure is classified `blocked`.
const BLOCKED_MARK: &str = "blocked by the reachability policy";

/// Resolves names with the system resolver and keeps only the addresses the policy allows; the
/// connection is then made to those addresses only (nothing is resolved twice).
#[derive(Debug, Clone)]
struct GuardedResolver {
    policy: Policy,
}

impl GuardedResolver {
    async fn lookup(
        policy: Policy,
        host: String,
    ) -> Result<Vec<SocketAddr>, Box<dyn std::error::Error + Send + Sync>> {
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
        Ok(allowed)
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let lookup = Self::lookup(self.policy.clone(), name.as_str().to_owned());
        Box::pin(async move {
            let addrs: reqwest::dns::Addrs = Box::new(lookup.await?.into_iter());
            Ok(addrs)
        })
    }
}

/// The same guard as hyper's resolver (the port is set by the connector).
impl tower::Service<Name> for GuardedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = Box<dyn std::error::Error + Send + Sync>;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let lookup = Self::lookup(self.policy.clone(), name.as_str().to_owned());
        Box::pin(async move { Ok(lookup.await?.into_iter()) })
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
        let client = match &proxy {
            Some(proxy) => Client(Transport::Proxied(proxied(&policy, proxy, source_address).build()?)),
            None => Client(Transport::Direct(direct(
                &policy,
                source_address,
                tls_builder(webpki_roots()).with_no_client_auth(),
            ))),
        };
        Ok(Self { client, policy, proxy, source_address, tls_clients: Arc::default() })
    }

    /// The client for an endpoint with its own TLS settings: only its CA is trusted (when it
    /// gives one) and its client certificate is presented (mutual TLS). `None`: the shared client.
    pub fn client_for(
        &self,
        endpoint: &Endpoint,
        credentials: &EndpointCredentials,
    ) -> Result<Option<Client>, Failed> {
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
        let tls_error = |e: &dyn std::fmt::Display| Failed {
            kind: ErrorKind::Tls,
            message: format!("the endpoint's TLS settings: {e}"),
        };
        let identity = match (&spec.client_cert_pem, &credentials.client_key_pem) {
            (Some(cert), Some(key)) => Some((cert.as_str(), key.as_str())),
            _ => None,
        };
        let client = match &self.proxy {
            Some(proxy) => {
                let mut builder = proxied(&self.policy, proxy, self.source_address);
                if let Some(ca) = &spec.ca_cert_pem {
                    builder = builder.tls_built_in_root_certs(false);
                    let certificates =
                        reqwest::Certificate::from_pem_bundle(ca.as_bytes()).map_err(|e| tls_error(&e))?;
                    for certificate in certificates {
                        builder = builder.add_root_certificate(certificate);
                    }
                }
                if let Some((cert, key)) = identity {
                    let identity = reqwest::Identity::from_pem(format!("{cert}\n{key}").as_bytes())
                        .map_err(|e| tls_error(&e))?;
                    builder = builder.identity(identity);
                }
                Client(Transport::Proxied(builder.build().map_err(|e| tls_error(&e))?))
            }
            None => {
                let roots = match &spec.ca_cert_pem {
                    Some(ca) => {
                        let mut roots = rustls::RootCertStore::empty();
                        for certificate in CertificateDer::pem_slice_iter(ca.as_bytes()) {
                            roots.add(certificate.map_err(|e| tls_error(&e))?).map_err(|e| tls_error(&e))?;
                        }
                        roots
                    }
                    None => webpki_roots(),
                };
                let identity = identity
                    .map(|(cert, key)| {
                        let chain = CertificateDer::pem_slice_iter(cert.as_bytes())
                            .collect::<Result<Vec<_>, _>>()
                            .map_err(|e| tls_error(&e))?;
                        let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).map_err(|e| tls_error(&e))?;
                        Ok::<_, Failed>((chain, key))
                    })
                    .transpose()?;
                let config = match identity {
                    Some((chain, key)) => {
                        tls_builder(roots).with_client_auth_cert(chain, key).map_err(|e| tls_error(&e))?
                    }
                    None => tls_builder(roots).with_no_client_auth(),
                };
                Client(Transport::Direct(direct(&self.policy, self.source_address, config)))
            }
        };
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

    async fn exchange(&self, mut request: Outbound) -> Result<Received, Failed> {
        // What resolution cannot catch: the scheme, and hosts written as IP addresses.
        if let Err(blocked) = self.policy.check_url(&request.url) {
            return Err(Failed { kind: ErrorKind::Blocked, message: blocked.to_string() });
        }
        let own = request.client.take();
        match own.as_ref().unwrap_or(&self.client) {
            Client(Transport::Direct(client)) => exchange_direct(client, request).await,
            Client(Transport::Proxied(client)) => exchange_proxied(client, request).await,
        }
    }
}

async fn exchange_direct(client: &Direct, request: Outbound) -> Result<Received, Failed> {
    let uri: http::Uri = request.url.as_str().parse().map_err(|e: http::uri::InvalidUri| Failed {
        kind: ErrorKind::Connect,
        message: format!("{}: {e}", request.url),
    })?;
    let mut outgoing = http::Request::new(Full::new(request.body));
    *outgoing.method_mut() = request.method;
    *outgoing.uri_mut() = uri;
    let mut headers = request.headers;
    if !headers.contains_key(USER_AGENT) {
        headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
    }
    if !headers.contains_key(ACCEPT) {
        headers.insert(ACCEPT, HeaderValue::from_static("*/*"));
    }
    *outgoing.headers_mut() = headers;
    let response = client.request(outgoing).await.map_err(|e| classify(&e, false))?;
    Ok(received(response).await)
}

async fn exchange_proxied(client: &reqwest::Client, request: Outbound) -> Result<Received, Failed> {
    let response = client
        .request(request.method, request.url)
        .headers(request.headers)
        .body(request.body)
        .send()
        .await
        .map_err(|e| classify(&e, e.is_timeout()))?;
    Ok(received(http::Response::<reqwest::Body>::from(response)).await)
}

/// The status, the headers and the first [`RESPONSE_BODY_LIMIT`] bytes of the body.
async fn received<B>(response: http::Response<B>) -> Received
where
    B: axum::body::HttpBody<Data = bytes::Bytes> + Unpin,
{
    let (parts, mut incoming) = response.into_parts();
    let headers = parts
        .headers
        .iter()
        .map(|(name, value)| (name.to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
        .collect();
    let mut body = Vec::new();
    while body.len() < RESPONSE_BODY_LIMIT {
        match incoming.frame().await {
            Some(Ok(frame)) => {
                if let Some(chunk) = frame.data_ref() {
                    body.extend_from_slice(chunk);
                }
            }
            // The status is what counts; a body cut short is still worth keeping.
            Some(Err(_)) | None => break,
        }
    }
    body.truncate(RESPONSE_BODY_LIMIT);
    Received { status: parts.status.as_u16(), headers, body: String::from_utf8_lossy(&body).into_owned() }
}

/// The direct client: hyper's pool (idle connections kept a minute), TCP keep-alive and no
/// Nagle delay, names resolved through the reachability guard, connections from the configured
/// source address, TLS with `config` (plain HTTP where the policy allows it).
fn direct(policy: &Policy, source_address: Option<IpAddr>, config: rustls::ClientConfig) -> Direct {
    let mut http = HttpConnector::new_with_resolver(GuardedResolver { policy: policy.clone() });
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_local_address(source_address);
    http.set_keepalive(Some(Duration::from_secs(15)));
    http.set_keepalive_interval(Some(Duration::from_secs(15)));
    http.set_keepalive_retries(Some(3));
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_timer(TokioTimer::new())
        .build(connector)
}

/// The roots every receiver's certificate is checked against unless its endpoint names its CA.
fn webpki_roots() -> rustls::RootCertStore {
    rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() }
}

/// rustls with ring, TLS 1.2 and 1.3, checking certificates against `roots` (the connector
/// offers HTTP/1.1 by ALPN itself).
fn tls_builder(
    roots: rustls::RootCertStore,
) -> rustls::ConfigBuilder<rustls::ClientConfig, rustls::client::WantsClientCert> {
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(rustls::ALL_VERSIONS)
        .expect("ring supports every TLS version rustls has")
        .with_root_certificates(roots)
}

/// The proxied client's settings: rustls, no redirects, the configured proxy only, names
/// resolved through the reachability guard, connections from the configured source address.
fn proxied(
    policy: &Policy,
    proxy: &reqwest::Proxy,
    source_address: Option<IpAddr>,
) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .use_rustls_tls()
        .local_address(source_address)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .proxy(proxy.clone())
        .dns_resolver(Arc::new(GuardedResolver { policy: policy.clone() }))
        .user_agent(USER_AGENT_VALUE)
        .pool_idle_timeout(Duration::from_secs(60))
}

/// Names the failure from the error and its causes.
fn classify(error: &(dyn std::error::Error + 'static), timed_out: bool) -> Failed {
    let mut chain = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        chain.push_str(": ");
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    let lower = chain.to_ascii_lowercase();
    let kind = if chain.contains(BLOCKED_MARK) {
        ErrorKind::Blocked
    } else if timed_out {
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
