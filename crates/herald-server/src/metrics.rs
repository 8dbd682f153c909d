//! `GET /metrics`: Prometheus text exposition of what Herald does and what waits.
//!
//! Counters and histograms are recorded where things happen, through the `metrics` facade (the
//! store's group commit records its own); the queue, circuit and pool figures are read from the
//! database at each scrape. Labels are bounded by design: outcomes, failure reasons, error kinds,
//! pool names — never a tenant or an endpoint (there may be millions; their figures are in the
//! API's stats). One recorder serves the process (`metrics-exporter-prometheus`).

use std::sync::OnceLock;
use std::time::Duration;

use herald_core::delivery::{ErrorKind, Next};
use metrics::{Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::publish::Published;
use crate::state::AppState;

/// Latency buckets, in seconds: from a millisecond to a minute.
const SECONDS: &[f64] =
    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];
/// Group-commit batch sizes.
const SIZES: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0];

/// The process's recorder, installed on first use; `None` if another recorder was installed.
pub fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let installed = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS)
                .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_size".into()), SIZES))
                .and_then(PrometheusBuilder::install_recorder);
            match installed {
                Ok(handle) => {
                    describe();
                    Some(handle)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics are not recorded: another recorder is installed");
                    None
                }
            }
        })
        .as_ref()
}

fn describe() {
    describe_counter!("herald_events_published_total", "Events published (stored with their deliveries).");
    describe_histogram!(
        "herald_publish_duration_seconds",
        Unit::Seconds,
        "Time to publish an event durably, from the call to its commit."
    );
    describe_counter!(
        "herald_deliveries_total",
        "Deliveries that ended an attempt: outcome delivered, retrying or failed (with its reason)."
    );
    describe_counter!("herald_attempts_total", "Attempts made, by result: success, or the error kind.");
    describe_histogram!(
        "herald_attempt_duration_seconds",
        Unit::Seconds,
        "Duration of attempts, from the request's start to the end of its response."
    );
    describe_gauge!(
        "herald_queue_deliveries",
        "Deliveries waiting, by state: due now, scheduled later, held by an open circuit."
    );
    describe_gauge!(
        "herald_queue_oldest_due_age_seconds",
        Unit::Seconds,
        "How long the longest-waiting due delivery has been due."
    );
    describe_counter!(
        "herald_leases_released_total",
        "Leases given back so their deliveries go out again: on shutdown, at an SQLite start, or from an instance that fell silent."
    );
    describe_gauge!("herald_endpoints_circuit_open", "Endpoints whose circuit is open.");
    describe_gauge!(
        "herald_endpoints_disabled",
        "Endpoints disabled (by a user, by Herald after failures or a 410)."
    );
    describe_histogram!("herald_store_commit_batch_size", "Writes per group-commit transaction.");
    describe_histogram!(
        "herald_store_commit_duration_seconds",
        Unit::Seconds,
        "Time of a group-commit transaction, fsync included."
    );
    describe_gauge!("herald_db_pool_connections", "Database connections by pool and state (idle, in use).");
    describe_gauge!(
        "herald_listen_sessions_connected",
        "`herald listen` sessions connected to this instance."
    );
    describe_gauge!(
        "herald_leases_expired",
        "Due deliveries whose lease ran out (their instance died or stalled) and that no one has taken again yet."
    );
    describe_counter!(
        "herald_fanouts_reclaimed_total",
        "Fan-outs finished by another process after their publisher's lease ran out."
    );
    describe_counter!(
        "herald_purged_total",
        "Rows the retention purge deleted: finished deliveries (with their attempts), events, idempotency keys."
    );
    // Series that exist from the start, so that a rate over them is 0 rather than absent.
    counter!("herald_events_published_total").increment(0);
    counter!("herald_fanouts_reclaimed_total").increment(0);
    for why in ["shutdown", "restart", "failover"] {
        counter!("herald_leases_released_total", "why" => why).increment(0);
    }
}

