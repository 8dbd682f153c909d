//! Flow control per endpoint and per tenant, in this process: at most `maxInFlight` requests at
//! once to an endpoint (its own setting, else `delivery.endpoint_max_in_flight`), at most
//! `perSecond` starts per second (a token bucket holding one second's worth), and at most the
//! tenant's `maxInFlight` (its own limit, else `delivery.tenant_max_in_flight`) requests at once
//! for all of a tenant's endpoints together — so a tenant with many slow receivers holds a share
//! of the workers, never all of them. A delivery that may not start now waits — it is never
//! failed and never charged an attempt.
//!
//! It also counts, per tenant, the deliveries this process holds (claimed or handed over) that
//! have not started yet: with the requests in flight, what the tenant's stats show.
//!
//! With several instances on PostgreSQL each enforces the limits for the attempts it runs, so an
//! endpoint sees at most (instances × limit); the limits hold approximately, not exactly.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use herald_core::endpoint::Endpoint;
use herald_core::id::{EndpointId, TenantId};
use herald_core::rate::TokenBucket;
use herald_core::tenant::TenantLimits;

#[derive(Debug)]
struct Flow {
    in_flight: u32,
    bucket: TokenBucket,
}

/// Whether a delivery to an endpoint may start now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Admitted,
    /// At its in-flight cap: wait for one of its requests to finish.
    Busy,
    /// Its tenant is at its in-flight cap: wait for one of the tenant's requests to finish.
    TenantBusy,
    /// Out of rate: the next start is possible after this long.
    Later(Duration),
}

/// A tenant's deliveries in this process.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct TenantFlow {
    /// Requests in flight.
    in_flight: u32,
    /// Deliveries held (claimed or handed over) that have not started.
    held: u32,
}

/// The endpoints' and tenants' current flows.
#[derive(Debug, Default)]
struct Flows {
    endpoints: HashMap<EndpointId, Flow>,
    /// Tenants with requests in flight or deliveries held (others are removed).
    tenants: HashMap<TenantId, TenantFlow>,
    /// Tenants' own in-flight limits, where they have one.
    tenant_limits: HashMap<TenantId, u32>,
}

impl Flows {
    /// Changes a tenant's counts, forgetting it when both are zero.
    fn tenant(&mut self, tenant: &TenantId, change: impl FnOnce(&mut TenantFlow)) {
        let flow = match self.tenants.get_mut(tenant) {
            Some(flow) => flow,
            None => self.tenants.entry(tenant.clone()).or_default(),
        };
        change(flow);
        if *flow == TenantFlow::default() {
            self.tenants.remove(tenant);
        }
    }
}

/// A tenant's share of this process, for its stats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TenantLoad {
    /// Requests to its endpoints in flight now.
    pub in_flight: u32,
    /// Its deliveries held here (claimed or handed over) that have not started.
    pub held: u32,
    /// Its in-flight limit: its own, else the instance's default.
    pub max_in_flight: u32,
}

#[derive(Debug)]
pub struct FlowControl {
    default_max_in_flight: u32,
    tenant_max_in_flight: u32,
    /// A tenant's held deliveries that count as enough in hand, at least (see
    /// [`FlowControl::saturated_tenants`]).
    enough_at_least: u32,
    /// A tenant's held deliveries from which its new deliveries are no longer handed over (see
    /// [`FlowControl::hold_for_hand_over`]).
    hand_over_max: u32,
    flows: Mutex<Flows>,
    /// Told when a tenant's limit changed: its waiting deliveries may go now.
    pub limits_changed: tokio::sync::Notify,
    /// Told when a tenant's held deliveries fall below its in-flight limit: claims, which left
    /// its work in the database while it had that many, should take some again.
    pub room: tokio::sync::Notify,
    /// Told (all waiters) when a tenant's held deliveries fall below `hand_over_max`.
    hand_over_room: tokio::sync::Notify,
}

