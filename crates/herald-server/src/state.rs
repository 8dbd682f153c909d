//! What every request handler can reach: the store, the master key, the configuration, the clock.

use std::sync::Arc;

use herald_core::seal::MasterKey;
use herald_store::Store;
use tokio::sync::Notify;

use crate::cache::Caches;
use crate::clock::Clock;
use crate::config::Config;
use crate::dispatcher::LocalQueue;

#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub master_key: Arc<MasterKey>,
    pub config: Arc<Config>,
    pub clock: Arc<dyn Clock>,
    /// Wakes this process's dispatcher when new work is due (after publish, retry, recover).
    pub wakeup: Arc<Notify>,
    pub caches: Arc<Caches>,
    /// This process's dispatcher, to hand new deliveries to directly (absent when it runs none).
    pub local: Option<LocalQueue>,
}
