//! `herald listen` sessions on the server: each is a temporary endpoint of a tenant whose
//! deliveries go over a WebSocket to a CLI instead of to a URL.
//!
//! The endpoint is an ordinary one (patterns, retries, circuit, delivery log) whose URL host is
//! [`LISTEN_HOST`]. When the dispatcher attempts a delivery to it, it hands the signed request to
//! [`Relays`]: the connection this process holds for that endpoint sends it to the CLI and
//! waits for its answer, which becomes the attempt's outcome. With no connection here the attempt
//! fails as `connect` and the delivery is retried like any other. A session nobody has been
//! connected to for `listen_idle_timeout` is deleted with its endpoint.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use herald_api::listen::{LISTEN_HOST, RelayedRequest};
use herald_core::delivery::ErrorKind;
use herald_core::endpoint::Endpoint;
use herald_core::id::EndpointId;
use tokio::sync::{mpsc, oneshot};

pub use herald_api::listen::ClientMessage;

use crate::dispatcher::sender::{Failed, Received};

/// Whether deliveries to this endpoint go to a `herald listen` session.
pub fn is_listen_endpoint(endpoint: &Endpoint) -> bool {
    endpoint.spec.url.as_url().host_str() == Some(LISTEN_HOST)
}

/// An attempt handed to a session's connection, and where its outcome goes.
#[derive(Debug)]
pub struct Relayed {
    pub request: RelayedRequest,
    pub outcome: oneshot::Sender<Outcome>,
}

/// What the CLI said of an attempt, and how long its local receiver took.
pub type Outcome = (Result<Received, Failed>, Duration);

/// The sessions connected to this process, by endpoint.
#[derive(Debug, Default)]
pub struct Relays {
    connections: Mutex<HashMap<EndpointId, (u64, mpsc::Sender<Relayed>)>>,
    next: AtomicU64,
}

/// Requests waiting to be written to one connection.
const QUEUE: usize = 256;

impl Relays {
    /// Makes this connection the endpoint's (a newer connection replaces an older one): the
    /// connection's number, and the requests it is to send.
    pub fn attach(&self, endpoint: &EndpointId) -> (u64, mpsc::Receiver<Relayed>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let number = self.next.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(endpoint.clone(), (number, tx));
        (number, rx)
    }

    /// Forgets connection `number` of the endpoint (not a newer one).
    pub fn detach(&self, endpoint: &EndpointId, number: u64) {
        let mut connections = self.lock();
        if connections.get(endpoint).is_some_and(|(n, _)| *n == number) {
            connections.remove(endpoint);
        }
    }

    /// The endpoints with a connection here.
    pub fn connected(&self) -> Vec<EndpointId> {
        self.lock().keys().cloned().collect()
    }

    /// Sends the attempt over the endpoint's connection and waits at most `timeout` for the
    /// CLI's answer.
    pub async fn relay(&self, endpoint: &EndpointId, request: RelayedRequest, timeout: Duration) -> Outcome {
        let started = std::time::Instant::now();
        let failed =
            |kind, message: &str| (Err(Failed { kind, message: message.to_owned() }), started.elapsed());
        let Some(sender) = self.lock().get(endpoint).map(|(_, tx)| tx.clone()) else {
            return failed(ErrorKind::Connect, "no `herald listen` connection to this session here");
        };
        let (tx, rx) = oneshot::channel();
        if sender.send(Relayed { request, outcome: tx }).await.is_err() {
            return failed(ErrorKind::Connect, "the `herald listen` connection closed");
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) => {
                failed(ErrorKind::Connect, "the `herald listen` connection closed before answering")
            }
            Err(_) => failed(ErrorKind::Timeout, "`herald listen` did not answer in time"),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<EndpointId, (u64, mpsc::Sender<Relayed>)>> {
        self.connections.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// How often, at most, connected sessions are marked as such and idle ones looked for (a
/// quarter of the idle time when that is shorter).
pub const KEEP_EVERY: Duration = Duration::from_secs(30);

/// Marks this process's sessions as connected and deletes the sessions idle too long, every
/// `every`.
pub async fn keep(state: crate::state::AppState, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let now = state.clock.now();
        let connected = state.relays.connected();
        if let Err(e) = state.store.touch_listen_sessions(&connected, now).await {
            tracing::warn!(error = %e, "marking listen sessions as connected failed");
        }
        let idle_since = herald_core::time::sub(now, state.config.listen_idle_timeout.get());
        let idle = match state.store.idle_listen_sessions(idle_since).await {
            Ok(idle) => idle,
            Err(e) => {
                tracing::warn!(error = %e, "looking for idle listen sessions failed");
                continue;
            }
        };
        for (tenant, endpoint) in idle {
            if connected.contains(&endpoint) {
                continue;
            }
            match state.endpoints.delete(&tenant, &endpoint).await {
                Ok(()) | Err(crate::endpoints::EndpointError::NotFound) => {
                    tracing::info!(endpoint.id = %endpoint, "removed an idle `herald listen` session");
                }
                Err(e) => {
                    tracing::warn!(endpoint.id = %endpoint, error = %e, "removing an idle listen session failed")
                }
            }
        }
    }
}

/// Converts the CLI's answer into an attempt's outcome.
pub fn outcome(message: ClientMessage) -> (u64, Outcome) {
    match message {
        ClientMessage::Response { id, status, headers, body, duration_ms } => {
            let mut body = body;
            if body.len() > herald_core::delivery::RESPONSE_BODY_LIMIT {
                let mut end = herald_core::delivery::RESPONSE_BODY_LIMIT;
                while !body.is_char_boundary(end) {
                    end -= 1;
                }
                body.truncate(end);
            }
            (id, (Ok(Received { status, headers, body }), Duration::from_millis(duration_ms)))
        }
        ClientMessage::Failed { id, kind, message, duration_ms } => {
            (id, (Err(Failed { kind, message }), Duration::from_millis(duration_ms)))
        }
    }
}
