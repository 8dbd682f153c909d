//! The dispatcher: claims due deliveries from the store, runs their attempts concurrently, and
//! settles each one (attempt recorded and next state stored in one transaction).
//!
//! - **Leases.** A claim leases deliveries to this process until `now + delivery.lease` by
//!   pushing their `next_attempt_at` to the lease's end; if the process dies, the deliveries
//!   simply become due again then, and any instance takes them.
//! - **Wake-ups.** Publishing (and retry/recover) wakes the dispatcher at once through an
//!   in-process [`Notify`]; on PostgreSQL a `LISTEN` connection carries other instances'
//!   wake-ups. Between wake-ups it sleeps until the next due delivery, at most
//!   `delivery.poll_interval` (the safety net).
//! - **Drain.** On shutdown it stops claiming, gives in-flight attempts `delivery.drain_timeout`
//!   to finish, then abandons the rest and releases every lease it still holds, so another
//!   instance (or the next start) takes them without waiting for the leases to expire.
//!
//! It never holds a database transaction across an HTTP request.

mod attempt;
mod sender;

use std::sync::Arc;
use std::time::Duration;

use herald_core::delivery::{Next, add};
use herald_core::seal::MasterKey;
use herald_store::{Job, Store};
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinSet;

use crate::clock::Clock;
use crate::config::DeliveryConfig;
pub use sender::Sender;

/// What attempts need, shared by all of them.
#[derive(Debug)]
pub struct Context {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub master_key: Arc<MasterKey>,
    pub config: DeliveryConfig,
    pub sender: Sender,
}

#[derive(Debug)]
pub struct Dispatcher {
    ctx: Arc<Context>,
    wakeup: Arc<Notify>,
    /// Identifies this process's leases.
    owner: String,
}

/// The smallest pause when due work could not be claimed (another instance holds it).
const CONTENDED_PAUSE: Duration = Duration::from_millis(20);

impl Dispatcher {
    pub fn new(ctx: Context, wakeup: Arc<Notify>) -> Self {
        let owner = herald_core::id::GeneratedEventId::generate().to_string().replacen("evt_", "worker_", 1);
        Self { ctx: Arc::new(ctx), wakeup, owner }
    }

    /// Runs until `stop` turns true, then drains.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let ctx = &self.ctx;
        let workers = Arc::new(Semaphore::new(ctx.config.workers as usize));
        let mut in_flight: JoinSet<()> = JoinSet::new();
        tracing::info!(owner = %self.owner, workers = ctx.config.workers, "dispatcher started");
        while !*stop.borrow() {
            let free = workers.available_permits() as u32;
            let mut wait = ctx.config.poll_interval.get();
            if free > 0 {
                let now = ctx.clock.now();
                let lease_until = add(now, ctx.config.lease.get());
                match ctx.store.claim_due(&self.owner, now, lease_until, free).await {
                    Ok(jobs) => {
                        let claimed = jobs.len() as u32;
                        for job in jobs {
                            let Ok(permit) = workers.clone().acquire_owned().await else { break };
                            let ctx = self.ctx.clone();
                            in_flight.spawn(async move {
                                run_job(&ctx, job).await;
                                drop(permit);
                            });
                        }
                        if claimed == free {
                            continue; // there may be more due right now
                        }
                        wait = self.until_next_due(wait).await;
                    }
                    Err(e) => tracing::error!(error = %e, "claiming deliveries failed"),
                }
            }
            tokio::select! {
                () = self.wakeup.notified() => {}
                () = tokio::time::sleep(wait) => {}
                Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
                _ = stop.changed() => {}
            }
            while in_flight.try_join_next().is_some() {}
        }
        self.drain(in_flight).await;
    }

    /// How long to sleep: until the earliest due delivery, at most `cap`.
    async fn until_next_due(&self, cap: Duration) -> Duration {
        match self.ctx.store.next_due_at().await {
            Ok(Some(at)) => {
                let ms = at.as_millisecond() - self.ctx.clock.now().as_millisecond();
                Duration::from_millis(ms.max(0) as u64).clamp(CONTENDED_PAUSE, cap)
            }
            Ok(None) => cap,
            Err(e) => {
                tracing::warn!(error = %e, "reading the next due time failed");
                cap
            }
        }
    }

    async fn drain(self, mut in_flight: JoinSet<()>) {
        let bound = self.ctx.config.drain_timeout.get();
        let pending = in_flight.len();
        tracing::info!(in_flight = pending, "dispatcher draining");
        let finished =
            tokio::time::timeout(bound, async { while in_flight.join_next().await.is_some() {} }).await;
        if finished.is_err() {
            tracing::warn!(
                abandoned = in_flight.len(),
                "attempts still running at the drain deadline were abandoned"
            );
            in_flight.abort_all();
            while in_flight.join_next().await.is_some() {}
        }
        match self.ctx.store.release_leases(&self.owner, self.ctx.clock.now()).await {
            Ok(released) => tracing::info!(released, "dispatcher stopped"),
            Err(e) => tracing::error!(error = %e, "releasing leases failed; they will expire"),
        }
    }
}

async fn run_job(ctx: &Context, job: Job) {
    let (attempt, next) = attempt::perform(ctx, &job).await;
    let now = ctx.clock.now();
    if let Err(e) = ctx.store.settle(&job.lease, &job.delivery.id, attempt.as_ref(), &next, now).await {
        // The lease will expire and the delivery will be attempted again: at least once.
        tracing::error!(delivery.id = %job.delivery.id, error = %e, "recording an attempt failed");
        return;
    }
    let attempt_no = attempt.as_ref().map(|a| a.attempt_no);
    match &next {
        Next::Delivered => {
            tracing::debug!(delivery.id = %job.delivery.id, attempt.no = attempt_no, "delivered")
        }
        Next::RetryAt(at) => {
            tracing::debug!(delivery.id = %job.delivery.id, attempt.no = attempt_no, retry_at = %at, "attempt failed")
        }
        Next::Failed(reason) => {
            tracing::info!(delivery.id = %job.delivery.id, attempt.no = attempt_no, reason, "delivery failed")
        }
    }
}
