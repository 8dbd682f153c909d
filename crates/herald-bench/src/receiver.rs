//! The benchmark receiver: HTTP/1.1 keep-alive, answers 204 at once (or never, under `/hang`;
//! after `<ms>` milliseconds under `/slow/<ms>/`; 500 under `/fail/`, recording nothing),
//! and records for every `webhook-id` how many times it arrived and when first and last, and
//! how many requests came from each source address (which Herald instance sent them, when each
//! sends from its own `delivery.source_address`). Optionally verifies each signature with the
//! official `standardwebhooks` library.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, StatusCode, Uri};

#[derive(Debug, Clone, Copy)]
pub struct Arrival {
    pub count: u32,
    pub first: Instant,
    pub last: Instant,
}

#[derive(Default)]
struct Tally {
    by_id: HashMap<String, Arrival>,
    by_source: HashMap<IpAddr, u64>,
}

#[derive(Default)]
struct State {
    arrivals: Mutex<Tally>,
    total: AtomicU64,
    bad_signatures: AtomicU64,
    verifier: Mutex<Option<Arc<standardwebhooks::Webhook>>>,
}

#[derive(Clone)]
pub struct Receiver {
    addr: SocketAddr,
    state: Arc<State>,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver").field("addr", &self.addr).finish()
    }
}

impl Receiver {
    pub async fn start() -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State::default());
        let shared = state.clone();
        let app = axum::Router::new().fallback(
            move |ConnectInfo(peer): ConnectInfo<SocketAddr>, uri: Uri, headers: HeaderMap, body: Bytes| {
                let state = shared.clone();
                async move { receive(&state, peer.ip(), uri, headers, body).await }
            },
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await;
        });
        Ok(Self { addr, state })
    }

    /// `http://127.0.0.1:<port>/<path>`; under `/hang…` requests are never answered, under
    /// `/slow/<ms>/…` answered after `<ms>` milliseconds, under `/fail/…` with 500.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{path}", self.addr)
    }

    /// Verify every request's signature against this secret from now on.
    pub fn verify_with(&self, secret: &str) -> anyhow::Result<()> {
        let webhook =
            standardwebhooks::Webhook::new(secret).map_err(|e| anyhow::anyhow!("bad secret: {e}"))?;
        *self.state.verifier.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(webhook));
        Ok(())
    }

    pub fn total(&self) -> u64 {
        self.state.total.load(Ordering::Relaxed)
    }

    pub fn bad_signatures(&self) -> u64 {
        self.state.bad_signatures.load(Ordering::Relaxed)
    }

    pub fn arrivals(&self) -> HashMap<String, Arrival> {
        self.state.arrivals.lock().unwrap_or_else(|p| p.into_inner()).by_id.clone()
    }

    /// Requests received, by the address they came from.
    pub fn sources(&self) -> HashMap<IpAddr, u64> {
        self.state.arrivals.lock().unwrap_or_else(|p| p.into_inner()).by_source.clone()
    }

    /// Forgets everything received, and the secret to verify with.
    pub fn reset(&self) {
        *self.state.arrivals.lock().unwrap_or_else(|p| p.into_inner()) = Tally::default();
        self.state.total.store(0, Ordering::Relaxed);
        self.state.bad_signatures.store(0, Ordering::Relaxed);
        *self.state.verifier.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

async fn receive(state: &State, peer: IpAddr, uri: Uri, headers: HeaderMap, body: Bytes) -> StatusCode {
    if uri.path().starts_with("/hang") {
        std::future::pending::<()>().await;
    }
    if let Some(delay) = uri.path().strip_prefix("/slow/").and_then(|rest| rest.split('/').next()) {
        let ms = delay.parse().unwrap_or(0);
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    if uri.path().starts_with("/fail/") {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let now = Instant::now();
    let verifier = state.verifier.lock().unwrap_or_else(|p| p.into_inner()).clone();
    if let Some(verifier) = verifier
        && verifier.verify(&body, &headers).is_err()
    {
        state.bad_signatures.fetch_add(1, Ordering::Relaxed);
    }
    {
        let mut tally = state.arrivals.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(id) = headers.get("webhook-id").and_then(|v| v.to_str().ok()) {
            tally
                .by_id
                .entry(id.to_owned())
                .and_modify(|a| {
                    a.count += 1;
                    a.last = now;
                })
                .or_insert(Arrival { count: 1, first: now, last: now });
        }
        *tally.by_source.entry(peer).or_default() += 1;
    }
    state.total.fetch_add(1, Ordering::Relaxed);
    StatusCode::NO_CONTENT
}
