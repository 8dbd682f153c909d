//! Publishing: the one way an event enters Herald, whoever publishes it — the publish API, an
//! endpoint's test send, or an operational event.
//!
//! [`Publisher`] builds the event, matches the tenant's subscribed endpoints (or takes the one
//! endpoint of a test send), stores the event with its deliveries in one transaction (group
//! commit: concurrent publishes share it), and then hands the deliveries due now to this
//! process's dispatcher — created already leased to it, so no claim query is needed — or, when
//! its queue is full, wakes the dispatchers to claim them. Callers never build dispatcher jobs or
//! leases.
//!
//! **Fan-out.** An event owed to more than [`FANOUT_INLINE`] endpoints is stored with a durable
//! fan-out marker instead of its deliveries, and `publish` returns after that small commit; its
//! deliveries are created by the next transaction, which removes the marker, and handed over
//! then. The marker is leased to this process: if it dies in between, the lease runs out and any
//! process finishes the fan-out ([`Publisher::finish_fanouts`]), creating the same deliveries
//! under the same ids (derived from the event and the endpoint). So when `publish` returns,
//! every delivery the event owes is on disk or owed by a marker on disk — after any crash, each
//! is created exactly once and attempted.

use std::sync::Arc;
use std::time::Duration;

use herald_core::Timestamp;
use herald_core::delivery::{Delivery, DeliveryStatus, Trigger};
use herald_core::endpoint::Endpoint;
use herald_core::event::{Event, EventId};
use herald_core::event_type::EventTypeName;
use herald_core::id::{GeneratedEventId, TenantId};
use herald_core::time::add;
use herald_store::{Job, Lease, LeaseToken, Store, StoreError};
use serde_json::{Map, Value};
use tokio::sync::{Notify, Semaphore};

use crate::cache::Caches;
use crate::clock::Clock;
use crate::dispatcher::LocalQueue;

/// How many deliveries concurrent publishes may hold in memory at once. A publish to a tenant
/// with many endpoints takes one permit per delivery until it has committed and handed them
/// over; beyond the budget, publishes wait. This bounds the server's memory under fan-out bursts
/// instead of letting it grow with (publishers × endpoints).
pub const PUBLISH_BUDGET: usize = 8192;

/// Most deliveries a publish stores in its own transaction; an event owed to more endpoints is
/// stored with a fan-out marker and its deliveries follow (see the module's documentation).
pub const FANOUT_INLINE: usize = 64;

/// Fan-outs whose publisher died taken over by one [`Publisher::finish_fanouts`] call at most.
const FANOUTS_PER_CLAIM: u32 = 16;

/// An event as its publisher asks for it.
#[derive(Debug)]
pub struct NewEvent {
    pub tenant: TenantId,
    /// The publisher's id for it; generated when absent.
    pub id: Option<EventId>,
    pub event_type: EventTypeName,
    pub data: Map<String, Value>,
    pub subject: Option<String>,
    pub source: Option<String>,
    /// The W3C `traceparent` of the publish, passed on to the deliveries.
    pub traceparent: Option<herald_core::trace::TraceParent>,
    /// Headers sent with every delivery of the event.
    pub headers: herald_core::event::EventHeaders,
}

/// What a publish came to.
#[derive(Debug)]
pub enum Published {
    /// Stored with its deliveries, which are under way.
    Created { event: Event, deliveries: Vec<Delivery> },
    /// The tenant already had an event with this id: nothing was stored; this is that event.
    /// `same` tells whether it has the type, data, subject, source and headers asked for.
    Existing { event: Event, deliveries: Vec<Delivery>, same: bool },
}

/// The publish service (cheap to clone).
#[derive(Debug, Clone)]
pub struct Publisher {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    caches: Arc<Caches>,
    wakeup: Arc<Notify>,
    /// This process's dispatcher, when it runs one.
    local: Option<LocalQueue>,
    budget: Arc<Semaphore>,
    /// How long past a probe deliveries held by an open circuit wait.
    probe_time: Duration,
    /// The token this process's fan-out markers are leased under, and for how long.
    marker: LeaseToken,
    lease: Duration,
}

