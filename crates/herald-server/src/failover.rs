//! Failover between instances sharing a database: each claiming instance writes a heartbeat
//! every fifth of `delivery.instance_timeout`, and gives back the leases of any instance silent
//! for longer — its claimed deliveries are due again at once, its fan-outs free to be finished —
//! instead of their waiting for each lease to run out (`delivery.lease`, 60 s by default).
//!
//! A lease given back this way may still be held by an instance that was only stalled: its
//! outcome is then refused (the lease no longer matches) and the delivery may be sent twice —
//! at-least-once, as after any lease expiry. Clocks of instances should agree to well within the
//! timeout.

use std::sync::Arc;
use std::time::Duration;

use herald_store::Store;

use crate::clock::Clock;

/// Beats `owner`'s heart and releases silent instances' leases, until aborted.
pub async fn keep(store: Arc<dyn Store>, clock: Arc<dyn Clock>, owner: String, timeout: Duration) {
    let mut ticks = tokio::time::interval((timeout / 5).max(Duration::from_millis(100)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let now = clock.now();
        if let Err(e) = store.heartbeat(&owner, now).await {
            tracing::warn!(error = %e, "writing this instance's heartbeat failed");
            continue;
        }
        let silent = match store.silent_instances(herald_core::time::sub(now, timeout)).await {
            Ok(silent) => silent,
            Err(e) => {
                tracing::warn!(error = %e, "looking for silent instances failed");
                continue;
            }
        };
        for other in silent.into_iter().filter(|other| *other != owner) {
            match store.release_leases(&other, now).await {
                Ok(released) => {
                    crate::metrics::leases_released("failover", released);
                    tracing::warn!(instance = %other, released, "an instance fell silent; its leases are given back");
                    if let Err(e) = store.forget_instance(&other).await {
                        tracing::warn!(instance = %other, error = %e, "forgetting a silent instance failed");
                    }
                }
                Err(e) => {
                    tracing::warn!(instance = %other, error = %e, "giving back a silent instance's leases failed")
                }
            }
        }
    }
}
