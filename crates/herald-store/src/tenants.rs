//! Tenants and their API keys (an admin key has no tenant). Tenants page newest first by id;
//! deleting a tenant deletes everything it owns (`ON DELETE CASCADE`).

use herald_core::api_key::{ApiKey, KeyHash};
use herald_core::id::{ApiKeyId, TenantId};
use herald_core::tenant::{Tenant, TenantLimits, TenantRef};

use crate::dialect::{Dialect, for_each_backend};
use crate::rows::{ApiKeyRow, TenantRow, columns, convert, millis, scope_tenant, to_json};
use crate::{Page, PageRequest, Result, TenantBacklog, conflict_as};
use herald_core::Timestamp;

for_each_backend! {
    pub(crate) async fn insert_tenant(&self, t: &Tenant) -> Result<()> {
        sqlx::query(
            "INSERT INTO tenants (id, uid, name, metadata, created_at, updated_at, max_in_flight, publish_per_second,
                                  retention_days)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(t.id.as_str())
        .bind(t.uid.as_ref().map(|u| u.as_str()))
        .bind(&t.name)
        .bind(to_json(&t.metadata))
        .bind(millis(t.created_at))
        .bind(millis(t.updated_at))
        .bind(t.limits.max_in_flight.map(i64::from))
        .bind(t.limits.publish_per_second.map(i64::from))
        .bind(t.limits.retention_days.map(i64::from))
        .execute(self.writer())
        .await
        .map_err(conflict_as("tenant uid"))?;
        Ok(())
    }

    pub(crate) async fn tenant(&self, by: &TenantRef) -> Result<Option<Tenant>> {
        let (sql, key) = match by {
            TenantRef::Id(id) => {
                (concat!("SELECT ", columns!(tenants), " FROM tenants WHERE id = $1"), id.as_str())
            }
            TenantRef::Uid(uid) => {
                (concat!("SELECT ", columns!(tenants), " FROM tenants WHERE uid = $1"), uid.as_str())
            }
        };
        let row = sqlx::query_as::<_, TenantRow>(sql).bind(key).fetch_optional(self.reader()).await?;
        row.map(TryInto::try_into).transpose()
    }

    pub(crate) async fn list_tenants(&self, page: &PageRequest) -> Result<Page<Tenant>> {
        let rows = sqlx::query_as::<_, TenantRow>(concat!(
            "SELECT ",
            columns!(tenants),
            " FROM tenants
             WHERE ($1 IS NULL OR id < $1) ORDER BY id DESC LIMIT $2"
        ))
        .bind(page.cursor.as_deref())
        .bind(i64::from(page.limit) + 1)
        .fetch_all(self.reader())
        .await?;
        let items = convert(rows)?;
        Ok(Page::from_overfetch(items, page.limit, |t: &Tenant| t.id.to_string()))
    }

    /// The tenants that have limits of their own, with them (few: set by an operator).
    pub(crate) async fn tenant_limits(&self) -> Result<Vec<(TenantId, TenantLimits)>> {
        let rows = sqlx::query_as::<_, TenantRow>(concat!(
            "SELECT ",
            columns!(tenants),
            " FROM tenants WHERE max_in_flight IS NOT NULL OR publish_per_second IS NOT NULL OR retention_days IS NOT NULL"
        ))
        .fetch_all(self.reader())
        .await?;
        Ok(convert::<_, Tenant>(rows)?.into_iter().map(|t| (t.id, t.limits)).collect())
    }

    /// The tenant's deliveries not yet delivered or failed, and how many of them are due at `now`.
    pub(crate) async fn tenant_backlog(&self, tenant: &TenantId, now: Timestamp) -> Result<TenantBacklog> {
        // Through the endpoints: the waiting-by-endpoint index reads only undecided deliveries.
        let (backlog, due): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN d.next_attempt_at <= $2 THEN 1 ELSE 0 END), 0)
             FROM endpoints e JOIN deliveries d ON d.endpoint_id = e.id
             WHERE e.tenant_id = $1 AND d.status IN ('pending', 'retrying')",
        )
        .bind(tenant.as_str())
        .bind(millis(now))
        .fetch_one(self.reader())
        .await?;
        Ok(TenantBacklog { backlog: backlog.max(0) as u64, due: due.max(0) as u64 })
    }

    pub(crate) async fn update_tenant(&self, t: &Tenant) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE tenants SET uid = $2, name = $3, metadata = $4, updated_at = $5, max_in_flight = $6,
                    publish_per_second = $7, retention_days = $8
             WHERE id = $1",
        )
        .bind(t.id.as_str())
        .bind(t.uid.as_ref().map(|u| u.as_str()))
        .bind(&t.name)
        .bind(to_json(&t.metadata))
        .bind(millis(t.updated_at))
        .bind(t.limits.max_in_flight.map(i64::from))
        .bind(t.limits.publish_per_second.map(i64::from))
        .bind(t.limits.retention_days.map(i64::from))
        .execute(self.writer())
        .await
        .map_err(conflict_as("tenant uid"))?;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes the tenant and everything it owns. Its deliveries go by a statement of their
    /// own (on PostgreSQL they have no foreign key to cascade from; their attempts cascade from
    /// them), after the tenant: a publish or fan-out writing deliveries meanwhile holds its event
    /// or its fan-out marker, which the tenant's cascade waits for, so whatever it wrote is
    /// committed before that second statement reads the deliveries.
    pub(crate) async fn delete_tenant(&self, id: &TenantId) -> Result<bool> {
        let mut tx = self.writer().begin().await?;
        let done = sqlx::query("DELETE FROM tenants WHERE id = $1").bind(id.as_str()).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM deliveries WHERE tenant_id = $1").bind(id.as_str()).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    pub(crate) async fn insert_api_key(&self, k: &ApiKey) -> Result<()> {
        sqlx::query(
            "INSERT INTO api_keys (id, tenant_id, name, prefix, key_hash, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(k.id.as_str())
        .bind(scope_tenant(&k.scope))
        .bind(&k.name)
        .bind(&k.prefix)
        .bind(k.hash.as_str())
        .bind(millis(k.created_at))
        .execute(self.writer())
        .await
        .map_err(conflict_as("API key"))?;
        Ok(())
    }

    pub(crate) async fn api_key_by_hash(&self, hash: &KeyHash) -> Result<Option<ApiKey>> {
        let row = sqlx::query_as::<_, ApiKeyRow>(concat!(
            "SELECT ",
            columns!(api_keys),
            " FROM api_keys WHERE key_hash = $1"
        ))
        .bind(hash.as_str())
        .fetch_optional(self.reader())
        .await?;
        row.map(TryInto::try_into).transpose()
    }

    pub(crate) async fn list_api_keys(&self, tenant: &TenantId, page: &PageRequest) -> Result<Page<ApiKey>> {
        let rows = sqlx::query_as::<_, ApiKeyRow>(concat!(
            "SELECT ",
            columns!(api_keys),
            " FROM api_keys
             WHERE tenant_id = $1 AND ($2 IS NULL OR id < $2)
             ORDER BY id DESC LIMIT $3"
        ))
        .bind(tenant.as_str())
        .bind(page.cursor.as_deref())
        .bind(i64::from(page.limit) + 1)
        .fetch_all(self.reader())
        .await?;
        let items = convert(rows)?;
        Ok(Page::from_overfetch(items, page.limit, |k: &ApiKey| k.id.to_string()))
    }

    pub(crate) async fn delete_api_key(&self, tenant: &TenantId, id: &ApiKeyId) -> Result<bool> {
        let done = sqlx::query("DELETE FROM api_keys WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(id.as_str())
            .execute(self.writer())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub(crate) async fn count_admin_keys(&self) -> Result<u64> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM api_keys WHERE tenant_id IS NULL")
            .fetch_one(self.reader())
            .await?;
        Ok(n.max(0) as u64)
    }
}
