//! What every request handler can reach: the store, the master key, the configuration, the clock.

use std::sync::Arc;

use herald_core::seal::MasterKey;
use herald_store::Store;
use tokio::sync::{Notify, Semaphore};

use crate::cache::Caches;
use crate::clock::Clock;
use crate::config::Config;
use crate::dispatcher::LocalQueue;

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
    /// Wakes this process's dispatcher when new work is due (after publish, retry, recover).
    pub wakeup: Arc<Notify>,
    pub caches: Arc<Caches>,
    /// This process's dispatcher, to hand new deliveries to directly (absent when it runs none).
    pub local: Option<LocalQueue>,
    /// Publishes operational events to the operator tenant, when one is configured.
    pub operational: crate::operational::Operational,
    /// Deliveries that concurrent publishes may be building at once (see [`PUBLISH_BUDGET`]).
    pub publish_budget: Arc<Semaphore>,
}

/// How many deliveries concurrent publishes may hold in memory at once. A publish to a tenant
/// with many endpoints takes one permit per delivery until it has committed and handed them
/// over; beyond the budget, publishes wait. This bounds the server's memory under fan-out bursts
/// instead of letting it grow with (publishers × endpoints).
pub const PUBLISH_BUDGET: usize = 8192;
