//! Applying a batch of writes: one transaction with a few multi-row statements, then an answer
//! to each caller — or, when the batch fails as a whole, each write again in a transaction of its
//! own, so that only the write at fault fails, with its own cause.
//!
//! A batch is written in two steps. The first inserts the events and removes the fan-out markers
//! of the expansions; which of them took effect (an event id its tenant already used is skipped,
//! a marker no longer held is left alone) decides the second: the fan-out markers of the new
//! events, the deliveries of the new events and of the expansions that went through, attempts,
//! settled deliveries and deferred ones. [`Plan`] works out both steps from the writes; each
//! backend sends them its fastest way (SQLite: each step as one multi-statement query, the
//! transaction's `BEGIN` and `COMMIT` included, so that a batch costs the connection's thread two
//! wake-ups; PostgreSQL: the whole batch as one statement, a `WITH` query over arrays per kind of
//! row, prepared once whatever the batch's size, the second step filtered inside it by what the
//! first returned — see `postgres.rs`).

use std::collections::HashSet;

use herald_core::delivery::{Attempt, Delivery, DeliveryStatus, Next};
use herald_core::event::Event;

use super::Write;
use crate::dialect::{PooledOf, for_each_backend};
use crate::rows::{millis, to_json};
use crate::{Lease, Published, Result, StoreError, batch_conflict};

/// Rows per multi-row statement, for events and attempts …
const ROWS_PER_INSERT: usize = 1000;
/// … and for deliveries, settlements and deferrals; both keep a statement well under SQLite's
/// 32,766 bound parameters.
const ROWS_PER_UPDATE: usize = 500;

/// What a batch's transaction decided for each write, before replies.
#[derive(Debug)]
enum Applied {
    /// Published, or (`false`) the event id already existed: fetch it after commit.
    Publish(bool),
    /// A fan-out's deliveries created (`false`: its marker was no longer held; nothing written).
    Expand(bool),
    /// Settled or deferred (a write whose lease no longer holds changes nothing).
    Settle,
}

/// The lease a new delivery is created under: only one to attempt now is leased (not a
/// kept-failed one, nor one held behind an open circuit). A new delivery's `updated_at` is when
/// it was made (its `created_at` may be its event's, earlier).
pub(crate) fn created_under<'a>(delivery: &Delivery, lease: Option<&'a Lease>) -> Option<&'a Lease> {
    lease.filter(|_| {
        delivery.status == DeliveryStatus::Pending
            && delivery.next_attempt_at.is_some_and(|at| at <= delivery.updated_at)
    })
}

/// A settle as the row update it makes.
#[derive(Debug)]
pub(crate) struct Settled<'a> {
    pub delivery: &'a str,
    pub lease: &'a str,
    pub status: &'static str,
    pub next_at: Option<i64>,
    pub reason: Option<&'static str>,
    /// Attempts to add to the count (0 or 1).
    pub attempts: i64,
    pub attempted_at: Option<i64>,
    pub now: i64,
}

impl<'a> Settled<'a> {
    pub(crate) fn of(write: &'a Write) -> Option<Self> {
        let Write::Settle { lease, delivery, attempt, next, now, .. } = write else { return None };
        let (status, next_at, reason) = match next {
            Next::Delivered => ("delivered", None, None),
            Next::RetryAt(at) => ("retrying", Some(millis(*at)), None),
            Next::Failed(reason) => ("failed", None, Some(reason.as_str())),
        };
        Some(Self {
            delivery: delivery.as_str(),
            lease: lease.as_str(),
            status,
            next_at,
            reason,
            attempts: i64::from(attempt.is_some()),
            attempted_at: attempt.as_ref().map(|a| millis(a.started_at)),
            now: millis(*now),
        })
    }
}

/// A deferral as the row update it makes.
#[derive(Debug)]
pub(crate) struct Deferred<'a> {
    pub delivery: &'a str,
    pub lease: &'a str,
    pub until: i64,
}

impl<'a> Deferred<'a> {
    pub(crate) fn of(write: &'a Write) -> Option<Self> {
        let Write::Defer { lease, delivery, until, .. } = write else { return None };
        Some(Self { delivery: delivery.as_str(), lease: lease.as_str(), until: millis(*until) })
    }
}

/// What a batch writes, worked out from its writes.
#[derive(Debug)]
pub(crate) struct Plan<'a> {
    /// The events to insert (first step).
    pub events: Vec<&'a Event>,
    /// The fan-outs to expand, as (event key, marker's lease token): each marker is removed
    /// while its holder still holds it (first step).
    pub expansions: Vec<(&'a str, &'a str)>,
    writes: &'a [Write],
}

