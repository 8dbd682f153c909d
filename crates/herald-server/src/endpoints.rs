//! The endpoint service: every change to an endpoint made through the API goes through here.
//!
//! A change is computed from the endpoint as read and stored only if the endpoint is still at
//! that version (`Store::update_endpoint`); when something else changed it meanwhile (a disable
//! by the dispatcher, another update, a rotation), the change is computed again from the new
//! state — or, when the caller named the version it expects (`If-Match`), refused. So no write
//! ever silently undoes another. Each change also seals the credentials, clears the endpoint
//! caches, closes the circuit when the endpoint is re-enabled or sent elsewhere, and is
//! announced as an operational event.

use std::sync::Arc;
use std::time::Duration;

use herald_core::circuit::Health;
use herald_core::endpoint::{Endpoint, EndpointCredentials, EndpointSpec};
use herald_core::id::{EndpointId, TenantId};
use herald_core::seal::{MasterKey, SealError};
use herald_store::{EndpointUpdate, Shift, Store, StoreError};
use serde_json::{Value, json};

use crate::cache::Caches;
use crate::clock::Clock;
use crate::operational::Operational;
use crate::publish::Publisher;

/// How many times a change is computed again after losing a race before giving up.
const ATTEMPTS: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error("no such endpoint")]
    NotFound,
    #[error("the endpoint is at version {current}, not the one the request expects")]
    PreconditionFailed { current: u64 },
    #[error("the endpoint kept changing while this change was being made")]
    Contended,
    #[error("the endpoint's credentials cannot be opened")]
    Unreadable(#[from] SealError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An endpoint as a change left it, with its credentials opened.
#[derive(Debug)]
pub struct Changed {
    pub endpoint: Endpoint,
    pub credentials: EndpointCredentials,
}

/// The endpoint service (cheap to clone).
#[derive(Debug, Clone)]
pub struct Endpoints {
    store: Arc<dyn Store>,
    master_key: Arc<MasterKey>,
    clock: Arc<dyn Clock>,
    caches: Arc<Caches>,
    operational: Operational,
    publisher: Publisher,
    /// How long past a probe deliveries held by an open circuit wait.
    probe_time: Duration,
}

impl Endpoints {
    pub fn new(
        store: Arc<dyn Store>,
        master_key: Arc<MasterKey>,
        clock: Arc<dyn Clock>,
        caches: Arc<Caches>,
        operational: Operational,
        publisher: Publisher,
        probe_time: Duration,
    ) -> Self {
        Self { store, master_key, clock, caches, operational, publisher, probe_time }
    }

    /// Creates an endpoint of `tenant` (version 1).
    pub async fn create(
        &self,
        tenant: TenantId,
        spec: EndpointSpec,
        credentials: &EndpointCredentials,
        enabled: bool,
    ) -> Result<Endpoint, EndpointError> {
        let now = self.clock.now();
        let id = EndpointId::generate_at(now);
        let endpoint = Endpoint {
            sealed_credentials: Endpoint::seal_credentials(&self.master_key, &id, credentials),
            id,
            tenant_id: tenant,
            spec,
            enabled,
            disabled_reason: None,
            created_at: now,
            updated_at: now,
            version: 1,
            health: Health::default(),
            handshake: None,
        };
        let inserted = self.store.insert_endpoint(&endpoint).await;
        self.caches.endpoints_changed(&endpoint.tenant_id);
        inserted?;
        self.operational.endpoint("endpoint.created", &endpoint, announced(&endpoint)).await;
        Ok(endpoint)
    }

    /// The endpoint `id` of `tenant` (another tenant's is not found).
    pub async fn find(&self, tenant: &TenantId, id: &EndpointId) -> Result<Endpoint, EndpointError> {
        self.store.endpoint(tenant, id).await?.ok_or(EndpointError::NotFound)
    }

    /// The endpoint's credentials, opened with the master key.
    pub fn credentials(&self, endpoint: &Endpoint) -> Result<EndpointCredentials, EndpointError> {
        Ok(endpoint.open_credentials(&self.master_key)?)
    }

    /// Applies `apply` to the endpoint and its credentials and stores the result, if the
    /// endpoint is at one of the `expected` versions (any when `None`). Losing a race to another
    /// change computes it again from the new state (or, with `expected`, fails).
    pub async fn change<E: From<EndpointError>>(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
        expected: Option<&[u64]>,
        mut apply: impl FnMut(&mut Endpoint, &mut EndpointCredentials) -> Result<(), E>,
    ) -> Result<Changed, E> {
        for _ in 0..ATTEMPTS {
            let read = self.find(tenant, id).await?;
            if let Some(expected) = expected
                && !expected.contains(&read.version)
            {
                return Err(EndpointError::PreconditionFailed { current: read.version }.into());
            }
            let mut credentials = self.credentials(&read)?;
            let mut endpoint = read.clone();
            let before = credentials.clone();
            apply(&mut endpoint, &mut credentials)?;
            if endpoint == read && credentials == before {
                // Nothing to store: no new version, nothing to announce.
                return Ok(Changed { endpoint, credentials });
            }
            endpoint.sealed_credentials =
                Endpoint::seal_credentials(&self.master_key, &endpoint.id, &credentials);
            endpoint.updated_at = self.clock.now();
            let stored = self.store.update_endpoint(&endpoint).await.map_err(EndpointError::from);
            self.caches.endpoints_changed(tenant);
            match stored? {
                EndpointUpdate::Updated { version } => endpoint.version = version,
                EndpointUpdate::Missing => return Err(EndpointError::NotFound.into()),
                EndpointUpdate::Stale if expected.is_some() => {
                    let current = self.find(tenant, id).await?.version;
                    return Err(EndpointError::PreconditionFailed { current }.into());
                }
                EndpointUpdate::Stale => continue,
            }
            let moved = endpoint.spec.url != read.spec.url;
            if (endpoint.enabled && !read.enabled) || moved {
                self.close_circuit(&mut endpoint).await?;
            }
            self.operational.endpoint("endpoint.updated", &endpoint, announced(&endpoint)).await;
            return Ok(Changed { endpoint, credentials });
        }
        Err(EndpointError::Contended.into())
    }

    /// Deletes the endpoint; its delivery log stays readable.
    pub async fn delete(&self, tenant: &TenantId, id: &EndpointId) -> Result<(), EndpointError> {
        let deleted = self.store.delete_endpoint(tenant, id).await;
        self.caches.endpoints_changed(tenant);
        if !deleted? {
            return Err(EndpointError::NotFound);
        }
        self.operational.endpoint_deleted(tenant, id).await;
        Ok(())
    }

    /// Closes the endpoint's circuit and forgets its failures (re-enabled, or sent elsewhere):
    /// what the circuit held is due at once.
    async fn close_circuit(&self, endpoint: &mut Endpoint) -> Result<(), EndpointError> {
        let now = self.clock.now();
        let Some(probe_at) = endpoint.health.probe_at.or(endpoint.health.failing_since.map(|_| now)) else {
            return Ok(());
        };
        let up_to = herald_core::time::add(probe_at, self.probe_time);
        let closed = Health { changed_at: Some(now), ..Default::default() };
        let released =
            self.store.set_endpoint_health(&endpoint.id, &closed, Shift::Release { up_to }, now).await;
        self.caches.endpoints_changed(&endpoint.tenant_id);
        released?;
        self.publisher.wake();
        endpoint.health = closed;
        Ok(())
    }
}

/// What `endpoint.created` / `endpoint.updated` carry besides the ids and the URL.
fn announced(endpoint: &Endpoint) -> Value {
    json!({"enabled": endpoint.enabled, "description": endpoint.spec.description})
}