impl FlowControl {
    pub fn new(default_max_in_flight: u32, tenant_max_in_flight: u32) -> Self {
        Self {
            default_max_in_flight,
            tenant_max_in_flight: tenant_max_in_flight.max(1),
            enough_at_least: 0,
            hand_over_max: u32::MAX,
            flows: Mutex::new(Flows::default()),
            limits_changed: tokio::sync::Notify::new(),
            room: tokio::sync::Notify::new(),
            hand_over_room: tokio::sync::Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Flows> {
        self.flows.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Counts a tenant as having enough in hand only from `n` held deliveries on, whatever its
    /// limit (the dispatcher's worker count: a claim takes at most that many at once, so a tenant
    /// whose limit is smaller still gets its next batch before the last one runs out).
    pub fn enough_at_least(self, n: u32) -> Self {
        Self { enough_at_least: n, ..self }
    }

    /// Stops handing a tenant's new deliveries over once it holds `n` (see
    /// [`FlowControl::hold_for_hand_over`]).
    pub fn hand_over_at_most(self, n: u32) -> Self {
        Self { hand_over_max: n, ..self }
    }

    /// How many held deliveries of the tenant's are enough in hand.
    fn enough(&self, flows: &Flows, tenant: &TenantId) -> u32 {
        let limit = flows.tenant_limits.get(tenant).copied().unwrap_or(self.tenant_max_in_flight);
        limit.max(self.enough_at_least)
    }

    /// Sets (or, with `None`, removes) a tenant's own in-flight limit.
    pub fn set_tenant_limits(&self, tenant: &TenantId, limits: &TenantLimits) {
        let mut flows = self.lock();
        let before = match limits.max_in_flight {
            Some(n) => flows.tenant_limits.insert(tenant.clone(), n.max(1)),
            None => flows.tenant_limits.remove(tenant),
        };
        if before != limits.max_in_flight.map(|n| n.max(1)) {
            self.limits_changed.notify_one();
        }
    }

    /// Replaces every tenant's own limits with those read from the database.
    pub fn replace_tenant_limits(&self, all: impl IntoIterator<Item = (TenantId, TenantLimits)>) {
        let limits: HashMap<TenantId, u32> =
            all.into_iter().filter_map(|(t, l)| Some((t, l.max_in_flight?.max(1)))).collect();
        let mut flows = self.lock();
        if flows.tenant_limits != limits {
            flows.tenant_limits = limits;
            self.limits_changed.notify_one();
        }
    }

    /// The tenant's requests in flight and deliveries held here, and its limit.
    pub fn tenant_load(&self, tenant: &TenantId) -> TenantLoad {
        let flows = self.lock();
        let flow = flows.tenants.get(tenant).copied().unwrap_or_default();
        let max_in_flight = flows.tenant_limits.get(tenant).copied().unwrap_or(self.tenant_max_in_flight);
        TenantLoad { in_flight: flow.in_flight, held: flow.held, max_in_flight }
    }

    /// Tenants that have enough deliveries held here, waiting to start — their in-flight limit's
    /// worth, and at least `enough_at_least` — so claims leave their other work in the database
    /// and take other tenants' instead.
    pub fn saturated_tenants(&self) -> Vec<TenantId> {
        let flows = self.lock();
        let saturated =
            flows.tenants.iter().filter(|(tenant, flow)| flow.held >= self.enough(&flows, tenant));
        saturated.map(|(tenant, _)| tenant.clone()).collect()
    }

    /// Counts deliveries of the tenant's that this process now holds (claimed or handed over).
    pub fn hold(&self, tenant: &TenantId, n: u32) {
        self.lock().tenant(tenant, |flow| flow.held += n);
    }

    /// One of the tenant's held deliveries started (or was left to its lease or deferred).
    pub fn unhold(&self, tenant: &TenantId) {
        self.unhold_many(tenant, 1);
    }

    /// `n` of the tenant's held deliveries started, or will not be handed over after all.
    pub fn unhold_many(&self, tenant: &TenantId, n: u32) {
        let mut flows = self.lock();
        let enough = self.enough(&flows, tenant);
        let mut held = 0;
        flows.tenant(tenant, |flow| {
            held = flow.held;
            flow.held = flow.held.saturating_sub(n);
        });
        let after = held.saturating_sub(n);
        if held >= enough && after < enough {
            self.room.notify_one();
        }
        if held >= self.hand_over_max && after < self.hand_over_max {
            self.hand_over_room.notify_waiters();
        }
    }

    /// Counts `n` new deliveries of the tenant's as held if it holds fewer than the hand-over
    /// bound (`hand_over_at_most`); `false`, counting nothing, when it holds that many already:
    /// its new deliveries then wait in the database for claims instead of crowding memory.
    pub fn hold_for_hand_over(&self, tenant: &TenantId, n: u32) -> bool {
        let mut flows = self.lock();
        let below = flows.tenants.get(tenant).is_none_or(|flow| flow.held < self.hand_over_max);
        if below {
            flows.tenant(tenant, |flow| flow.held += n);
        }
        below
    }

    /// Waits until the tenant holds fewer than the hand-over bound, then counts `n` deliveries
    /// of its as held, as [`FlowControl::hold_for_hand_over`] does.
    pub async fn hold_for_hand_over_waiting(&self, tenant: &TenantId, n: u32) {
        loop {
            let room = self.hand_over_room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            if self.hold_for_hand_over(tenant, n) {
                return;
            }
            room.await;
        }
    }

    /// Takes a slot for a request to `endpoint` if its and its tenant's limits allow one now.
    pub fn admit(&self, endpoint: &Endpoint, now: Instant) -> Admission {
        let limit = endpoint.spec.rate_limit.as_ref();
        let max_in_flight = limit.and_then(|l| l.max_in_flight).unwrap_or(self.default_max_in_flight).max(1);
        let per_second = endpoint.rate_per_second();
        let mut flows = self.lock();
        let tenant_max =
            flows.tenant_limits.get(&endpoint.tenant_id).copied().unwrap_or(self.tenant_max_in_flight);
        let tenant_in_flight = flows.tenants.get(&endpoint.tenant_id).map_or(0, |t| t.in_flight);
        let flow = flows.endpoints.entry(endpoint.id.clone()).or_insert_with(|| Flow {
            in_flight: 0,
            bucket: TokenBucket::full(per_second.unwrap_or(1.0), now),
        });
        if flow.in_flight >= max_in_flight {
            return Admission::Busy;
        }
        if tenant_in_flight >= tenant_max {
            return Admission::TenantBusy;
        }
        if let Some(rate) = per_second
            && let Err(wait) = flow.bucket.take(rate, now)
        {
            return Admission::Later(wait);
        }
        flow.in_flight += 1;
        flows.tenant(&endpoint.tenant_id, |t| t.in_flight += 1);
        Admission::Admitted
    }

    /// Gives the slot back when a request finished.
    pub fn release(&self, endpoint: &EndpointId, tenant: &TenantId) {
        let mut flows = self.lock();
        if let Some(flow) = flows.endpoints.get_mut(endpoint) {
            flow.in_flight = flow.in_flight.saturating_sub(1);
        }
        if flows.tenants.contains_key(tenant) {
            flows.tenant(tenant, |t| t.in_flight = t.in_flight.saturating_sub(1));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use herald_core::endpoint::{EndpointSpec, EndpointUrl, RateLimit};

    fn endpoint(limit: Option<RateLimit>) -> Endpoint {
        endpoint_of(TenantId::generate(), limit)
    }

    fn endpoint_of(tenant_id: TenantId, limit: Option<RateLimit>) -> Endpoint {
        let spec: EndpointSpec =
            serde_json::from_value(serde_json::json!({"url": "https://e.example.com/"})).unwrap();
        Endpoint {
            id: EndpointId::generate(),
            tenant_id,
            spec: EndpointSpec {
                url: EndpointUrl::parse("https://e.example.com/").unwrap(),
                rate_limit: limit,
                ..spec
            },
            enabled: true,
            version: 1,
            disabled_reason: None,
            sealed_credentials: vec![],
            created_at: herald_core::Timestamp::UNIX_EPOCH,
            updated_at: herald_core::Timestamp::UNIX_EPOCH,
            health: Default::default(),
            handshake: None,
        }
    }

    #[test]
    fn in_flight_cap() {
        let flow = FlowControl::new(2, 100);
        let e = endpoint(None);
        let now = Instant::now();
        assert_eq!(flow.admit(&e, now), Admission::Admitted);
        assert_eq!(flow.admit(&e, now), Admission::Admitted);
        assert_eq!(flow.admit(&e, now), Admission::Busy);
        flow.release(&e.id, &e.tenant_id);
        assert_eq!(flow.admit(&e, now), Admission::Admitted);
        let own = endpoint(Some(RateLimit { per_second: None, max_in_flight: Some(1) }));
        assert_eq!(flow.admit(&own, now), Admission::Admitted);
        assert_eq!(flow.admit(&own, now), Admission::Busy, "the endpoint's own cap wins");
    }

    #[test]
    fn a_tenant_holds_at_most_its_share_whatever_its_endpoints_allow() {
        let flow = FlowControl::new(10, 3);
        let tenant = TenantId::generate();
        let (a, b) = (endpoint_of(tenant.clone(), None), endpoint_of(tenant.clone(), None));
        let other = endpoint(None);
        let now = Instant::now();
        assert_eq!(flow.admit(&a, now), Admission::Admitted);
        assert_eq!(flow.admit(&b, now), Admission::Admitted);
        assert_eq!(flow.admit(&a, now), Admission::Admitted);
        assert_eq!(flow.admit(&b, now), Admission::TenantBusy, "the tenant's three slots are taken");
        assert_eq!(flow.admit(&other, now), Admission::Admitted, "another tenant is not held back");
        flow.release(&a.id, &tenant);
        assert_eq!(flow.admit(&b, now), Admission::Admitted, "a finished request frees the tenant's slot");
        assert_eq!(flow.admit(&a, now), Admission::TenantBusy);
    }

    #[test]
    fn a_tenant_limit_of_its_own_replaces_the_default() {
        let flow = FlowControl::new(10, 3);
        let tenant = TenantId::generate();
        let e = endpoint_of(tenant.clone(), None);
        let now = Instant::now();
        flow.set_tenant_limits(&tenant, &TenantLimits { max_in_flight: Some(1), ..TenantLimits::default() });
        assert_eq!(flow.admit(&e, now), Admission::Admitted);
        assert_eq!(flow.admit(&e, now), Admission::TenantBusy, "its own limit of one");
        assert_eq!(flow.tenant_load(&tenant), TenantLoad { in_flight: 1, held: 0, max_in_flight: 1 });
        flow.replace_tenant_limits([(
            tenant.clone(),
            TenantLimits { max_in_flight: Some(5), ..TenantLimits::default() },
        )]);
        for _ in 0..4 {
            assert_eq!(flow.admit(&e, now), Admission::Admitted);
        }
        assert_eq!(flow.admit(&e, now), Admission::TenantBusy, "its raised limit of five");
        flow.replace_tenant_limits([]);
        assert_eq!(flow.tenant_load(&tenant).max_in_flight, 3, "back to the default");
    }

    #[test]
    fn held_deliveries_are_counted_per_tenant_until_they_start() {
        let flow = FlowControl::new(10, 3);
        let (a, b) = (TenantId::generate(), TenantId::generate());
        flow.hold(&a, 3);
        flow.hold(&b, 1);
        flow.unhold(&a);
        assert_eq!(flow.tenant_load(&a).held, 2);
        assert_eq!(flow.tenant_load(&b).held, 1);
        flow.unhold(&b);
        flow.unhold(&b);
        assert_eq!(flow.tenant_load(&b), TenantLoad { in_flight: 0, held: 0, max_in_flight: 3 });
        assert!(!flow.lock().tenants.contains_key(&b), "a tenant with nothing here is forgotten");
    }

    #[test]
    fn a_tenant_holding_its_limits_worth_is_saturated() {
        let flow = FlowControl::new(10, 3);
        let (a, b) = (TenantId::generate(), TenantId::generate());
        flow.hold(&a, 2);
        flow.hold(&b, 2);
        flow.set_tenant_limits(&b, &TenantLimits { max_in_flight: Some(2), ..TenantLimits::default() });
        assert_eq!(
            flow.saturated_tenants(),
            std::slice::from_ref(&b),
            "b holds its own limit's worth, a not yet"
        );
        flow.hold(&a, 1);
        let both = flow.saturated_tenants();
        assert!(both.len() == 2 && both.contains(&a) && both.contains(&b), "{both:?}");
        flow.unhold(&a);
        assert_eq!((flow.tenant_load(&a).held, flow.tenant_load(&b).held), (2, 2));
        assert_eq!(flow.saturated_tenants(), std::slice::from_ref(&b));
        let with_floor = FlowControl::new(10, 3).enough_at_least(5);
        with_floor.hold(&b, 4);
        assert!(with_floor.saturated_tenants().is_empty(), "4 held are not enough with a floor of 5");
        with_floor.hold(&b, 1);
        assert_eq!(with_floor.saturated_tenants(), [b]);
    }

    #[tokio::test]
    async fn hand_overs_stop_at_the_bound_and_resume_below_it() {
        let flow = Arc::new(FlowControl::new(10, 3).hand_over_at_most(4));
        let (a, b) = (TenantId::generate(), TenantId::generate());
        assert!(flow.hold_for_hand_over(&a, 3), "below the bound");
        assert!(flow.hold_for_hand_over(&a, 3), "3 held are below 4: the next batch goes too");
        assert!(!flow.hold_for_hand_over(&a, 1), "6 held");
        assert_eq!(flow.tenant_load(&a).held, 6, "a refused hand-over counts nothing");
        assert!(flow.hold_for_hand_over(&b, 1), "another tenant is not held back");
        let waiting = tokio::spawn({
            let (flow, a) = (flow.clone(), a.clone());
            async move { flow.hold_for_hand_over_waiting(&a, 2).await }
        });
        tokio::task::yield_now().await;
        flow.unhold_many(&a, 2);
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "4 held: still at the bound");
        flow.unhold(&a);
        tokio::time::timeout(Duration::from_secs(5), waiting).await.unwrap().unwrap();
        assert_eq!(flow.tenant_load(&a).held, 5, "3 left, and the 2 it waited for");
    }

    #[test]
    fn rate_limit_refills_over_time() {
        let flow = FlowControl::new(100, 100);
        let e = endpoint(Some(RateLimit { per_second: Some(2), max_in_flight: None }));
        let t0 = Instant::now();
        assert_eq!(flow.admit(&e, t0), Admission::Admitted);
        assert_eq!(flow.admit(&e, t0), Admission::Admitted);
        assert!(matches!(flow.admit(&e, t0), Admission::Later(d) if d <= Duration::from_millis(500)));
        assert_eq!(
            flow.admit(&e, t0 + Duration::from_millis(500)),
            Admission::Admitted,
            "one token after 0.5 s"
        );
        assert!(matches!(flow.admit(&e, t0 + Duration::from_millis(500)), Admission::Later(_)));
    }

    #[test]
    fn the_rate_a_receiver_allowed_in_the_handshake_paces_its_endpoint() {
        let flow = FlowControl::new(100, 100);
        let mut e = endpoint(None);
        e.spec.payload_format = herald_core::endpoint::PayloadFormat::Cloudevents;
        e.spec.cloudevents_handshake = true;
        e.handshake = Some(herald_core::handshake::Handshake {
            url: e.spec.url.as_str().to_owned(),
            status: herald_core::handshake::HandshakeStatus::Validated,
            checked_at: herald_core::Timestamp::UNIX_EPOCH,
            allowed_rate: Some(60),
            detail: None,
        });
        let t0 = Instant::now();
        assert_eq!(flow.admit(&e, t0), Admission::Admitted);
        flow.release(&e.id, &e.tenant_id);
        assert!(
            matches!(flow.admit(&e, t0), Admission::Later(d) if d > Duration::from_millis(500)),
            "60 a minute: one a second"
        );
        assert_eq!(flow.admit(&e, t0 + Duration::from_secs(1)), Admission::Admitted);
    }
}
