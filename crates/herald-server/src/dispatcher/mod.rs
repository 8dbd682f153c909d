//! The dispatcher: runs attempts concurrently and settles each one (attempt recorded and next
//! state stored in one transaction, grouped with other settles by the store). A worker — and the
//! endpoint's in-flight slot — is held for the request only: once the response is in, the next
//! job starts while the outcome is stored (at most [`SETTLING_MAX`] outcomes wait for the
//! database; beyond, workers wait), and the delivery's lease keeps it this job's until settled.
//!
//! Work reaches it two ways:
//! - **Handed over.** A publish in this process creates its deliveries already leased to this
//!   dispatcher and passes them through the [`LocalQueue`] with the event and endpoint in hand:
//!   no claim query, no wake-up round trip. The queue is bounded; when it is full, deliveries are
//!   created unleased and claimed like any other.
//! - **Claimed.** Due deliveries (retries, manual retries, other instances' or a previous
//!   process's work) are claimed from the store with a lease: their `next_attempt_at` moves to the
//!   lease's end, so if the process dies they simply become due again and any instance takes them.
//!   Claims (and an open circuit's probe claims) run beside the loop, which meanwhile keeps
//!   starting handed-over and parked work: a claim waiting for a busy database never holds up
//!   a delivery already in hand.
//!
//! Wake-ups: publishing unleased work, retries due before the next planned claim, and recover
//! wake it through an in-process [`Notify`]; on PostgreSQL a `LISTEN` connection carries other instances' wake-ups. Otherwise it
//! sleeps until the next due delivery, at most `delivery.poll_interval` (the safety net).
//!
//! Drain: on shutdown it stops taking work (a claim under way is dropped, so that it holds no
//! database connection), gives in-flight attempts `delivery.drain_timeout`,
//! abandons the rest and releases every lease it holds (handed-over ones included), so the next
//! process sends them at once. It never holds a database transaction across an HTTP request.

mod attempt;
mod flow;
mod health;
mod oauth;
pub mod sender;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use herald_core::Timestamp;
use herald_core::delivery::Next;
use herald_core::endpoint::EndpointCredentials;
use herald_core::id::{EndpointId, TenantId};
use herald_core::seal::MasterKey;
use herald_core::time::add;
use herald_store::{Job, Lease, LeaseToken, Store};
use tokio::sync::{Notify, Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::clock::Clock;
use crate::config::DeliveryConfig;
pub use flow::{FlowControl, TenantLoad};
pub use sender::Sender;

/// Jobs waiting in the hand-over queue at most.
const LOCAL_QUEUE: usize = 4096;
/// The smallest pause when due work could not be claimed (another instance holds it).
const CONTENDED_PAUSE: Duration = Duration::from_millis(20);

/// What attempts need, shared by all of them.
#[derive(Debug)]
pub struct Context {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub master_key: Arc<MasterKey>,
    pub config: DeliveryConfig,
    pub sender: Sender,
    pub wakeup: Arc<Notify>,
    /// The API's caches, cleared when the dispatcher changes an endpoint.
    pub caches: Arc<crate::cache::Caches>,
    /// Opened endpoint credentials, by endpoint and the version they were opened from.
    credentials: Mutex<HashMap<EndpointId, (Timestamp, Arc<EndpointCredentials>)>>,
    /// OAuth2 access tokens, by endpoint.
    tokens: oauth::Tokens,
    /// The bodies rendered last: a fan-out sends one event to many endpoints, rendered once.
    payloads: attempt::Payloads,
    /// Endpoints whose validation handshake this process saw succeed, with the URL it was for
    /// (the endpoint cache may still hold the state from before).
    handshakes: Mutex<HashMap<EndpointId, String>>,
    /// Per-endpoint and per-tenant in-flight caps and rate limits (shared with the API's stats).
    flow: Arc<FlowControl>,
    /// Per-endpoint circuit breakers.
    health: health::Health,
    /// When the dispatcher will next look for due work (Unix milliseconds): an attempt retried
    /// later than that needs no wake-up. Without it every failed attempt woke a claim, and a
    /// tenant whose receivers fail fast kept the database busy with claims that found nothing.
    next_claim_ms: std::sync::atomic::AtomicI64,
    pub operational: crate::operational::Operational,
    /// Where attempts to `herald listen` sessions go.
    pub relays: Arc<crate::listen::Relays>,
}

/// The process-wide services a [`Context`] is built from (shared with the API).
#[derive(Debug)]
pub struct Services {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub master_key: Arc<MasterKey>,
    pub wakeup: Arc<Notify>,
    pub caches: Arc<crate::cache::Caches>,
    pub operational: crate::operational::Operational,
    pub flow: Arc<FlowControl>,
    /// The `herald listen` sessions connected to this process.
    pub relays: Arc<crate::listen::Relays>,
}

impl Context {
    pub fn new(services: Services, config: DeliveryConfig, sender: Sender) -> Self {
        let Services { store, clock, master_key, wakeup, caches, operational, flow, relays } = services;
        Self {
            store,
            clock,
            master_key,
            sender,
            wakeup,
            caches,
            credentials: Mutex::new(HashMap::new()),
            tokens: oauth::Tokens::default(),
            payloads: attempt::Payloads::default(),
            handshakes: Mutex::new(HashMap::new()),
            flow,
            health: health::Health::default(),
            next_claim_ms: std::sync::atomic::AtomicI64::new(0),
            operational,
            relays,
            config,
        }
    }
}

/// The publishing side of the hand-over queue.
#[derive(Debug, Clone)]
pub struct LocalQueue {
    sender: mpsc::Sender<Job>,
    owner: Arc<str>,
    token: LeaseToken,
    lease: Duration,
    /// Counts the jobs handed over as held by their tenants.
    flow: Arc<FlowControl>,
}

/// Room reserved in the hand-over queue for one publish's deliveries.
#[derive(Debug)]
pub struct Reservation<'a> {
    permits: mpsc::PermitIterator<'a, Job>,
    held: Held<'a>,
    pub lease: Lease,
}

