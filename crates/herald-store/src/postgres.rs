//! The PostgreSQL backend: any number of Herald instances share one database.
//!
//! Its [`Dialect`]: work is claimed with leases and `FOR UPDATE SKIP LOCKED` (concurrent
//! instances never block one another nor lease a delivery twice); wake-ups travel between
//! instances by `LISTEN/NOTIFY` on [`WAKEUP_CHANNEL`].

use std::collections::HashSet;
use std::sync::Arc;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgPool, PgPoolOptions};

use herald_core::delivery::{Attempt, Delivery};
use herald_core::event::Event;

use crate::batch::{Deferred, Plan, Settled, Writer, created_under};
use crate::conflict_as;
use crate::dialect::{Dialect, PooledOf};
use crate::queue::Lease;
use crate::rows::{headers_json, millis, to_json};
use crate::{Backend, ConnectOptions, Result};

#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    batch: Writer,
    /// Lets one circuit hold's transaction at a time compete with the group commit.
    hold_lane: Arc<tokio::sync::Mutex<()>>,
}

impl PostgresStore {
    pub async fn connect(url: &str, options: &ConnectOptions) -> Result<Self> {
        // The group commit's two lanes each hold a connection while they apply a batch.
        let pool = PgPoolOptions::new().max_connections(options.max_connections.max(3)).connect(url).await?;
        let writer = pool.clone();
        let batch = Writer::spawn_two_lanes(
            move || {
                let pool = writer.clone();
                async move { Ok(pool.acquire().await?) }
            },
            Self::apply_batch,
        );
        Ok(Self { pool, batch, hold_lane: Arc::default() })
    }
}

/// The `LISTEN/NOTIFY` channel on which instances announce new due work.
pub const WAKEUP_CHANNEL: &str = "herald_work";

impl Dialect for PostgresStore {
    type Db = sqlx::Postgres;

    const BACKEND: Backend = Backend::Postgres;

    const MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

    /// Concurrent instances skip each other's locked rows instead of waiting, so claims never
    /// block one another.
    const CLAIM_SQL: &'static str =
        "UPDATE deliveries SET lease_owner = $1, leased_until = $3, next_attempt_at = $3, updated_at = $2
         WHERE id IN (SELECT id FROM deliveries
                      WHERE status IN ('pending', 'retrying') AND next_attempt_at <= $2
                        AND tenant_id NOT IN (SELECT jsonb_array_elements_text($5::jsonb))
                      ORDER BY next_attempt_at LIMIT $4
                      FOR UPDATE SKIP LOCKED)
         RETURNING id";

    const NEXT_DUE_SQL: &'static str = "SELECT MIN(next_attempt_at) FROM deliveries
         WHERE status IN ('pending', 'retrying')
           AND tenant_id NOT IN (SELECT jsonb_array_elements_text($1::jsonb))";

    const FANOUT_CLAIM_SQL: &'static str = "UPDATE fanouts SET lease_owner = $1, leased_until = $3
         WHERE event_key IN (SELECT event_key FROM fanouts WHERE leased_until <= $2
                             ORDER BY leased_until LIMIT $4 FOR UPDATE SKIP LOCKED)
         RETURNING event_key";

    const PROBE_SQL: &'static str =
        "UPDATE deliveries SET lease_owner = $1, leased_until = $4, next_attempt_at = $4, updated_at = $3
         WHERE id IN (SELECT id FROM deliveries
                      WHERE endpoint_id = $2 AND status IN ('pending', 'retrying')
                        AND (leased_until IS NULL OR leased_until <= $3)
                      ORDER BY next_attempt_at LIMIT 1
                      FOR UPDATE SKIP LOCKED)
         RETURNING id";

    /// One pool: PostgreSQL readers never wait for the writer.
    fn reader(&self) -> &PgPool {
        &self.pool
    }

    fn writer(&self) -> &PgPool {
        &self.pool
    }

    fn batch_writer(&self) -> &Writer {
        &self.batch
    }

    fn hold_lane(&self) -> &tokio::sync::Mutex<()> {
        &self.hold_lane
    }

