//! One handle per resource of the API; each method is one operation.

use futures::stream::BoxStream;
use herald_api::bulk_retries::{BulkFilter, BulkRetryOut};
use herald_api::deliveries::{DeliveryListParams, DeliveryOut};
use herald_api::endpoints::{
    EndpointCreated, EndpointIn, EndpointOut, EndpointPatch, RecoverIn, RecoverOut, RotateIn, RotateOut,
    StatsOut, StatsParams, TestIn, TestOut,
};
use herald_api::event_types::{CatalogFilter, EventTypeIn, EventTypeOut, EventTypePatch, EventTypeReplace};
use herald_api::events::{EventIn, EventListParams, EventOut};
use herald_api::keys::{ApiKeyCreated, ApiKeyIn, ApiKeyOut};
use herald_api::portal::{PortalSessionIn, PortalSessionOut};
use herald_api::tenants::{TenantIn, TenantOut, TenantPatch, TenantStatsOut};
use herald_api::{ListResponse, PageParams};

use crate::operation as op;
use crate::{Client, Result};

/// A response with the version its `ETag` names (endpoints), for a later `If-Match`.
#[derive(Debug, Clone)]
pub struct Versioned<T> {
    pub value: T,
    pub version: Option<u64>,
}

/// No filter beyond the page.
#[derive(serde::Serialize)]
struct NoFilter;

const NO_BODY: Option<&()> = None;

/// `/v1/tenants`: admin keys (a tenant key may get its own tenant and its stats).
#[derive(Debug, Clone)]
pub struct Tenants {
    client: Client,
}

impl Tenants {
    pub(crate) fn new(client: Client) -> Self {
        Self { client }
    }

    pub async fn create(&self, tenant: &TenantIn) -> Result<TenantOut> {
        self.client.call(&op::CREATE_TENANT, &[], &[], Some(tenant)).await
    }

    /// One page, newest first.
    pub async fn list(&self, page: &PageParams) -> Result<ListResponse<TenantOut>> {
        self.client.page(&op::LIST_TENANTS, &[], &NoFilter, page).await
    }

    /// Every tenant, newest first.
    pub fn stream(&self) -> BoxStream<'static, Result<TenantOut>> {
        self.client.stream(&op::LIST_TENANTS, Vec::new(), NoFilter)
    }

    /// By id or uid.
    pub async fn get(&self, tenant: &str) -> Result<TenantOut> {
        self.client.call(&op::GET_TENANT, &[tenant], &[], NO_BODY).await
    }

    pub async fn update(&self, tenant: &str, patch: &TenantPatch) -> Result<TenantOut> {
        self.client.call(&op::UPDATE_TENANT, &[tenant], &[], Some(patch)).await
    }

    /// Deletes the tenant and everything it owns.
    pub async fn delete(&self, tenant: &str) -> Result<()> {
        self.client.call_empty(&op::DELETE_TENANT, &[tenant], NO_BODY, None).await
    }

    pub async fn stats(&self, tenant: &str) -> Result<TenantStatsOut> {
        self.client.call(&op::TENANT_STATS, &[tenant], &[], NO_BODY).await
    }
}

/// `/v1/tenants/{tenant}/keys`: admin keys only.
#[derive(Debug, Clone)]
pub struct Keys {
    client: Client,
    tenant: String,
}

impl Keys {
    pub(crate) fn new(client: Client, tenant: String) -> Self {
        Self { client, tenant }
    }

    /// A new key; its text is in this answer only.
    pub async fn create(&self, key: &ApiKeyIn) -> Result<ApiKeyCreated> {
        self.client.call(&op::CREATE_KEY, &[&self.tenant], &[], Some(key)).await
    }

    pub async fn list(&self, page: &PageParams) -> Result<ListResponse<ApiKeyOut>> {
        self.client.page(&op::LIST_KEYS, &[&self.tenant], &NoFilter, page).await
    }

    pub fn stream(&self) -> BoxStream<'static, Result<ApiKeyOut>> {
        self.client.stream(&op::LIST_KEYS, vec![self.tenant.clone()], NoFilter)
    }

    pub async fn revoke(&self, key: &str) -> Result<()> {
        self.client.call_empty(&op::REVOKE_KEY, &[&self.tenant, key], NO_BODY, None).await
    }
}

/// `/v1/tenants/{tenant}/portal-sessions`: admin keys only.
#[derive(Debug, Clone)]
pub struct PortalSessions {
    client: Client,
    tenant: String,
}

impl PortalSessions {
    pub(crate) fn new(client: Client, tenant: String) -> Self {
        Self { client, tenant }
    }

    /// A one-time link into the tenant's pages of the web interface.
    pub async fn create(&self, session: &PortalSessionIn) -> Result<PortalSessionOut> {
        self.client.call(&op::CREATE_PORTAL_SESSION, &[&self.tenant], &[], Some(session)).await
    }
}

