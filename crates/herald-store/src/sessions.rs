//! Web interface sessions: opened at sign-in (expired ones are swept then), read on every page,
//! deleted at sign-out.

use herald_core::Timestamp;
use herald_core::api_key::KeyHash;
use herald_core::session::Session;

use crate::Result;
use crate::dialect::{Dialect, for_each_backend};
use crate::rows::{SessionRow, millis};

for_each_backend! {
    pub(crate) async fn insert_ui_session(&self, session: &Session, now: Timestamp) -> Result<()> {
        let mut tx = self.writer().begin().await?;
        sqlx::query("DELETE FROM ui_sessions WHERE expires_at <= $1")
            .bind(millis(now))
            .execute(&mut *tx)
            .await?;
        let tenant = session.viewer.tenant().map(|t| t.as_str());
        let key = session.viewer.key().map(|k| k.as_str());
        sqlx::query(
            "INSERT INTO ui_sessions (token_hash, tenant_id, api_key_id, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(session.hash.as_str())
        .bind(tenant)
        .bind(key)
        .bind(millis(session.created_at))
        .bind(millis(session.expires_at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The session whose token hashes to `hash`, unless it has expired by `now`.
    pub(crate) async fn ui_session(&self, hash: &KeyHash, now: Timestamp) -> Result<Option<Session>> {
        let row = sqlx::query_as::<_, SessionRow>(
            "SELECT token_hash, tenant_id, api_key_id, created_at, expires_at FROM ui_sessions
             WHERE token_hash = $1 AND expires_at > $2",
        )
        .bind(hash.as_str())
        .bind(millis(now))
        .fetch_optional(self.reader())
        .await?;
        row.map(TryInto::try_into).transpose()
    }

    pub(crate) async fn delete_ui_session(&self, hash: &KeyHash) -> Result<bool> {
        let done = sqlx::query("DELETE FROM ui_sessions WHERE token_hash = $1")
            .bind(hash.as_str())
            .execute(self.writer())
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
