//! Access: who a caller is (API keys) and which tenant a path names, read through the caches;
//! and the writes that change either (keys created or revoked, tenants updated or deleted),
//! which clear those caches here rather than at every call site.

use std::sync::Arc;

use herald_core::api_key::{ApiKey, KeyHash, Scope};
use herald_core::id::{ApiKeyId, TenantId};
use herald_core::tenant::{Tenant, TenantRef};
use herald_store::{Store, StoreError};

use crate::cache::Caches;
use crate::dispatcher::FlowControl;

/// The access service (cheap to clone).
#[derive(Debug, Clone)]
pub struct Access {
    store: Arc<dyn Store>,
    caches: Arc<Caches>,
    /// Where the dispatcher reads tenants' in-flight limits.
    flow: Arc<FlowControl>,
}

impl Access {
    pub fn new(store: Arc<dyn Store>, caches: Arc<Caches>, flow: Arc<FlowControl>) -> Self {
        Self { store, caches, flow }
    }

    /// The scope of the API key `token`, if it is one.
    pub async fn scope_of(&self, token: &str) -> Result<Option<Scope>, StoreError> {
        let hash = KeyHash::of(token);
        let load =
            || async { Ok::<_, StoreError>(self.store.api_key_by_hash(&hash).await?.map(|key| key.scope)) };
        self.caches.api_keys.get_or_load(&hash.as_str().to_owned(), load).await
    }

    /// The tenant a path segment names (id or uid), whoever asks.
    pub async fn tenant(&self, segment: &str) -> Result<Option<Tenant>, StoreError> {
        let load = || async {
            match TenantRef::parse(segment) {
                Some(reference) => self.store.tenant(&reference).await,
                None => Ok(None),
            }
        };
        self.caches.tenants.get_or_load(&segment.to_owned(), load).await
    }

    pub async fn create_key(&self, key: &ApiKey) -> Result<(), StoreError> {
        self.store.insert_api_key(key).await
    }

    /// Revokes a tenant's key at once (in this process; other instances within `cache_ttl`).
    pub async fn revoke_key(&self, tenant: &TenantId, id: &ApiKeyId) -> Result<bool, StoreError> {
        let deleted = self.store.delete_api_key(tenant, id).await;
        self.caches.api_keys.clear();
        deleted
    }

    pub async fn update_tenant(&self, tenant: &Tenant) -> Result<bool, StoreError> {
        let updated = self.store.update_tenant(tenant).await;
        self.caches.tenants_changed();
        if matches!(updated, Ok(true)) {
            self.flow.set_tenant_limits(&tenant.id, &tenant.limits);
        }
        updated
    }

    /// Creates a tenant; its own limits apply at once.
    pub async fn create_tenant(&self, tenant: &Tenant) -> Result<(), StoreError> {
        self.store.insert_tenant(tenant).await?;
        self.flow.set_tenant_limits(&tenant.id, &tenant.limits);
        Ok(())
    }

    /// Deletes the tenant with everything it owns, its keys included.
    pub async fn delete_tenant(&self, id: &TenantId) -> Result<bool, StoreError> {
        let deleted = self.store.delete_tenant(id).await;
        self.caches.tenants_changed();
        self.flow.set_tenant_limits(id, &Default::default());
        deleted
    }
}
