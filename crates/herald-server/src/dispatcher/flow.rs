//! Flow control per endpoint and per tenant, in this process: at most `maxInFlight` requests at
//! once to an endpoint (its own setting, else `delivery.endpoint_max_in_flight`), at most
//! `perSecond` starts per second (a token bucket holding one second's worth), and at most
//! `delivery.tenant_max_in_flight` requests at once for all of a tenant's endpoints together — so
//! a tenant with many slow receivers holds a share of the workers, never all of them. A delivery
//! that may not start now waits — it is never failed and never charged an attempt.
//!
//! With several instances on PostgreSQL each enforces the limits for the attempts it runs, so an
//! endpoint sees at most (instances × limit); the limits hold approximately, not exactly.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use herald_core::endpoint::Endpoint;
use herald_core::id::{EndpointId, TenantId};
use herald_core::rate::TokenBucket;

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

/// The endpoints' and tenants' current flows.
#[derive(Debug, Default)]
struct Flows {
    endpoints: HashMap<EndpointId, Flow>,
    /// Requests in flight per tenant (tenants with none are removed).
    tenants: HashMap<TenantId, u32>,
}

#[derive(Debug)]
pub struct FlowControl {
    default_max_in_flight: u32,
    tenant_max_in_flight: u32,
    flows: Mutex<Flows>,
}

impl FlowControl {
    pub fn new(default_max_in_flight: u32, tenant_max_in_flight: u32) -> Self {
        Self {
            default_max_in_flight,
            tenant_max_in_flight: tenant_max_in_flight.max(1),
            flows: Mutex::new(Flows::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Flows> {
        self.flows.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes a slot for a request to `endpoint` if its and its tenant's limits allow one now.
    pub fn admit(&self, endpoint: &Endpoint, now: Instant) -> Admission {
        let limit = endpoint.spec.rate_limit.as_ref();
        let max_in_flight = limit.and_then(|l| l.max_in_flight).unwrap_or(self.default_max_in_flight).max(1);
        let per_second = limit.and_then(|l| l.per_second).map(f64::from);
        let mut flows = self.lock();
        let Flows { endpoints, tenants } = &mut *flows;
        let tenant = tenants.get(&endpoint.tenant_id).copied().unwrap_or(0);
        let flow = endpoints.entry(endpoint.id.clone()).or_insert_with(|| Flow {
            in_flight: 0,
            bucket: TokenBucket::full(per_second.unwrap_or(1.0), now),
        });
        if flow.in_flight >= max_in_flight {
            return Admission::Busy;
        }
        if tenant >= self.tenant_max_in_flight {
            return Admission::TenantBusy;
        }
        if let Some(rate) = per_second
            && let Err(wait) = flow.bucket.take(rate, now)
        {
            return Admission::Later(wait);
        }
        flow.in_flight += 1;
        *tenants.entry(endpoint.tenant_id.clone()).or_default() += 1;
        Admission::Admitted
    }

    /// Gives the slot back when a request finished.
    pub fn release(&self, endpoint: &EndpointId, tenant: &TenantId) {
        let mut flows = self.lock();
        if let Some(flow) = flows.endpoints.get_mut(endpoint) {
            flow.in_flight = flow.in_flight.saturating_sub(1);
        }
        if let Some(count) = flows.tenants.get_mut(tenant) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                flows.tenants.remove(tenant);
            }
        }
    }
}

#[cfg(test)]
mod tests {
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
}