/// Deliveries of one tenant's counted as held for a hand-over that has not happened yet: those
/// still counted when it is dropped are uncounted (they were not handed over after all).
#[derive(Debug)]
struct Held<'a> {
    flow: &'a FlowControl,
    tenant: TenantId,
    n: u32,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        if self.n > 0 {
            self.flow.unhold_many(&self.tenant, self.n);
        }
    }
}

/// The receiving side of the hand-over queue, for [`Dispatcher::new`].
#[derive(Debug)]
pub struct Inbox {
    owner: String,
    receiver: mpsc::Receiver<Job>,
}

impl LocalQueue {
    /// A dispatcher's hand-over queue, made before the dispatcher (the publish service needs the
    /// sending side, and the dispatcher the services): deliveries handed over are leased for
    /// `lease` to the dispatcher that will take the [`Inbox`], and counted as held in `flow`.
    pub fn channel(lease: Duration, flow: Arc<FlowControl>) -> (Self, Inbox) {
        let owner = new_owner();
        let (sender, receiver) = mpsc::channel(LOCAL_QUEUE);
        let token = LeaseToken::new(&owner, "local");
        (Self { sender, owner: Arc::from(owner.as_str()), token, lease, flow }, Inbox { owner, receiver })
    }

    /// The dispatcher's name in lease tokens (`<owner>:<claim>`).
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Reserves room for `n` jobs of the tenant's and the lease to create them under; `None`
    /// when full, or when the dispatcher already holds [`HAND_OVER_HELD_MAX`] of the tenant's
    /// (its deliveries then wait in the database, for claims, instead of crowding memory).
    pub fn reserve(&self, tenant: &TenantId, n: usize, now: Timestamp) -> Option<Reservation<'_>> {
        if n == 0 || !self.flow.hold_for_hand_over(tenant, n as u32) {
            return None;
        }
        let held = Held { flow: &self.flow, tenant: tenant.clone(), n: n as u32 };
        let permits = self.sender.try_reserve_many(n).ok()?;
        let lease = Lease { token: self.token.clone(), until: add(now, self.lease) };
        Some(Reservation { permits, held, lease })
    }

    /// Waits for room for `n` jobs of the tenant's — in the queue, and below
    /// [`HAND_OVER_HELD_MAX`] of the tenant's held — then reserves it with a lease from the time
    /// `clock` tells then; `None` when `n` is more than the queue ever holds, when there was no
    /// room within half a lease, or when the dispatcher is gone.
    pub async fn reserve_waiting(
        &self,
        tenant: &TenantId,
        n: usize,
        clock: &dyn Clock,
    ) -> Option<Reservation<'_>> {
        if n == 0 || n > self.sender.max_capacity() {
            return None;
        }
        let reserving = async {
            self.flow.hold_for_hand_over_waiting(tenant, n as u32).await;
            let held = Held { flow: &self.flow, tenant: tenant.clone(), n: n as u32 };
            let permits = self.sender.reserve_many(n).await.ok()?;
            Some((permits, held))
        };
        let (permits, held) = tokio::time::timeout(self.lease / 2, reserving).await.ok()??;
        let until = add(clock.now(), self.lease);
        let lease = Lease { token: self.token.clone(), until };
        Some(Reservation { permits, held, lease })
    }
}