/// The second step: what the first one decided to write next.
#[derive(Debug)]
pub(crate) struct Then<'a> {
    /// Fan-out markers of the new events, leased to their publishers.
    pub markers: Vec<(&'a Event, &'a Lease)>,
    /// Deliveries of the new events and of the expanded fan-outs, each with the lease it may be
    /// created under.
    pub deliveries: Vec<(&'a Delivery, Option<&'a Lease>)>,
    pub attempts: Vec<&'a Attempt>,
    pub settled: Vec<Settled<'a>>,
    pub deferred: Vec<Deferred<'a>>,
    /// Whether deliveries due now were created without a lease (other processes may take them).
    pub unleased: bool,
}

impl<'a> Plan<'a> {
    pub(crate) fn of(writes: &'a [Write]) -> Self {
        let events = writes
            .iter()
            .filter_map(|w| match w {
                Write::Publish { event, .. } => Some(event),
                _ => None,
            })
            .collect();
        let expansions = writes
            .iter()
            .filter_map(|w| match w {
                Write::Expand { event_key, marker, .. } => Some((event_key.as_str(), marker.as_str())),
                _ => None,
            })
            .collect();
        Self { events, expansions, writes }
    }

    /// The second step, given which keys the first one `took`: those of the events inserted and
    /// of the fan-outs whose marker was removed (an expansion's event is never one inserted in
    /// the same batch, so one set tells both apart). PostgreSQL takes every key here and filters
    /// inside its statement.
    pub(crate) fn then(&self, took: impl Fn(&str) -> bool) -> Then<'a> {
        let writes = self.writes;
        let markers = writes
            .iter()
            .filter_map(|w| match w {
                Write::Publish { event, fanout: Some(marker), .. } if took(event.key.as_str()) => {
                    Some((event, marker))
                }
                _ => None,
            })
            .collect();
        let deliveries: Vec<(&Delivery, Option<&Lease>)> = writes
            .iter()
            .filter_map(|w| match w {
                Write::Publish { event, deliveries, lease, .. } if took(event.key.as_str()) => {
                    Some((deliveries, lease.as_ref()))
                }
                Write::Expand { event_key, deliveries, lease, .. } if took(event_key.as_str()) => {
                    Some((deliveries, lease.as_ref()))
                }
                _ => None,
            })
            .flat_map(|(deliveries, lease)| deliveries.iter().map(move |d| (d, lease)))
            .collect();
        let unleased =
            deliveries.iter().any(|(d, lease)| lease.is_none() && d.status == DeliveryStatus::Pending);
        let attempts = writes
            .iter()
            .filter_map(|w| match w {
                Write::Settle { attempt: Some(a), .. } => Some(a.as_ref()),
                _ => None,
            })
            .collect();
        Then {
            markers,
            deliveries,
            attempts,
            settled: writes.iter().filter_map(Settled::of).collect(),
            deferred: writes.iter().filter_map(Deferred::of).collect(),
            unleased,
        }
    }

    /// What each write came to, given the keys the first step took.
    fn applied(&self, took: &HashSet<String>) -> Vec<Applied> {
        self.writes
            .iter()
            .map(|w| match w {
                Write::Publish { event, .. } => Applied::Publish(took.contains(event.key.as_str())),
                Write::Expand { event_key, .. } => Applied::Expand(took.contains(event_key.as_str())),
                Write::Settle { .. } | Write::Defer { .. } => Applied::Settle,
            })
            .collect()
    }
}

