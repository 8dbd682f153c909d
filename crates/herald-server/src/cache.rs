//! Read-through caches for what every request looks up: API keys, tenants, a tenant's endpoints
//! and event types. A change made through this process clears the affected cache at once; a
//! change made through another process sharing the database is seen within `cache_ttl`.
//!
//! Only found values are cached: an unknown key or tenant is looked up every time.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use herald_core::api_key::Scope;
use herald_core::endpoint::Endpoint;
use herald_core::event_type::{EventType, EventTypeName};
use herald_core::id::TenantId;
use herald_core::tenant::Tenant;

/// Entries kept before a map is emptied (a bound, not an eviction policy: reloading is cheap).
const MAX_ENTRIES: usize = 100_000;

#[derive(Debug)]
pub struct TtlMap<K, V> {
    ttl: Duration,
    map: Mutex<HashMap<K, (V, Instant)>>,
}

impl<K: Eq + Hash, V: Clone> TtlMap<K, V> {
    fn new(ttl: Duration) -> Self {
        Self { ttl, map: Mutex::new(HashMap::new()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, (V, Instant)>> {
        self.map.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn get(&self, key: &K) -> Option<V> {
        let map = self.lock();
        map.get(key).filter(|(_, at)| at.elapsed() < self.ttl).map(|(value, _)| value.clone())
    }

    pub fn put(&self, key: K, value: V) {
        let mut map = self.lock();
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(key, (value, Instant::now()));
    }

    pub fn clear(&self) {
        self.lock().clear();
    }

    pub fn remove(&self, key: &K) {
        self.lock().remove(key);
    }
}

#[derive(Debug)]
pub struct Caches {
    /// By key hash.
    pub api_keys: TtlMap<String, Scope>,
    /// By the path segment that named the tenant (id or uid).
    pub tenants: TtlMap<String, Tenant>,
    /// Every endpoint of a tenant.
    pub endpoints: TtlMap<TenantId, Arc<Vec<Arc<Endpoint>>>>,
    /// `None`: the type is not in the catalog.
    pub event_types: TtlMap<EventTypeName, Option<Arc<EventType>>>,
}

impl Caches {
    pub fn new(ttl: Duration) -> Self {
        Self {
            api_keys: TtlMap::new(ttl),
            tenants: TtlMap::new(ttl),
            endpoints: TtlMap::new(ttl),
            event_types: TtlMap::new(ttl),
        }
    }

    /// Every endpoint of the tenant, read through the cache (what publishing matches against).
    pub async fn tenant_endpoints(
        &self,
        store: &dyn herald_store::Store,
        tenant: &TenantId,
    ) -> herald_store::Result<Arc<Vec<Arc<Endpoint>>>> {
        if let Some(endpoints) = self.endpoints.get(tenant) {
            return Ok(endpoints);
        }
        let endpoints: Arc<Vec<Arc<Endpoint>>> =
            Arc::new(store.tenant_endpoints(tenant).await?.into_iter().map(Arc::new).collect());
        self.endpoints.put(tenant.clone(), endpoints.clone());
        Ok(endpoints)
    }

    /// After one of the tenant's endpoints changed (others' cached endpoints stay).
    pub fn endpoints_changed(&self, tenant: &TenantId) {
        self.endpoints.remove(tenant);
    }

    /// After a tenant changed or went away (its keys and endpoints with it).
    pub fn tenants_changed(&self) {
        self.tenants.clear();
        self.api_keys.clear();
        self.endpoints.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_clear() {
        let map: TtlMap<&str, u32> = TtlMap::new(Duration::from_millis(30));
        map.put("a", 1);
        assert_eq!(map.get(&"a"), Some(1));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(map.get(&"a"), None, "expired");
        map.put("a", 2);
        map.put("b", 3);
        map.remove(&"a");
        assert_eq!((map.get(&"a"), map.get(&"b")), (None, Some(3)), "only the removed key goes");
        map.clear();
        assert_eq!(map.get(&"b"), None);
    }
}
