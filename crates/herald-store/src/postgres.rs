//! The PostgreSQL backend: any number of Herald instances share one database.
//!
//! Its [`Dialect`]: work is claimed with leases and `FOR UPDATE SKIP LOCKED` (concurrent
//! instances never block one another nor lease a delivery twice); wake-ups travel between
//! instances by `LISTEN/NOTIFY` on [`WAKEUP_CHANNEL`].

use std::collections::HashSet;
use std::sync::Arc;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgPool, PgPoolOptions};

use crate::batch::{Plan, Write, Writer, created_under};
use crate::dialect::{Dialect, PooledOf};
use crate::queue::Lease;
use crate::rows::{headers_json, millis, to_json};
use crate::{Backend, ConnectOptions, Result, StoreError, batch_conflict};

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
            |connection, writes| Self::apply_batch(connection, &(), writes),
        );
        Ok(Self { pool, batch, hold_lane: Arc::default() })
    }
}

/// The `LISTEN/NOTIFY` channel on which instances announce new due work.
pub const WAKEUP_CHANNEL: &str = "herald_work";

impl Dialect for PostgresStore {
    type Db = sqlx::Postgres;

    type BatchEngine = ();

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

/// The group commit on PostgreSQL: a batch is one statement (see [`Statement`]).
impl PostgresStore {
    /// Applies the batch as one statement — atomic on its own, so one round trip with no `BEGIN`
    /// or `COMMIT` — and returns the keys its first step took (see `batch/apply.rs`).
    pub(crate) async fn apply_in_transaction(
        connection: &mut PooledOf<Self>,
        _: &(),
        writes: Vec<Write>,
    ) -> (Vec<Write>, Result<HashSet<String>>) {
        let applied = Self::apply_statement(connection, &Plan::of(&writes)).await;
        (writes, applied)
    }

