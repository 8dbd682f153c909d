//! Tenants' publish quotas: at most the tenant's own `publishPerSecond`, else the instance's
//! `tenant_publish_per_second`, events per second per tenant, in this process. A second's worth
//! is allowed, but only a tenth of it (at least ten) goes at once; publishes beyond that wait
//! their turn at the quota's rate ([`Pacer`]), so a tenant publishing in bulk loads the service
//! evenly instead of in one burst each second. A publish whose turn would come later than the
//! second's worth allows is answered 429 with `Retry-After`, and nothing is stored: one tenant
//! publishing in bulk cannot take the database's and the dispatcher's time from the others.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use herald_core::id::TenantId;
use herald_core::rate::Pacer;
use herald_core::tenant::Tenant;

#[derive(Debug)]
pub struct PublishQuota {
    /// The instance's default; `None`: tenants without a quota of their own have none.
    per_second: Option<u32>,
    pacers: Mutex<HashMap<TenantId, Pacer>>,
}

/// A publish refused: the tenant's quota, and how long until it allows one again.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OverQuota {
    pub per_second: u32,
    pub wait: Duration,
}

impl PublishQuota {
    /// `None`: no default quota.
    pub fn new(per_second: Option<u32>) -> Self {
        Self { per_second, pacers: Mutex::new(HashMap::new()) }
    }

    /// Counts one publish of the tenant's against its quota (its own, else the default): how
    /// long it waits for its turn (zero within the burst, or without a quota), or refused.
    pub fn admit(&self, tenant: &Tenant, now: Instant) -> Result<Duration, OverQuota> {
        let Some(per_second) = tenant.limits.publish_per_second.or(self.per_second) else {
            return Ok(Duration::ZERO);
        };
        let mut pacers = self.pacers.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let pacer = pacers.entry(tenant.id.clone()).or_default();
        pacer.take(f64::from(per_second), now).map_err(|wait| OverQuota { per_second, wait })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use herald_core::tenant::TenantLimits;

    fn tenant(publish_per_second: Option<u32>) -> Tenant {
        Tenant {
            id: TenantId::generate(),
            uid: None,
            name: "t".into(),
            metadata: Default::default(),
            limits: TenantLimits { max_in_flight: None, publish_per_second, retention_days: None },
            created_at: herald_core::Timestamp::UNIX_EPOCH,
            updated_at: herald_core::Timestamp::UNIX_EPOCH,
        }
    }

    #[test]
    fn each_tenant_has_its_own_quota() {
        let quota = PublishQuota::new(Some(2));
        let (a, b) = (tenant(None), tenant(None));
        let now = Instant::now();
        assert!(quota.admit(&a, now).is_ok() && quota.admit(&a, now).is_ok());
        let refused = quota.admit(&a, now).unwrap_err();
        assert_eq!(refused.per_second, 2, "a's two per second are used");
        assert!(refused.wait > Duration::ZERO && refused.wait <= Duration::from_millis(500));
        assert!(quota.admit(&b, now).is_ok(), "b is not held back by a");
        assert!(PublishQuota::new(None).admit(&a, now).is_ok(), "no quota, no limit");
    }

    #[test]
    fn a_quota_of_its_own_replaces_the_default_or_sets_one() {
        let now = Instant::now();
        let own = tenant(Some(3));
        let quota = PublishQuota::new(Some(1));
        assert!((0..3).all(|_| quota.admit(&own, now).is_ok()), "three, not the default one");
        assert_eq!(quota.admit(&own, now).unwrap_err().per_second, 3);
        let unlimited_default = PublishQuota::new(None);
        assert!(unlimited_default.admit(&own, now).is_ok() && unlimited_default.admit(&own, now).is_ok());
        assert!(unlimited_default.admit(&own, now).is_ok());
        assert!(unlimited_default.admit(&own, now).is_err(), "its own quota applies without a default");
    }

    #[test]
    fn a_large_quota_paces_what_goes_beyond_its_burst() {
        let quota = PublishQuota::new(Some(500));
        let bulk = tenant(None);
        let now = Instant::now();
        assert!(
            (0..50).all(|_| quota.admit(&bulk, now) == Ok(Duration::ZERO)),
            "a tenth of a second's worth at once"
        );
        let paced: Vec<Duration> = (0..450).map(|_| quota.admit(&bulk, now).unwrap()).collect();
        assert!(
            paced[0] > Duration::ZERO && paced[449] > Duration::from_millis(899),
            "{:?}..{:?}",
            paced[0],
            paced[449]
        );
        let refused = quota.admit(&bulk, now).unwrap_err();
        assert_eq!(refused.per_second, 500, "beyond the second's worth: refused");
        assert_eq!(quota.admit(&tenant(None), now), Ok(Duration::ZERO), "another tenant goes at once");
    }
}