/// Records a publish.
pub fn published(published: &Result<Published, herald_store::StoreError>, took: Duration) {
    if let Ok(Published::Created { .. }) = published {
        counter!("herald_events_published_total").increment(1);
        histogram!("herald_publish_duration_seconds").record(took.as_secs_f64());
    }
}

/// Records an attempt: its result (`success` or the error kind) and duration.
pub fn attempted(error: Option<ErrorKind>, took: Duration) {
    let result = error.map_or("success", ErrorKind::as_str);
    counter!("herald_attempts_total", "result" => result).increment(1);
    histogram!("herald_attempt_duration_seconds").record(took.as_secs_f64());
}

/// Records what an attempt led to.
pub fn decided(next: &Next) {
    match next {
        Next::Delivered => counter!("herald_deliveries_total", "outcome" => "delivered").increment(1),
        Next::RetryAt(_) => counter!("herald_deliveries_total", "outcome" => "retrying").increment(1),
        Next::Failed(reason) => {
            counter!("herald_deliveries_total", "outcome" => "failed", "reason" => reason.as_str())
                .increment(1)
        }
    }
}

/// Records leases given back, and why (`shutdown`, `restart`, `failover`).
pub fn leases_released(why: &'static str, count: u64) {
    counter!("herald_leases_released_total", "why" => why).increment(count);
}

/// Records what a retention purge deleted.
pub fn purged(purged: &crate::retention::Purged) {
    counter!("herald_purged_total", "what" => "deliveries").increment(purged.deliveries);
    counter!("herald_purged_total", "what" => "events").increment(purged.events);
    counter!("herald_purged_total", "what" => "payloads").increment(purged.payloads);
    counter!("herald_purged_total", "what" => "idempotency_keys").increment(purged.idempotency_keys);
}

/// Records fan-outs taken over from a publisher whose lease ran out.
pub fn fanouts_reclaimed(count: usize) {
    counter!("herald_fanouts_reclaimed_total").increment(count as u64);
}

/// Keeps the recorder's buffers small between scrapes.
pub async fn upkeep() {
    let Some(handle) = handle() else { return };
    let mut ticks = tokio::time::interval(Duration::from_secs(5));
    loop {
        ticks.tick().await;
        handle.run_upkeep();
    }
}

/// The exposition: the database's figures read now, then everything recorded.
pub async fn render(state: &AppState) -> Result<String, herald_store::StoreError> {
    let Some(handle) = handle() else { return Ok(String::new()) };
    let now = state.clock.now();
    let gauges = state.store.gauges(now).await?;
    gauge!("herald_queue_deliveries", "state" => "due").set(gauges.due as f64);
    gauge!("herald_queue_deliveries", "state" => "scheduled").set(gauges.scheduled as f64);
    gauge!("herald_queue_deliveries", "state" => "held").set(gauges.held as f64);
    gauge!("herald_leases_expired").set(gauges.expired_leases as f64);
    let oldest = gauges
        .oldest_due_at
        .map_or(0.0, |at| (now.as_millisecond() - at.as_millisecond()).max(0) as f64 / 1000.0);
    gauge!("herald_queue_oldest_due_age_seconds").set(oldest);
    gauge!("herald_endpoints_circuit_open").set(gauges.circuits_open as f64);
    gauge!("herald_endpoints_disabled").set(gauges.endpoints_disabled as f64);
    for (pool, open, idle) in gauges.pools {
        gauge!("herald_db_pool_connections", "pool" => pool, "state" => "idle").set(f64::from(idle));
        gauge!("herald_db_pool_connections", "pool" => pool, "state" => "in_use")
            .set(f64::from(open.saturating_sub(idle)));
    }
    gauge!("herald_listen_sessions_connected").set(state.relays.connected().len() as f64);
    Ok(handle.render())
}

#[cfg(test)]
mod tests {
    #[test]
    fn series_that_exist_from_the_start_are_served_at_zero() {
        let text = super::handle().expect("the recorder installs").render();
        assert!(text.contains("herald_leases_released_total{why=\"failover\"} 0"), "{text}");
        assert!(text.contains("herald_events_published_total 0"), "{text}");
    }
}