/// A new process-unique name for lease tokens (`worker_<ulid>`).
pub fn new_owner() -> String {
    herald_core::id::GeneratedEventId::generate().to_string().replacen("evt_", "worker_", 1)
}

impl Reservation<'_> {
    /// Hands the jobs over (after the publish committed). They were counted as held when the
    /// room was reserved (the dispatcher uncounts each as it starts); room left unused is
    /// uncounted.
    pub fn hand_over(self, jobs: impl IntoIterator<Item = Job>) {
        let Self { permits, mut held, .. } = self;
        for (permit, job) in permits.zip(jobs) {
            permit.send(job);
            held.n -= 1;
        }
    }
}

/// Jobs waiting for their endpoint's flow limits, and when to look at them again.
#[derive(Debug)]
struct Parked {
    jobs: std::collections::VecDeque<Job>,
    ready_at: Instant,
}

/// What became of a job given to [`Dispatcher::start`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Started {
    /// Running, or needing no request now (left to its lease, or held by an open circuit).
    Going,
    /// Parked until its endpoint may take it.
    Parked,
    /// Waiting for a slot of its tenant's.
    TenantFull,
}

/// A request that held flow slots is over: its endpoint and tenant may take another.
#[derive(Debug)]
struct Slot {
    endpoint: EndpointId,
    tenant: TenantId,
}

/// Jobs parked in memory (all endpoints) at most before the dispatcher stops taking more: it no
/// longer reads the hand-over queue (publishes then leave their deliveries in the database) nor
/// claims, until parked jobs have started. A busy endpoint's backlog thus waits untouched in the
/// database instead of churning through it, and memory stays bounded.
const PARKED_MAX: usize = 8192;
/// A tenant's jobs held in memory at most before its new deliveries stop being handed over and
/// wait in the database for claims instead (which take them once it has room): a quarter of
/// [`PARKED_MAX`], so that one tenant publishing in bulk cannot fill memory and stop the
/// dispatcher taking everyone else's work. A fan-out's deliveries, whose publish has answered
/// already, wait for the tenant to fall below it instead (see [`LocalQueue::reserve_waiting`]).
pub const HAND_OVER_HELD_MAX: u32 = (PARKED_MAX / 4) as u32;
/// Attempts whose outcome is being stored at most (about one full group commit).
const SETTLING_MAX: usize = 1024;
/// When a busy endpoint's parked jobs are looked at again if none of its requests finishes first.
const BUSY_RECHECK: Duration = Duration::from_millis(500);

#[derive(Debug)]
pub struct Dispatcher {
    ctx: Arc<Context>,
    /// Identifies this process's leases (`<owner>:<claim>`, `<owner>:local`).
    owner: String,
    local: mpsc::Receiver<Job>,
    parked: HashMap<EndpointId, Parked>,
    /// Jobs whose tenant had all its slots taken, in arrival order per tenant: one goes each time
    /// one of the tenant's requests finishes.
    tenant_waiting: HashMap<TenantId, std::collections::VecDeque<Job>>,
    /// Tenants with waiting jobs that have a slot free again.
    tenants_ready: Vec<TenantId>,
    /// Jobs in `parked` and `tenant_waiting`, all endpoints and tenants together.
    parked_total: usize,
    /// Jobs to hand back to the database (held by an open circuit), with when they may start.
    deferred: Vec<(Job, Timestamp)>,
    /// Told when an attempt's request is over — its worker is free, and its endpoint (when it
    /// took a flow slot) may take another — while its outcome is still being stored.
    released: (mpsc::UnboundedSender<Option<Slot>>, mpsc::UnboundedReceiver<Option<Slot>>),
    /// Attempts whose request is over and whose outcome is being stored, at most
    /// [`SETTLING_MAX`]: when the database falls behind, workers wait here rather than pile up.
    settling: Arc<Semaphore>,
    /// Probes claimed beside the loop (see [`Dispatcher::claim_probes`]).
    probes: (mpsc::UnboundedSender<Job>, mpsc::UnboundedReceiver<Job>),
}

