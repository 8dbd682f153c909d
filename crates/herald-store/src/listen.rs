//! `herald listen` sessions: which endpoints are a listening CLI's, and when one was last
//! connected (so that idle ones can be removed).

use herald_core::Timestamp;
use herald_core::id::{EndpointId, TenantId};

use crate::Result;
use crate::dialect::{Dialect, for_each_backend};
use crate::rows::{corrupt, millis};

for_each_backend! {
    pub(crate) async fn insert_listen_session(
        &self,
        tenant: &TenantId,
        endpoint: &EndpointId,
        now: Timestamp,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO listen_sessions (endpoint_id, tenant_id, last_seen_at, created_at) VALUES ($1, $2, $3, $3)",
        )
        .bind(endpoint.as_str())
        .bind(tenant.as_str())
        .bind(millis(now))
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// Whether the endpoint is one of the tenant's listen sessions.
    pub(crate) async fn is_listen_session(&self, tenant: &TenantId, endpoint: &EndpointId) -> Result<bool> {
        let found: Option<(i64,)> =
            sqlx::query_as("SELECT last_seen_at FROM listen_sessions WHERE endpoint_id = $1 AND tenant_id = $2")
                .bind(endpoint.as_str())
                .bind(tenant.as_str())
                .fetch_optional(self.reader())
                .await?;
        Ok(found.is_some())
    }

    /// Marks the sessions as connected now.
    pub(crate) async fn touch_listen_sessions(&self, endpoints: &[EndpointId], now: Timestamp) -> Result<()> {
        for endpoint in endpoints {
            sqlx::query("UPDATE listen_sessions SET last_seen_at = $2 WHERE endpoint_id = $1")
                .bind(endpoint.as_str())
                .bind(millis(now))
                .execute(self.writer())
                .await?;
        }
        Ok(())
    }

    /// The sessions last connected before `before`, with their tenants.
    pub(crate) async fn idle_listen_sessions(&self, before: Timestamp) -> Result<Vec<(TenantId, EndpointId)>> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT tenant_id, endpoint_id FROM listen_sessions WHERE last_seen_at < $1")
                .bind(millis(before))
                .fetch_all(self.reader())
                .await?;
        rows.into_iter()
            .map(|(tenant, endpoint)| {
                const T: &str = "listen_sessions";
                Ok((
                    TenantId::parse(&tenant).map_err(|e| corrupt(T, e))?,
                    EndpointId::parse(&endpoint).map_err(|e| corrupt(T, e))?,
                ))
            })
            .collect()
    }
}
