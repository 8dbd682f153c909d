//! Tenants and their API keys (an admin key has no tenant). Tenants page newest first by id;
//! deleting a tenant deletes everything it owns (`ON DELETE CASCADE`).

use herald_core::api_key::{ApiKey, KeyHash};
use herald_core::id::{ApiKeyId, TenantId};
use herald_core::tenant::{Tenant, TenantRef};

use crate::dialect::{Dialect, for_each_backend};
use crate::rows::{ApiKeyRow, TenantRow, columns, convert, millis, scope_tenant, to_json};
use crate::{Page, PageRequest, Result, conflict_as};

for_each_backend! {
    pub(crate) async fn insert_tenant(&self, t: &Tenant) -> Result<()> {
        sqlx::query(
            "INSERT INTO tenants (id, uid, name, metadata, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(t.id.as_str())
        .bind(t.uid.as_ref().map(|u| u.as_str()))
        .bind(&t.name)
        .bind(to_json(&t.metadata))
        .bind(millis(t.created_at))
        .bind(millis(t.updated_at))
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

    pub(crate) async fn update_tenant(&self, t: &Tenant) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE tenants SET uid = $2, name = $3, metadata = $4, updated_at = $5 WHERE id = $1",
        )
        .bind(t.id.as_str())
        .bind(t.uid.as_ref().map(|u| u.as_str()))
        .bind(&t.name)
        .bind(to_json(&t.metadata))
        .bind(millis(t.updated_at))
        .execute(self.writer())
        .await
        .map_err(conflict_as("tenant uid"))?;
        Ok(done.rows_affected() == 1)
    }

    pub(crate) async fn delete_tenant(&self, id: &TenantId) -> Result<bool> {
        let done =
            sqlx::query("DELETE FROM tenants WHERE id = $1").bind(id.as_str()).execute(self.writer()).await?;
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