for_each_backend! {
    /// Applies a batch of writes in one transaction on `connection` and answers each; on
    /// failure, applies each write alone, so that only the failing ones fail. Runs in the writer
    /// task (`Writer::spawn`), which holds the connection between batches: it is given back
    /// after a commit, and dropped (back to the pool, which checks it) after a failure.
    pub(crate) async fn apply_batch(mut connection: PooledOf<Self>, writes: Vec<Write>) -> Option<PooledOf<Self>> {
        let started = std::time::Instant::now();
        let plan = Plan::of(&writes);
        let committed = Self::apply_in_transaction(&mut connection, &plan).await;
        metrics::histogram!("herald_store_commit_batch_size").record(writes.len() as f64);
        metrics::histogram!("herald_store_commit_duration_seconds").record(started.elapsed().as_secs_f64());
        let error = match committed {
            Ok(took) => {
                let applied = plan.applied(&took);
                Self::answer(&mut connection, writes, applied).await;
                return Some(connection);
            }
            Err(error) => error,
        };
        if writes.len() == 1 {
            if let Some(write) = writes.into_iter().next() {
                write.fail(error);
            }
            return None;
        }
        tracing::warn!(%error, writes = writes.len(), "a write batch failed; retrying its writes one by one");
        for write in writes {
            Self::apply_alone(&mut connection, write).await;
        }
        None
    }

    /// Applies one write in a transaction of its own and answers it, with its own error if any.
    async fn apply_alone(connection: &mut PooledOf<Self>, write: Write) {
        let single = vec![write];
        let plan = Plan::of(&single);
        match Self::apply_in_transaction(connection, &plan).await {
            Ok(took) => {
                let applied = plan.applied(&took);
                Self::answer(connection, single, applied).await
            }
            Err(error) => {
                if let Some(write) = single.into_iter().next() {
                    write.fail(error);
                }
            }
        }
    }

    /// Answers each caller after the commit: a publish whose event id existed gets that event.
    async fn answer(connection: &mut PooledOf<Self>, writes: Vec<Write>, applied: Vec<Applied>) {
        for (write, applied) in writes.into_iter().zip(applied) {
            match (write, applied) {
                (Write::Publish { reply, .. }, Applied::Publish(true)) => {
                    let _ = reply.send(Ok(Published::Created));
                }
                (Write::Publish { event, reply, .. }, _) => {
                    let result = match Self::event_by_id(&mut **connection, &event.tenant_id, &event.id).await {
                        Ok(Some(existing)) => Ok(Published::Existing(existing)),
                        Ok(None) => Err(StoreError::Corrupt {
                            table: "events",
                            detail: "an event id conflicted but no event has it".into(),
                        }),
                        Err(e) => Err(e),
                    };
                    let _ = reply.send(result);
                }
                (Write::Expand { reply, .. }, applied) => {
                    let _ = reply.send(Ok(matches!(applied, Applied::Expand(true))));
                }
                (Write::Settle { reply, .. } | Write::Defer { reply, .. }, _) => {
                    let _ = reply.send(Ok(()));
                }
            }
        }
    }
}

/// SQLite's group commit: each step of a batch is one multi-statement query of multi-row
/// `VALUES` statements (SQLite prepares them cheaply, and has no arrays), the first opening the
/// transaction and the last committing it. Like every statement whose text depends on the
/// batch's size, they are not kept in the connection's statement cache: a cached 500-row
/// statement is a large compiled program, and every size would be one more.
impl crate::SqliteStore {
    /// The batch's transaction: returns the keys the first step took (see [`Plan::then`]). On
    /// failure the transaction is rolled back; should the connection be left inside it (the
    /// rollback failed, or the caller's future was dropped or panicked half-way), it is closed
    /// instead of going back to the pool.
    async fn apply_in_transaction(
        connection: &mut PooledOf<Self>,
        plan: &Plan<'_>,
    ) -> Result<HashSet<String>> {
        let mut open = OpenTransaction { connection, open: true };
        match Self::write_both_steps(open.connection, plan).await {
            Ok(took) => {
                open.open = false;
                Ok(took)
            }
            Err(error) => {
                if sqlx::query("ROLLBACK").execute(&mut **open.connection).await.is_ok() {
                    open.open = false;
                }
                Err(error)
            }
        }
    }

    async fn write_both_steps(connection: &mut PooledOf<Self>, plan: &Plan<'_>) -> Result<HashSet<String>> {
        let mut q = SqliteQuery::new("BEGIN");
        let mut took = HashSet::new();
        if !plan.events.is_empty() || !plan.expansions.is_empty() {
            for chunk in plan.events.chunks(ROWS_PER_INSERT) {
                push_events(&mut q, chunk);
            }
            for chunk in plan.expansions.chunks(ROWS_PER_UPDATE) {
                push_expansions(&mut q, chunk);
            }
            let keys: Vec<(String,)> = q
                .build_query_as()
                .persistent(false)
                .fetch_all(&mut **connection)
                .await
                .map_err(batch_conflict)?;
            took.extend(keys.into_iter().map(|(key,)| key));
            // Each statement pushed starts with its `;` (an empty statement first is skipped).
            q = SqliteQuery::new("");
        }
        let then = plan.then(|key| took.contains(key));
        for chunk in then.markers.chunks(ROWS_PER_INSERT) {
            push_markers(&mut q, chunk);
        }
        for chunk in then.deliveries.chunks(ROWS_PER_UPDATE) {
            push_deliveries(&mut q, chunk);
        }
        for chunk in then.attempts.chunks(ROWS_PER_INSERT) {
            push_attempts(&mut q, chunk);
        }
        for chunk in then.settled.chunks(ROWS_PER_UPDATE) {
            push_settles(&mut q, chunk);
        }
        for chunk in then.deferred.chunks(ROWS_PER_UPDATE) {
            push_deferrals(&mut q, chunk);
        }
        q.push("; COMMIT");
        q.build().persistent(false).execute(&mut **connection).await.map_err(batch_conflict)?;
        Ok(took)
    }
}

