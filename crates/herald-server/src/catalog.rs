//! The event-type catalog as a service: lookups read through the cache (with compiled JSON
//! Schemas), and every write clears it here rather than at every call site.

use std::sync::Arc;

use herald_core::event_type::{EventType, EventTypeName};
use herald_store::{Store, StoreError};

use crate::cache::Caches;

/// The catalog service (cheap to clone).
#[derive(Debug, Clone)]
pub struct Catalog {
    store: Arc<dyn Store>,
    caches: Arc<Caches>,
}

impl Catalog {
    pub fn new(store: Arc<dyn Store>, caches: Arc<Caches>) -> Self {
        Self { store, caches }
    }

    /// The catalog entry of `name`, if any (cached, absence too).
    pub async fn entry(&self, name: &EventTypeName) -> Result<Option<Arc<EventType>>, StoreError> {
        let load = || async { Ok::<_, StoreError>(Some(self.store.event_type(name).await?.map(Arc::new))) };
        Ok(self.caches.event_types.get_or_load(name, load).await?.flatten())
    }

    pub async fn insert(&self, event_type: &EventType) -> Result<(), StoreError> {
        let inserted = self.store.insert_event_type(event_type).await;
        self.caches.event_types.clear();
        inserted
    }

    pub async fn update(&self, event_type: &EventType) -> Result<bool, StoreError> {
        let updated = self.store.update_event_type(event_type).await;
        self.caches.event_types.clear();
        updated
    }

    pub async fn delete(&self, name: &EventTypeName) -> Result<bool, StoreError> {
        let deleted = self.store.delete_event_type(name).await;
        self.caches.event_types.clear();
        deleted
    }
}
