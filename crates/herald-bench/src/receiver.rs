//! The benchmark receiver: HTTP/1.1 keep-alive, answers 204 at once (or never, under `/hang`),
//! and records for every `webhook-id` how many times it arrived and when first and last.
//! Optionally verifies each signature with the official `standardwebhooks` library.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};

#[derive(Debug, Clone, Copy)]
pub struct Arrival {
    pub count: u32,
    pub first: Instant,
    pub last: Instant,
}

#[derive(Default)]
struct State {
    arrivals: Mutex<HashMap<String, Arrival>>,
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
        let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
            let state = shared.clone();
            async move { receive(&state, uri, headers, body).await }
        });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, state })
    }

    /// `http://127.0.0.1:<port>/<path>`; under `/hang…` requests are never answered.
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
        self.state.arrivals.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Forgets everything received, and the secret to verify with.
    pub fn reset(&self) {
        self.state.arrivals.lock().unwrap_or_else(|p| p.into_inner()).clear();
        self.state.total.store(0, Ordering::Relaxed);
        self.state.bad_signatures.store(0, Ordering::Relaxed);
        *self.state.verifier.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

async fn receive(state: &State, uri: Uri, headers: HeaderMap, body: Bytes) -> StatusCode {
    if uri.path().starts_with("/hang") {
        std::future::pending::<()>().await;
    }
    let now = Instant::now();
    let verifier = state.verifier.lock().unwrap_or_else(|p| p.into_inner()).clone();
    if let Some(verifier) = verifier
        && verifier.verify(&body, &headers).is_err()
    {
        state.bad_signatures.fetch_add(1, Ordering::Relaxed);
    }
    if let Some(id) = headers.get("webhook-id").and_then(|v| v.to_str().ok()) {
        let mut arrivals = state.arrivals.lock().unwrap_or_else(|p| p.into_inner());
        arrivals
            .entry(id.to_owned())
            .and_modify(|a| {
                a.count += 1;
                a.last = now;
            })
            .or_insert(Arrival { count: 1, first: now, last: now });
    }
    state.total.fetch_add(1, Ordering::Relaxed);
    StatusCode::NO_CONTENT
}
