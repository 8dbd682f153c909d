//! Publishing: the one way an event enters Herald, whoever publishes it — the publish API, an
//! endpoint's test send, or an operational event.
//!
//! [`Publisher`] builds the event, matches the tenant's subscribed endpoints (or takes the one
//! endpoint of a test send), stores the event with its deliveries in one transaction (group
//! commit: concurrent publishes share it), and then hands the deliveries due now to this
//! process's dispatcher — created already leased to it, so no claim query is needed — or, when
//! its queue is full, wakes the dispatchers to claim them. Callers never build dispatcher jobs or
//! leases. When `publish` returns, every delivery the event owes is on disk.

use std::sync::Arc;
use std::time::Duration;

use herald_core::Timestamp;
use herald_core::delivery::{Delivery, DeliveryStatus, Trigger};
use herald_core::endpoint::Endpoint;
use herald_core::event::{Event, EventId};
use herald_core::event_type::EventTypeName;
use herald_core::id::{GeneratedEventId, TenantId};
use herald_store::{Job, Store, StoreError};
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
}

/// What a publish came to.
#[derive(Debug)]
pub enum Published {
    /// Stored with its deliveries, which are under way.
    Created { event: Event, deliveries: Vec<Delivery> },
    /// The tenant already had an event with this id: nothing was stored; this is that event.
    /// `same` tells whether it has the type, data, subject and source asked for.
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
}

impl Publisher {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        caches: Arc<Caches>,
        wakeup: Arc<Notify>,
        local: Option<LocalQueue>,
        probe_time: Duration,
    ) -> Self {
        let budget = Arc::new(Semaphore::new(PUBLISH_BUDGET));
        Self { store, clock, caches, wakeup, local, budget, probe_time }
    }

    /// Publishes to every endpoint of the tenant that subscribes to the event (disabled ones
    /// keep a failed, recoverable delivery; an open circuit holds its delivery until the probe).
    pub async fn publish(&self, new: NewEvent) -> Result<Published, StoreError> {
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
            created_at: now,
        };
        let endpoints = self.caches.tenant_endpoints(self.store.as_ref(), &event.tenant_id).await?;
        let subscribers: Vec<Arc<Endpoint>> =
            endpoints.iter().filter(|endpoint| endpoint.subscribes(&event)).cloned().collect();
        let permits = subscribers.len().clamp(1, PUBLISH_BUDGET) as u32;
        // The semaphore is never closed; were it, publishing would go on unbounded.
        let _budget = self.budget.acquire_many(permits).await.ok();
        let deliveries: Vec<Delivery> = subscribers
            .iter()
            .map(|endpoint| {
                Delivery::for_subscriber(&event, endpoint, now).held_by(
                    &endpoint.health,
                    now,
                    self.probe_time,
                )
            })
            .collect();
        match self.store_and_hand_over(&event, &deliveries, &subscribers, now).await? {
            herald_store::Published::Created => Ok(Published::Created { event, deliveries }),
            herald_store::Published::Existing(existing) => {
                let same = existing.event_type == event.event_type
                    && existing.data == event.data
                    && existing.subject == event.subject
                    && existing.source == event.source;
                let deliveries = self.store.deliveries_of_event(&existing.key).await?;
                Ok(Published::Existing { event: existing, deliveries, same })
            }
        }
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
        let due_now = |d: &Delivery| d.status == DeliveryStatus::Pending && d.next_attempt_at == Some(now);
        let active = deliveries.iter().filter(|d| due_now(d)).count();
        let reservation = self.local.as_ref().and_then(|local| local.reserve(active, now));
        let lease = reservation.as_ref().map(|r| r.lease.clone());
        let stored = self.store.publish(event, deliveries, lease.as_ref()).await?;
        if matches!(stored, herald_store::Published::Created) {
            match (reservation, lease) {
                (Some(reservation), Some(lease)) => {
                    let shared = Arc::new(event.clone());
                    let jobs = deliveries.iter().zip(endpoints).filter(|(d, _)| due_now(d));
                    reservation.hand_over(jobs.map(|(delivery, endpoint)| Job {
                        delivery: delivery.clone(),
                        event: shared.clone(),
                        endpoint: Some(Arc::clone(endpoint)),
                        lease: lease.token.clone(),
                        lease_until: lease.until,
                    }));
                }
                _ if active > 0 => self.wake(),
                _ => {}
            }
        }
        Ok(stored)
    }
}
