//! `Idempotency-Key`s: the first use of a key by a caller (`scope`) is registered, its response
//! stored when it completes, and replayed to a repeat of the same request; a key expires after
//! the caller's retention (`expired_before`).

use herald_core::Timestamp;

use crate::dialect::{Dialect, for_each_backend};
use crate::rows::{IdempotencyRow, millis};
use crate::{IdempotencyState, Result};

for_each_backend! {
    pub(crate) async fn idempotency_begin(
        &self,
        scope: &str,
        key: &str,
        request_hash: &str,
        now: Timestamp,
        expired_before: Timestamp,
    ) -> Result<IdempotencyState> {
        let mut tx = self.writer().begin().await?;
        sqlx::query("DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND created_at < $3")
            .bind(scope)
            .bind(key)
            .bind(millis(expired_before))
            .execute(&mut *tx)
            .await?;
        let inserted = sqlx::query(
            "INSERT INTO idempotency_keys (scope, key, request_hash, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (scope, key) DO NOTHING",
        )
        .bind(scope)
        .bind(key)
        .bind(request_hash)
        .bind(millis(now))
        .execute(&mut *tx)
        .await?;
        let state = if inserted.rows_affected() == 1 {
            IdempotencyState::New
        } else {
            let row = sqlx::query_as::<_, IdempotencyRow>(
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

    pub(crate) async fn idempotency_complete(
        &self,
        scope: &str,
        key: &str,
        status: u16,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<()> {
        sqlx::query(
            "UPDATE idempotency_keys SET status = $3, content_type = $4, body = $5
             WHERE scope = $1 AND key = $2",
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

    pub(crate) async fn idempotency_release(&self, scope: &str, key: &str) -> Result<()> {
        sqlx::query("DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND status IS NULL")
            .bind(scope)
            .bind(key)
            .execute(self.writer())
            .await?;
        Ok(())
    }
}
