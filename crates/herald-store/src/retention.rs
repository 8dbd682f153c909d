//! Retention: finished deliveries (with their attempts), the events nothing refers to any more,
//! and expired idempotency keys are deleted, a small batch per call, so the writer is never held
//! for long (see `herald_server::retention`).
//!
//! Ids carry their creation time, so "created before" is a range of the primary key (or of
//! `(tenant_id, id)` for one tenant): no scan of what is kept.

use herald_core::Timestamp;
use herald_core::id::{DeliveryId, GeneratedEventId, TenantId};

use crate::Result;
use crate::dialect::{DbOf, Dialect, for_each_backend};
use crate::rows::millis;

/// Which tenants a purge covers: one, or every tenant but some (those with retentions of their
/// own).
#[derive(Debug, Clone, Copy)]
pub enum Tenants<'a> {
    One(&'a TenantId),
    AllBut(&'a [TenantId]),
}

fn push_tenants<'a, DB: sqlx::Database>(q: &mut sqlx::QueryBuilder<'a, DB>, tenants: Tenants<'_>)
where
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    match tenants {
        Tenants::One(tenant) => {
            q.push(" AND tenant_id = ").push_bind(tenant.as_str().to_owned());
        }
        Tenants::AllBut([]) => {}
        Tenants::AllBut(except) => {
            q.push(" AND tenant_id NOT IN (");
            let mut list = q.separated(", ");
            for tenant in except {
                list.push_bind(tenant.as_str().to_owned());
            }
            q.push(")");
        }
    }
}

for_each_backend! {
    /// Deletes up to `limit` delivered or failed deliveries created before `before` (and their
    /// attempts); returns how many.
    pub(crate) async fn purge_deliveries(&self, tenants: Tenants<'_>, before: Timestamp, limit: u32) -> Result<u64> {
        let mut q = sqlx::QueryBuilder::<DbOf<Self>>::new(
            "DELETE FROM deliveries WHERE id IN (SELECT id FROM deliveries WHERE id < ",
        );
        q.push_bind(DeliveryId::first_at(before).to_string());
        q.push(" AND status IN ('delivered', 'failed')");
        push_tenants(&mut q, tenants);
        q.push(" ORDER BY id LIMIT ").push_bind(i64::from(limit)).push(")");
        Ok(q.build().execute(self.writer()).await?.rows_affected())
    }

    /// Deletes up to `limit` events created before `before` that no delivery and no fan-out
    /// marker refers to; returns how many.
    pub(crate) async fn purge_events(&self, tenants: Tenants<'_>, before: Timestamp, limit: u32) -> Result<u64> {
        let mut q = sqlx::QueryBuilder::<DbOf<Self>>::new(
            "DELETE FROM events WHERE event_key IN (SELECT event_key FROM events WHERE event_key < ",
        );
        q.push_bind(GeneratedEventId::first_at(before).to_string());
        push_tenants(&mut q, tenants);
        q.push(
            " AND NOT EXISTS (SELECT 1 FROM deliveries WHERE deliveries.event_key = events.event_key)
              AND NOT EXISTS (SELECT 1 FROM fanouts WHERE fanouts.event_key = events.event_key)
             ORDER BY event_key LIMIT ",
        )
        .push_bind(i64::from(limit))
        .push(")");
        Ok(q.build().execute(self.writer()).await?.rows_affected())
    }

    /// Removes the payload (`data` becomes `{}`) of up to `limit` events created before `before`,
    /// after `after` (an event key: where the previous batch ended), whose deliveries are all
    /// finished; returns how many, and the last event key changed.
    pub(crate) async fn purge_payloads(
        &self,
        before: Timestamp,
        after: &str,
        limit: u32,
        now: Timestamp,
    ) -> Result<(u64, Option<String>)> {
        let keys: Vec<(String,)> = sqlx::query_as(
            "UPDATE events SET data = '{}', headers = NULL, payload_removed_at = $3
             WHERE event_key IN (
               SELECT event_key FROM events
               WHERE event_key > $1 AND event_key < $2 AND payload_removed_at IS NULL
                 AND NOT EXISTS (SELECT 1 FROM deliveries WHERE deliveries.event_key = events.event_key
                                   AND deliveries.status IN ('pending', 'retrying'))
                 AND NOT EXISTS (SELECT 1 FROM fanouts WHERE fanouts.event_key = events.event_key)
               ORDER BY event_key LIMIT $4)
             RETURNING event_key",
        )
        .bind(after)
        .bind(GeneratedEventId::first_at(before).to_string())
        .bind(millis(now))
        .bind(i64::from(limit))
        .fetch_all(self.writer())
        .await?;
        let last = keys.iter().map(|(k,)| k.clone()).max();
        Ok((keys.len() as u64, last))
    }

    /// Deletes up to `limit` idempotency keys stored before `before`; returns how many.
    pub(crate) async fn purge_idempotency_keys(&self, before: Timestamp, limit: u32) -> Result<u64> {
        let done = sqlx::query(
            "DELETE FROM idempotency_keys WHERE (scope, key) IN
               (SELECT scope, key FROM idempotency_keys WHERE created_at < $1 LIMIT $2)",
        )
        .bind(millis(before))
        .bind(i64::from(limit))
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected())
    }
}
