//! What the instance keeps about itself (`instance_settings`: name → bytes), such as the master
//! key canary.

use crate::Result;
use crate::dialect::{Dialect, for_each_backend};

for_each_backend! {
    pub(crate) async fn instance_setting(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let row: Option<(Vec<u8>,)> = sqlx::query_as("SELECT value FROM instance_settings WHERE name = $1")
            .bind(name)
            .fetch_optional(self.writer())
            .await?;
        Ok(row.map(|(value,)| value))
    }

    /// Stores `value` under `name` unless a value is there already; returns the stored value.
    pub(crate) async fn init_instance_setting(&self, name: &str, value: &[u8]) -> Result<Vec<u8>> {
        let mut tx = self.writer().begin().await?;
        sqlx::query(
            "INSERT INTO instance_settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(value)
        .execute(&mut *tx)
        .await?;
        let (stored,): (Vec<u8>,) = sqlx::query_as("SELECT value FROM instance_settings WHERE name = $1")
            .bind(name)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(stored)
    }
}