impl Dispatcher {
    /// A dispatcher taking the work handed over through `inbox` (see [`LocalQueue::channel`]).
    pub fn new(ctx: Context, inbox: Inbox) -> Self {
        Self {
            ctx: Arc::new(ctx),
            owner: inbox.owner,
            local: inbox.receiver,
            parked: HashMap::new(),
            tenant_waiting: HashMap::new(),
            tenants_ready: Vec::new(),
            parked_total: 0,
            deferred: Vec::new(),
            released: mpsc::unbounded_channel(),
            settling: Arc::new(Semaphore::new(SETTLING_MAX)),
            probes: mpsc::unbounded_channel(),
        }
    }

    /// The prefix of this dispatcher's lease tokens: its instance's name in `instances`.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Runs until `stop` turns true, then drains.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let workers = Arc::new(Semaphore::new(self.ctx.config.workers as usize));
        let mut in_flight: JoinSet<()> = JoinSet::new();
        let mut claim_at = Instant::now();
        // A claim runs beside the loop, which meanwhile keeps starting handed-over and parked
        // work: a slow claim (a busy database) never holds up a delivery already in hand.
        let mut claiming: Option<std::pin::Pin<Box<dyn Future<Output = Claimed> + Send>>> = None;
        let mut woken_while_claiming = false;
        tracing::info!(owner = %self.owner, workers = self.ctx.config.workers, "dispatcher started");
        while !*stop.borrow() {
            // Parked work whose endpoint may take more now, then handed-over work: no queries.
            self.unpark(&mut in_flight, &workers);
            while self.parked_total < PARKED_MAX
                && let Ok(permit) = workers.clone().try_acquire_owned()
            {
                match self.local.try_recv() {
                    Ok(job) => {
                        self.start(&mut in_flight, job, permit);
                    }
                    Err(_) => break,
                }
            }
            self.claim_probes();
            let free = workers.available_permits() as u32;
            let taking = free > 0 && self.parked_total < PARKED_MAX;
            if taking && claiming.is_none() && Instant::now() >= claim_at {
                claiming = Some(Box::pin(claim(self.ctx.clone(), self.owner.clone(), free)));
                woken_while_claiming = false;
            }
            let parked_at = self.parked.values().map(|p| p.ready_at).min();
            let probe_at = self.ctx.health.next_probe().map(|at| self.instant_of(at));
            let claim_wake = (taking && claiming.is_none()).then_some(claim_at);
            let wake_at = [parked_at, probe_at, claim_wake]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or_else(|| Instant::now() + self.ctx.config.poll_interval.get());
            tokio::select! {
                claimed = async {
                    match claiming.as_mut() {
                        Some(claim) => claim.await,
                        None => std::future::pending().await,
                    }
                } => {
                    claiming = None;
                    claim_at = Instant::now() + if woken_while_claiming { Duration::ZERO } else { claimed.pause };
                    self.plan_claim(claim_at);
                    self.take_claimed(&mut in_flight, &workers, claimed.jobs);
                }
                Some(probe) = self.probes.1.recv() => self.take_claimed(&mut in_flight, &workers, vec![probe]),
                () = self.ctx.wakeup.notified() => {
                    claim_at = Instant::now();
                    woken_while_claiming = claiming.is_some();
                    self.plan_claim(claim_at);
                }
                () = self.ctx.flow.room.notified() => {
                    claim_at = Instant::now();
                    woken_while_claiming = claiming.is_some();
                }
                () = tokio::time::sleep_until(wake_at), if free > 0 => {}
                Some(slot) = self.released.1.recv() => self.freed(slot),
                () = self.ctx.flow.limits_changed.notified() => self.limits_changed(),
                Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
                Some(job) = self.local.recv(), if taking => {
                    if let Ok(permit) = workers.clone().try_acquire_owned() {
                        self.start(&mut in_flight, job, permit);
                    } else {
                        self.park(job, Instant::now());
                    }
                }
                _ = stop.changed() => {}
            }
            while let Ok(slot) = self.released.1.try_recv() {
                self.freed(slot);
            }
            while in_flight.try_join_next().is_some() {}
            self.flush_deferred();
        }
        self.flush_deferred();
        // A claim still running is dropped, not merely left unpolled: it may hold the store's
        // writer connection (on SQLite the only one), which the drain's settles and the lease
        // release need. What it leased before it was dropped is released with the rest.
        drop(claiming);
        self.drain(in_flight).await;
    }

    /// Starts the job if its endpoint's and tenant's flow limits allow, else parks it. A job
    /// that goes on its way is no longer counted as held by its tenant.
    fn start(
        &mut self,
        in_flight: &mut JoinSet<()>,
        job: Job,
        permit: tokio::sync::OwnedSemaphorePermit,
    ) -> Started {
        let tenant = job.delivery.tenant_id.clone();
        let started = self.try_start(in_flight, job, permit);
        if started == Started::Going {
            self.ctx.flow.unhold(&tenant);
        }
        started
    }

    fn try_start(
        &mut self,
        in_flight: &mut JoinSet<()>,
        job: Job,
        permit: tokio::sync::OwnedSemaphorePermit,
    ) -> Started {
        // A job that waited so long its lease would end mid-attempt is left to be claimed again
        // when the lease runs out.
        if add(self.ctx.clock.now(), self.ctx.config.timeout.get()) >= job.lease_until {
            return Started::Going;
        }
        let limited = job
            .endpoint
            .as_ref()
            .filter(|e| e.enabled || job.delivery.next_trigger == herald_core::delivery::Trigger::Test);
        // Manual retries and test sends go out whatever the circuit says (their results count).
        let gated = limited.filter(|_| {
            !matches!(
                job.delivery.next_trigger,
                herald_core::delivery::Trigger::Manual | herald_core::delivery::Trigger::Test
            )
        });
        let probe = match gated
            .map(|e| self.ctx.health.gate(e, self.ctx.clock.now(), health::probe_time(&self.ctx)))
        {
            None | Some(health::Decision::Send) => false,
            Some(health::Decision::Probe) => true,
            Some(health::Decision::Hold { until, hold_all }) => {
                if hold_all && let Some(endpoint) = gated {
                    self.hold_endpoint(endpoint.id.clone(), until);
                }
                self.deferred.push((job, until));
                return Started::Going;
            }
        };
        let admitted = match limited {
            None => None,             // no request will be made (deleted or disabled endpoint)
            Some(_) if probe => None, // the one request of an open circuit: no flow slot
            Some(endpoint) => match self.ctx.flow.admit(endpoint, std::time::Instant::now()) {
                flow::Admission::Admitted => {
                    Some(Slot { endpoint: endpoint.id.clone(), tenant: endpoint.tenant_id.clone() })
                }
                flow::Admission::Busy => {
                    self.park_blocked(job, Instant::now() + BUSY_RECHECK);
                    return Started::Parked;
                }
                flow::Admission::TenantBusy => {
                    let tenant = endpoint.tenant_id.clone();
                    self.tenant_waiting.entry(tenant).or_default().push_back(job);
                    self.parked_total += 1;
                    return Started::TenantFull;
                }
                flow::Admission::Later(wait) => {
                    self.park_blocked(job, Instant::now() + wait);
                    return Started::Parked;
                }
            },
        };
        let ctx = self.ctx.clone();
        let (released, settling) = (self.released.0.clone(), self.settling.clone());
        in_flight.spawn(async move {
            // Each phase's future is boxed: a task waiting to settle then holds only the settle's
            // state, not room for the HTTP exchange's (tasks waiting for the database can be many).
            let span = tracing::info_span!(
                "attempt",
                delivery.id = %job.delivery.id,
                endpoint.id = %job.delivery.endpoint_id,
                attempt.number = job.delivery.attempt_count + 1,
            );
            crate::trace::set_parent(&span, job.event.traceparent.as_ref());
            let (attempt, next) =
                tracing::Instrument::instrument(Box::pin(attempt::perform(&ctx, &job)), span).await;
            crate::metrics::decided(&next);
            // Never closed; were it, settling would simply go unbounded.
            let _settling = settling.acquire_owned().await.ok();
            // The request is over: its worker and its endpoint's slot go to the next job while
            // the outcome is stored (the lease keeps the delivery this job's until then).
            if let Some(slot) = &admitted {
                ctx.flow.release(&slot.endpoint, &slot.tenant);
            }
            drop(permit);
            let _ = released.send(admitted);
            Box::pin(settle(&ctx, job, probe, attempt, next)).await;
        });
        Started::Going
    }

    /// Keeps a job in memory until its endpoint may take it (at `ready_at`, or when one of its
    /// requests finishes). [`PARKED_MAX`] bounds how many are kept, by making the dispatcher
    /// stop taking work, not by handing jobs back.
    fn park(&mut self, job: Job, ready_at: Instant) {
        self.park_with(job, |current| current.min(ready_at));
    }

    /// Parks a job whose endpoint just refused it (at its cap, or out of rate): the endpoint's
    /// jobs are looked at again at `ready_at`, or sooner when one of its requests finishes.
    fn park_blocked(&mut self, job: Job, ready_at: Instant) {
        self.park_with(job, |_| ready_at);
    }

    fn park_with(&mut self, job: Job, ready_at: impl FnOnce(Instant) -> Instant) {
        let Some(endpoint) = job.endpoint.as_ref().map(|e| e.id.clone()) else { return };
        let parked = self
            .parked
            .entry(endpoint)
            .or_insert_with(|| Parked { jobs: Default::default(), ready_at: Instant::now() });
        parked.ready_at = ready_at(parked.ready_at);
        parked.jobs.push_back(job);
        self.parked_total += 1;
    }

    /// Holds the endpoint's waiting deliveries in the database until `until` (its circuit is
    /// open), in one statement.
    fn hold_endpoint(&self, endpoint: EndpointId, until: Timestamp) {
        let ctx = self.ctx.clone();
        tokio::spawn(async move {
            let Some(health) = ctx.health.current(&endpoint) else { return };
            let now = ctx.clock.now();
            if let Err(e) =
                ctx.store.set_endpoint_health(&endpoint, &health, herald_store::Shift::Hold(until), now).await
            {
                tracing::warn!(endpoint.id = %endpoint, error = %e, "holding an endpoint's deliveries failed");
            }
        });
    }

    /// Claims the probe of each circuit this process opened whose probe time has come, beside
    /// the loop (the claimed probes come back through `probes`). With nothing waiting, the next
    /// delivery to the endpoint becomes the probe.
    fn claim_probes(&self) {
        let now = self.ctx.clock.now();
        for endpoint in self.ctx.health.due_probes(now) {
            let (ctx, owner, probes) = (self.ctx.clone(), self.owner.clone(), self.probes.0.clone());
            tokio::spawn(async move {
                let lease_until = add(now, ctx.config.lease.get());
                match ctx.store.claim_probe(&owner, &endpoint, now, lease_until).await {
                    Ok(Some(job)) => {
                        // Were the dispatcher gone, the lease would simply run out.
                        let _ = probes.send(job);
                    }
                    Ok(None) => {}
                    Err(e) => tracing::error!(endpoint.id = %endpoint, error = %e, "claiming a probe failed"),
                }
            });
        }
    }

    /// Tells attempts when the next claim will be (see [`Context::next_claim_ms`]).
    fn plan_claim(&self, at: Instant) {
        let ms = self.ctx.clock.now().as_millisecond()
            + at.saturating_duration_since(Instant::now()).as_millis() as i64;
        self.ctx.next_claim_ms.store(ms, std::sync::atomic::Ordering::Relaxed);
    }

    /// The monotonic instant of a wall-clock time (now when it is past).
    fn instant_of(&self, at: Timestamp) -> Instant {
        let ms = at.as_millisecond() - self.ctx.clock.now().as_millisecond();
        Instant::now() + Duration::from_millis(ms.max(0) as u64)
    }

    /// Writes the deferrals collected this turn, from one task (the store groups them).
    fn flush_deferred(&mut self) {
        if self.deferred.is_empty() {
            return;
        }
        let deferred = std::mem::take(&mut self.deferred);
        let ctx = self.ctx.clone();
        tokio::spawn(async move {
            let writes =
                deferred.iter().map(|(job, until)| ctx.store.defer(&job.lease, &job.delivery.id, *until));
            for (result, (job, _)) in futures::future::join_all(writes).await.into_iter().zip(&deferred) {
                if let Err(e) = result {
                    tracing::warn!(delivery.id = %job.delivery.id, error = %e, "deferring a delivery failed; its lease will expire");
                }
            }
        });
    }

    /// One of an endpoint's requests finished: its parked jobs may go now, and (its tenant has a
    /// slot free) so may those of the tenant's other endpoints.
    fn freed(&mut self, slot: Option<Slot>) {
        let Some(slot) = slot else { return };
        if let Some(parked) = self.parked.get_mut(&slot.endpoint) {
            parked.ready_at = Instant::now();
        }
        if self.tenant_waiting.contains_key(&slot.tenant) && !self.tenants_ready.contains(&slot.tenant) {
            self.tenants_ready.push(slot.tenant);
        }
    }

    /// Some tenant's in-flight limit changed: every tenant with waiting jobs is looked at again
    /// (a raised limit lets more go at once, without waiting for a request to finish).
    fn limits_changed(&mut self) {
        for tenant in self.tenant_waiting.keys() {
            if !self.tenants_ready.contains(tenant) {
                self.tenants_ready.push(tenant.clone());
            }
        }
    }

    /// Starts parked jobs whose endpoints are ready, and waiting jobs of tenants with a slot
    /// free again, while workers are free.
    fn unpark(&mut self, in_flight: &mut JoinSet<()>, workers: &Arc<Semaphore>) {
        self.unpark_endpoints(in_flight, workers);
        while let Some(tenant) = self.tenants_ready.pop() {
            loop {
                let Some(job) = self.tenant_waiting.get_mut(&tenant).and_then(|w| w.pop_front()) else {
                    self.tenant_waiting.remove(&tenant);
                    break;
                };
                self.parked_total -= 1;
                let Ok(permit) = workers.clone().try_acquire_owned() else {
                    self.tenant_waiting.entry(tenant.clone()).or_default().push_front(job);
                    self.parked_total += 1;
                    self.tenants_ready.push(tenant);
                    return;
                };
                if self.start(in_flight, job, permit) == Started::TenantFull {
                    // The tenant's slots are taken again: the job stays first in its line.
                    if let Some(waiting) = self.tenant_waiting.get_mut(&tenant)
                        && let Some(job) = waiting.pop_back()
                    {
                        waiting.push_front(job);
                    }
                    break;
                }
            }
        }
    }

    fn unpark_endpoints(&mut self, in_flight: &mut JoinSet<()>, workers: &Arc<Semaphore>) {
        let now = Instant::now();
        let ready: Vec<EndpointId> =
            self.parked.iter().filter(|(_, p)| p.ready_at <= now).map(|(id, _)| id.clone()).collect();
        for endpoint in ready {
            loop {
                let Some(job) = self.parked.get_mut(&endpoint).and_then(|p| p.jobs.pop_front()) else {
                    self.parked.remove(&endpoint);
                    break;
                };
                self.parked_total -= 1;
                let Ok(permit) = workers.clone().try_acquire_owned() else {
                    if let Some(p) = self.parked.get_mut(&endpoint) {
                        p.jobs.push_front(job);
                        self.parked_total += 1;
                    }
                    return;
                };
                if self.start(in_flight, job, permit) != Started::Going {
                    break; // parked again: the endpoint (or its tenant) is at its limit
                }
            }
        }
    }

    /// Starts claimed jobs while workers are free, and parks the rest until one is.
    fn take_claimed(&mut self, in_flight: &mut JoinSet<()>, workers: &Arc<Semaphore>, jobs: Vec<Job>) {
        for job in &jobs {
            self.ctx.flow.hold(&job.delivery.tenant_id, 1);
        }
        for job in jobs {
            match workers.clone().try_acquire_owned() {
                Ok(permit) => {
                    self.start(in_flight, job, permit);
                }
                Err(_) => self.park(job, Instant::now()),
            }
        }
    }

    async fn drain(mut self, mut in_flight: JoinSet<()>) {
        self.local.close();
        let bound = self.ctx.config.drain_timeout.get();
        tracing::info!(in_flight = in_flight.len(), "dispatcher draining");
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
            Ok(released) => {
                crate::metrics::leases_released("shutdown", released);
                tracing::info!(released, "dispatcher stopped");
            }
            Err(e) => tracing::error!(error = %e, "releasing leases failed; they will expire"),
        }
    }
}

