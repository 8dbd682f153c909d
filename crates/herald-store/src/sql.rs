//! The queries both backends share, written once.
//!
//! SQLite and PostgreSQL agree on everything these queries use (`$n` parameters, `RETURNING`,
//! `ON CONFLICT`, partial indexes), and the schemas store the same column types. sqlx's pools
//! are concrete per database, so this macro stamps the one body out for each backend type;
//! each backend provides `reader()`, `writer()` and `MIGRATOR`, and the parts that really
//! differ live beside it.

macro_rules! shared_store_impl {
    ($store:ty, $db:ty, $backend:expr) => {
        #[async_trait::async_trait]
        impl $crate::Store for $store {
            fn backend(&self) -> $crate::Backend {
                $backend
            }

            async fn migrate(&self) -> $crate::Result<()> {
                Self::MIGRATOR.run(self.writer()).await?;
                Ok(())
            }

            fn writer_running(&self) -> bool {
                self.queue.is_running()
            }

            async fn ping(&self) -> $crate::Result<()> {
                sqlx::query("SELECT 1").execute(self.reader()).await?;
                Ok(())
            }

            async fn insert_tenant(&self, t: &herald_core::tenant::Tenant) -> $crate::Result<()> {
                sqlx::query(
                    "INSERT INTO tenants (id, uid, name, metadata, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(t.id.as_str())
                .bind(t.uid.as_ref().map(|u| u.as_str()))
                .bind(&t.name)
                .bind($crate::rows::to_json(&t.metadata))
                .bind($crate::rows::millis(t.created_at))
                .bind($crate::rows::millis(t.updated_at))
                .execute(self.writer())
                .await
                .map_err($crate::conflict_as("tenant uid"))?;
                Ok(())
            }

            async fn tenant(
                &self,
                by: &herald_core::tenant::TenantRef,
            ) -> $crate::Result<Option<herald_core::tenant::Tenant>> {
                use herald_core::tenant::TenantRef;
                let (sql, key) = match by {
                    TenantRef::Id(id) => ("SELECT * FROM tenants WHERE id = $1", id.as_str()),
                    TenantRef::Uid(uid) => ("SELECT * FROM tenants WHERE uid = $1", uid.as_str()),
                };
                let row = sqlx::query_as::<_, $crate::rows::TenantRow>(sql)
                    .bind(key)
                    .fetch_optional(self.reader())
                    .await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn list_tenants(
                &self,
                page: &$crate::PageRequest,
            ) -> $crate::Result<$crate::Page<herald_core::tenant::Tenant>> {
                let rows = sqlx::query_as::<_, $crate::rows::TenantRow>(
                    "SELECT * FROM tenants WHERE ($1 IS NULL OR id < $1) ORDER BY id DESC LIMIT $2",
                )
                .bind(page.cursor.as_deref())
                .bind(i64::from(page.limit) + 1)
                .fetch_all(self.reader())
                .await?;
                let items = $crate::rows::convert(rows)?;
                Ok($crate::Page::from_overfetch(items, page.limit, |t: &herald_core::tenant::Tenant| {
                    t.id.to_string()
                }))
            }

            async fn update_tenant(&self, t: &herald_core::tenant::Tenant) -> $crate::Result<bool> {
                let done = sqlx::query(
                    "UPDATE tenants SET uid = $2, name = $3, metadata = $4, updated_at = $5 WHERE id = $1",
                )
                .bind(t.id.as_str())
                .bind(t.uid.as_ref().map(|u| u.as_str()))
                .bind(&t.name)
                .bind($crate::rows::to_json(&t.metadata))
                .bind($crate::rows::millis(t.updated_at))
                .execute(self.writer())
                .await
                .map_err($crate::conflict_as("tenant uid"))?;
                Ok(done.rows_affected() == 1)
            }

            async fn delete_tenant(&self, id: &herald_core::id::TenantId) -> $crate::Result<bool> {
                let done = sqlx::query("DELETE FROM tenants WHERE id = $1")
                    .bind(id.as_str())
                    .execute(self.writer())
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn insert_api_key(&self, k: &herald_core::api_key::ApiKey) -> $crate::Result<()> {
                sqlx::query(
                    "INSERT INTO api_keys (id, tenant_id, name, prefix, key_hash, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(k.id.as_str())
                .bind($crate::rows::scope_tenant(&k.scope))
                .bind(&k.name)
                .bind(&k.prefix)
                .bind(k.hash.as_str())
                .bind($crate::rows::millis(k.created_at))
                .execute(self.writer())
                .await
                .map_err($crate::conflict_as("API key"))?;
                Ok(())
            }

            async fn api_key_by_hash(
                &self,
                hash: &herald_core::api_key::KeyHash,
            ) -> $crate::Result<Option<herald_core::api_key::ApiKey>> {
                let row = sqlx::query_as::<_, $crate::rows::ApiKeyRow>(
                    "SELECT * FROM api_keys WHERE key_hash = $1",
                )
                .bind(hash.as_str())
                .fetch_optional(self.reader())
                .await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn list_api_keys(
                &self,
                tenant: &herald_core::id::TenantId,
                page: &$crate::PageRequest,
            ) -> $crate::Result<$crate::Page<herald_core::api_key::ApiKey>> {
                let rows = sqlx::query_as::<_, $crate::rows::ApiKeyRow>(
                    "SELECT * FROM api_keys WHERE tenant_id = $1 AND ($2 IS NULL OR id < $2)
                     ORDER BY id DESC LIMIT $3",
                )
                .bind(tenant.as_str())
                .bind(page.cursor.as_deref())
                .bind(i64::from(page.limit) + 1)
                .fetch_all(self.reader())
                .await?;
                let items = $crate::rows::convert(rows)?;
                Ok($crate::Page::from_overfetch(items, page.limit, |k: &herald_core::api_key::ApiKey| {
                    k.id.to_string()
                }))
            }

            async fn delete_api_key(
                &self,
                tenant: &herald_core::id::TenantId,
                id: &herald_core::id::ApiKeyId,
            ) -> $crate::Result<bool> {
                let done = sqlx::query("DELETE FROM api_keys WHERE tenant_id = $1 AND id = $2")
                    .bind(tenant.as_str())
                    .bind(id.as_str())
                    .execute(self.writer())
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn count_admin_keys(&self) -> $crate::Result<u64> {
                let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM api_keys WHERE tenant_id IS NULL")
                    .fetch_one(self.reader())
                    .await?;
                Ok(n.max(0) as u64)
            }

            async fn insert_event_type(
                &self,
                e: &herald_core::event_type::EventType,
            ) -> $crate::Result<()> {
                sqlx::query(
                    "INSERT INTO event_types
                       (name, label, description, schema, example, deprecated, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(e.name.as_str())
                .bind(&e.label)
                .bind(&e.description)
                .bind(e.schema.as_ref().map($crate::rows::to_json))
                .bind(e.example.as_ref().map($crate::rows::to_json))
                .bind(e.deprecated)
                .bind($crate::rows::millis(e.created_at))
                .bind($crate::rows::millis(e.updated_at))
                .execute(self.writer())
                .await
                .map_err($crate::conflict_as("event type name"))?;
                Ok(())
            }

            async fn event_type(
                &self,
                name: &herald_core::event_type::EventTypeName,
            ) -> $crate::Result<Option<herald_core::event_type::EventType>> {
                let row = sqlx::query_as::<_, $crate::rows::EventTypeRow>(
                    "SELECT * FROM event_types WHERE name = $1",
                )
                .bind(name.as_str())
                .fetch_optional(self.reader())
                .await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn list_event_types(
                &self,
                page: &$crate::PageRequest,
                include_deprecated: bool,
            ) -> $crate::Result<$crate::Page<herald_core::event_type::EventType>> {
                let rows = sqlx::query_as::<_, $crate::rows::EventTypeRow>(
                    "SELECT * FROM event_types
                     WHERE ($1 IS NULL OR name > $1) AND ($2 OR NOT deprecated)
                     ORDER BY name LIMIT $3",
                )
                .bind(page.cursor.as_deref())
                .bind(include_deprecated)
                .bind(i64::from(page.limit) + 1)
                .fetch_all(self.reader())
                .await?;
                let items = $crate::rows::convert(rows)?;
                Ok($crate::Page::from_overfetch(
                    items,
                    page.limit,
                    |e: &herald_core::event_type::EventType| e.name.to_string(),
                ))
            }

            async fn update_event_type(
                &self,
                e: &herald_core::event_type::EventType,
            ) -> $crate::Result<bool> {
                let done = sqlx::query(
                    "UPDATE event_types SET label = $2, description = $3, schema = $4, example = $5,
                       deprecated = $6, updated_at = $7
                     WHERE name = $1",
                )
                .bind(e.name.as_str())
                .bind(&e.label)
                .bind(&e.description)
                .bind(e.schema.as_ref().map($crate::rows::to_json))
                .bind(e.example.as_ref().map($crate::rows::to_json))
                .bind(e.deprecated)
                .bind($crate::rows::millis(e.updated_at))
                .execute(self.writer())
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn delete_event_type(
                &self,
                name: &herald_core::event_type::EventTypeName,
            ) -> $crate::Result<bool> {
                let done = sqlx::query("DELETE FROM event_types WHERE name = $1")
                    .bind(name.as_str())
                    .execute(self.writer())
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn insert_endpoint(&self, e: &herald_core::endpoint::Endpoint) -> $crate::Result<()> {
                sqlx::query(
                    "INSERT INTO endpoints
                       (id, tenant_id, spec, enabled, disabled_reason, sealed_credentials, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(e.id.as_str())
                .bind(e.tenant_id.as_str())
                .bind($crate::rows::to_json(&e.spec))
                .bind(e.enabled)
                .bind(e.disabled_reason.as_deref())
                .bind(&e.sealed_credentials)
                .bind($crate::rows::millis(e.created_at))
                .bind($crate::rows::millis(e.updated_at))
                .execute(self.writer())
                .await
                .map_err($crate::conflict_as("endpoint id"))?;
                Ok(())
            }

            async fn endpoint(
                &self,
                tenant: &herald_core::id::TenantId,
                id: &herald_core::id::EndpointId,
            ) -> $crate::Result<Option<herald_core::endpoint::Endpoint>> {
                let row = sqlx::query_as::<_, $crate::rows::EndpointRow>(
                    "SELECT * FROM endpoints WHERE tenant_id = $1 AND id = $2",
                )
                .bind(tenant.as_str())
                .bind(id.as_str())
                .fetch_optional(self.reader())
                .await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn list_endpoints(
                &self,
                tenant: &herald_core::id::TenantId,
                page: &$crate::PageRequest,
            ) -> $crate::Result<$crate::Page<herald_core::endpoint::Endpoint>> {
                let rows = sqlx::query_as::<_, $crate::rows::EndpointRow>(
                    "SELECT * FROM endpoints WHERE tenant_id = $1 AND ($2 IS NULL OR id < $2)
                     ORDER BY id DESC LIMIT $3",
                )
                .bind(tenant.as_str())
                .bind(page.cursor.as_deref())
                .bind(i64::from(page.limit) + 1)
                .fetch_all(self.reader())
                .await?;
                let items = $crate::rows::convert(rows)?;
                Ok($crate::Page::from_overfetch(
                    items,
                    page.limit,
                    |e: &herald_core::endpoint::Endpoint| e.id.to_string(),
                ))
            }

            async fn update_endpoint(
                &self,
                e: &herald_core::endpoint::Endpoint,
            ) -> $crate::Result<$crate::EndpointUpdate> {
                let read_at = i64::try_from(e.version).unwrap_or(i64::MAX);
                let done = sqlx::query(
                    "UPDATE endpoints SET spec = $3, enabled = $4, disabled_reason = $5,
                       sealed_credentials = $6, updated_at = $7, version = version + 1
                     WHERE tenant_id = $1 AND id = $2 AND version = $8",
                )
                .bind(e.tenant_id.as_str())
                .bind(e.id.as_str())
                .bind($crate::rows::to_json(&e.spec))
                .bind(e.enabled)
                .bind(e.disabled_reason.as_deref())
                .bind(&e.sealed_credentials)
                .bind($crate::rows::millis(e.updated_at))
                .bind(read_at)
                .execute(self.writer())
                .await?;
                if done.rows_affected() == 1 {
                    return Ok($crate::EndpointUpdate::Updated { version: e.version + 1 });
                }
                let exists: Option<(i64,)> =
                    sqlx::query_as("SELECT version FROM endpoints WHERE tenant_id = $1 AND id = $2")
                        .bind(e.tenant_id.as_str())
                        .bind(e.id.as_str())
                        .fetch_optional(self.writer())
                        .await?;
                Ok(match exists {
                    Some(_) => $crate::EndpointUpdate::Stale,
                    None => $crate::EndpointUpdate::Missing,
                })
            }

            async fn delete_endpoint(
                &self,
                tenant: &herald_core::id::TenantId,
                id: &herald_core::id::EndpointId,
            ) -> $crate::Result<bool> {
                let done = sqlx::query("DELETE FROM endpoints WHERE tenant_id = $1 AND id = $2")
                    .bind(tenant.as_str())
                    .bind(id.as_str())
                    .execute(self.writer())
                    .await?;
                Ok(done.rows_affected() == 1)
            }
            async fn disable_endpoint(
                &self,
                tenant: &herald_core::id::TenantId,
                id: &herald_core::id::EndpointId,
                reason: &str,
                now: herald_core::Timestamp,
            ) -> $crate::Result<bool> {
                let done = sqlx::query(
                    "UPDATE endpoints SET enabled = FALSE, disabled_reason = $3, updated_at = $4,
                       version = version + 1
                     WHERE tenant_id = $1 AND id = $2 AND enabled",
                )
                .bind(tenant.as_str())
                .bind(id.as_str())
                .bind(reason)
                .bind($crate::rows::millis(now))
                .execute(self.writer())
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn endpoint_stats(
                &self,
                endpoint: &herald_core::id::EndpointId,
                since: herald_core::Timestamp,
                until: herald_core::Timestamp,
            ) -> $crate::Result<$crate::EndpointStats> {
                use $crate::rows::millis;
                let pool = self.reader();
                let (since, until) = (millis(since), millis(until));
                let counts: Vec<(String, i64)> = sqlx::query_as(
                    "SELECT status, COUNT(*) FROM deliveries
                     WHERE endpoint_id = $1 AND created_at >= $2 AND created_at < $3 GROUP BY status",
                )
                .bind(endpoint.as_str())
                .bind(since)
                .bind(until)
                .fetch_all(pool)
                .await?;
                let by_status = counts
                    .into_iter()
                    .filter_map(|(status, n)| Some((status.parse().ok()?, n.max(0) as u64)))
                    .collect();
                let (attempts, succeeded): (i64, Option<i64>) = sqlx::query_as(
                    "SELECT COUNT(*), SUM(CASE WHEN error_kind IS NULL THEN 1 ELSE 0 END) FROM attempts
                     WHERE endpoint_id = $1 AND started_at >= $2 AND started_at < $3",
                )
                .bind(endpoint.as_str())
                .bind(since)
                .bind(until)
                .fetch_one(pool)
                .await?;
                let mut duration_ms = None;
                if attempts > 0 {
                    let mut at = [0u64; 4];
                    for (slot, q) in [0.5, 0.9, 0.99, 1.0].into_iter().enumerate() {
                        let offset = (((attempts - 1) as f64) * q).round() as i64;
                        let (ms,): (i64,) = sqlx::query_as(
                            "SELECT duration_ms FROM attempts
                             WHERE endpoint_id = $1 AND started_at >= $2 AND started_at < $3
                             ORDER BY duration_ms LIMIT 1 OFFSET $4",
                        )
                        .bind(endpoint.as_str())
                        .bind(since)
                        .bind(until)
                        .bind(offset)
                        .fetch_one(pool)
                        .await?;
                        at[slot] = ms.max(0) as u64;
                    }
                    duration_ms = Some(at);
                }
                let (backlog,): (i64,) = sqlx::query_as(
                    "SELECT COUNT(*) FROM deliveries WHERE endpoint_id = $1 AND status IN ('pending', 'retrying')",
                )
                .bind(endpoint.as_str())
                .fetch_one(pool)
                .await?;
                Ok($crate::EndpointStats {
                    by_status,
                    attempts: attempts.max(0) as u64,
                    attempts_succeeded: succeeded.unwrap_or(0).max(0) as u64,
                    duration_ms,
                    backlog: backlog.max(0) as u64,
                })
            }

            async fn tenant_endpoints(
                &self,
                tenant: &herald_core::id::TenantId,
            ) -> $crate::Result<Vec<herald_core::endpoint::Endpoint>> {
                let rows = sqlx::query_as::<_, $crate::rows::EndpointRow>(
                    "SELECT * FROM endpoints WHERE tenant_id = $1 ORDER BY id",
                )
                .bind(tenant.as_str())
                .fetch_all(self.reader())
                .await?;
                $crate::rows::convert(rows)
            }

            async fn publish(
                &self,
                event: &herald_core::event::Event,
                deliveries: &[herald_core::delivery::Delivery],
                lease: Option<&$crate::Lease>,
            ) -> $crate::Result<$crate::Published> {
                let (reply, answer) = tokio::sync::oneshot::channel();
                let write = $crate::batch::Write::Publish {
                    event: event.clone(),
                    deliveries: deliveries.to_vec(),
                    lease: lease.cloned(),
                    reply,
                };
                self.queue.send(write).await?;
                answer.await.map_err(|_| $crate::StoreError::Batch("the writer dropped a publish".into()))?
            }

            async fn event(
                &self,
                tenant: &herald_core::id::TenantId,
                id: &herald_core::event::EventId,
            ) -> $crate::Result<Option<herald_core::event::Event>> {
                Self::event_by_id(self.reader(), tenant, id).await
            }

            async fn list_events(
                &self,
                tenant: &herald_core::id::TenantId,
                filter: &$crate::EventFilter,
                page: &$crate::PageRequest,
            ) -> $crate::Result<$crate::Page<herald_core::event::Event>> {
                let rows = sqlx::query_as::<_, $crate::rows::EventRow>(
                    "SELECT * FROM events
                     WHERE tenant_id = $1 AND ($2 IS NULL OR event_key < $2) AND ($3 IS NULL OR event_type = $3)
                       AND ($4 IS NULL OR created_at >= $4) AND ($5 IS NULL OR created_at < $5)
                     ORDER BY event_key DESC LIMIT $6",
                )
                .bind(tenant.as_str())
                .bind(page.cursor.as_deref())
                .bind(filter.event_type.as_ref().map(|t| t.as_str()))
                .bind(filter.since.map($crate::rows::millis))
                .bind(filter.until.map($crate::rows::millis))
                .bind(i64::from(page.limit) + 1)
                .fetch_all(self.reader())
                .await?;
                let items = $crate::rows::convert(rows)?;
                Ok($crate::Page::from_overfetch(items, page.limit, |e: &herald_core::event::Event| e.key.to_string()))
            }

            async fn deliveries_of_event(
                &self,
                event_key: &herald_core::id::GeneratedEventId,
            ) -> $crate::Result<Vec<herald_core::delivery::Delivery>> {
                let rows = sqlx::query_as::<_, $crate::rows::DeliveryRow>(
                    "SELECT * FROM deliveries WHERE event_key = $1 ORDER BY id",
                )
                .bind(event_key.as_str())
                .fetch_all(self.reader())
                .await?;
                $crate::rows::convert(rows)
            }

            async fn delivery(
                &self,
                tenant: &herald_core::id::TenantId,
                id: &herald_core::id::DeliveryId,
            ) -> $crate::Result<Option<herald_core::delivery::Delivery>> {
                let row = sqlx::query_as::<_, $crate::rows::DeliveryRow>(
                    "SELECT * FROM deliveries WHERE tenant_id = $1 AND id = $2",
                )
                .bind(tenant.as_str())
                .bind(id.as_str())
                .fetch_optional(self.reader())
                .await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn list_deliveries(
                &self,
                tenant: &herald_core::id::TenantId,
                filter: &$crate::DeliveryFilter,
                page: &$crate::PageRequest,
            ) -> $crate::Result<$crate::Page<herald_core::delivery::Delivery>> {
                let rows = sqlx::query_as::<_, $crate::rows::DeliveryRow>(
                    "SELECT * FROM deliveries
                     WHERE tenant_id = $1 AND ($2 IS NULL OR id < $2) AND ($3 IS NULL OR endpoint_id = $3)
                       AND ($4 IS NULL OR event_id = $4) AND ($5 IS NULL OR status = $5)
                       AND ($6 IS NULL OR created_at >= $6) AND ($7 IS NULL OR created_at < $7)
                     ORDER BY id DESC LIMIT $8",
                )
                .bind(tenant.as_str())
                .bind(page.cursor.as_deref())
                .bind(filter.endpoint_id.as_ref().map(|e| e.as_str()))
                .bind(filter.event_id.as_ref().map(|e| e.as_str()))
                .bind(filter.status.map(|s| s.as_str()))
                .bind(filter.since.map($crate::rows::millis))
                .bind(filter.until.map($crate::rows::millis))
                .bind(i64::from(page.limit) + 1)
                .fetch_all(self.reader())
                .await?;
                let items = $crate::rows::convert(rows)?;
                Ok($crate::Page::from_overfetch(items, page.limit, |d: &herald_core::delivery::Delivery| {
                    d.id.to_string()
                }))
            }

            async fn attempts(
                &self,
                delivery: &herald_core::id::DeliveryId,
            ) -> $crate::Result<Vec<herald_core::delivery::Attempt>> {
                let rows = sqlx::query_as::<_, $crate::rows::AttemptRow>(
                    "SELECT * FROM attempts WHERE delivery_id = $1 ORDER BY id",
                )
                .bind(delivery.as_str())
                .fetch_all(self.reader())
                .await?;
                $crate::rows::convert(rows)
            }

            async fn requeue_delivery(
                &self,
                tenant: &herald_core::id::TenantId,
                id: &herald_core::id::DeliveryId,
                trigger: herald_core::delivery::Trigger,
                now: herald_core::Timestamp,
            ) -> $crate::Result<Option<herald_core::delivery::Delivery>> {
                let mut tx = self.writer().begin().await?;
                // The row as this update left it (a re-read could already see the next attempt).
                let row = sqlx::query_as::<_, $crate::rows::DeliveryRow>(
                    "UPDATE deliveries SET status = CASE WHEN status = 'retrying' THEN 'retrying' ELSE 'pending' END,
                       next_attempt_at = $3, next_trigger = $4, failure_reason = NULL,
                       leased_until = NULL, lease_owner = NULL, updated_at = $3
                     WHERE tenant_id = $1 AND id = $2
                     RETURNING *",
                )
                .bind(tenant.as_str())
                .bind(id.as_str())
                .bind($crate::rows::millis(now))
                .bind(trigger.as_str())
                .fetch_optional(&mut *tx)
                .await?;
                Self::notify_in(&mut tx, row.is_some()).await?;
                tx.commit().await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn recover_endpoint(
                &self,
                tenant: &herald_core::id::TenantId,
                endpoint: &herald_core::id::EndpointId,
                since: herald_core::Timestamp,
                until: herald_core::Timestamp,
                now: herald_core::Timestamp,
            ) -> $crate::Result<u64> {
                let mut tx = self.writer().begin().await?;
                let done = sqlx::query(
                    "UPDATE deliveries SET status = 'pending', next_attempt_at = $5, next_trigger = 'manual',
                       failure_reason = NULL, updated_at = $5
                     WHERE tenant_id = $1 AND endpoint_id = $2 AND status = 'failed'
                       AND created_at >= $3 AND created_at < $4",
                )
                .bind(tenant.as_str())
                .bind(endpoint.as_str())
                .bind($crate::rows::millis(since))
                .bind($crate::rows::millis(until))
                .bind($crate::rows::millis(now))
                .execute(&mut *tx)
                .await?;
                Self::notify_in(&mut tx, done.rows_affected() > 0).await?;
                tx.commit().await?;
                Ok(done.rows_affected())
            }

            async fn claim_due(
                &self,
                owner: &str,
                now: herald_core::Timestamp,
                lease_until: herald_core::Timestamp,
                limit: u32,
            ) -> $crate::Result<Vec<$crate::Job>> {
                let lease = $crate::LeaseToken::new(owner, herald_core::id::AttemptId::generate_at(now).as_str());
                let ids: Vec<(String,)> = sqlx::query_as(Self::CLAIM_SQL)
                    .bind(lease.as_str())
                    .bind($crate::rows::millis(now))
                    .bind($crate::rows::millis(lease_until))
                    .bind(i64::from(limit))
                    .fetch_all(self.writer())
                    .await?;
                self.load_jobs(ids.into_iter().map(|(id,)| id).collect(), &lease, lease_until).await
            }

            async fn claim_probe(
                &self,
                owner: &str,
                endpoint: &herald_core::id::EndpointId,
                now: herald_core::Timestamp,
                lease_until: herald_core::Timestamp,
            ) -> $crate::Result<Option<$crate::Job>> {
                let lease = $crate::LeaseToken::new(owner, herald_core::id::AttemptId::generate_at(now).as_str());
                let ids: Vec<(String,)> = sqlx::query_as(Self::PROBE_SQL)
                    .bind(lease.as_str())
                    .bind(endpoint.as_str())
                    .bind($crate::rows::millis(now))
                    .bind($crate::rows::millis(lease_until))
                    .fetch_all(self.writer())
                    .await?;
                let jobs = self.load_jobs(ids.into_iter().map(|(id,)| id).collect(), &lease, lease_until).await?;
                Ok(jobs.into_iter().next())
            }

            async fn set_endpoint_health(
                &self,
                endpoint: &herald_core::id::EndpointId,
                health: &herald_core::circuit::Health,
                shift: $crate::Shift,
                now: herald_core::Timestamp,
            ) -> $crate::Result<u64> {
                use $crate::rows::millis;
                let mut tx = self.writer().begin().await?;
                let stored = sqlx::query(
                    "UPDATE endpoints SET failing_since = $2, circuit_probe_at = $3, circuit_failed_probes = $4,
                       circuit_changed_at = $5
                     WHERE id = $1 AND (circuit_changed_at IS NULL OR circuit_changed_at <= $5)",
                )
                .bind(endpoint.as_str())
                .bind(health.failing_since.map(millis))
                .bind(health.probe_at.map(millis))
                .bind(i64::from(health.failed_probes))
                .bind(health.changed_at.map(millis))
                .execute(&mut *tx)
                .await?;
                if stored.rows_affected() == 0 {
                    return Ok(0); // a newer view is stored (or the endpoint is gone)
                }
                // Only deliveries no one holds a lease on move; leased ones are settled or
                // deferred by their holder.
                let moved = match shift {
                    $crate::Shift::None => 0,
                    $crate::Shift::Hold(until) => sqlx::query(
                        "UPDATE deliveries SET next_attempt_at = $2, updated_at = $3
                         WHERE endpoint_id = $1 AND status IN ('pending', 'retrying') AND next_attempt_at < $2
                           AND (leased_until IS NULL OR leased_until <= $3)",
                    )
                    .bind(endpoint.as_str())
                    .bind(millis(until))
                    .bind(millis(now))
                    .execute(&mut *tx)
                    .await?
                    .rows_affected(),
                    $crate::Shift::Release { up_to } => sqlx::query(
                        "UPDATE deliveries SET next_attempt_at = $3, updated_at = $3
                         WHERE endpoint_id = $1 AND status IN ('pending', 'retrying')
                           AND next_attempt_at > $3 AND next_attempt_at <= $2
                           AND (leased_until IS NULL OR leased_until <= $3)",
                    )
                    .bind(endpoint.as_str())
                    .bind(millis(up_to))
                    .bind(millis(now))
                    .execute(&mut *tx)
                    .await?
                    .rows_affected(),
                };
                Self::notify_in(&mut tx, matches!(shift, $crate::Shift::Release { .. }) && moved > 0).await?;
                tx.commit().await?;
                Ok(moved)
            }

            async fn next_due_at(&self) -> $crate::Result<Option<herald_core::Timestamp>> {
                let (ms,): (Option<i64>,) = sqlx::query_as(
                    "SELECT MIN(next_attempt_at) FROM deliveries WHERE status IN ('pending', 'retrying')",
                )
                .fetch_one(self.reader())
                .await?;
                Ok(ms.and_then(|ms| herald_core::Timestamp::from_millisecond(ms).ok()))
            }

            async fn settle(
                &self,
                lease: &$crate::LeaseToken,
                delivery: &herald_core::id::DeliveryId,
                attempt: Option<&herald_core::delivery::Attempt>,
                next: &herald_core::delivery::Next,
                now: herald_core::Timestamp,
            ) -> $crate::Result<()> {
                let (reply, answer) = tokio::sync::oneshot::channel();
                let write = $crate::batch::Write::Settle {
                    lease: lease.clone(),
                    delivery: delivery.clone(),
                    attempt: attempt.cloned().map(Box::new),
                    next: next.clone(),
                    now,
                    reply,
                };
                self.queue.send(write).await?;
                answer.await.map_err(|_| $crate::StoreError::Batch("the writer dropped a settle".into()))?
            }

            async fn defer(
                &self,
                lease: &$crate::LeaseToken,
                delivery: &herald_core::id::DeliveryId,
                until: herald_core::Timestamp,
            ) -> $crate::Result<()> {
                let (reply, answer) = tokio::sync::oneshot::channel();
                let write =
                    $crate::batch::Write::Defer { lease: lease.clone(), delivery: delivery.clone(), until, reply };
                self.queue.send(write).await?;
                answer.await.map_err(|_| $crate::StoreError::Batch("the writer dropped a deferral".into()))?
            }

            async fn forward_wakeups(&self, wakeup: std::sync::Arc<tokio::sync::Notify>) -> $crate::Result<()> {
                self.forward_wakeups_to(wakeup).await
            }

            async fn release_leases(&self, owner: &str, now: herald_core::Timestamp) -> $crate::Result<u64> {
                let mut tx = self.writer().begin().await?;
                let done = sqlx::query(
                    "UPDATE deliveries SET next_attempt_at = $2, leased_until = NULL, lease_owner = NULL, updated_at = $2
                     WHERE lease_owner LIKE $1 AND status IN ('pending', 'retrying')",
                )
                .bind(format!("{owner}:%"))
                .bind($crate::rows::millis(now))
                .execute(&mut *tx)
                .await?;
                Self::notify_in(&mut tx, done.rows_affected() > 0).await?;
                tx.commit().await?;
                Ok(done.rows_affected())
            }

            async fn release_every_lease(&self, now: herald_core::Timestamp) -> $crate::Result<u64> {
                let done = sqlx::query(
                    "UPDATE deliveries SET next_attempt_at = $1, leased_until = NULL, lease_owner = NULL, updated_at = $1
                     WHERE lease_owner IS NOT NULL AND status IN ('pending', 'retrying')",
                )
                .bind($crate::rows::millis(now))
                .execute(self.writer())
                .await?;
                Ok(done.rows_affected())
            }

            async fn instance_setting(&self, name: &str) -> $crate::Result<Option<Vec<u8>>> {
                let row: Option<(Vec<u8>,)> = sqlx::query_as("SELECT value FROM instance_settings WHERE name = $1")
                    .bind(name)
                    .fetch_optional(self.writer())
                    .await?;
                Ok(row.map(|(value,)| value))
            }

            async fn init_instance_setting(&self, name: &str, value: &[u8]) -> $crate::Result<Vec<u8>> {
                let mut tx = self.writer().begin().await?;
                sqlx::query("INSERT INTO instance_settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
                    .bind(name)
                    .bind(value)
                    .execute(&mut *tx)
                    .await?;
                let (stored,): (Vec<u8>,) = sqlx::query_as("SELECT value FROM instance_settings WHERE name = $1")
                    .bind(name)
                    .fetch_one(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(stored)
            }

            async fn any_sealed_credentials(
                &self,
            ) -> $crate::Result<Option<(herald_core::id::EndpointId, Vec<u8>)>> {
                let row: Option<(String, Vec<u8>)> =
                    sqlx::query_as("SELECT id, sealed_credentials FROM endpoints ORDER BY id LIMIT 1")
                        .fetch_optional(self.reader())
                        .await?;
                Ok(row.and_then(|(id, sealed)| Some((herald_core::id::EndpointId::parse(&id).ok()?, sealed))))
            }

            async fn idempotency_begin(
                &self,
                scope: &str,
                key: &str,
                request_hash: &str,
                now: herald_core::Timestamp,
                expired_before: herald_core::Timestamp,
            ) -> $crate::Result<$crate::IdempotencyState> {
                use $crate::IdempotencyState;
                let mut tx = self.writer().begin().await?;
                sqlx::query("DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND created_at < $3")
                    .bind(scope)
                    .bind(key)
                    .bind($crate::rows::millis(expired_before))
                    .execute(&mut *tx)
                    .await?;
                let inserted = sqlx::query(
                    "INSERT INTO idempotency_keys (scope, key, request_hash, created_at) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (scope, key) DO NOTHING",
                )
                .bind(scope)
                .bind(key)
                .bind(request_hash)
                .bind($crate::rows::millis(now))
                .execute(&mut *tx)
                .await?;
                let state = if inserted.rows_affected() == 1 {
                    IdempotencyState::New
                } else {
                    let row = sqlx::query_as::<_, $crate::rows::IdempotencyRow>(
                        "SELECT request_hash, status, content_type, body FROM idempotency_keys
                         WHERE scope = $1 AND key = $2",
                    )
                    .bind(scope)
                    .bind(key)
                    .fetch_one(&mut *tx)
                    .await?;
                    match row.status {
                        _ if row.request_hash != request_hash => IdempotencyState::Mismatch,
                        None => IdempotencyState::InProgress,
                        Some(status) => IdempotencyState::Replay {
                            status: u16::try_from(status).unwrap_or(500),
                            content_type: row.content_type,
                            body: row.body.unwrap_or_default(),
                        },
                    }
                };
                tx.commit().await?;
                Ok(state)
            }

            async fn idempotency_complete(
                &self,
                scope: &str,
                key: &str,
                status: u16,
                content_type: Option<&str>,
                body: &[u8],
            ) -> $crate::Result<()> {
                sqlx::query(
                    "UPDATE idempotency_keys SET status = $3, content_type = $4, body = $5 WHERE scope = $1 AND key = $2",
                )
                .bind(scope)
                .bind(key)
                .bind(i64::from(status))
                .bind(content_type)
                .bind(body)
                .execute(self.writer())
                .await?;
                Ok(())
            }

            async fn idempotency_release(&self, scope: &str, key: &str) -> $crate::Result<()> {
                sqlx::query("DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND status IS NULL")
                    .bind(scope)
                    .bind(key)
                    .execute(self.writer())
                    .await?;
                Ok(())
            }
        }

        impl $store {
            async fn event_by_id(
                pool: &sqlx::Pool<$db>,
                tenant: &herald_core::id::TenantId,
                id: &herald_core::event::EventId,
            ) -> $crate::Result<Option<herald_core::event::Event>> {
                let row = sqlx::query_as::<_, $crate::rows::EventRow>(
                    "SELECT * FROM events WHERE tenant_id = $1 AND id = $2",
                )
                .bind(tenant.as_str())
                .bind(id.as_str())
                .fetch_optional(pool)
                .await?;
                row.map(TryInto::try_into).transpose()
            }

            /// Loads claimed deliveries with their events and endpoints.
            async fn load_jobs(
                &self,
                ids: Vec<String>,
                lease: &$crate::LeaseToken,
                lease_until: herald_core::Timestamp,
            ) -> $crate::Result<Vec<$crate::Job>> {
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                let pool = self.writer();
                let ids = ids.into_iter();
                let deliveries: Vec<herald_core::delivery::Delivery> =
                    $crate::rows::convert(Self::rows_in::<$crate::rows::DeliveryRow>(pool, "deliveries", "id", ids).await?)?;
                let keys = deliveries.iter().map(|d| d.event_key.to_string());
                let events: Vec<herald_core::event::Event> =
                    $crate::rows::convert(Self::rows_in::<$crate::rows::EventRow>(pool, "events", "event_key", keys).await?)?;
                let endpoint_ids = deliveries.iter().map(|d| d.endpoint_id.to_string());
                let endpoints: Vec<herald_core::endpoint::Endpoint> = $crate::rows::convert(
                    Self::rows_in::<$crate::rows::EndpointRow>(pool, "endpoints", "id", endpoint_ids).await?,
                )?;
                Ok($crate::assemble_jobs(deliveries, events, endpoints, lease, lease_until))
            }


            /// `SELECT * FROM {table} WHERE {column} IN (values…)`.
            async fn rows_in<R>(
                pool: &sqlx::Pool<$db>,
                table: &str,
                column: &str,
                values: impl Iterator<Item = String>,
            ) -> $crate::Result<Vec<R>>
            where
                R: for<'r> sqlx::FromRow<'r, <$db as sqlx::Database>::Row> + Send + Unpin,
            {
                let mut query = sqlx::QueryBuilder::<$db>::new(format!("SELECT * FROM {table} WHERE {column} IN ("));
                let mut list = query.separated(", ");
                for value in values {
                    list.push_bind(value);
                }
                query.push(")");
                Ok(query.build_query_as::<R>().fetch_all(pool).await?)
            }

            /// Applies a batch of writes in one transaction and answers each; on failure, retries
            /// each write alone.
            async fn apply_batch(pool: sqlx::Pool<$db>, writes: Vec<$crate::batch::Write>) {
                match Self::apply_in_transaction(&pool, &writes).await {
                    Ok(applied) => Self::answer(&pool, writes, applied).await,
                    Err(error) if writes.len() == 1 => writes.into_iter().for_each(|w| w.fail(&error)),
                    Err(error) => {
                        tracing::warn!(%error, writes = writes.len(), "a write batch failed; retrying its writes one by one");
                        for write in writes {
                            let single = vec![write];
                            match Self::apply_in_transaction(&pool, &single).await {
                                Ok(applied) => Self::answer(&pool, single, applied).await,
                                Err(error) => single.into_iter().for_each(|w| w.fail(&error)),
                            }
                        }
                    }
                }
            }

            async fn answer(
                pool: &sqlx::Pool<$db>,
                writes: Vec<$crate::batch::Write>,
                applied: Vec<$crate::batch::Applied>,
            ) {
                use $crate::batch::{Applied, Write};
                for (write, applied) in writes.into_iter().zip(applied) {
                    match (write, applied) {
                        (Write::Publish { reply, .. }, Applied::Publish(true)) => {
                            let _ = reply.send(Ok($crate::Published::Created));
                        }
                        (Write::Publish { event, reply, .. }, _) => {
                            let result = match Self::event_by_id(pool, &event.tenant_id, &event.id).await {
                                Ok(Some(existing)) => Ok($crate::Published::Existing(existing)),
                                Ok(None) => Err($crate::StoreError::Corrupt {
                                    table: "events",
                                    detail: "an event id conflicted but no event has it".into(),
                                }),
                                Err(e) => Err(e),
                            };
                            let _ = reply.send(result);
                        }
                        (Write::Settle { reply, .. } | Write::Defer { reply, .. }, _) => {
                            let _ = reply.send(Ok(()));
                        }
                    }
                }
            }

            async fn apply_in_transaction(
                pool: &sqlx::Pool<$db>,
                writes: &[$crate::batch::Write],
            ) -> $crate::Result<Vec<$crate::batch::Applied>> {
                use $crate::batch::{Applied, Write};
                use $crate::rows::millis;
                let mut tx = pool.begin().await?;

                // Events: one multi-row insert; the ones that already existed are not returned.
                let events: Vec<&herald_core::event::Event> = writes
                    .iter()
                    .filter_map(|w| match w {
                        Write::Publish { event, .. } => Some(event),
                        Write::Settle { .. } | Write::Defer { .. } => None,
                    })
                    .collect();
                let mut inserted = std::collections::HashSet::new();
                for chunk in events.chunks(1000) {
                    let mut q = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO events (event_key, tenant_id, id, event_type, data, subject, source, created_at) ",
                    );
                    q.push_values(chunk, |mut row, e| {
                        row.push_bind(e.key.to_string())
                            .push_bind(e.tenant_id.to_string())
                            .push_bind(e.id.to_string())
                            .push_bind(e.event_type.to_string())
                            .push_bind($crate::rows::to_json(&e.data))
                            .push_bind(e.subject.clone())
                            .push_bind(e.source.clone())
                            .push_bind(millis(e.created_at));
                    });
                    q.push(" ON CONFLICT (tenant_id, id) DO NOTHING RETURNING event_key");
                    let keys: Vec<(String,)> = q.build_query_as().fetch_all(&mut *tx).await?;
                    inserted.extend(keys.into_iter().map(|k| k.0));
                }

                // Deliveries of the events that were new, leased to their publisher when asked.
                let deliveries: Vec<(&herald_core::delivery::Delivery, Option<&$crate::Lease>)> = writes
                    .iter()
                    .filter_map(|w| match w {
                        Write::Publish { event, deliveries, lease, .. } if inserted.contains(event.key.as_str()) => {
                            Some(deliveries.iter().map(move |d| (d, lease.as_ref())))
                        }
                        _ => None,
                    })
                    .flatten()
                    .collect();
                let unleased = deliveries.iter().any(|(d, lease)| {
                    lease.is_none() && d.status == herald_core::delivery::DeliveryStatus::Pending
                });
                for chunk in deliveries.chunks(500) {
                    let mut q = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO deliveries (id, tenant_id, event_key, event_id, endpoint_id, status, attempt_count,
                           next_attempt_at, lease_owner, leased_until, next_trigger, failure_reason, created_at, updated_at) ",
                    );
                    q.push_values(chunk, |mut row, (d, lease)| {
                        // Only a delivery to attempt now is leased (not a kept-failed one, nor one
                        // held behind an open circuit).
                        let lease = lease.filter(|_| {
                            d.status == herald_core::delivery::DeliveryStatus::Pending
                                && d.next_attempt_at.is_some_and(|at| at <= d.created_at)
                        });
                        let next = lease.map(|l| l.until).or(d.next_attempt_at);
                        row.push_bind(d.id.to_string())
                            .push_bind(d.tenant_id.to_string())
                            .push_bind(d.event_key.to_string())
                            .push_bind(d.event_id.to_string())
                            .push_bind(d.endpoint_id.to_string())
                            .push_bind(d.status.as_str())
                            .push_bind(i64::from(d.attempt_count))
                            .push_bind(next.map(millis))
                            .push_bind(lease.map(|l| l.token.to_string()))
                            .push_bind(lease.map(|l| millis(l.until)))
                            .push_bind(d.next_trigger.as_str())
                            .push_bind(d.failure_reason.map(|r| r.as_str()))
                            .push_bind(millis(d.created_at))
                            .push_bind(millis(d.updated_at));
                    });
                    q.build().execute(&mut *tx).await?;
                }

                // Attempts, then the deliveries they settle (only while the lease still holds).
                let settles: Vec<&Write> = writes.iter().filter(|w| matches!(w, Write::Settle { .. })).collect();
                let attempts: Vec<&herald_core::delivery::Attempt> = settles
                    .iter()
                    .filter_map(|w| match w {
                        Write::Settle { attempt: Some(a), .. } => Some(a.as_ref()),
                        _ => None,
                    })
                    .collect();
                for chunk in attempts.chunks(1000) {
                    let mut q = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO attempts (id, delivery_id, tenant_id, endpoint_id, attempt_no, trigger_kind,
                           started_at, duration_ms, request, response_status, response_headers, response_body,
                           error_kind, error_message) ",
                    );
                    q.push_values(chunk, |mut row, a| {
                        row.push_bind(a.id.to_string())
                            .push_bind(a.delivery_id.to_string())
                            .push_bind(a.tenant_id.to_string())
                            .push_bind(a.endpoint_id.to_string())
                            .push_bind(i64::from(a.attempt_no))
                            .push_bind(a.trigger.as_str())
                            .push_bind(millis(a.started_at))
                            .push_bind(i64::try_from(a.duration_ms).unwrap_or(i64::MAX))
                            .push_bind($crate::rows::to_json(&a.request))
                            .push_bind(a.response_status.map(i64::from))
                            .push_bind($crate::rows::to_json(&a.response_headers))
                            .push_bind(a.response_body.clone())
                            .push_bind(a.error_kind.map(|k| k.as_str()))
                            .push_bind(a.error_message.clone());
                    });
                    q.build().execute(&mut *tx).await?;
                }
                for chunk in settles.chunks(500) {
                    let mut q = sqlx::QueryBuilder::<$db>::new(
                        "UPDATE deliveries SET status = v.column3, next_attempt_at = v.column4, failure_reason = v.column5,
                           attempt_count = attempt_count + v.column6, last_attempt_at = COALESCE(v.column7, last_attempt_at),
                           next_trigger = 'scheduled', leased_until = NULL, lease_owner = NULL, updated_at = v.column8
                         FROM (",
                    );
                    q.push_values(chunk, |mut row, w| {
                        if let Write::Settle { lease, delivery, attempt, next, now, .. } = w {
                            use herald_core::delivery::Next;
                            let (status, next_at, reason) = match next {
                                Next::Delivered => ("delivered", None, None),
                                Next::RetryAt(at) => ("retrying", Some(millis(*at)), None),
                                Next::Failed(reason) => ("failed", None, Some(reason.as_str())),
                            };
                            row.push_bind(delivery.to_string())
                                .push_bind(lease.to_string())
                                .push_bind(status)
                                .push_bind(next_at)
                                .push_bind(reason)
                                .push_bind(i64::from(attempt.is_some()))
                                .push_bind(attempt.as_ref().map(|a| millis(a.started_at)))
                                .push_bind(millis(*now));
                        }
                    });
                    q.push(") AS v WHERE deliveries.id = v.column1 AND deliveries.lease_owner = v.column2");
                    q.build().execute(&mut *tx).await?;
                }

                let deferrals: Vec<&Write> = writes.iter().filter(|w| matches!(w, Write::Defer { .. })).collect();
                for chunk in deferrals.chunks(500) {
                    let mut q = sqlx::QueryBuilder::<$db>::new(
                        "UPDATE deliveries SET next_attempt_at = v.column3, leased_until = NULL, lease_owner = NULL
                         FROM (",
                    );
                    q.push_values(chunk, |mut row, w| {
                        if let Write::Defer { lease, delivery, until, .. } = w {
                            row.push_bind(delivery.to_string()).push_bind(lease.to_string()).push_bind(millis(*until));
                        }
                    });
                    q.push(") AS v WHERE deliveries.id = v.column1 AND deliveries.lease_owner = v.column2");
                    q.build().execute(&mut *tx).await?;
                }

                Self::notify_in(&mut tx, unleased).await?;
                tx.commit().await?;
                Ok(writes
                    .iter()
                    .map(|w| match w {
                        Write::Publish { event, .. } => Applied::Publish(inserted.contains(event.key.as_str())),
                        Write::Settle { .. } | Write::Defer { .. } => Applied::Settle,
                    })
                    .collect())
            }
        }
    };
}

pub(crate) use shared_store_impl;
