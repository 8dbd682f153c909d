//! Retention: every `retention.interval`, each instance deletes the finished deliveries (and
//! their attempts) older than the retention — the tenant's own `limits.retentionDays`, else
//! `retention.keep` — then the events nothing refers to any more, then idempotency keys past
//! their day. Deletes go `retention.batch` rows per transaction, each followed by a pause three
//! times as long as it took, so publishing and delivery wait for the database at most one batch
//! and the purge takes at most a quarter of its time; several instances purging at once only share the work.

use std::time::Duration;

use herald_store::{StoreError, Tenants};

use crate::state::AppState;

/// What one purge deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub deliveries: u64,
    /// Events whose payload was removed.
    pub payloads: u64,
    pub events: u64,
    pub idempotency_keys: u64,
}

/// Purges every `retention.interval` until aborted.
pub async fn run(state: AppState) {
    let mut ticks = tokio::time::interval(state.config.retention.interval.get());
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Where payload removal got to: events are only ever stripped in key (time) order.
    let mut stripped_up_to = String::new();
    loop {
        ticks.tick().await;
        match purge(&state, &mut stripped_up_to).await {
            Ok(purged) if purged != Purged::default() => tracing::info!(
                deliveries = purged.deliveries,
                payloads = purged.payloads,
                events = purged.events,
                idempotency_keys = purged.idempotency_keys,
                "purged what the retention no longer keeps"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "the retention purge failed; it runs again later"),
        }
    }
}

/// Deletes what the retention no longer keeps, a batch at a time, until nothing is left.
pub async fn purge(state: &AppState, stripped_up_to: &mut String) -> Result<Purged, StoreError> {
    let now = state.clock.now();
    let batch = state.config.retention.batch;
    let own: Vec<_> = state
        .store
        .tenant_limits()
        .await?
        .into_iter()
        .filter_map(|(tenant, limits)| limits.retention_days.map(|days| (tenant, days)))
        .collect();
    let except: Vec<_> = own.iter().map(|(tenant, _)| tenant.clone()).collect();
    let mut purged = Purged::default();
    let keep = state.config.retention.keep.get();
    let mut scopes: Vec<(Tenants<'_>, Duration)> = own
        .iter()
        .map(|(tenant, days)| (Tenants::One(tenant), Duration::from_secs(u64::from(*days) * 86_400)))
        .collect();
    if !keep.is_zero() {
        scopes.push((Tenants::AllBut(&except), keep));
    }
    for (tenants, keep) in scopes {
        let before = herald_core::time::sub(now, keep);
        purged.deliveries += drain(batch, || state.store.purge_deliveries(tenants, before, batch)).await?;
        purged.events += drain(batch, || state.store.purge_events(tenants, before, batch)).await?;
    }
    let keep_payloads = state.config.retention.keep_payloads.get();
    if !keep_payloads.is_zero() {
        let before = herald_core::time::sub(now, keep_payloads);
        loop {
            let started = std::time::Instant::now();
            let (stripped, last) = state.store.purge_payloads(before, stripped_up_to, batch, now).await?;
            purged.payloads += stripped;
            if let Some(last) = last {
                *stripped_up_to = last;
            }
            if stripped < u64::from(batch) {
                break;
            }
            pause_after(started).await;
        }
    }
    let keys_before = herald_core::time::sub(
        now,
        Duration::from_secs(crate::api::idempotency::RETENTION_SECS.unsigned_abs()),
    );
    purged.idempotency_keys +=
        drain(batch, || state.store.purge_idempotency_keys(keys_before, batch)).await?;
    crate::metrics::purged(&purged);
    Ok(purged)
}

/// Runs `step` until it deletes less than a batch; the total deleted.
async fn drain<F, Fut>(batch: u32, mut step: F) -> Result<u64, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<u64, StoreError>>,
{
    let mut total = 0;
    loop {
        let started = std::time::Instant::now();
        let deleted = step().await?;
        total += deleted;
        if deleted < u64::from(batch) {
            return Ok(total);
        }
        pause_after(started).await;
    }
}

/// Leaves the database (and the CPU) to publishing and delivery three times as long as the batch
/// begun at `started` took: the purge takes at most a quarter of the writer's time.
async fn pause_after(started: std::time::Instant) {
    tokio::time::sleep((started.elapsed() * 3).max(Duration::from_millis(5))).await;
}
