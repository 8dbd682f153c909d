//! Applying a batch of writes: one transaction with a few multi-row statements, then an answer
//! to each caller — or, when the batch fails as a whole, each write again in a transaction of its
//! own, so that only the write at fault fails, with its own cause.

use std::collections::HashSet;

use herald_core::delivery::{Attempt, Delivery, DeliveryStatus, Next};
use herald_core::event::Event;

use super::Write;
use crate::dialect::{DbOf, Dialect, PoolOf, for_each_backend};
use crate::rows::{millis, to_json};
use crate::{Lease, Published, Result, StoreError, conflict_as};

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

for_each_backend! {
    /// Applies a batch of writes in one transaction and answers each; on failure, applies each
    /// write alone, so that only the failing ones fail. Runs in the writer task (`Writer::spawn`).
    pub(crate) async fn apply_batch(pool: PoolOf<Self>, writes: Vec<Write>) {
        let started = std::time::Instant::now();
        let committed = Self::apply_in_transaction(&pool, &writes).await;
        metrics::histogram!("herald_store_commit_batch_size").record(writes.len() as f64);
        metrics::histogram!("herald_store_commit_duration_seconds").record(started.elapsed().as_secs_f64());
        let error = match committed {
            Ok(applied) => return Self::answer(&pool, writes, applied).await,
            Err(error) => error,
        };
        if writes.len() == 1 {
            if let Some(write) = writes.into_iter().next() {
                write.fail(error);
            }
            return;
        }
        tracing::warn!(%error, writes = writes.len(), "a write batch failed; retrying its writes one by one");
        for write in writes {
            Self::apply_alone(&pool, write).await;
        }
    }

    /// Applies one write in a transaction of its own and answers it, with its own error if any.
    async fn apply_alone(pool: &PoolOf<Self>, write: Write) {
        let single = vec![write];
        match Self::apply_in_transaction(pool, &single).await {
            Ok(applied) => Self::answer(pool, single, applied).await,
            Err(error) => {
                if let Some(write) = single.into_iter().next() {
                    write.fail(error);
                }
            }
        }
    }

    /// Answers each caller after the commit: a publish whose event id existed gets that event.
    async fn answer(pool: &PoolOf<Self>, writes: Vec<Write>, applied: Vec<Applied>) {
        for (write, applied) in writes.into_iter().zip(applied) {
            match (write, applied) {
                (Write::Publish { reply, .. }, Applied::Publish(true)) => {
                    let _ = reply.send(Ok(Published::Created));
                }
                (Write::Publish { event, reply, .. }, _) => {
                    let result = match Self::event_by_id(pool, &event.tenant_id, &event.id).await {
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

    /// The batch's statements, in order: events (with the fan-out markers of the new ones),
    /// fan-outs expanded, the deliveries of new events and of expanded fan-outs, attempts, the
    /// settled deliveries, the deferred ones; then the wake-up, and the commit.
    async fn apply_in_transaction(pool: &PoolOf<Self>, writes: &[Write]) -> Result<Vec<Applied>> {
        let mut tx = pool.begin().await?;

        // Events: one multi-row insert; the ones that already existed are not returned.
        let events: Vec<&Event> = writes
            .iter()
            .filter_map(|w| match w {
                Write::Publish { event, .. } => Some(event),
                Write::Expand { .. } | Write::Settle { .. } | Write::Defer { .. } => None,
            })
            .collect();
        let inserted: HashSet<String> = Self::insert_events(&mut tx, &events).await?.into_iter().collect();

        // Fan-out markers of the new events, leased to their publishers.
        let markers: Vec<(&Event, &Lease)> = writes
            .iter()
            .filter_map(|w| match w {
                Write::Publish { event, fanout: Some(marker), .. } if inserted.contains(event.key.as_str()) => {
                    Some((event, marker))
                }
                _ => None,
            })
            .collect();
        for chunk in markers.chunks(ROWS_PER_INSERT) {
            let mut q = sqlx::QueryBuilder::<DbOf<Self>>::new(
                "INSERT INTO fanouts (event_key, lease_owner, leased_until) ",
            );
            q.push_values(chunk, |mut row, (event, marker)| {
                row.push_bind(event.key.to_string())
                    .push_bind(marker.token.to_string())
                    .push_bind(millis(marker.until));
            });
            q.build().persistent(false).execute(&mut *tx).await?;
        }

        // Fan-outs expanded: each marker removed while its holder still holds it.
        let mut expanded = HashSet::new();
        for write in writes {
            if let Write::Expand { event_key, marker, .. } = write {
                let done = sqlx::query("DELETE FROM fanouts WHERE event_key = $1 AND lease_owner = $2")
                    .bind(event_key.as_str())
                    .bind(marker.as_str())
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() > 0 {
                    expanded.insert(event_key.as_str());
                }
            }
        }

        // Deliveries of the events that were new and of the fan-outs expanded (only their marker's
        // holder gets here, once), leased to their publisher when asked.
        let deliveries: Vec<(&Delivery, Option<&Lease>)> = writes
            .iter()
            .filter_map(|w| match w {
                Write::Publish { event, deliveries, lease, .. } if inserted.contains(event.key.as_str()) => {
                    Some((deliveries, lease.as_ref()))
                }
                Write::Expand { event_key, deliveries, lease, .. } if expanded.contains(event_key.as_str()) => {
                    Some((deliveries, lease.as_ref()))
                }
                _ => None,
            })
            .flat_map(|(deliveries, lease)| deliveries.iter().map(move |d| (d, lease)))
            .collect();
        let unleased =
            deliveries.iter().any(|(d, lease)| lease.is_none() && d.status == DeliveryStatus::Pending);
        Self::insert_deliveries(&mut tx, &deliveries).await?;

        // Attempts, then the deliveries they settle (only while the lease still holds).
        let settles: Vec<&Write> = writes.iter().filter(|w| matches!(w, Write::Settle { .. })).collect();
        let attempts: Vec<&Attempt> = settles
            .iter()
            .filter_map(|w| match w {
                Write::Settle { attempt: Some(a), .. } => Some(a.as_ref()),
                _ => None,
            })
            .collect();
        Self::insert_attempts(&mut tx, &attempts).await?;
        let settled: Vec<Settled<'_>> = settles.iter().filter_map(|w| Settled::of(w)).collect();
        Self::settle_leased(&mut tx, &settled).await?;

        // Deferrals: due again at their time, with no attempt and no status change.
        let deferrals: Vec<&Write> = writes.iter().filter(|w| matches!(w, Write::Defer { .. })).collect();
        for chunk in deferrals.chunks(ROWS_PER_UPDATE) {
            let mut q = sqlx::QueryBuilder::<DbOf<Self>>::new(
                "UPDATE deliveries SET next_attempt_at = v.column3, leased_until = NULL, lease_owner = NULL
                 FROM (",
            );
            q.push_values(chunk, |mut row, w| {
                if let Write::Defer { lease, delivery, until, .. } = w {
                    row.push_bind(delivery.to_string())
                        .push_bind(lease.to_string())
                        .push_bind(millis(*until));
                }
            });
            q.push(") AS v WHERE deliveries.id = v.column1 AND deliveries.lease_owner = v.column2");
            q.build().persistent(false).execute(&mut *tx).await?;
        }

        Self::notify_in(&mut tx, unleased).await?;
        tx.commit().await?;
        Ok(writes
            .iter()
            .map(|w| match w {
                Write::Publish { event, .. } => Applied::Publish(inserted.contains(event.key.as_str())),
                Write::Expand { event_key, .. } => Applied::Expand(expanded.contains(event_key.as_str())),
                Write::Settle { .. } | Write::Defer { .. } => Applied::Settle,
            })
            .collect())
    }
}

/// SQLite's group-commit statements: multi-row `VALUES` (SQLite prepares them cheaply, and has
/// no arrays). Like every statement whose text depends on the batch's size, they are not kept in
/// the connection's statement cache: a cached 500-row statement is a large compiled program, and
/// every size would be one more.
impl crate::SqliteStore {
    /// Inserts events with multi-row `VALUES`, skipping ids the tenant already used; returns the
    /// keys of those inserted.
    pub(crate) async fn insert_events_values(
        tx: &mut sqlx::Transaction<'_, DbOf<Self>>,
        events: &[&Event],
    ) -> Result<Vec<String>> {
        let mut inserted = Vec::new();
        for chunk in events.chunks(ROWS_PER_INSERT) {
            let mut q = sqlx::QueryBuilder::<DbOf<Self>>::new(
                "INSERT INTO events
                   (event_key, tenant_id, id, event_type, data, subject, source, created_at, traceparent,
                    headers) ",
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
            let keys: Vec<(String,)> = q
                .build_query_as()
                .persistent(false)
                .fetch_all(&mut **tx)
                .await
                .map_err(conflict_as("event key"))?;
            inserted.extend(keys.into_iter().map(|k| k.0));
        }

        Ok(inserted)
    }

    /// Inserts deliveries (each with the lease it may be created under) with multi-row `VALUES`.
    pub(crate) async fn insert_deliveries_values(
        tx: &mut sqlx::Transaction<'_, DbOf<Self>>,
        deliveries: &[(&Delivery, Option<&Lease>)],
    ) -> Result<()> {
        for chunk in deliveries.chunks(ROWS_PER_UPDATE) {
            let mut q = sqlx::QueryBuilder::<DbOf<Self>>::new(
                "INSERT INTO deliveries
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
            q.build().persistent(false).execute(&mut **tx).await.map_err(conflict_as("delivery id"))?;
        }

        Ok(())
    }

    /// Inserts attempts with multi-row `VALUES`.
    pub(crate) async fn insert_attempts_values(
        tx: &mut sqlx::Transaction<'_, DbOf<Self>>,
        attempts: &[&Attempt],
    ) -> Result<()> {
        for chunk in attempts.chunks(ROWS_PER_INSERT) {
            let mut q = sqlx::QueryBuilder::<DbOf<Self>>::new(
                "INSERT INTO attempts (id, delivery_id, tenant_id, endpoint_id, attempt_no, trigger_kind,
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
            q.build().persistent(false).execute(&mut **tx).await.map_err(conflict_as("attempt id"))?;
        }
        Ok(())
    }

    /// Moves settled deliveries on (only while their lease holds) with one `UPDATE … FROM
    /// (VALUES …)` per chunk.
    ///
    /// `OR FAIL`: a statement that fails keeps the rows it changed before the failure, instead of
    /// undoing them from a statement journal — SQLite then keeps no such journal (a copy of every
    /// page the statement changes). Nothing is lost by it: a failed statement fails the batch,
    /// whose transaction is rolled back as a whole and its writes applied again one by one.
    pub(crate) async fn settle_leased_values(
        tx: &mut sqlx::Transaction<'_, DbOf<Self>>,
        settled: &[Settled<'_>],
    ) -> Result<()> {
        for chunk in settled.chunks(ROWS_PER_UPDATE) {
            let mut q = sqlx::QueryBuilder::<DbOf<Self>>::new(
                "UPDATE OR FAIL deliveries
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
            q.build().persistent(false).execute(&mut **tx).await?;
        }

        Ok(())
    }
}
