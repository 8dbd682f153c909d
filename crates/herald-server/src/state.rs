//! What every request handler can reach: the store, the master key, the configuration, the clock.

use std::sync::Arc;

use herald_core::seal::MasterKey;
use herald_store::Store;
use tokio::sync::Notify;

use crate::cache::Caches;
use crate::clock::Clock;
use crate::config::Config;

/// Shared by every handler; cheap to clone (one reference count: axum clones it per extractor).
#[derive(Debug, Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

#[derive(Debug)]
pub struct Shared {
    pub store: Arc<dyn Store>,
    pub master_key: Arc<MasterKey>,
    pub config: Arc<Config>,
    pub clock: Arc<dyn Clock>,
    /// Wakes this process's dispatcher; also fed by other instances' announcements.
    pub wakeup: Arc<Notify>,
    pub caches: Arc<Caches>,
    /// The one way events are published (API, test sends, operational events).
    pub publisher: crate::publish::Publisher,
    /// Every change to an endpoint made through the API.
    pub endpoints: crate::endpoints::Endpoints,
    /// API keys and tenants as callers and paths name them.
    pub access: crate::access::Access,
    /// The event-type catalog.
    pub catalog: crate::catalog::Catalog,
    /// Tenants' publish quotas.
    pub quota: crate::quota::PublishQuota,
    /// This process's flow control: tenants' in-flight limits and counts.
    pub flow: Arc<crate::dispatcher::FlowControl>,
    /// Publishes operational events to the operator tenant, when one is configured.
    pub operational: crate::operational::Operational,
    /// Bulk retries run by this process.
    pub bulk: crate::bulk::BulkRetries,
    /// The `herald listen` sessions connected to this process.
    pub relays: Arc<crate::listen::Relays>,
    /// Whether this process's dispatcher runs (readiness; false until it starts and after it
    /// stops or panics).
    pub dispatching: Arc<std::sync::atomic::AtomicBool>,
}