/// `/v1/event-types`: any key reads, admin keys write.
#[derive(Debug, Clone)]
pub struct EventTypes {
    client: Client,
}

impl EventTypes {
    pub(crate) fn new(client: Client) -> Self {
        Self { client }
    }

    pub async fn create(&self, event_type: &EventTypeIn) -> Result<EventTypeOut> {
        self.client.call(&op::CREATE_EVENT_TYPE, &[], &[], Some(event_type)).await
    }

    /// One page, by name.
    pub async fn list(
        &self,
        filter: &CatalogFilter,
        page: &PageParams,
    ) -> Result<ListResponse<EventTypeOut>> {
        self.client.page(&op::LIST_EVENT_TYPES, &[], filter, page).await
    }

    pub fn stream(&self, filter: CatalogFilter) -> BoxStream<'static, Result<EventTypeOut>> {
        self.client.stream(&op::LIST_EVENT_TYPES, Vec::new(), filter)
    }

    pub async fn get(&self, name: &str) -> Result<EventTypeOut> {
        self.client.call(&op::GET_EVENT_TYPE, &[name], &[], NO_BODY).await
    }

    /// Replaces every field of the type `name` (a field left out takes its default).
    pub async fn replace(&self, name: &str, event_type: &EventTypeReplace) -> Result<EventTypeOut> {
        self.client.call(&op::REPLACE_EVENT_TYPE, &[name], &[], Some(event_type)).await
    }

    pub async fn update(&self, name: &str, patch: &EventTypePatch) -> Result<EventTypeOut> {
        self.client.call(&op::UPDATE_EVENT_TYPE, &[name], &[], Some(patch)).await
    }

    pub async fn delete(&self, name: &str) -> Result<()> {
        self.client.call_empty(&op::DELETE_EVENT_TYPE, &[name], NO_BODY, None).await
    }
}

/// `/v1/tenants/{tenant}/endpoints`. Writes send `If-Match` when [`Endpoints::if_match`] set a
/// version (a write to an endpoint changed since is refused with 412).
#[derive(Debug, Clone)]
pub struct Endpoints {
    client: Client,
    tenant: String,
    expected: Option<u64>,
}

impl Endpoints {
    pub(crate) fn new(client: Client, tenant: String) -> Self {
        Self { client, tenant, expected: None }
    }

    /// Writes through this handle apply only to an endpoint still at `version` (its `ETag`).
    pub fn if_match(mut self, version: u64) -> Self {
        self.expected = Some(version);
        self
    }

    /// A new endpoint; its signing secret is in this answer (and on rotation) only.
    pub async fn create(&self, endpoint: &EndpointIn) -> Result<EndpointCreated> {
        self.client.call(&op::CREATE_ENDPOINT, &[&self.tenant], &[], Some(endpoint)).await
    }

    pub async fn list(&self, page: &PageParams) -> Result<ListResponse<EndpointOut>> {
        self.client.page(&op::LIST_ENDPOINTS, &[&self.tenant], &NoFilter, page).await
    }

    pub fn stream(&self) -> BoxStream<'static, Result<EndpointOut>> {
        self.client.stream(&op::LIST_ENDPOINTS, vec![self.tenant.clone()], NoFilter)
    }

    pub async fn get(&self, endpoint: &str) -> Result<EndpointOut> {
        self.get_versioned(endpoint).await.map(|v| v.value)
    }

    /// The endpoint and its version, for [`Endpoints::if_match`].
    pub async fn get_versioned(&self, endpoint: &str) -> Result<Versioned<EndpointOut>> {
        self.client.versioned(&op::GET_ENDPOINT, &[&self.tenant, endpoint], &[], NO_BODY, None).await
    }

    /// Replaces every setting (a setting left out takes its default).
    pub async fn replace(&self, endpoint: &str, spec: &EndpointIn) -> Result<Versioned<EndpointOut>> {
        let args = [self.tenant.as_str(), endpoint];
        self.client.versioned(&op::REPLACE_ENDPOINT, &args, &[], Some(spec), self.expected).await
    }

    /// Changes the settings the patch names.
    pub async fn update(&self, endpoint: &str, patch: &EndpointPatch) -> Result<Versioned<EndpointOut>> {
        let args = [self.tenant.as_str(), endpoint];
        self.client.versioned(&op::UPDATE_ENDPOINT, &args, &[], Some(patch), self.expected).await
    }

    /// Turns deliveries to the endpoint on (`true`) or off.
    pub async fn set_enabled(&self, endpoint: &str, enabled: bool) -> Result<Versioned<EndpointOut>> {
        self.update(endpoint, &EndpointPatch { enabled: Some(enabled), ..EndpointPatch::default() }).await
    }

    pub async fn delete(&self, endpoint: &str) -> Result<()> {
        self.client.call_empty(&op::DELETE_ENDPOINT, &[&self.tenant, endpoint], NO_BODY, self.expected).await
    }

    /// Sends a test event to this endpoint only.
    pub async fn test(&self, endpoint: &str, test: &TestIn) -> Result<TestOut> {
        self.client.call(&op::TEST_ENDPOINT, &[&self.tenant, endpoint], &[], Some(test)).await
    }

    /// Queues again the endpoint's failed deliveries of a time range.
    pub async fn recover(&self, endpoint: &str, range: &RecoverIn) -> Result<RecoverOut> {
        self.client.call(&op::RECOVER_ENDPOINT, &[&self.tenant, endpoint], &[], Some(range)).await
    }

    /// A new signing secret; the old one keeps signing for the grace period.
    pub async fn rotate_secret(&self, endpoint: &str, rotation: &RotateIn) -> Result<Versioned<RotateOut>> {
        let args = [self.tenant.as_str(), endpoint];
        self.client.versioned(&op::ROTATE_SECRET, &args, &[], Some(rotation), self.expected).await
    }

    /// Ends every grace period: only the current secret signs from now on.
    pub async fn retire_previous_secrets(&self, endpoint: &str) -> Result<()> {
        let args = [self.tenant.as_str(), endpoint];
        self.client.call_empty(&op::RETIRE_PREVIOUS_SECRETS, &args, NO_BODY, self.expected).await
    }

    pub async fn stats(&self, endpoint: &str, range: &StatsParams) -> Result<StatsOut> {
        self.client.call(&op::ENDPOINT_STATS, &[&self.tenant, endpoint], &[range], NO_BODY).await
    }
}