/// What a claim brought: the jobs, and how long to wait before the next one.
struct Claimed {
    jobs: Vec<Job>,
    pause: Duration,
}

/// Claims up to `free` due deliveries, leaving in the database those of tenants that already
/// have their in-flight limit's worth waiting here (they could not start them sooner anyway, and
/// holding them would crowd out other tenants' work: [`PARKED_MAX`] bounds all jobs together).
/// When it took fewer (or failed), the pause until the next claim is the time until the earliest
/// due delivery of the others, at most `delivery.poll_interval` — and at most [`BUSY_RECHECK`]
/// while some tenant is left aside, to take its work again once it has room.
async fn claim(ctx: Arc<Context>, owner: String, free: u32) -> Claimed {
    let now = ctx.clock.now();
    let lease_until = add(now, ctx.config.lease.get());
    let skip = ctx.flow.saturated_tenants();
    let jobs = match ctx.store.claim_due(&owner, now, lease_until, free, &skip).await {
        Ok(jobs) if jobs.len() as u32 == free => return Claimed { jobs, pause: Duration::ZERO }, // more may be due
        Ok(jobs) => jobs,
        Err(e) => {
            tracing::error!(error = %e, "claiming deliveries failed");
            Vec::new()
        }
    };
    let mut pause = until_next_due(&ctx, &skip).await;
    if !skip.is_empty() {
        pause = pause.min(BUSY_RECHECK);
    }
    Claimed { jobs, pause }
}

