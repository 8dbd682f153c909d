//! Tenants' publish quotas: at most `tenant_publish_per_second` events per second per tenant,
//! in this process (a token bucket with one second's worth of burst). Beyond it the publish API
//! answers 429 with `Retry-After`, and nothing is stored, so one tenant publishing in bulk cannot
//! take the database's and the dispatcher's time from the others.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use herald_core::id::TenantId;
use herald_core::rate::TokenBucket;

#[derive(Debug)]
pub struct PublishQuota {
    per_second: Option<f64>,
    buckets: Mutex<HashMap<TenantId, TokenBucket>>,
}

impl PublishQuota {
    /// `None`: no quota.
    pub fn new(per_second: Option<u32>) -> Self {
        Self { per_second: per_second.map(f64::from), buckets: Mutex::new(HashMap::new()) }
    }

    /// The quota, in events per second, if there is one.
    pub fn per_second(&self) -> Option<f64> {
        self.per_second
    }

    /// Counts one publish of `tenant`'s; when its quota is used up, how long until it is not.
    pub fn admit(&self, tenant: &TenantId, now: Instant) -> Result<(), Duration> {
        let Some(rate) = self.per_second else { return Ok(()) };
        let mut buckets = self.buckets.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        buckets.entry(tenant.clone()).or_insert_with(|| TokenBucket::full(rate, now)).take(rate, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_tenant_has_its_own_quota() {
        let quota = PublishQuota::new(Some(2));
        let (a, b) = (TenantId::generate(), TenantId::generate());
        let now = Instant::now();
        assert!(quota.admit(&a, now).is_ok() && quota.admit(&a, now).is_ok());
        assert!(quota.admit(&a, now).is_err(), "a's two per second are used");
        assert!(quota.admit(&b, now).is_ok(), "b is not held back by a");
        assert!(PublishQuota::new(None).admit(&a, now).is_ok(), "no quota, no limit");
    }
}
