//! Endpoints: their configuration (versioned: an update applies only to the version it was
//! computed from), their circuit health, their figures, and the sealed credentials the master
//! key check reads.

use herald_core::Timestamp;
use herald_core::circuit::Health;
use herald_core::endpoint::Endpoint;
use herald_core::handshake::Handshake;
use herald_core::id::{EndpointId, TenantId};

use crate::dialect::{Dialect, for_each_backend};
use crate::events::{delivery_ids_before, delivery_ids_from};
use crate::queue::HOLD_CHUNK;
use crate::rows::{EndpointRow, columns, convert, millis, to_json};
use crate::{EndpointStats, EndpointUpdate, Page, PageRequest, Result, Shift, TimelineBucket, conflict_as};

for_each_backend! {
    pub(crate) async fn insert_endpoint(&self, e: &Endpoint) -> Result<()> {
        sqlx::query(
            "INSERT INTO endpoints
               (id, tenant_id, spec, enabled, disabled_reason, sealed_credentials, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(e.id.as_str())
        .bind(e.tenant_id.as_str())
        .bind(to_json(&e.spec))
        .bind(e.enabled)
        .bind(e.disabled_reason.as_deref())
        .bind(&e.sealed_credentials)
        .bind(millis(e.created_at))
        .bind(millis(e.updated_at))
        .execute(self.writer())
        .await
        .map_err(conflict_as("endpoint id"))?;
        Ok(())
    }

    pub(crate) async fn endpoint(&self, tenant: &TenantId, id: &EndpointId) -> Result<Option<Endpoint>> {
        let row = sqlx::query_as::<_, EndpointRow>(concat!(
            "SELECT ",
            columns!(endpoints),
            " FROM endpoints WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant.as_str())
        .bind(id.as_str())
        .fetch_optional(self.reader())
        .await?;
        row.map(TryInto::try_into).transpose()
    }

    pub(crate) async fn list_endpoints(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<Endpoint>> {
        let rows = sqlx::query_as::<_, EndpointRow>(concat!(
            "SELECT ",
            columns!(endpoints),
            " FROM endpoints
             WHERE tenant_id = $1 AND ($2 IS NULL OR id < $2)
             ORDER BY id DESC LIMIT $3"
        ))
        .bind(tenant.as_str())
        .bind(page.cursor.as_deref())
        .bind(i64::from(page.limit) + 1)
        .fetch_all(self.reader())
        .await?;
        let items = convert(rows)?;
        Ok(Page::from_overfetch(items, page.limit, |e: &Endpoint| e.id.to_string()))
    }

    /// Every endpoint of the tenant (for matching a published event).
    pub(crate) async fn tenant_endpoints(&self, tenant: &TenantId) -> Result<Vec<Endpoint>> {
        let rows = sqlx::query_as::<_, EndpointRow>(concat!(
            "SELECT ",
            columns!(endpoints),
            " FROM endpoints WHERE tenant_id = $1 ORDER BY id"
        ))
        .bind(tenant.as_str())
        .fetch_all(self.reader())
        .await?;
        convert(rows)
    }

    pub(crate) async fn update_endpoint(&self, e: &Endpoint) -> Result<EndpointUpdate> {
        let read_at = i64::try_from(e.version).unwrap_or(i64::MAX);
        let done = sqlx::query(
            "UPDATE endpoints SET spec = $3, enabled = $4, disabled_reason = $5,
               sealed_credentials = $6, updated_at = $7, version = version + 1
             WHERE tenant_id = $1 AND id = $2 AND version = $8",
        )
        .bind(e.tenant_id.as_str())
        .bind(e.id.as_str())
        .bind(to_json(&e.spec))
        .bind(e.enabled)
        .bind(e.disabled_reason.as_deref())
        .bind(&e.sealed_credentials)
        .bind(millis(e.updated_at))
        .bind(read_at)
        .execute(self.writer())
        .await?;
        if done.rows_affected() == 1 {
            return Ok(EndpointUpdate::Updated { version: e.version + 1 });
        }
        let exists: Option<(i64,)> =
            sqlx::query_as("SELECT version FROM endpoints WHERE tenant_id = $1 AND id = $2")
                .bind(e.tenant_id.as_str())
                .bind(e.id.as_str())
                .fetch_optional(self.writer())
                .await?;
        Ok(match exists {
            Some(_) => EndpointUpdate::Stale,
            None => EndpointUpdate::Missing,
        })
    }

    pub(crate) async fn delete_endpoint(&self, tenant: &TenantId, id: &EndpointId) -> Result<bool> {
        let done = sqlx::query("DELETE FROM endpoints WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(id.as_str())
            .execute(self.writer())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub(crate) async fn disable_endpoint(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
        reason: &str,
        now: Timestamp,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE endpoints SET enabled = FALSE, disabled_reason = $3, updated_at = $4,
               version = version + 1
             WHERE tenant_id = $1 AND id = $2 AND enabled",
        )
        .bind(tenant.as_str())
        .bind(id.as_str())
        .bind(reason)
        .bind(millis(now))
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub(crate) async fn set_endpoint_handshake(&self, endpoint: &EndpointId, handshake: &Handshake) -> Result<()> {
        sqlx::query("UPDATE endpoints SET handshake = $2 WHERE id = $1")
            .bind(endpoint.as_str())
            .bind(to_json(handshake))
            .execute(self.writer())
            .await?;
        Ok(())
    }

    /// Stores the circuit state unless a newer one is stored, and moves the endpoint's waiting
    /// deliveries as `shift` says (`queue.rs`), in one transaction.
    pub(crate) async fn set_endpoint_health(
        &self,
        endpoint: &EndpointId,
        health: &Health,
        shift: Shift,
        now: Timestamp,
    ) -> Result<u64> {
        let lane = self.hold_lane().lock().await;
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
        let moved = match shift {
            Shift::None => 0,
            Shift::Release { up_to } => Self::release_held(&mut tx, endpoint, up_to, now).await?,
            // A hold moves a failing endpoint's whole backlog: in chunks, each its own
            // transaction, so that other tenants' publishes and settles get the writer in between.
            Shift::Hold(until) => Self::hold_chunk(&mut tx, endpoint, until, now).await?,
        };
        tx.commit().await?;
        drop(lane);
        let (Shift::Hold(until), mut moved, mut last) = (shift, moved, moved) else { return Ok(moved) };
        while last == HOLD_CHUNK {
            let _lane = self.hold_lane().lock().await;
            let mut tx = self.writer().begin().await?;
            last = Self::hold_chunk(&mut tx, endpoint, until, now).await?;
            tx.commit().await?;
            moved += last;
        }
        Ok(moved)
    }

    pub(crate) async fn endpoint_timeline(
        &self,
        endpoint: &EndpointId,
        since: Timestamp,
        until: Timestamp,
        bucket: std::time::Duration,
    ) -> Result<Vec<TimelineBucket>> {
        let width = i64::try_from(bucket.as_millis()).unwrap_or(i64::MAX).max(1);
        let since = millis(since);
        let rows: Vec<(i64, i64, i64, i64, i64)> = sqlx::query_as(
            "SELECT (started_at - $2) / $4 AS bucket, COUNT(*),
                    CAST(SUM(CASE WHEN error_kind IS NULL THEN 1 ELSE 0 END) AS BIGINT),
                    CAST(AVG(duration_ms) AS BIGINT), CAST(MAX(duration_ms) AS BIGINT)
             FROM attempts WHERE endpoint_id = $1 AND started_at >= $2 AND started_at < $3
             GROUP BY bucket ORDER BY bucket",
        )
        .bind(endpoint.as_str())
        .bind(since)
        .bind(millis(until))
        .bind(width)
        .fetch_all(self.reader())
        .await?;
        let count = |n: i64| n.max(0) as u64;
        Ok(rows
            .into_iter()
            .filter_map(|(bucket, attempts, succeeded, mean, max)| {
                Some(TimelineBucket {
                    start: Timestamp::from_millisecond(since + bucket * width).ok()?,
                    attempts: count(attempts),
                    succeeded: count(succeeded),
                    mean_ms: count(mean),
                    max_ms: count(max),
                })
            })
            .collect())
    }

    pub(crate) async fn endpoint_stats(
        &self,
        endpoint: &EndpointId,
        since: Timestamp,
        until: Timestamp,
    ) -> Result<EndpointStats> {
        let pool = self.reader();
        // The id range reads the endpoint's `(endpoint_id, id)` index from the window's start.
        let (first_id, past_id) = (delivery_ids_from(since), delivery_ids_before(until));
        let (since, until) = (millis(since), millis(until));
        let counts: Vec<(String, i64)> = sqlx::query_as(
            "SELECT status, COUNT(*) FROM deliveries
             WHERE endpoint_id = $1 AND id >= $4 AND id < $5 AND created_at >= $2 AND created_at < $3
             GROUP BY status",
        )
        .bind(endpoint.as_str())
        .bind(since)
        .bind(until)
        .bind(first_id)
        .bind(past_id)
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
        Ok(EndpointStats {
            by_status,
            attempts: attempts.max(0) as u64,
            attempts_succeeded: succeeded.unwrap_or(0).max(0) as u64,
            duration_ms,
            backlog: backlog.max(0) as u64,
        })
    }

    /// Some endpoint's id and sealed credentials (to check the master key of a database that has
    /// no canary yet).
    pub(crate) async fn any_sealed_credentials(&self) -> Result<Option<(EndpointId, Vec<u8>)>> {
        let row: Option<(String, Vec<u8>)> =
            sqlx::query_as("SELECT id, sealed_credentials FROM endpoints ORDER BY id LIMIT 1")
                .fetch_optional(self.reader())
                .await?;
        Ok(row.and_then(|(id, sealed)| Some((EndpointId::parse(&id).ok()?, sealed))))
    }
}