/// `/v1/tenants/{tenant}/events`.
#[derive(Debug, Clone)]
pub struct Events {
    client: Client,
    tenant: String,
}

impl Events {
    pub(crate) fn new(client: Client, tenant: String) -> Self {
        Self { client, tenant }
    }

    /// Publishes an event; the answer lists the deliveries it is owed. Publishing an `id` the
    /// tenant already used returns that event and creates nothing.
    pub async fn publish(&self, event: &EventIn) -> Result<EventOut> {
        self.client.call(&op::PUBLISH_EVENT, &[&self.tenant], &[], Some(event)).await
    }

    pub async fn list(&self, filter: &EventListParams, page: &PageParams) -> Result<ListResponse<EventOut>> {
        self.client.page(&op::LIST_EVENTS, &[&self.tenant], filter, page).await
    }

    pub fn stream(&self, filter: EventListParams) -> BoxStream<'static, Result<EventOut>> {
        self.client.stream(&op::LIST_EVENTS, vec![self.tenant.clone()], filter)
    }

    /// The event with its delivery to each endpoint.
    pub async fn get(&self, event: &str) -> Result<EventOut> {
        self.client.call(&op::GET_EVENT, &[&self.tenant, event], &[], NO_BODY).await
    }
}

/// `/v1/tenants/{tenant}/deliveries`: the delivery log.
#[derive(Debug, Clone)]
pub struct Deliveries {
    client: Client,
    tenant: String,
}

impl Deliveries {
    pub(crate) fn new(client: Client, tenant: String) -> Self {
        Self { client, tenant }
    }

    pub async fn list(
        &self,
        filter: &DeliveryListParams,
        page: &PageParams,
    ) -> Result<ListResponse<DeliveryOut>> {
        self.client.page(&op::LIST_DELIVERIES, &[&self.tenant], filter, page).await
    }

    pub fn stream(&self, filter: DeliveryListParams) -> BoxStream<'static, Result<DeliveryOut>> {
        self.client.stream(&op::LIST_DELIVERIES, vec![self.tenant.clone()], filter)
    }

    /// The delivery with every attempt.
    pub async fn get(&self, delivery: &str) -> Result<DeliveryOut> {
        self.client.call(&op::GET_DELIVERY, &[&self.tenant, delivery], &[], NO_BODY).await
    }

    /// Queues the delivery again now (its attempt's trigger is `manual`).
    pub async fn retry(&self, delivery: &str) -> Result<DeliveryOut> {
        self.client.call(&op::RETRY_DELIVERY, &[&self.tenant, delivery], &[], NO_BODY).await
    }
}

/// `/v1/tenants/{tenant}/bulk-retries`.
#[derive(Debug, Clone)]
pub struct BulkRetries {
    client: Client,
    tenant: String,
}

impl BulkRetries {
    pub(crate) fn new(client: Client, tenant: String) -> Self {
        Self { client, tenant }
    }

    /// Starts queueing again, in the background, every delivery the filter matches.
    pub async fn create(&self, filter: &BulkFilter) -> Result<BulkRetryOut> {
        self.client.call(&op::CREATE_BULK_RETRY, &[&self.tenant], &[], Some(filter)).await
    }

    /// Where the operation stands.
    pub async fn get(&self, id: &str) -> Result<BulkRetryOut> {
        self.client.call(&op::GET_BULK_RETRY, &[&self.tenant, id], &[], NO_BODY).await
    }
}
