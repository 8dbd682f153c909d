//! Endpoint health in this process: one [`Breaker`] per endpoint (the state machine is in
//! `herald_core::circuit`), the probe timers of circuits this process opened, and storing what
//! changes.
//!
//! The stored health (on the endpoint row) is shared by every instance; each process keeps its
//! own failure streak and adopts a newer stored state whenever a job brings one. When a circuit
//! opens, the endpoint's waiting deliveries are held in the database in one statement (their due
//! time moves to the probe), so claims do not even see them; deliveries this process already had
//! in memory are deferred one by one. At the probe time this process claims the endpoint's
//! earliest waiting delivery as the probe; another instance (or this one after a restart) that
//! meets held deliveries past the probe time sends one of them as the probe instead.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use herald_core::Timestamp;
use herald_core::circuit::{Breaker, Change, Gate};
use herald_core::endpoint::Endpoint;
use herald_core::id::EndpointId;
use herald_core::time::add;
use herald_store::Shift;

use super::Context;

/// How long a closed circuit's entry is kept after it closed (well beyond `cache_ttl`).
const FORGET_AFTER: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
struct Entry {
    breaker: Breaker,
    /// How far this process has held the endpoint's waiting deliveries in the database.
    held_to: Option<Timestamp>,
    /// When this process should claim a probe (circuits it opened).
    probe_timer: Option<Timestamp>,
}

#[derive(Debug, Default)]
pub struct Health {
    entries: Mutex<HashMap<EndpointId, Entry>>,
}

/// What the gate asks of the dispatcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Send,
    Probe,
    /// Defer the delivery to this time; when `hold_all`, also hold the endpoint's other waiting
    /// deliveries in the database up to it.
    Hold {
        until: Timestamp,
        hold_all: bool,
    },
}

impl Health {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<EndpointId, Entry>> {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether a delivery to `endpoint` may start now.
    pub fn gate(&self, endpoint: &Endpoint, now: Timestamp, probe_time: Duration) -> Decision {
        let closed = endpoint.health.probe_at.is_none();
        let mut entries = self.lock();
        if closed && !entries.contains_key(&endpoint.id) {
            return Decision::Send; // the common case: no state, no allocation
        }
        let entry = entries
            .entry(endpoint.id.clone())
            .or_insert_with(|| Entry { breaker: Breaker::new(endpoint.health), ..Entry::default() });
        entry.breaker.observe(&endpoint.health);
        match entry.breaker.gate(now, probe_time) {
            Gate::Pass => Decision::Send,
            Gate::Probe => Decision::Probe,
            Gate::Hold(until) => {
                // Hold the database's copy once per hold period (it moves the endpoint's whole
                // backlog): when this process has not held it yet, or its last hold has run out.
                let hold_all = entry.held_to.is_none_or(|held| held <= now);
                if hold_all {
                    entry.held_to = Some(until);
                }
                Decision::Hold { until, hold_all }
            }
        }
    }

    /// The earliest a failed attempt's retry to `endpoint` may be due: while its circuit is open,
    /// the end of its hold (where its waiting deliveries were moved), so that the retry is not
    /// claimed only to be held again.
    pub fn retry_not_before(&self, endpoint: &EndpointId, probe_time: Duration) -> Option<Timestamp> {
        self.lock().get(endpoint).and_then(|entry| entry.breaker.held_until(probe_time))
    }

    /// The breaker's current health (to store with a hold).
    pub fn current(&self, endpoint: &EndpointId) -> Option<herald_core::circuit::Health> {
        self.lock().get(endpoint).map(|e| *e.breaker.health())
    }