/// A connection inside the group commit's transaction: closed when dropped while `open` (it
/// cannot be rolled back from `drop`), so that no later user of the pool finds it half-way.
struct OpenTransaction<'c> {
    connection: &'c mut PooledOf<crate::SqliteStore>,
    open: bool,
}

impl Drop for OpenTransaction<'_> {
    fn drop(&mut self) {
        if self.open {
            self.connection.close_on_drop();
        }
    }
}

type SqliteQuery<'q> = sqlx::QueryBuilder<'q, sqlx::Sqlite>;

/// Inserts events, skipping ids their tenant already used; returns the keys of those inserted.
fn push_events<'q>(q: &mut SqliteQuery<'q>, chunk: &[&'q Event]) {
    q.push(
        "; INSERT INTO events
           (event_key, tenant_id, id, event_type, data, subject, source, created_at, traceparent, headers) ",
    );
    q.push_values(chunk, |mut row, e| {
        row.push_bind(e.key.as_str())
            .push_bind(e.tenant_id.as_str())
            .push_bind(e.id.as_str())
            .push_bind(e.event_type.as_str())
            .push_bind(to_json(&e.data))
            .push_bind(e.subject.as_deref())
            .push_bind(e.source.as_deref())
            .push_bind(millis(e.created_at))
            .push_bind(e.traceparent.as_ref().map(|t| t.as_str().to_owned()))
            .push_bind(crate::rows::headers_json(&e.headers));
    });
    q.push(" ON CONFLICT (tenant_id, id) DO NOTHING RETURNING event_key");
}

/// Removes fan-out markers still held by their expansion's holder; returns their event keys.
fn push_expansions<'q>(q: &mut SqliteQuery<'q>, chunk: &[(&'q str, &'q str)]) {
    q.push("; DELETE FROM fanouts WHERE (event_key, lease_owner) IN (");
    q.push_values(chunk, |mut row, (key, marker)| {
        row.push_bind(*key).push_bind(*marker);
    });
    q.push(") RETURNING event_key");
}

fn push_markers<'q>(q: &mut SqliteQuery<'q>, chunk: &[(&'q Event, &'q Lease)]) {
    q.push("; INSERT INTO fanouts (event_key, lease_owner, leased_until) ");
    q.push_values(chunk, |mut row, (event, marker)| {
        row.push_bind(event.key.as_str()).push_bind(marker.token.as_str()).push_bind(millis(marker.until));
    });
}

fn push_deliveries<'q>(q: &mut SqliteQuery<'q>, chunk: &[(&'q Delivery, Option<&'q Lease>)]) {
    q.push(
        "; INSERT INTO deliveries
           (id, tenant_id, event_key, event_id, endpoint_id, status, attempt_count, next_attempt_at,
            lease_owner, leased_until, next_trigger, failure_reason, created_at, updated_at) ",
    );
    q.push_values(chunk, |mut row, (d, lease)| {
        let lease = created_under(d, *lease);
        let next = lease.map(|l| l.until).or(d.next_attempt_at);
        row.push_bind(d.id.as_str())
            .push_bind(d.tenant_id.as_str())
            .push_bind(d.event_key.as_str())
            .push_bind(d.event_id.as_str())
            .push_bind(d.endpoint_id.as_str())
            .push_bind(d.status.as_str())
            .push_bind(i64::from(d.attempt_count))
            .push_bind(next.map(millis))
            .push_bind(lease.map(|l| l.token.as_str()))
            .push_bind(lease.map(|l| millis(l.until)))
            .push_bind(d.next_trigger.as_str())
            .push_bind(d.failure_reason.map(|r| r.as_str()))
            .push_bind(millis(d.created_at))
            .push_bind(millis(d.updated_at));
    });
}