    /// Tells every instance listening on [`WAKEUP_CHANNEL`] that work is due, when the
    /// transaction commits.
    async fn notify_in(tx: &mut sqlx::Transaction<'_, sqlx::Postgres>, work: bool) -> Result<()> {
        if work {
            sqlx::query("SELECT pg_notify($1, '')").bind(WAKEUP_CHANNEL).execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// Listens on [`WAKEUP_CHANNEL`]; the listener reconnects by itself after a lost connection
    /// (a wake-up missed meanwhile is caught by the dispatcher's polling).
    async fn forward_wakeups_to(&self, wakeup: Arc<tokio::sync::Notify>) -> Result<()> {
        let mut listener = sqlx::postgres::PgListener::connect_with(&self.pool).await?;
        listener.listen(WAKEUP_CHANNEL).await?;
        loop {
            listener.recv().await?;
            wakeup.notify_one();
        }
    }
}

/// The group commit's rows, each kind with one statement over arrays.
impl PostgresStore {
    /// The batch's transaction (see `batch/apply.rs`): returns the keys its first step took.
    pub(crate) async fn apply_in_transaction(
        connection: &mut PooledOf<Self>,
        plan: &Plan<'_>,
    ) -> Result<HashSet<String>> {
        let mut tx = sqlx::Connection::begin(&mut **connection).await?;
        let mut took: HashSet<String> =
            Self::insert_events(&mut tx, &plan.events).await?.into_iter().collect();
        took.extend(Self::expand(&mut tx, &plan.expansions).await?);
        let then = plan.then(&took);
        Self::insert_markers(&mut tx, &then.markers).await?;
        Self::insert_deliveries(&mut tx, &then.deliveries).await?;
        Self::insert_attempts(&mut tx, &then.attempts).await?;
        Self::settle_leased(&mut tx, &then.settled).await?;
        Self::defer_leased(&mut tx, &then.deferred).await?;
        Self::notify_in(&mut tx, then.unleased).await?;
        tx.commit().await?;
        Ok(took)
    }

    /// Inserts events, skipping ids their tenant already used; returns the keys of those
    /// inserted.
    async fn insert_events(
        tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
        events: &[&Event],
    ) -> Result<Vec<String>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<(String,)> = sqlx::query_as(
            "INSERT INTO events (event_key, tenant_id, id, event_type, data, subject, source, created_at,
                                 traceparent, headers)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                                  $7::text[], $8::int8[], $9::text[], $10::text[])
             ON CONFLICT (tenant_id, id) DO NOTHING RETURNING event_key",
        )
        .bind(column(events, |e| e.key.as_str()))
        .bind(column(events, |e| e.tenant_id.as_str()))
        .bind(column(events, |e| e.id.as_str()))
        .bind(column(events, |e| e.event_type.as_str()))
        .bind(column(events, |e| to_json(&e.data)))
        .bind(column(events, |e| e.subject.as_deref()))
        .bind(column(events, |e| e.source.as_deref()))
        .bind(column(events, |e| millis(e.created_at)))
        .bind(column(events, |e| e.traceparent.as_ref().map(|t| t.as_str())))
        .bind(column(events, |e| headers_json(&e.headers)))
        .fetch_all(&mut **tx)
        .await
        .map_err(conflict_as("event key"))?;
        Ok(keys.into_iter().map(|(k,)| k).collect())
    }

    /// Removes fan-out markers still held by their expansion's holder; returns their event keys.
    async fn expand(
        tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
        expansions: &[(&str, &str)],
    ) -> Result<Vec<String>> {
        if expansions.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<(String,)> = sqlx::query_as(
            "DELETE FROM fanouts USING UNNEST($1::text[], $2::text[]) AS v(event_key, lease_owner)
             WHERE fanouts.event_key = v.event_key AND fanouts.lease_owner = v.lease_owner
             RETURNING fanouts.event_key",
        )
        .bind(column(expansions, |(key, _)| *key))
        .bind(column(expansions, |(_, marker)| *marker))
        .fetch_all(&mut **tx)
        .await?;
        Ok(keys.into_iter().map(|(k,)| k).collect())
    }

    /// Inserts the fan-out markers of new events, leased to their publishers.
    async fn insert_markers(
        tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
        markers: &[(&Event, &Lease)],
    ) -> Result<()> {
        if markers.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO fanouts (event_key, lease_owner, leased_until)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::int8[])",
        )
        .bind(column(markers, |(event, _)| event.key.as_str()))
        .bind(column(markers, |(_, marker)| marker.token.as_str()))
        .bind(column(markers, |(_, marker)| millis(marker.until)))
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    async fn insert_deliveries(
        tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
        deliveries: &[(&Delivery, Option<&Lease>)],
    ) -> Result<()> {
        if deliveries.is_empty() {
            return Ok(());
        }
        let leases: Vec<Option<&Lease>> = column(deliveries, |(d, lease)| created_under(d, *lease));
        sqlx::query(
            "INSERT INTO deliveries
               (id, tenant_id, event_key, event_id, endpoint_id, status, attempt_count, next_attempt_at,
                lease_owner, leased_until, next_trigger, failure_reason, created_at, updated_at)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                                  $7::int8[], $8::int8[], $9::text[], $10::int8[], $11::text[], $12::text[],
                                  $13::int8[], $14::int8[])",
        )
        .bind(column(deliveries, |(d, _)| d.id.as_str()))
        .bind(column(deliveries, |(d, _)| d.tenant_id.as_str()))
        .bind(column(deliveries, |(d, _)| d.event_key.as_str()))
        .bind(column(deliveries, |(d, _)| d.event_id.as_str()))
        .bind(column(deliveries, |(d, _)| d.endpoint_id.as_str()))
        .bind(column(deliveries, |(d, _)| d.status.as_str()))
        .bind(column(deliveries, |(d, _)| i64::from(d.attempt_count)))
        .bind(
            deliveries
                .iter()
                .zip(&leases)
                .map(|((d, _), lease)| lease.map(|l| l.until).or(d.next_attempt_at).map(millis))
                .collect::<Vec<_>>(),
        )
        .bind(column(&leases, |l| l.map(|l| l.token.as_str())))
        .bind(column(&leases, |l| l.map(|l| millis(l.until))))
        .bind(column(deliveries, |(d, _)| d.next_trigger.as_str()))
        .bind(column(deliveries, |(d, _)| d.failure_reason.map(|r| r.as_str())))
        .bind(column(deliveries, |(d, _)| millis(d.created_at)))
        .bind(column(deliveries, |(d, _)| millis(d.updated_at)))
        .execute(&mut **tx)
        .await
        .map_err(conflict_as("delivery id"))?;
        Ok(())
    }

    async fn insert_attempts(
        tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
        attempts: &[&Attempt],
    ) -> Result<()> {
        if attempts.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO attempts (id, delivery_id, tenant_id, endpoint_id, attempt_no, trigger_kind,
               started_at, duration_ms, request, response_status, response_headers, response_body,
               error_kind, error_message)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[], $6::text[],
                                  $7::int8[], $8::int8[], $9::text[], $10::int8[], $11::text[], $12::text[],
                                  $13::text[], $14::text[])",
        )
        .bind(column(attempts, |a| a.id.as_str()))
        .bind(column(attempts, |a| a.delivery_id.as_str()))
        .bind(column(attempts, |a| a.tenant_id.as_str()))
        .bind(column(attempts, |a| a.endpoint_id.as_str()))
        .bind(column(attempts, |a| i64::from(a.attempt_no)))
        .bind(column(attempts, |a| a.trigger.as_str()))
        .bind(column(attempts, |a| millis(a.started_at)))
        .bind(column(attempts, |a| i64::try_from(a.duration_ms).unwrap_or(i64::MAX)))
        .bind(column(attempts, |a| to_json(&a.request)))
        .bind(column(attempts, |a| a.response_status.map(i64::from)))
        .bind(column(attempts, |a| to_json(&a.response_headers)))
        .bind(column(attempts, |a| a.response_body.as_deref()))
        .bind(column(attempts, |a| a.error_kind.map(|k| k.as_str())))
        .bind(column(attempts, |a| a.error_message.as_deref()))
        .execute(&mut **tx)
        .await
        .map_err(conflict_as("attempt id"))?;
        Ok(())
    }

    async fn settle_leased(
        tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
        settled: &[Settled<'_>],
    ) -> Result<()> {
        if settled.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "UPDATE deliveries
             SET status = v.status, next_attempt_at = v.next_at, failure_reason = v.reason,
               attempt_count = attempt_count + v.attempts,
               last_attempt_at = COALESCE(v.attempted_at, last_attempt_at),
               next_trigger = 'scheduled', leased_until = NULL, lease_owner = NULL, updated_at = v.now
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int8[], $5::text[], $6::int8[], $7::int8[],
                         $8::int8[]) AS v(id, lease, status, next_at, reason, attempts, attempted_at, now)
             WHERE deliveries.id = v.id AND deliveries.lease_owner = v.lease",
        )
        .bind(column(settled, |s| s.delivery))
        .bind(column(settled, |s| s.lease))
        .bind(column(settled, |s| s.status))
        .bind(column(settled, |s| s.next_at))
        .bind(column(settled, |s| s.reason))
        .bind(column(settled, |s| s.attempts))
        .bind(column(settled, |s| s.attempted_at))
        .bind(column(settled, |s| s.now))
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    async fn defer_leased(
        tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
        deferred: &[Deferred<'_>],
    ) -> Result<()> {
        if deferred.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "UPDATE deliveries SET next_attempt_at = v.until, leased_until = NULL, lease_owner = NULL
             FROM UNNEST($1::text[], $2::text[], $3::int8[]) AS v(id, lease, until)
             WHERE deliveries.id = v.id AND deliveries.lease_owner = v.lease",
        )
        .bind(column(deferred, |d| d.delivery))
        .bind(column(deferred, |d| d.lease))
        .bind(column(deferred, |d| d.until))
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}

/// One array parameter of a group-commit statement: a field of every row.
fn column<'a, T, U>(rows: &'a [T], field: impl FnMut(&'a T) -> U) -> Vec<U> {
    rows.iter().map(field).collect()
}
