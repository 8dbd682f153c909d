//! Bulk retries: every delivery of a tenant matching a filter queued again, in the background.
//!
//! The API stores the operation and answers at once; a task of this process walks the
//! delivery log newest first, a page at a time, from the first id after the operation began
//! (so deliveries created later are left alone). Each page's requeues and the move of the
//! operation's cursor commit together, so the count is exact and a restart resumes where the last
//! page ended: every instance resumes, at start and then every `RESUME_EVERY`, the operations
//! nobody has advanced for `STALE` (their runner died). Two runners on one operation cannot both
//! queue a page: only the one whose cursor is still the stored one commits.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use herald_api::bulk_retries::BulkFilter;
use herald_core::id::BulkRetryId;
use herald_store::{BulkRetry, DeliveryFilter, PageRequest, Store};

use crate::clock::Clock;
use crate::publish::Publisher;

/// Deliveries queued again per transaction.
const PAGE: u32 = 500;
/// How often an instance looks for operations whose runner died.
pub const RESUME_EVERY: Duration = Duration::from_secs(10);
/// An operation not advanced for this long has lost its runner.
const STALE: Duration = Duration::from_secs(30);

/// The delivery log's filter that selects a bulk retry's deliveries.
fn delivery_filter(f: &BulkFilter) -> DeliveryFilter {
    DeliveryFilter {
        endpoint_id: f.endpoint_id.clone(),
        event_id: None,
        status: f.status,
        event_type: f.event_type.clone(),
        since: Some(f.since),
        until: f.until,
    }
}

/// Runs bulk retries in this process.
#[derive(Debug, Clone)]
pub struct BulkRetries {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    publisher: Publisher,
    /// The operations a task of this process is running.
    running: Arc<Mutex<HashSet<BulkRetryId>>>,
}

impl BulkRetries {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, publisher: Publisher) -> Self {
        Self { store, clock, publisher, running: Arc::default() }
    }

    /// Stores a new operation over `filter` and starts it; returns it as stored.
    pub async fn begin(
        &self,
        tenant: herald_core::id::TenantId,
        filter: &BulkFilter,
    ) -> herald_store::Result<BulkRetry> {
        let now = self.clock.now();
        let total = self.store.count_deliveries(&tenant, &delivery_filter(filter)).await?;
        let op = BulkRetry {
            id: BulkRetryId::generate_at(now),
            tenant_id: tenant,
            filter: serde_json::to_string(filter).unwrap_or_default(),
            // Below every delivery that exists now: ids carry their time, and one made in the
            // next second is later than now.
            cursor: herald_core::id::DeliveryId::first_at(herald_core::time::add(
                now,
                Duration::from_secs(1),
            ))
            .to_string(),
            retried: 0,
            total: Some(total),
            created_at: now,
            updated_at: now,
            finished_at: None,
        };
        self.store.insert_bulk_retry(&op).await?;
        self.start(op.clone());
        Ok(op)
    }

    /// Starts a task running `op`, unless one of this process already is.
    fn start(&self, op: BulkRetry) {
        let fresh = self.running.lock().unwrap_or_else(|p| p.into_inner()).insert(op.id.clone());
        if !fresh {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            let id = op.id.clone();
            if let Err(e) = this.run(op).await {
                tracing::warn!(bulk_retry = %id, error = %e, "a bulk retry stopped; it resumes later");
            }
            this.running.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
        });
    }

    /// Starts the unfinished operations whose runner is gone (all of them at start).
    pub async fn resume(&self, stale_only: bool) -> herald_store::Result<()> {
        let now = self.clock.now();
        for op in self.store.running_bulk_retries().await? {
            let idle = now.as_millisecond() - op.updated_at.as_millisecond();
            if !stale_only || idle >= STALE.as_millis() as i64 {
                self.start(op);
            }
        }
        Ok(())
    }

    async fn run(&self, mut op: BulkRetry) -> herald_store::Result<()> {
        let Ok(filter) = serde_json::from_str::<BulkFilter>(&op.filter) else {
            tracing::error!(bulk_retry = %op.id, "a bulk retry's filter does not read; it is left as it is");
            return Ok(());
        };
        let filter = delivery_filter(&filter);
        loop {
            let page = PageRequest { limit: PAGE, cursor: Some(op.cursor.clone()) };
            let found = self.store.list_deliveries(&op.tenant_id, &filter, &page).await?;
            let ids: Vec<_> = found.items.iter().map(|d| d.id.clone()).collect();
            let finished = found.next_cursor.is_none();
            let cursor = ids.last().map_or_else(|| op.cursor.clone(), ToString::to_string);
            let stored =
                self.store.advance_bulk_retry(&op, &ids, &cursor, finished, self.clock.now()).await?;
            let Some(stored) = stored else { return Ok(()) };
            if stored.cursor != cursor || (finished && stored.finished_at.is_none()) {
                // Another runner advanced it first: that one carries on.
                return Ok(());
            }
            if !ids.is_empty() {
                self.publisher.wake();
            }
            if stored.finished_at.is_some() {
                return Ok(());
            }
            op = stored;
        }
    }
}

/// Resumes, every `RESUME_EVERY`, the operations whose runner died.
pub async fn resume_stale(bulk: BulkRetries) {
    let mut ticks = tokio::time::interval(RESUME_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        if let Err(e) = bulk.resume(true).await {
            tracing::warn!(error = %e, "looking for abandoned bulk retries failed; trying again later");
        }
    }
}
