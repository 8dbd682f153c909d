//! Read-through caches for what every request looks up: API keys, tenants, a tenant's endpoints
//! and event types. A change made through this process clears the affected cache at once; a
//! change made through another process sharing the database is seen within `cache_ttl`.
//!
//! Only found values are cached: an unknown key or tenant is looked up every time.
//!
//! A missing entry is loaded by one caller at a time per key ([`TtlMap::get_or_load`]): the
//! requests that arrive together on a cold cache, or just after an entry expired, wait for one
//! database read instead of each making its own (64 publishers starting at once opened every
//! connection of the read pool, and each keeps its own page cache).

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
    /// The keys being loaded, each with the turn its loaders take one by one.
    loading: Mutex<HashMap<K, Arc<tokio::sync::Mutex<()>>>>,
}

/// A caller's place among the loaders of one key. Dropped — the load done, failed, or abandoned
/// with its request — it takes the key's turn out of `loading` unless a newer one replaced it:
/// callers still waiting hold the turn themselves, and a caller arriving later starts a new one.
/// So the map only ever holds keys being loaded now, whatever keys callers make up.
struct Turn<'a, K: Eq + Hash> {
    loading: &'a Mutex<HashMap<K, Arc<tokio::sync::Mutex<()>>>>,
    key: &'a K,
    turn: Arc<tokio::sync::Mutex<()>>,
}

impl<'a, K: Eq + Hash + Clone> Turn<'a, K> {
    fn take(loading: &'a Mutex<HashMap<K, Arc<tokio::sync::Mutex<()>>>>, key: &'a K) -> Self {
        let mut map = loading.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let turn = map.entry(key.clone()).or_default().clone();
        Self { loading, key, turn }
    }
}

impl<K: Eq + Hash> Drop for Turn<'_, K> {
    fn drop(&mut self) {
        let mut map = self.loading.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if map.get(self.key).is_some_and(|current| Arc::ptr_eq(current, &self.turn)) {
            map.remove(self.key);
        }
    }
}

impl<K: Eq + Hash + Clone, V: Clone> TtlMap<K, V> {
    fn new(ttl: Duration) -> Self {
        Self { ttl, map: Mutex::new(HashMap::new()), loading: Mutex::new(HashMap::new()) }
    }

    /// The value of `key`: cached, or what `load` finds — found values are cached. Callers that
    /// miss the same key together load it one at a time, each first looking again, so that all
    /// but the first find what the first one loaded.
    pub async fn get_or_load<E, Fut>(&self, key: &K, load: impl FnOnce() -> Fut) -> Result<Option<V>, E>
    where
        Fut: Future<Output = Result<Option<V>, E>>,
    {
        if let Some(value) = self.get(key) {
            return Ok(Some(value));
        }
        let turn = Turn::take(&self.loading, key);
        let _held = turn.turn.lock().await;
        match self.get(key) {
            Some(value) => Ok(Some(value)),
            None => load().await.inspect(|found| {
                if let Some(value) = found {
                    self.put(key.clone(), value.clone());
                }
            }),
        }
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
        let load = || async {
            let endpoints = store.tenant_endpoints(tenant).await?;
            Ok::<_, herald_store::StoreError>(Some(Arc::new(endpoints.into_iter().map(Arc::new).collect())))
        };
        Ok(self.endpoints.get_or_load(tenant, load).await?.unwrap_or_default())
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

    #[tokio::test]
    async fn callers_missing_a_key_together_load_it_once() {
        let map: TtlMap<&str, u32> = TtlMap::new(Duration::from_secs(60));
        let loads = std::sync::atomic::AtomicUsize::new(0);
        let load = || async {
            loads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            // The others arrive while this load is under way.
            tokio::task::yield_now().await;
            Ok::<_, ()>(Some(7))
        };
        let found = futures::future::join_all((0..20).map(|_| map.get_or_load(&"a", load))).await;
        assert!(found.iter().all(|f| *f == Ok(Some(7))), "{found:?}");
        assert_eq!(loads.load(std::sync::atomic::Ordering::SeqCst), 1, "one load for twenty callers");
        assert!(map.loading.lock().unwrap().is_empty(), "no turn is left behind");

        // Nothing found is not cached: the next caller looks again.
        let missing = map.get_or_load(&"b", || async { Ok::<_, ()>(None) }).await;
        assert_eq!(missing, Ok(None));
        let found = map.get_or_load(&"b", || async { Ok::<_, ()>(Some(8)) }).await;
        assert_eq!((found, map.get(&"b")), (Ok(Some(8)), Some(8)));
    }

    /// A load abandoned half-way (its request gone) leaves nothing behind: callers cannot grow the
    /// map of keys being loaded with keys they make up and then walk away from.
    #[tokio::test]
    async fn an_abandoned_load_leaves_no_turn_behind() {
        let map: TtlMap<String, u32> = TtlMap::new(Duration::from_secs(60));
        for n in 0..3 {
            let key = format!("made-up-{n}");
            let never = map.get_or_load(&key, std::future::pending::<Result<Option<u32>, ()>>);
            assert!(tokio::time::timeout(Duration::from_millis(1), never).await.is_err(), "still loading");
        }
        assert!(map.loading.lock().unwrap().is_empty(), "no turn is left behind");
        let found = map.get_or_load(&"made-up-0".to_owned(), || async { Ok::<_, ()>(Some(1)) }).await;
        assert_eq!(found, Ok(Some(1)), "the key loads again");
    }
}