    /// Records a finished attempt; returns the change to store, if any.
    pub fn record(
        &self,
        ctx: &Context,
        endpoint: &Endpoint,
        succeeded: bool,
        probe: bool,
        now: Timestamp,
    ) -> Option<Change> {
        let mut entries = self.lock();
        if succeeded && !probe && endpoint.health.probe_at.is_none() && !entries.contains_key(&endpoint.id) {
            return None; // healthy and was healthy: nothing to track
        }
        let entry = entries
            .entry(endpoint.id.clone())
            .or_insert_with(|| Entry { breaker: Breaker::new(endpoint.health), ..Entry::default() });
        entry.breaker.observe(&endpoint.health);
        let policy = ctx.config.retry_policy_of(endpoint);
        let probe_time = probe_time(ctx);
        let change = entry.breaker.record(
            succeeded,
            probe,
            now,
            &ctx.config.circuit_policy(),
            |failed_probes| policy.base_delay(failed_probes + 2),
            probe_time,
        );
        match change {
            Some(Change::Opened(health)) => {
                entry.probe_timer = health.probe_at;
                entry.held_to = entry.breaker.held_until(probe_time);
            }
            Some(Change::Closed { .. } | Change::Disable { .. }) => {
                entry.probe_timer = None;
                entry.held_to = None;
            }
            None => {
                // Forget endpoints that are healthy again, so the map holds only troubled ones —
                // once a stale copy of an older open state (another instance's, a cache's) can no
                // longer arrive to be mistaken for news.
                let settled = entry.breaker.health().changed_at.is_none_or(|at| add(at, FORGET_AFTER) < now);
                if succeeded && entry.breaker.health().probe_at.is_none() && settled {
                    entries.remove(&endpoint.id);
                }
            }
        }
        change
    }

    /// A probe ended without a request (its endpoint vanished, its credentials would not open):
    /// the next delivery may be the probe.
    pub fn probe_abandoned(&self, endpoint: &EndpointId) {
        if let Some(entry) = self.lock().get_mut(endpoint) {
            entry.breaker.probe_abandoned();
        }
    }

    /// Endpoints whose probe this process should claim now (each is returned once).
    pub fn due_probes(&self, now: Timestamp) -> Vec<EndpointId> {
        let mut entries = self.lock();
        entries
            .iter_mut()
            .filter(|(_, e)| e.probe_timer.is_some_and(|at| at <= now))
            .map(|(id, e)| {
                e.probe_timer = None;
                id.clone()
            })
            .collect()
    }

