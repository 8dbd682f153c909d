//! The queries both backends share, written once.
//!
//! SQLite and PostgreSQL agree on everything these queries use (`$n` parameters, `RETURNING`,
//! `ON CONFLICT`, partial indexes), and the schemas store the same column types. sqlx's pools
//! are concrete per database, so this macro stamps the one body out for each backend type;
//! each backend provides `reader()`, `writer()` and `MIGRATOR`, and the parts that really
//! differ live beside it.

macro_rules! shared_store_impl {
    ($store:ty, $backend:expr) => {
        #[async_trait::async_trait]
        impl $crate::Store for $store {
            fn backend(&self) -> $crate::Backend {
                $backend
            }

            async fn migrate(&self) -> $crate::Result<()> {
                Self::MIGRATOR.run(self.writer()).await?;
                Ok(())
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
                .map_err($crate::conflict_as("tenants.uid"))?;
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
                .map_err($crate::conflict_as("tenants.uid"))?;
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
                .map_err($crate::conflict_as("api_keys.key_hash"))?;
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
                .map_err($crate::conflict_as("event_types.name"))?;
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
                .map_err($crate::conflict_as("endpoints.id"))?;
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

            async fn update_endpoint(&self, e: &herald_core::endpoint::Endpoint) -> $crate::Result<bool> {
                let done = sqlx::query(
                    "UPDATE endpoints SET spec = $3, enabled = $4, disabled_reason = $5,
                       sealed_credentials = $6, updated_at = $7
                     WHERE tenant_id = $1 AND id = $2",
                )
                .bind(e.tenant_id.as_str())
                .bind(e.id.as_str())
                .bind($crate::rows::to_json(&e.spec))
                .bind(e.enabled)
                .bind(e.disabled_reason.as_deref())
                .bind(&e.sealed_credentials)
                .bind($crate::rows::millis(e.updated_at))
                .execute(self.writer())
                .await?;
                Ok(done.rows_affected() == 1)
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
        }
    };
}

pub(crate) use shared_store_impl;
