//! `impl Store` for both backends, assembled from the aggregate modules.
//!
//! Each method hands over to the inherent method of the same name that its module writes for
//! both stores (inherent methods take precedence over trait methods, so `self.tenant(by)` here is
//! the one in `tenants.rs`). Read as a table of contents: which module answers which method.

use std::sync::Arc;

use async_trait::async_trait;
use herald_core::Timestamp;
use herald_core::api_key::{ApiKey, KeyHash};
use herald_core::circuit::Health;
use herald_core::delivery::{Attempt, Delivery, Next, Trigger};
use herald_core::endpoint::Endpoint;
use herald_core::event::{Event, EventId};
use herald_core::event_type::{EventType, EventTypeName};
use herald_core::id::{ApiKeyId, DeliveryId, EndpointId, GeneratedEventId, TenantId};
use herald_core::portal::PortalLink;
use herald_core::session::Session;
use herald_core::tenant::{Tenant, TenantLimits, TenantRef};

use crate::dialect::{Dialect, for_each_backend};
use crate::{
    Backend, BulkRetry, Committing, DeliveryFilter, EndpointStats, EndpointUpdate, EventFilter,
    IdempotencyState, Job, Lease, LeaseToken, Page, PageRequest, PortalOpening, Published, Result, Shift,
    Store, TenantBacklog, TimelineBucket,
};