    /// The earliest probe this process should claim.
    pub fn next_probe(&self) -> Option<Timestamp> {
        self.lock().values().filter_map(|e| e.probe_timer).min()
    }
}

pub fn probe_time(ctx: &Context) -> Duration {
    ctx.config.probe_time()
}

/// Stores a change of health and moves the endpoint's waiting deliveries accordingly.
pub async fn store_change(ctx: &Context, endpoint: &Endpoint, change: Change) {
    let now = ctx.clock.now();
    match change {
        Change::Opened(health) => {
            let until = add(health.probe_at.unwrap_or(now), probe_time(ctx));
            match ctx.store.set_endpoint_health(&endpoint.id, &health, Shift::Hold(until), now).await {
                Ok(held) => tracing::warn!(
                    endpoint.id = %endpoint.id,
                    failed_probes = health.failed_probes,
                    next_probe_at = ?health.probe_at,
                    held,
                    "endpoint circuit open: deliveries wait for a successful probe"
                ),
                Err(e) => {
                    tracing::error!(endpoint.id = %endpoint.id, error = %e, "storing an open circuit failed")
                }
            }
        }
        Change::Closed { held_until, health, failing_since } => {
            let shift = Shift::Release { up_to: held_until.unwrap_or(now) };
            match ctx.store.set_endpoint_health(&endpoint.id, &health, shift, now).await {
                Ok(released) => {
                    tracing::info!(endpoint.id = %endpoint.id, released, "endpoint circuit closed: delivering again");
                    ctx.wakeup.notify_one();
                    let failing_since = serde_json::json!({"failingSince": failing_since});
                    ctx.operational.endpoint("endpoint.recovered", endpoint, failing_since).await;
                }
                Err(e) => {
                    tracing::error!(endpoint.id = %endpoint.id, error = %e, "storing a closed circuit failed")
                }
            }
        }
        Change::Disable { failing_since, .. } => {
            let why = format!(
                "failing continuously since {failing_since} (disable_after {})",
                ctx.config.disable_after
            );
            disable(ctx, endpoint, &why).await;
        }
    }
    ctx.caches.endpoints_changed(&endpoint.tenant_id);
}

/// Disables the endpoint and makes its waiting deliveries due, so they are recorded at once as
/// failed with reason `endpoint_disabled` (recoverable after re-enabling); this process's API
/// sees the change at once.
pub async fn disable(ctx: &Context, endpoint: &Endpoint, why: &str) {
    let now = ctx.clock.now();
    match ctx.store.disable_endpoint(&endpoint.tenant_id, &endpoint.id, why, now).await {
        Ok(true) => {
            ctx.caches.endpoints_changed(&endpoint.tenant_id);
            tracing::warn!(endpoint.id = %endpoint.id, reason = why, "endpoint disabled");
            let closed = herald_core::circuit::Health { changed_at: Some(now), ..Default::default() };
            let release = Shift::Release { up_to: Timestamp::MAX };
            if let Err(e) = ctx.store.set_endpoint_health(&endpoint.id, &closed, release, now).await {
                tracing::error!(endpoint.id = %endpoint.id, error = %e, "releasing a disabled endpoint's deliveries failed");
            }
            ctx.wakeup.notify_one();
            ctx.operational.endpoint("endpoint.disabled", endpoint, serde_json::json!({"reason": why})).await;
        }
        Ok(false) => {}
        Err(e) => tracing::error!(endpoint.id = %endpoint.id, error = %e, "disabling an endpoint failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_core::endpoint::EndpointSpec;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + s).unwrap()
    }

    /// An endpoint whose stored circuit is open until `probe_at`.
    fn open_until(probe_at: Timestamp) -> Endpoint {
        let spec: EndpointSpec =
            serde_json::from_value(serde_json::json!({"url": "https://e.example.com/"})).unwrap();
        Endpoint {
            id: EndpointId::generate(),
            tenant_id: herald_core::id::TenantId::generate(),
            spec,
            enabled: true,
            disabled_reason: None,
            sealed_credentials: vec![],
            created_at: at(-100),
            updated_at: at(-100),
            version: 1,
            health: herald_core::circuit::Health {
                failing_since: Some(at(-60)),
                probe_at: Some(probe_at),
                failed_probes: 0,
                changed_at: Some(at(-10)),
            },
            handshake: None,
        }
    }

    /// Holding the database's backlog moves every held row: it must happen once per hold
    /// period, not once per delivery met.
    #[test]
    fn the_backlog_is_held_once_per_hold_period() {
        let health = Health::default();
        let probe_time = Duration::from_secs(12);
        let endpoint = open_until(at(100));
        let until = at(112);
        assert_eq!(health.gate(&endpoint, at(0), probe_time), Decision::Hold { until, hold_all: true });
        assert_eq!(health.gate(&endpoint, at(1), probe_time), Decision::Hold { until, hold_all: false });
        // The probe goes at its time; deliveries met while it is out wait, and the database's
        // copy, held until 112, is not moved again before then.
        assert_eq!(health.gate(&endpoint, at(100), probe_time), Decision::Probe);
        assert_eq!(
            health.gate(&endpoint, at(101), probe_time),
            Decision::Hold { until: at(113), hold_all: false }
        );
        assert_eq!(
            health.gate(&endpoint, at(112), probe_time),
            Decision::Hold { until: at(124), hold_all: true },
            "the last hold ran out"
        );
    }

    #[test]
    fn a_closed_endpoint_passes_without_state() {
        let health = Health::default();
        let mut endpoint = open_until(at(0));
        endpoint.health = Default::default();
        assert_eq!(health.gate(&endpoint, at(0), Duration::from_secs(12)), Decision::Send);
        assert!(health.lock().is_empty(), "nothing is tracked for a healthy endpoint");
    }
}
