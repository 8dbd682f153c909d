//! Tenants' publish quotas: at most the tenant's own `publishPerSecond`, else the instance's
//! `tenant_publish_per_second`, events per second per tenant, in this process (a token bucket with one second's worth of burst). Beyond it the publish API
//! answers 429 with `Retry-After`, and nothing is stored, so one tenant publishing in bulk cannot
//! take the database's and the dispatcher's time from the others.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use herald_core::id::TenantId;
use herald_core::rate::TokenBucket;
use herald_core::tenant::Tenant;

#[derive(Debug)]
pub struct PublishQuota {
    /// The instance's default; `None`: tenants without a quota of their own have none.
    per_second: Option<u32>,
    buckets: Mutex<HashMap<TenantId, TokenBucket>>,
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
        Self { per_second, buckets: Mutex::new(HashMap::new()) }
    }

    /// Counts one publish of the tenant's against its quota (its own, else the default).
    pub fn admit(&self, tenant: &Tenant, now: Instant) -> Result<(), OverQuota> {
        let Some(per_second) = tenant.limits.publish_per_second.or(self.per_second) else { return Ok(()) };
        let rate = f64::from(per_second);
        let mut buckets = self.buckets.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let bucket = buckets.entry(tenant.id.clone()).or_insert_with(|| TokenBucket::full(rate, now));
        bucket.take(rate, now).map_err(|wait| OverQuota { per_second, wait })
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
            limits: TenantLimits { max_in_flight: None, publish_per_second },
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
}
