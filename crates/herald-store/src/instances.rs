//! Instances' heartbeats: which claiming processes are alive, so the leases of one that died can
//! be given back at once (see `release_leases`).

use herald_core::Timestamp;

use crate::Result;
use crate::dialect::{Dialect, for_each_backend};
use crate::rows::millis;

for_each_backend! {
    /// Records that `owner` is alive at `now`.
    pub(crate) async fn heartbeat(&self, owner: &str, now: Timestamp) -> Result<()> {
        sqlx::query(
            "INSERT INTO instances (owner, started_at, heartbeat_at) VALUES ($1, $2, $2)
             ON CONFLICT (owner) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
        )
        .bind(owner)
        .bind(millis(now))
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// The instances whose last heartbeat is older than `before`.
    pub(crate) async fn silent_instances(&self, before: Timestamp) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as("SELECT owner FROM instances WHERE heartbeat_at < $1")
            .bind(millis(before))
            .fetch_all(self.reader())
            .await?;
        Ok(rows.into_iter().map(|(owner,)| owner).collect())
    }

    /// Forgets an instance (stopped, or its leases given back).
    pub(crate) async fn forget_instance(&self, owner: &str) -> Result<()> {
        sqlx::query("DELETE FROM instances WHERE owner = $1").bind(owner).execute(self.writer()).await?;
        Ok(())
    }
}
