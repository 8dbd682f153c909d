//! `Idempotency-Key`s: the first use of a key by a caller (`scope`) is registered, its response
//! stored when it completes, and replayed to a repeat of the same request; a key expires after
//! the caller's retention (`expired_before`).

use herald_core::Timestamp;

/// A client's `Idempotency-Key`: 1 to 255 visible ASCII characters, no spaces
/// ([`IdempotencyKey::PATTERN`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub const MAX_LEN: usize = 255;
    /// The key's form, as documented.
    pub const PATTERN: &'static str = "^[!-~]{1,255}$";

    pub fn parse(raw: &[u8]) -> Option<Self> {
        let valid = (1..=Self::MAX_LEN).contains(&raw.len()) && raw.iter().all(|b| (0x21..=0x7e).contains(b));
        valid.then(|| Self(String::from_utf8_lossy(raw).into_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

use crate::dialect::{Dialect, for_each_backend};
use crate::rows::{IdempotencyRow, millis};
use crate::{IdempotencyState, Result};

for_each_backend! {
    pub(crate) async fn idempotency_begin(
        &self,
        scope: &str,
        key: &IdempotencyKey,
        request_hash: &str,
        now: Timestamp,
        expired_before: Timestamp,
    ) -> Result<IdempotencyState> {
        let mut tx = self.writer().begin().await?;
        sqlx::query("DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND created_at < $3")
            .bind(scope)
            .bind(key.as_str())
            .bind(millis(expired_before))
            .execute(&mut *tx)
            .await?;
        let inserted = sqlx::query(
            "INSERT INTO idempotency_keys (scope, key, request_hash, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (scope, key) DO NOTHING",
        )
        .bind(scope)
        .bind(key.as_str())
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
            .bind(key.as_str())
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
        key: &IdempotencyKey,
        status: u16,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<()> {
        sqlx::query(
            "UPDATE idempotency_keys SET status = $3, content_type = $4, body = $5
             WHERE scope = $1 AND key = $2",
        )
            .bind(scope)
            .bind(key.as_str())
            .bind(i64::from(status))
            .bind(content_type)
            .bind(body)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    pub(crate) async fn idempotency_release(&self, scope: &str, key: &IdempotencyKey) -> Result<()> {
        sqlx::query("DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND status IS NULL")
            .bind(scope)
            .bind(key.as_str())
            .execute(self.writer())
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::IdempotencyKey;

    #[test]
    fn keys_are_visible_ascii_without_spaces() {
        assert!(IdempotencyKey::parse(b"order-42_retry.1").is_some());
        assert!(IdempotencyKey::parse(&[b'k'; 255]).is_some());
        for bad in [&b""[..], b"a b", b"tab\there", "caf\u{e9}".as_bytes(), &[b'k'; 256]] {
            assert!(IdempotencyKey::parse(bad).is_none(), "{bad:?}");
        }
    }
}