fn push_attempts<'q>(q: &mut SqliteQuery<'q>, chunk: &[&'q Attempt]) {
    q.push(
        "; INSERT INTO attempts (id, delivery_id, tenant_id, endpoint_id, attempt_no, trigger_kind,
           started_at, duration_ms, request, response_status, response_headers, response_body,
           error_kind, error_message) ",
    );
    q.push_values(chunk, |mut row, a| {
        row.push_bind(a.id.as_str())
            .push_bind(a.delivery_id.as_str())
            .push_bind(a.tenant_id.as_str())
            .push_bind(a.endpoint_id.as_str())
            .push_bind(i64::from(a.attempt_no))
            .push_bind(a.trigger.as_str())
            .push_bind(millis(a.started_at))
            .push_bind(i64::try_from(a.duration_ms).unwrap_or(i64::MAX))
            .push_bind(to_json(&a.request))
            .push_bind(a.response_status.map(i64::from))
            .push_bind(to_json(&a.response_headers))
            .push_bind(a.response_body.as_deref())
            .push_bind(a.error_kind.map(|k| k.as_str()))
            .push_bind(a.error_message.as_deref());
    });
}

/// `OR FAIL`: a statement that fails keeps the rows it changed before the failure, instead of
/// undoing them from a statement journal — SQLite then keeps no such journal (a copy of every
/// page the statement changes). Nothing is lost by it: a failed statement fails the batch,
/// whose transaction is rolled back as a whole and its writes applied again one by one.
fn push_settles<'q>(q: &mut SqliteQuery<'q>, chunk: &[Settled<'q>]) {
    q.push(
        "; UPDATE OR FAIL deliveries
         SET status = v.column3, next_attempt_at = v.column4, failure_reason = v.column5,
           attempt_count = attempt_count + v.column6,
           last_attempt_at = COALESCE(v.column7, last_attempt_at),
           next_trigger = 'scheduled', leased_until = NULL, lease_owner = NULL, updated_at = v.column8
         FROM (",
    );
    q.push_values(chunk, |mut row, s| {
        row.push_bind(s.delivery)
            .push_bind(s.lease)
            .push_bind(s.status)
            .push_bind(s.next_at)
            .push_bind(s.reason)
            .push_bind(s.attempts)
            .push_bind(s.attempted_at)
            .push_bind(s.now);
    });
    q.push(") AS v WHERE deliveries.id = v.column1 AND deliveries.lease_owner = v.column2");
}

fn push_deferrals<'q>(q: &mut SqliteQuery<'q>, chunk: &[Deferred<'q>]) {
    q.push(
        "; UPDATE deliveries SET next_attempt_at = v.column3, leased_until = NULL, lease_owner = NULL
         FROM (",
    );
    q.push_values(chunk, |mut row, d| {
        row.push_bind(d.delivery).push_bind(d.lease).push_bind(d.until);
    });
    q.push(") AS v WHERE deliveries.id = v.column1 AND deliveries.lease_owner = v.column2");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether a new transaction can begin on the pool's next connection.
    async fn next_connection_begins(pool: &sqlx::SqlitePool) -> bool {
        let mut next = pool.acquire().await.unwrap();
        let began = sqlx::query("BEGIN").execute(&mut *next).await.is_ok();
        // Either way, the connection goes back outside any transaction.
        sqlx::query("ROLLBACK").execute(&mut *next).await.unwrap();
        began
    }

    #[tokio::test]
    async fn a_connection_dropped_inside_the_transaction_is_closed_not_given_back() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let pool = sqlx::sqlite::SqlitePoolOptions::new().max_connections(1).connect(&url).await.unwrap();

        // Given back with its transaction open, a connection would fail the next `BEGIN`.
        let mut connection = pool.acquire().await.unwrap();
        sqlx::query("BEGIN").execute(&mut *connection).await.unwrap();
        drop(OpenTransaction { connection: &mut connection, open: false });
        drop(connection);
        assert!(!next_connection_begins(&pool).await, "the check sees a connection left in a transaction");

        // Dropped while open (a failed rollback, a panic, a dropped future): closed instead.
        let mut connection = pool.acquire().await.unwrap();
        sqlx::query("BEGIN").execute(&mut *connection).await.unwrap();
        drop(OpenTransaction { connection: &mut connection, open: true });
        drop(connection);
        assert!(next_connection_begins(&pool).await, "the pool opened a new connection");
    }
}