/// How long until the earliest due delivery (those of the `skip` tenants aside), at most
/// `delivery.poll_interval`.
async fn until_next_due(ctx: &Context, skip: &[TenantId]) -> Duration {
    let cap = ctx.config.poll_interval.get();
    match ctx.store.next_due_at(skip).await {
        Ok(Some(at)) => {
            let ms = at.as_millisecond() - ctx.clock.now().as_millisecond();
            Duration::from_millis(ms.max(0) as u64).clamp(CONTENDED_PAUSE, cap)
        }
        Ok(None) => cap,
        Err(e) => {
            tracing::warn!(error = %e, "reading the next due time failed");
            cap
        }
    }
}

/// Stores what a job's attempt came to and follows it up (endpoint health, wake-ups, dead-letter
/// notices); `probe` when it was the one request of an open circuit.
async fn settle(
    ctx: &Context,
    job: Job,
    probe: bool,
    attempt: Option<herald_core::delivery::Attempt>,
    next: Next,
) {
    let now = ctx.clock.now();
    // A retry falling inside its endpoint's open circuit waits for the circuit's hold, as the
    // endpoint's other waiting deliveries do (a probe's own retry follows the breaker's backoff).
    let next = match (next, &job.endpoint) {
        (Next::RetryAt(at), Some(endpoint)) if !probe => {
            let held = ctx.health.retry_not_before(&endpoint.id, health::probe_time(ctx));
            Next::RetryAt(held.map_or(at, |held| held.max(at)))
        }
        (next, _) => next,
    };
    let attempt_no = attempt.as_ref().map(|a| a.attempt_no);
    let settled = ctx.store.settle(&job.lease, &job.delivery.id, attempt, &next, now).await;
    // The endpoint's health counts attempts that reached a verdict on the endpoint (a 410 has
    // already disabled it) — whether or not recording the attempt worked: the request was made.
    // A probe that made no request gives its turn back.
    match (attempt_no, &job.endpoint) {
        (Some(_), Some(endpoint))
            if next != Next::Failed(herald_core::delivery::FailureReason::EndpointGone) =>
        {
            let succeeded = next == Next::Delivered;
            if let Some(change) = ctx.health.record(ctx, endpoint, succeeded, probe, now) {
                Box::pin(health::store_change(ctx, endpoint, change)).await;
            }
        }
        (_, Some(endpoint)) if probe => ctx.health.probe_abandoned(&endpoint.id),
        _ => {}
    }
    if let Err(e) = settled {
        // The lease will expire and the delivery will be attempted again: at least once.
        tracing::error!(delivery.id = %job.delivery.id, error = %e, "recording an attempt failed");
        return;
    }
    match &next {
        Next::Delivered => {
            tracing::debug!(delivery.id = %job.delivery.id, attempt.no = attempt_no, "delivered")
        }
        Next::RetryAt(at) => {
            tracing::debug!(delivery.id = %job.delivery.id, attempt.no = attempt_no, retry_at = %at, "attempt failed");
            // Let the claim loop see the new due time, unless it will look before then anyway.
            if at.as_millisecond() < ctx.next_claim_ms.load(std::sync::atomic::Ordering::Relaxed) {
                ctx.wakeup.notify_one();
            }
        }
        Next::Failed(reason) => {
            tracing::info!(delivery.id = %job.delivery.id, attempt.no = attempt_no, reason = %reason, "delivery failed");
            // A dead letter (not the consequences of a deleted or disabled endpoint, which are
            // announced once, as such).
            if reason.is_dead_letter() {
                let attempts = attempt_no.unwrap_or(job.delivery.attempt_count);
                Box::pin(ctx.operational.delivery_failed(&job.delivery, &job.event, *reason, attempts)).await;
            }
        }
    }
}