    async fn apply_statement(connection: &mut PooledOf<Self>, plan: &Plan<'_>) -> Result<HashSet<String>> {
        let statement = Statement::of(plan)?;
        let keys: Vec<(Option<String>,)> = sqlx::query_as_with(&statement.sql, statement.args)
            .fetch_all(&mut **connection)
            .await
            .map_err(batch_conflict)?;
        Ok(keys.into_iter().filter_map(|(key,)| key).collect())
    }
}

/// A batch as one statement: each kind of row written by a data-modifying `WITH` query over
/// arrays, in the order `batch/apply.rs` describes. The second step's rows are filtered in the
/// statement itself: fan-out markers only for the events inserted (`e`), deliveries only for
/// those and for the fan-outs whose marker was removed (`x`). A deferral of a delivery the same
/// batch settled changes nothing, as if it ran after the settle (whose row no longer has the
/// lease). The statement returns the keys the first step took, and a `NULL` row for the wake-up
/// when one is sent. Every part reads the database as it was before the statement, so a settle
/// could not find a delivery created in the same statement: the two lanes never put both in one
/// batch (an outcome waits until the write that created its delivery has committed).
struct Statement {
    sql: String,
    args: sqlx::postgres::PgArguments,
    parameters: usize,
}

impl Statement {
    fn of(plan: &Plan<'_>) -> Result<Self> {
        let mut s = Self { sql: String::from("WITH "), args: Default::default(), parameters: 0 };
        // The second step as though every event and expansion took; the statement filters.
        let then = plan.then(|_| true);
        let mut took = Vec::new();
        if !plan.events.is_empty() {
            let events = &plan.events;
            s.with(
                "e",
                "INSERT INTO events (event_key, tenant_id, id, event_type, data, subject, source, created_at,
                                     traceparent, headers)
                 SELECT * FROM UNNEST(",
            );
            s.array(column(events, |e| e.key.as_str()), "text")?;
            s.array(column(events, |e| e.tenant_id.as_str()), "text")?;
            s.array(column(events, |e| e.id.as_str()), "text")?;
            s.array(column(events, |e| e.event_type.as_str()), "text")?;
            s.array(column(events, |e| to_json(&e.data)), "text")?;
            s.array(column(events, |e| e.subject.as_deref()), "text")?;
            s.array(column(events, |e| e.source.as_deref()), "text")?;
            s.array(column(events, |e| millis(e.created_at)), "int8")?;
            s.array(column(events, |e| e.traceparent.as_ref().map(|t| t.as_str())), "text")?;
            s.array(column(events, |e| headers_json(&e.headers)), "text")?;
            s.end(") ON CONFLICT (tenant_id, id) DO NOTHING RETURNING event_key");
            took.push("SELECT event_key FROM e");
        }
        if !plan.expansions.is_empty() {
            let expansions = &plan.expansions;
            s.with("x", "DELETE FROM fanouts USING UNNEST(");
            s.array(column(expansions, |(key, _)| *key), "text")?;
            s.array(column(expansions, |(_, marker)| *marker), "text")?;
            s.end(
                ") AS v(event_key, lease_owner)
                 WHERE fanouts.event_key = v.event_key AND fanouts.lease_owner = v.lease_owner
                 RETURNING fanouts.event_key",
            );
            took.push("SELECT event_key FROM x");
        }
        if !took.is_empty() {
            s.with("took", &took.join(" UNION ALL "));
            s.end("");
        }
        if !then.markers.is_empty() {
            let markers = &then.markers;
            s.with("m", "INSERT INTO fanouts (event_key, lease_owner, leased_until) SELECT * FROM UNNEST(");
            s.array(column(markers, |(event, _)| event.key.as_str()), "text")?;
            s.array(column(markers, |(_, marker)| marker.token.as_str()), "text")?;
            s.array(column(markers, |(_, marker)| millis(marker.until)), "int8")?;
            s.end(
                ") AS v(event_key, lease_owner, leased_until) WHERE v.event_key IN (SELECT event_key FROM e)",
            );
        }
        if !then.deliveries.is_empty() {
            let deliveries = &then.deliveries;
            let leases: Vec<Option<&Lease>> = column(deliveries, |(d, lease)| created_under(d, *lease));
            s.with(
                "d",
                "INSERT INTO deliveries
                   (id, tenant_id, event_key, event_id, endpoint_id, status, attempt_count, next_attempt_at,
                    lease_owner, leased_until, next_trigger, failure_reason, created_at, updated_at)
                 SELECT * FROM UNNEST(",
            );
            s.array(column(deliveries, |(d, _)| d.id.as_str()), "text")?;
            s.array(column(deliveries, |(d, _)| d.tenant_id.as_str()), "text")?;
            s.array(column(deliveries, |(d, _)| d.event_key.as_str()), "text")?;
            s.array(column(deliveries, |(d, _)| d.event_id.as_str()), "text")?;
            s.array(column(deliveries, |(d, _)| d.endpoint_id.as_str()), "text")?;
            s.array(column(deliveries, |(d, _)| d.status.as_str()), "text")?;
            s.array(column(deliveries, |(d, _)| i64::from(d.attempt_count)), "int8")?;
            s.array(
                deliveries
                    .iter()
                    .zip(&leases)
                    .map(|((d, _), lease)| lease.map(|l| l.until).or(d.next_attempt_at).map(millis))
                    .collect::<Vec<_>>(),
                "int8",
            )?;
            s.array(column(&leases, |l| l.map(|l| l.token.as_str())), "text")?;
            s.array(column(&leases, |l| l.map(|l| millis(l.until))), "int8")?;
            s.array(column(deliveries, |(d, _)| d.next_trigger.as_str()), "text")?;
            s.array(column(deliveries, |(d, _)| d.failure_reason.map(|r| r.as_str())), "text")?;
            s.array(column(deliveries, |(d, _)| millis(d.created_at)), "int8")?;
            s.array(column(deliveries, |(d, _)| millis(d.updated_at)), "int8")?;
            s.end(
                ") AS v(id, tenant_id, event_key, event_id, endpoint_id, status, attempt_count,
                        next_attempt_at, lease_owner, leased_until, next_trigger, failure_reason,
                        created_at, updated_at)
                 WHERE v.event_key IN (SELECT event_key FROM took)",
            );
        }
        if !then.attempts.is_empty() {
            let attempts = &then.attempts;
            s.with(
                "a",
                "INSERT INTO attempts (id, delivery_id, tenant_id, endpoint_id, attempt_no, trigger_kind,
                   started_at, duration_ms, request, response_status, response_headers, response_body,
                   error_kind, error_message)
                 SELECT * FROM UNNEST(",
            );
            s.array(column(attempts, |a| a.id.as_str()), "text")?;
            s.array(column(attempts, |a| a.delivery_id.as_str()), "text")?;
            s.array(column(attempts, |a| a.tenant_id.as_str()), "text")?;
            s.array(column(attempts, |a| a.endpoint_id.as_str()), "text")?;
            s.array(column(attempts, |a| i64::from(a.attempt_no)), "int8")?;
            s.array(column(attempts, |a| a.trigger.as_str()), "text")?;
            s.array(column(attempts, |a| millis(a.started_at)), "int8")?;
            s.array(column(attempts, |a| i64::try_from(a.duration_ms).unwrap_or(i64::MAX)), "int8")?;
            s.array(column(attempts, |a| to_json(&a.request)), "text")?;
            s.array(column(attempts, |a| a.response_status.map(i64::from)), "int8")?;
            s.array(column(attempts, |a| to_json(&a.response_headers)), "text")?;
            s.array(column(attempts, |a| a.response_body.as_deref()), "text")?;
            s.array(column(attempts, |a| a.error_kind.map(|k| k.as_str())), "text")?;
            s.array(column(attempts, |a| a.error_message.as_deref()), "text")?;
            s.end(")");
        }
        if !then.settled.is_empty() {
            let settled = &then.settled;
            s.with(
                "s",
                "UPDATE deliveries
                 SET status = v.status, next_attempt_at = v.next_at, failure_reason = v.reason,
                   attempt_count = attempt_count + v.attempts,
                   last_attempt_at = COALESCE(v.attempted_at, last_attempt_at),
                   next_trigger = 'scheduled', leased_until = NULL, lease_owner = NULL, updated_at = v.now
                 FROM UNNEST(",
            );
            s.array(column(settled, |x| x.delivery), "text")?;
            s.array(column(settled, |x| x.lease), "text")?;
            s.array(column(settled, |x| x.status), "text")?;
            s.array(column(settled, |x| x.next_at), "int8")?;
            s.array(column(settled, |x| x.reason), "text")?;
            s.array(column(settled, |x| x.attempts), "int8")?;
            s.array(column(settled, |x| x.attempted_at), "int8")?;
            s.array(column(settled, |x| x.now), "int8")?;
            s.end(
                ") AS v(id, lease, status, next_at, reason, attempts, attempted_at, now)
                 WHERE deliveries.id = v.id AND deliveries.lease_owner = v.lease
                 RETURNING deliveries.id",
            );
        }
        if !then.deferred.is_empty() {
            let deferred = &then.deferred;
            s.with(
                "f",
                "UPDATE deliveries SET next_attempt_at = v.until, leased_until = NULL, lease_owner = NULL
                 FROM UNNEST(",
            );
            s.array(column(deferred, |d| d.delivery), "text")?;
            s.array(column(deferred, |d| d.lease), "text")?;
            s.array(column(deferred, |d| d.until), "int8")?;
            let settled = if then.settled.is_empty() { "" } else { " AND v.id NOT IN (SELECT id FROM s)" };
            s.end(&format!(
                ") AS v(id, lease, until) WHERE deliveries.id = v.id AND deliveries.lease_owner = v.lease{settled}"
            ));
        }
        let mut rows = if took.is_empty() {
            vec!["SELECT NULL::text WHERE false".to_owned()]
        } else {
            vec!["SELECT event_key FROM took".to_owned()]
        };
        if then.unleased {
            s.with("n", "SELECT pg_notify(");
            s.bind(WAKEUP_CHANNEL, "text")?;
            s.end(", '')");
            rows.push("SELECT NULL FROM n".to_owned());
        }
        // `WITH` and its last comma, or nothing when no part was written.
        if s.sql.ends_with(", ") {
            s.sql.truncate(s.sql.len() - 2);
            s.sql.push(' ');
        } else {
            s.sql.clear();
        }
        s.sql.push_str(&rows.join(" UNION ALL "));
        Ok(s)
    }

    /// Opens the `WITH` query `name`.
    fn with(&mut self, name: &str, sql: &str) {
        self.sql.push_str(name);
        self.sql.push_str(" AS (");
        self.sql.push_str(sql);
    }

    /// Closes the query opened last.
    fn end(&mut self, sql: &str) {
        self.sql.push_str(sql);
        self.sql.push_str("), ");
    }

    /// Binds an array parameter (each after the first with a comma before it, inside an
    /// `UNNEST(…)`).
    fn array<'q, T>(&mut self, values: Vec<T>, element: &str) -> Result<()>
    where
        Vec<T>: sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + 'q,
    {
        if !self.sql.ends_with('(') {
            self.sql.push_str(", ");
        }
        self.bind(values, &format!("{element}[]"))
    }

    fn bind<'q, T>(&mut self, value: T, cast: &str) -> Result<()>
    where
        T: sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + 'q,
    {
        <sqlx::postgres::PgArguments as sqlx::Arguments<'q>>::add(&mut self.args, value)
            .map_err(|e| StoreError::Database(sqlx::Error::Encode(e)))?;
        self.parameters += 1;
        self.sql.push_str(&format!("${}::{cast}", self.parameters));
        Ok(())
    }
}

/// One array parameter of a group-commit statement: a field of every row.
fn column<'a, T, U>(rows: &'a [T], field: impl FnMut(&'a T) -> U) -> Vec<U> {
    rows.iter().map(field).collect()
}