for_each_backend! {
    #[async_trait]
    impl Store {
        // The database itself (dialect.rs).
        fn backend(&self) -> Backend {
            Self::BACKEND
        }

        async fn migrate(&self) -> Result<()> {
            Self::MIGRATOR.run(self.writer()).await?;
            Ok(())
        }

        fn writer_running(&self) -> bool {
            self.batch_writer().is_running()
        }

        // retention.rs
        async fn purge_deliveries(&self, tenants: crate::Tenants<'_>, before: Timestamp, limit: u32) -> Result<u64> {
            self.purge_deliveries(tenants, before, limit).await
        }
        async fn purge_events(&self, tenants: crate::Tenants<'_>, before: Timestamp, limit: u32) -> Result<u64> {
            self.purge_events(tenants, before, limit).await
        }
        async fn purge_payloads(
            &self,
            before: Timestamp,
            after: &str,
            limit: u32,
            now: Timestamp,
        ) -> Result<(u64, Option<String>)> {
            self.purge_payloads(before, after, limit, now).await
        }
        async fn purge_idempotency_keys(&self, before: Timestamp, limit: u32) -> Result<u64> {
            self.purge_idempotency_keys(before, limit).await
        }

        async fn gauges(&self, now: Timestamp) -> Result<crate::Gauges> {
            let now_ms = crate::rows::millis(now);
            let (due, waiting, oldest, expired): (i64, i64, Option<i64>, i64) = sqlx::query_as(
                "SELECT COALESCE(SUM(CASE WHEN next_attempt_at <= $1 THEN 1 ELSE 0 END), 0), COUNT(*),
                        MIN(next_attempt_at),
                        COALESCE(SUM(CASE WHEN next_attempt_at <= $1 THEN
                                     CASE WHEN lease_owner IS NOT NULL THEN 1 ELSE 0 END ELSE 0 END), 0)
                 FROM deliveries WHERE status IN ('pending', 'retrying')",
            )
            .bind(now_ms)
            .fetch_one(self.reader())
            .await?;
            let (held,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM deliveries
                 WHERE status IN ('pending', 'retrying')
                   AND endpoint_id IN (SELECT id FROM endpoints WHERE circuit_probe_at IS NOT NULL)",
            )
            .fetch_one(self.reader())
            .await?;
            let (open, disabled): (i64, i64) = sqlx::query_as(
                "SELECT COALESCE(SUM(CASE WHEN circuit_probe_at IS NOT NULL THEN 1 ELSE 0 END), 0),
                        COALESCE(SUM(CASE WHEN enabled THEN 0 ELSE 1 END), 0)
                 FROM endpoints",
            )
            .fetch_one(self.reader())
            .await?;
            let count = |n: i64| u64::try_from(n).unwrap_or(0);
            let oldest_due_at = oldest
                .filter(|at| *at <= now_ms)
                .and_then(|at| Timestamp::from_millisecond(at).ok());
            Ok(crate::Gauges {
                due: count(due),
                scheduled: count(waiting - due),
                held: count(held),
                expired_leases: count(expired),
                oldest_due_at,
                circuits_open: count(open),
                endpoints_disabled: count(disabled),
                pools: self.pools(),
            })
        }

        async fn migrations_pending(&self) -> Result<Vec<i64>> {
            let applied: Vec<(i64,)> = sqlx::query_as("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(self.reader())
                .await?;
            let applied: std::collections::HashSet<i64> = applied.into_iter().map(|(v,)| v).collect();
            Ok(Self::MIGRATOR.iter().map(|m| m.version).filter(|v| !applied.contains(v)).collect())
        }

        // tenants.rs
        async fn insert_tenant(&self, tenant: &Tenant) -> Result<()> {
            self.insert_tenant(tenant).await
        }
        async fn tenant(&self, by: &TenantRef) -> Result<Option<Tenant>> {
            self.tenant(by).await
        }
        async fn list_tenants(&self, page: &PageRequest) -> Result<Page<Tenant>> {
            self.list_tenants(page).await
        }
        async fn tenant_limits(&self) -> Result<Vec<(TenantId, TenantLimits)>> {
            self.tenant_limits().await
        }
        async fn tenant_backlog(&self, tenant: &TenantId, now: Timestamp) -> Result<TenantBacklog> {
            self.tenant_backlog(tenant, now).await
        }
        async fn update_tenant(&self, tenant: &Tenant) -> Result<bool> {
            self.update_tenant(tenant).await
        }
        async fn delete_tenant(&self, id: &TenantId) -> Result<bool> {
            self.delete_tenant(id).await
        }
        async fn insert_api_key(&self, key: &ApiKey) -> Result<()> {
            self.insert_api_key(key).await
        }
        async fn api_key_by_hash(&self, hash: &KeyHash) -> Result<Option<ApiKey>> {
            self.api_key_by_hash(hash).await
        }
        async fn list_api_keys(&self, tenant: &TenantId, page: &PageRequest) -> Result<Page<ApiKey>> {
            self.list_api_keys(tenant, page).await
        }
        async fn delete_api_key(&self, tenant: &TenantId, id: &ApiKeyId) -> Result<bool> {
            self.delete_api_key(tenant, id).await
        }
        async fn count_admin_keys(&self) -> Result<u64> {
            self.count_admin_keys().await
        }

        // event_types.rs
        async fn insert_event_type(&self, event_type: &EventType) -> Result<()> {
            self.insert_event_type(event_type).await
        }
        async fn event_type(&self, name: &EventTypeName) -> Result<Option<EventType>> {
            self.event_type(name).await
        }
        async fn list_event_types(
            &self,
            page: &PageRequest,
            include_deprecated: bool,
        ) -> Result<Page<EventType>> {
            self.list_event_types(page, include_deprecated).await
        }
        async fn update_event_type(&self, event_type: &EventType) -> Result<bool> {
            self.update_event_type(event_type).await
        }
        async fn delete_event_type(&self, name: &EventTypeName) -> Result<bool> {
            self.delete_event_type(name).await
        }

        // endpoints.rs
        async fn insert_endpoint(&self, endpoint: &Endpoint) -> Result<()> {
            self.insert_endpoint(endpoint).await
        }
        async fn endpoint(&self, tenant: &TenantId, id: &EndpointId) -> Result<Option<Endpoint>> {
            self.endpoint(tenant, id).await
        }
        async fn list_endpoints(&self, tenant: &TenantId, page: &PageRequest) -> Result<Page<Endpoint>> {
            self.list_endpoints(tenant, page).await
        }
        async fn update_endpoint(&self, endpoint: &Endpoint) -> Result<EndpointUpdate> {
            self.update_endpoint(endpoint).await
        }
        async fn delete_endpoint(&self, tenant: &TenantId, id: &EndpointId) -> Result<bool> {
            self.delete_endpoint(tenant, id).await
        }
        async fn disable_endpoint(
            &self,
            tenant: &TenantId,
            id: &EndpointId,
            reason: &str,
            now: Timestamp,
        ) -> Result<bool> {
            self.disable_endpoint(tenant, id, reason, now).await
        }
        async fn endpoint_stats(
            &self,
            endpoint: &EndpointId,
            since: Timestamp,
            until: Timestamp,
        ) -> Result<EndpointStats> {
            self.endpoint_stats(endpoint, since, until).await
        }
        async fn insert_bulk_retry(&self, op: &BulkRetry) -> Result<()> {
            self.insert_bulk_retry(op).await
        }
        async fn bulk_retry(&self, tenant: &TenantId, id: &herald_core::id::BulkRetryId) -> Result<Option<BulkRetry>> {
            self.bulk_retry(tenant, id).await
        }
        async fn running_bulk_retries(&self) -> Result<Vec<BulkRetry>> {
            self.running_bulk_retries().await
        }

        // instances.rs
        async fn heartbeat(&self, owner: &str, now: Timestamp) -> Result<()> {
            self.heartbeat(owner, now).await
        }
        async fn silent_instances(&self, before: Timestamp) -> Result<Vec<String>> {
            self.silent_instances(before).await
        }
        async fn forget_instance(&self, owner: &str) -> Result<()> {
            self.forget_instance(owner).await
        }

        // listen.rs
        async fn insert_listen_session(&self, tenant: &TenantId, endpoint: &EndpointId, now: Timestamp) -> Result<()> {
            self.insert_listen_session(tenant, endpoint, now).await
        }
        async fn is_listen_session(&self, tenant: &TenantId, endpoint: &EndpointId) -> Result<bool> {
            self.is_listen_session(tenant, endpoint).await
        }
        async fn touch_listen_sessions(&self, endpoints: &[EndpointId], now: Timestamp) -> Result<()> {
            self.touch_listen_sessions(endpoints, now).await
        }
        async fn idle_listen_sessions(&self, before: Timestamp) -> Result<Vec<(TenantId, EndpointId)>> {
            self.idle_listen_sessions(before).await
        }
        async fn advance_bulk_retry(
            &self,
            op: &BulkRetry,
            page: &[DeliveryId],
            cursor: &str,
            finished: bool,
            now: Timestamp,
        ) -> Result<Option<BulkRetry>> {
            self.advance_bulk_retry(op, page, cursor, finished, now).await
        }
        async fn endpoint_timeline(
            &self,
            endpoint: &EndpointId,
            since: Timestamp,
            until: Timestamp,
            bucket: std::time::Duration,
        ) -> Result<Vec<TimelineBucket>> {
            self.endpoint_timeline(endpoint, since, until, bucket).await
        }
        async fn set_endpoint_health(
            &self,
            endpoint: &EndpointId,
            health: &Health,
            shift: Shift,
            now: Timestamp,
        ) -> Result<u64> {
            self.set_endpoint_health(endpoint, health, shift, now).await
        }
        async fn set_endpoint_handshake(
            &self,
            endpoint: &EndpointId,
            handshake: &herald_core::handshake::Handshake,
        ) -> Result<()> {
            self.set_endpoint_handshake(endpoint, handshake).await
        }
        async fn tenant_endpoints(&self, tenant: &TenantId) -> Result<Vec<Endpoint>> {
            self.tenant_endpoints(tenant).await
        }
        async fn any_sealed_credentials(&self) -> Result<Option<(EndpointId, Vec<u8>)>> {
            self.any_sealed_credentials().await
        }

        // events.rs
        async fn publish(
            &self,
            event: &Event,
            deliveries: &[Delivery],
            lease: Option<&Lease>,
        ) -> Result<Published> {
            self.publish(event, deliveries, lease).await
        }
        async fn publish_fanout(&self, event: &Event, marker: &Lease) -> Result<Published> {
            self.publish_fanout(event, marker).await
        }
        async fn expand_fanout(
            &self,
            event_key: &GeneratedEventId,
            marker: &LeaseToken,
            deliveries: Vec<Delivery>,
            lease: Option<&Lease>,
        ) -> Result<Committing<bool>> {
            self.expand_fanout(event_key, marker, deliveries, lease).await
        }
        async fn claim_fanouts(&self, marker: &Lease, now: Timestamp, limit: u32) -> Result<Vec<Event>> {
            self.claim_fanouts(marker, now, limit).await
        }
        async fn event(&self, tenant: &TenantId, id: &EventId) -> Result<Option<Event>> {
            self.event(tenant, id).await
        }
        async fn list_events(
            &self,
            tenant: &TenantId,
            filter: &EventFilter,
            page: &PageRequest,
        ) -> Result<Page<Event>> {
            self.list_events(tenant, filter, page).await
        }
        async fn deliveries_of_event(&self, event_key: &GeneratedEventId) -> Result<Vec<Delivery>> {
            self.deliveries_of_event(event_key).await
        }
        async fn delivery(&self, tenant: &TenantId, id: &DeliveryId) -> Result<Option<Delivery>> {
            self.delivery(tenant, id).await
        }
        async fn list_deliveries(
            &self,
            tenant: &TenantId,
            filter: &DeliveryFilter,
            page: &PageRequest,
        ) -> Result<Page<Delivery>> {
            self.list_deliveries(tenant, filter, page).await
        }
        async fn count_deliveries(&self, tenant: &TenantId, filter: &DeliveryFilter) -> Result<u64> {
            self.count_deliveries(tenant, filter).await
        }
        async fn attempts(&self, delivery: &DeliveryId) -> Result<Vec<Attempt>> {
            self.attempts(delivery).await
        }

        // queue.rs
        async fn requeue_delivery(
            &self,
            tenant: &TenantId,
            id: &DeliveryId,
            trigger: Trigger,
            now: Timestamp,
        ) -> Result<Option<Delivery>> {
            self.requeue_delivery(tenant, id, trigger, now).await
        }
        async fn recover_endpoint(
            &self,
            tenant: &TenantId,
            endpoint: &EndpointId,
            since: Timestamp,
            until: Timestamp,
            now: Timestamp,
        ) -> Result<u64> {
            self.recover_endpoint(tenant, endpoint, since, until, now).await
        }
        async fn claim_due(
            &self,
            owner: &str,
            now: Timestamp,
            lease_until: Timestamp,
            limit: u32,
            skip: &[TenantId],
        ) -> Result<Vec<Job>> {
            self.claim_due(owner, now, lease_until, limit, skip).await
        }
        async fn claim_probe(
            &self,
            owner: &str,
            endpoint: &EndpointId,
            now: Timestamp,
            lease_until: Timestamp,
        ) -> Result<Option<Job>> {
            self.claim_probe(owner, endpoint, now, lease_until).await
        }
        async fn next_due_at(&self, skip: &[TenantId]) -> Result<Option<Timestamp>> {
            self.next_due_at(skip).await
        }
        async fn settle(
            &self,
            lease: &LeaseToken,
            delivery: &DeliveryId,
            attempt: Option<Attempt>,
            next: &Next,
            now: Timestamp,
        ) -> Result<()> {
            self.settle(lease, delivery, attempt, next, now).await
        }
        async fn defer(&self, lease: &LeaseToken, delivery: &DeliveryId, until: Timestamp) -> Result<()> {
            self.defer(lease, delivery, until).await
        }
        async fn forward_wakeups(&self, wakeup: Arc<tokio::sync::Notify>) -> Result<()> {
            self.forward_wakeups_to(wakeup).await
        }
        async fn release_leases(&self, owner: &str, now: Timestamp) -> Result<u64> {
            self.release_leases(owner, now).await
        }
        async fn release_every_lease(&self, now: Timestamp) -> Result<u64> {
            self.release_every_lease(now).await
        }

        // settings.rs
        async fn instance_setting(&self, name: &str) -> Result<Option<Vec<u8>>> {
            self.instance_setting(name).await
        }
        async fn init_instance_setting(&self, name: &str, value: &[u8]) -> Result<Vec<u8>> {
            self.init_instance_setting(name, value).await
        }

        // sessions.rs
        async fn insert_ui_session(&self, session: &Session, now: Timestamp) -> Result<()> {
            self.insert_ui_session(session, now).await
        }
        async fn ui_session(&self, hash: &KeyHash, now: Timestamp) -> Result<Option<Session>> {
            self.ui_session(hash, now).await
        }
        async fn delete_ui_session(&self, hash: &KeyHash) -> Result<bool> {
            self.delete_ui_session(hash).await
        }
        async fn insert_portal_link(&self, link: &PortalLink, expired_before: Timestamp) -> Result<()> {
            self.insert_portal_link(link, expired_before).await
        }
        async fn open_portal_link(
            &self,
            link: &KeyHash,
            session: &KeyHash,
            session_expires_at: Timestamp,
            now: Timestamp,
        ) -> Result<PortalOpening> {
            self.open_portal_link(link, session, session_expires_at, now).await
        }

        // idempotency.rs
        async fn idempotency_begin(
            &self,
            scope: &str,
            key: &crate::IdempotencyKey,
            request_hash: &str,
            now: Timestamp,
            expired_before: Timestamp,
        ) -> Result<IdempotencyState> {
            self.idempotency_begin(scope, key, request_hash, now, expired_before).await
        }
        async fn idempotency_complete(
            &self,
            scope: &str,
            key: &crate::IdempotencyKey,
            status: u16,
            content_type: Option<&str>,
            body: &[u8],
        ) -> Result<()> {
            self.idempotency_complete(scope, key, status, content_type, body).await
        }
        async fn idempotency_release(&self, scope: &str, key: &crate::IdempotencyKey) -> Result<()> {
            self.idempotency_release(scope, key).await
        }
    }
}