impl Publisher {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        caches: Arc<Caches>,
        wakeup: Arc<Notify>,
        local: Option<LocalQueue>,
        probe_time: Duration,
        lease: Duration,
    ) -> Self {
        let budget = Arc::new(Semaphore::new(PUBLISH_BUDGET));
        let owner = local.as_ref().map_or_else(crate::dispatcher::new_owner, |l| l.owner().to_owned());
        let marker = LeaseToken::new(&owner, "fanout");
        Self { store, clock, caches, wakeup, local, budget, probe_time, marker, lease }
    }

    /// Publishes to every endpoint of the tenant that subscribes to the event (disabled ones
    /// keep a failed, recoverable delivery; an open circuit holds its delivery until the probe).
    pub async fn publish(&self, new: NewEvent) -> Result<Published, StoreError> {
        let started = std::time::Instant::now();
        let published = self.publish_event(new).await;
        crate::metrics::published(&published, started.elapsed());
        published
    }

    async fn publish_event(&self, new: NewEvent) -> Result<Published, StoreError> {
        let now = self.clock.now();
        let key = GeneratedEventId::generate_at(now);
        let event = Event {
            id: new.id.unwrap_or_else(|| EventId::generated(&key)),
            key,
            tenant_id: new.tenant,
            event_type: new.event_type,
            data: new.data,
            subject: new.subject,
            source: new.source,
            traceparent: new.traceparent,
            payload_removed_at: None,
            headers: new.headers,
            created_at: now,
        };
        let endpoints = self.caches.tenant_endpoints(self.store.as_ref(), &event.tenant_id).await?;
        let subscribers: Vec<Arc<Endpoint>> =
            endpoints.iter().filter(|endpoint| endpoint.subscribes(&event)).cloned().collect();
        let permits = subscribers.len().clamp(1, PUBLISH_BUDGET) as u32;
        // The semaphore is never closed; were it, publishing would go on unbounded.
        let budget = self.budget.clone().acquire_many_owned(permits).await.ok();
        let deliveries = self.deliveries_to(&event, &subscribers, now);
        let stored = if deliveries.len() <= FANOUT_INLINE {
            self.store_and_hand_over(&event, &deliveries, &subscribers, now).await?
        } else {
            let marker = Lease { token: self.marker.clone(), until: add(now, self.lease) };
            let stored = self.store.publish_fanout(&event, &marker).await?;
            if stored == herald_store::Published::Created {
                // The budget is held until the deliveries are created and handed over.
                let this = self.clone();
                let (event, deliveries) = (event.clone(), deliveries.clone());
                tokio::spawn(async move {
                    this.expand(&event, deliveries, &subscribers, now).await;
                    drop(budget);
                });
            }
            stored
        };
        match stored {
            herald_store::Published::Created => Ok(Published::Created { event, deliveries }),
            herald_store::Published::Existing(existing) => {
                let same = existing.event_type == event.event_type
                    && existing.data == event.data
                    && existing.subject == event.subject
                    && existing.source == event.source
                    && existing.headers == event.headers;
                let deliveries = self.store.deliveries_of_event(&existing.key).await?;
                Ok(Published::Existing { event: existing, deliveries, same })
            }
        }
    }

    /// The deliveries `event` owes its subscribers, created `now`.
    fn deliveries_to(&self, event: &Event, subscribers: &[Arc<Endpoint>], now: Timestamp) -> Vec<Delivery> {
        subscribers
            .iter()
            .map(|endpoint| {
                Delivery::for_subscriber(event, endpoint, now).held_by(&endpoint.health, now, self.probe_time)
            })
            .collect()
    }

    /// Creates a fan-out's deliveries (made at `now`) under this process's marker and hands
    /// those due to the dispatcher as soon as their write is queued, without waiting for its
    /// commit: the marker keeps them owed until then, and their outcomes are stored after it. On
    /// failure the marker stays, and its lease running out hands the fan-out on (what was sent
    /// meanwhile is sent again then: at least once).
    async fn expand(
        &self,
        event: &Event,
        deliveries: Vec<Delivery>,
        subscribers: &[Arc<Endpoint>],
        now: Timestamp,
    ) {
        let span = tracing::info_span!("fanout", event.id = %event.id, deliveries = deliveries.len());
        crate::trace::set_parent(&span, event.traceparent.as_ref());
        tracing::Instrument::instrument(self.expand_in_span(event, deliveries, subscribers, now), span).await;
    }

    async fn expand_in_span(
        &self,
        event: &Event,
        deliveries: Vec<Delivery>,
        subscribers: &[Arc<Endpoint>],
        now: Timestamp,
    ) {
        let active = deliveries.iter().filter(|d| due_now(d, now)).count();
        // The publish has answered already and the marker keeps the deliveries owed, so they wait
        // for room in the dispatcher: a burst of fan-outs goes through memory rather than through
        // the database and claims (the publish budget bounds what waits).
        let reservation = match &self.local {
            Some(local) => local.reserve_waiting(&event.tenant_id, active, self.clock.as_ref()).await,
            None => None,
        };
        let lease = reservation.as_ref().map(|r| r.lease.clone());
        let jobs: Vec<Job> = lease
            .as_ref()
            .map(|lease| jobs(event, &deliveries, subscribers, lease, now).collect())
            .unwrap_or_default();
        let queued = self.store.expand_fanout(&event.key, &self.marker, deliveries, lease.as_ref()).await;
        let committing = match queued {
            Ok(committing) => committing,
            Err(e) => {
                tracing::error!(event.id = %event.id, error = %e, "creating a fan-out's deliveries failed; it will be retried when its lease runs out");
                return;
            }
        };
        let handed_over = reservation.is_some();
        if let Some(reservation) = reservation {
            reservation.hand_over(jobs);
        }
        match committing.committed().await {
            Ok(true) if !handed_over && active > 0 => self.wake(),
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(event.id = %event.id, "a fan-out was taken over by another process before its deliveries were stored (its lease ran out)");
            }
            Err(e) => {
                tracing::error!(event.id = %event.id, error = %e, "creating a fan-out's deliveries failed; it will be retried when its lease runs out");
            }
        }
    }

    /// Finishes the fan-outs whose publisher died before creating their deliveries (their
    /// marker's lease ran out): each event's deliveries go to the endpoints that subscribe to it
    /// now and existed when it was published. Returns how many fan-outs it finished.
    pub async fn finish_fanouts(&self) -> Result<usize, StoreError> {
        let now = self.clock.now();
        let marker = Lease { token: self.marker.clone(), until: add(now, self.lease) };
        let events = self.store.claim_fanouts(&marker, now, FANOUTS_PER_CLAIM).await?;
        let finished = events.len();
        crate::metrics::fanouts_reclaimed(finished);
        for event in events {
            let endpoints = self.caches.tenant_endpoints(self.store.as_ref(), &event.tenant_id).await?;
            let subscribers: Vec<Arc<Endpoint>> = endpoints
                .iter()
                .filter(|endpoint| endpoint.created_at <= event.created_at && endpoint.subscribes(&event))
                .cloned()
                .collect();
            let deliveries = self.deliveries_to(&event, &subscribers, now);
            tracing::info!(event.id = %event.id, deliveries = deliveries.len(), "finishing a fan-out whose publisher stopped");
            self.expand(&event, deliveries, &subscribers, now).await;
        }
        Ok(finished)
    }

    /// A test send: one event of `event_type` with `data`, delivered to `endpoint` alone,
    /// whatever it subscribes to and whether or not it is enabled.
    pub async fn test_send(
        &self,
        endpoint: Arc<Endpoint>,
        event_type: EventTypeName,
        data: Map<String, Value>,
    ) -> Result<(Event, Delivery), StoreError> {
        let now = self.clock.now();
        let key = GeneratedEventId::generate_at(now);
        let event = Event {
            id: EventId::generated(&key),
            key,
            tenant_id: endpoint.tenant_id.clone(),
            event_type,
            data,
            subject: None,
            source: None,
            traceparent: None,
            payload_removed_at: None,
            headers: Default::default(),
            created_at: now,
        };
        let delivery = Delivery::new(&event, &endpoint.id, Trigger::Test, now);
        self.store_and_hand_over(&event, std::slice::from_ref(&delivery), &[endpoint], now).await?;
        Ok((event, delivery))
    }

    /// Tells the dispatchers that work is due now (a retry, a recovered backlog, a released
    /// circuit). This process's dispatcher wakes at once; others learn it through the store.
    pub fn wake(&self) {
        self.wakeup.notify_one();
    }

    /// Stores the event and its deliveries (`endpoints[i]` is the endpoint of `deliveries[i]`),
    /// leasing those due now to this process's dispatcher when it has room, and hands them over
    /// once committed.
    async fn store_and_hand_over(
        &self,
        event: &Event,
        deliveries: &[Delivery],
        endpoints: &[Arc<Endpoint>],
        now: Timestamp,
    ) -> Result<herald_store::Published, StoreError> {
        let active = deliveries.iter().filter(|d| due_now(d, now)).count();
        // Only if there is room now (a publish never waits for the dispatcher); otherwise the
        // deliveries are stored unleased and claimed.
        let reservation = self.local.as_ref().and_then(|local| local.reserve(&event.tenant_id, active, now));
        let lease = reservation.as_ref().map(|r| r.lease.clone());
        let stored = self.store.publish(event, deliveries, lease.as_ref()).await?;
        if stored == herald_store::Published::Created {
            match (reservation, lease) {
                (Some(reservation), Some(lease)) => {
                    reservation.hand_over(jobs(event, deliveries, endpoints, &lease, now));
                }
                _ if active > 0 => self.wake(),
                _ => {}
            }
        }
        Ok(stored)
    }
}

/// Whether a delivery created `now` is to be attempted at once.
fn due_now(delivery: &Delivery, now: Timestamp) -> bool {
    delivery.status == DeliveryStatus::Pending && delivery.next_attempt_at == Some(now)
}

/// The dispatcher jobs for the deliveries due now (`endpoints[i]` is the endpoint of
/// `deliveries[i]`), created under `lease`.
fn jobs<'a>(
    event: &Event,
    deliveries: &'a [Delivery],
    endpoints: &'a [Arc<Endpoint>],
    lease: &'a Lease,
    now: Timestamp,
) -> impl Iterator<Item = Job> + 'a {
    let shared = Arc::new(event.clone());
    deliveries.iter().zip(endpoints).filter(move |(d, _)| due_now(d, now)).map(move |(delivery, endpoint)| {
        Job {
            delivery: delivery.clone(),
            event: shared.clone(),
            endpoint: Some(Arc::clone(endpoint)),
            lease: lease.token.clone(),
            lease_until: lease.until,
        }
    })
}
