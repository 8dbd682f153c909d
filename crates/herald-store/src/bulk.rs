//! Bulk retries: the operation's row (its status resource), and advancing it a page at a time —
//! the page's deliveries queued again and the operation's cursor moved past them in one
//! transaction, so a restart resumes exactly where the last page ended.

use herald_core::Timestamp;
use herald_core::id::{BulkRetryId, DeliveryId, TenantId};

use crate::dialect::{Dialect, for_each_backend};
use crate::rows::{BulkRetryRow, millis};
use crate::{BulkRetry, Result};

for_each_backend! {
    pub(crate) async fn insert_bulk_retry(&self, op: &BulkRetry) -> Result<()> {
        sqlx::query(
            "INSERT INTO bulk_retries (id, tenant_id, filter, cursor, retried, total, created_at, updated_at, finished_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(op.id.as_str())
        .bind(op.tenant_id.as_str())
        .bind(&op.filter)
        .bind(&op.cursor)
        .bind(op.retried as i64)
        .bind(op.total.map(|n| n as i64))
        .bind(millis(op.created_at))
        .bind(millis(op.updated_at))
        .bind(op.finished_at.map(millis))
        .execute(self.writer())
        .await?;
        Ok(())
    }

    pub(crate) async fn bulk_retry(&self, tenant: &TenantId, id: &BulkRetryId) -> Result<Option<BulkRetry>> {
        let row = sqlx::query_as::<_, BulkRetryRow>(
            "SELECT id, tenant_id, filter, cursor, retried, total, created_at, updated_at, finished_at
             FROM bulk_retries WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.as_str())
        .bind(id.as_str())
        .fetch_optional(self.reader())
        .await?;
        row.map(TryInto::try_into).transpose()
    }

    /// The operations not finished yet, oldest first (what a starting instance resumes).
    pub(crate) async fn running_bulk_retries(&self) -> Result<Vec<BulkRetry>> {
        let rows = sqlx::query_as::<_, BulkRetryRow>(
            "SELECT id, tenant_id, filter, cursor, retried, total, created_at, updated_at, finished_at
             FROM bulk_retries WHERE finished_at IS NULL ORDER BY created_at",
        )
        .fetch_all(self.reader())
        .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// Queues `page` again (trigger `manual`) and moves the operation's cursor to `cursor`, or
    /// finishes it, in one transaction. Returns the operation as it now stands (none when its
    /// tenant was deleted). Only from the cursor `op` holds: when another runner advanced or
    /// finished it meanwhile, nothing of `page` is queued.
    pub(crate) async fn advance_bulk_retry(
        &self,
        op: &BulkRetry,
        page: &[DeliveryId],
        cursor: &str,
        finished: bool,
        now: Timestamp,
    ) -> Result<Option<BulkRetry>> {
        let mut tx = self.writer().begin().await?;
        let mut requeued = 0u64;
        for id in page {
            let done = sqlx::query(
                "UPDATE deliveries SET status = CASE WHEN status = 'retrying' THEN 'retrying' ELSE 'pending' END,
                   next_attempt_at = $3, next_trigger = 'manual', failure_reason = NULL,
                   leased_until = NULL, lease_owner = NULL, updated_at = $3
                 WHERE tenant_id = $1 AND id = $2",
            )
            .bind(op.tenant_id.as_str())
            .bind(id.as_str())
            .bind(millis(now))
            .execute(&mut *tx)
            .await?;
            requeued += done.rows_affected();
        }
        let row = sqlx::query_as::<_, BulkRetryRow>(
            "UPDATE bulk_retries SET cursor = $2, retried = retried + $3, updated_at = $4,
               finished_at = CASE WHEN $5 THEN $4 ELSE NULL END
             WHERE id = $1 AND finished_at IS NULL AND cursor = $6
             RETURNING id, tenant_id, filter, cursor, retried, total, created_at, updated_at, finished_at",
        )
        .bind(op.id.as_str())
        .bind(cursor)
        .bind(requeued as i64)
        .bind(millis(now))
        .bind(finished)
        .bind(&op.cursor)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            // Advanced or finished meanwhile (another instance resumed it too): nothing of this
            // page stays, and the caller sees where the operation now stands.
            tx.rollback().await?;
            return self.bulk_retry(&op.tenant_id, &op.id).await;
        };
        Self::notify_in(&mut tx, requeued > 0).await?;
        tx.commit().await?;
        row.try_into().map(Some)
    }
}
