//! Applying a batch of writes: one transaction with a few multi-row statements, then an answer
//! to each caller — or, when the batch fails as a whole, each write again in a transaction of its
//! own, so that only the write at fault fails, with its own cause.
//!
//! A batch is written in two steps. The first inserts the events and removes the fan-out markers
//! of the expansions; which of them took effect (an event id its tenant already used is skipped,
//! a marker no longer held is left alone) decides the second: the fan-out markers of the new
//! events, the deliveries of the new events and of the expansions that went through, attempts,
//! settled deliveries and deferred ones. [`Plan`] works out both steps from the writes; each
//! backend sends them its fastest way (SQLite: the whole transaction on a thread of its own with
//! its own connection, so that a batch costs one hand-off and one wake-up — see `sqlite.rs`;
//! PostgreSQL: the whole batch as one statement, a `WITH` query over arrays per kind of
//! row, prepared once whatever the batch's size, the second step filtered inside it by what the
//! first returned — see `postgres.rs`).

use std::collections::HashSet;

use herald_core::delivery::{Attempt, Delivery, DeliveryStatus, Next};
use herald_core::event::Event;

use super::Write;
use crate::dialect::{BatchEngineOf, PooledOf, for_each_backend};
use crate::rows::millis;
use crate::{Lease, Published, StoreError};

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
}

/// Answers each write of a committed batch whose answer needs nothing more, given the keys its
/// first step `took`; returns the publishes whose event id the tenant had used already, whose
/// answer is the stored event (read after the commit: see `answer_existing`).
fn answer_committed(writes: Vec<Write>, took: &HashSet<String>) -> Vec<Write> {
    let mut existing = Vec::new();
    for write in writes {
        match write {
            Write::Publish { ref event, .. } if !took.contains(event.key.as_str()) => existing.push(write),
            Write::Publish { reply, .. } => {
                let _ = reply.send(Ok(Published::Created));
            }
            Write::Expand { event_key, reply, .. } => {
                let _ = reply.send(Ok(took.contains(event_key.as_str())));
            }
            Write::Settle { reply, .. } | Write::Defer { reply, .. } => {
                let _ = reply.send(Ok(()));
            }
        }
    }
    existing
}

for_each_backend! {
    /// Applies a batch of writes in one transaction on `connection` and answers each; on
    /// failure, applies each write alone, so that only the failing ones fail. Runs in the writer
    /// task (`Writer::spawn`), which holds the connection between batches: it is given back
    /// after a commit, and dropped (back to the pool, which checks it) after a failure.
    pub(crate) async fn apply_batch(
        mut connection: PooledOf<Self>,
        engine: &BatchEngineOf<Self>,
        writes: Vec<Write>,
    ) -> Option<PooledOf<Self>> {
        let started = std::time::Instant::now();
        let size = writes.len();
        let (writes, committed) = Self::apply_in_transaction(&mut connection, engine, writes).await;
        metrics::histogram!("herald_store_commit_batch_size").record(size as f64);
        metrics::histogram!("herald_store_commit_duration_seconds").record(started.elapsed().as_secs_f64());
        let error = match committed {
            Ok(took) => {
                let existing = answer_committed(writes, &took);
                Self::answer_existing(&mut connection, existing).await;
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
            Self::apply_alone(&mut connection, engine, write).await;
        }
        None
    }

    /// Applies one write in a transaction of its own and answers it, with its own error if any.
    async fn apply_alone(connection: &mut PooledOf<Self>, engine: &BatchEngineOf<Self>, write: Write) {
        let (single, applied) = Self::apply_in_transaction(connection, engine, vec![write]).await;
        match applied {
            Ok(took) => {
                let existing = answer_committed(single, &took);
                Self::answer_existing(connection, existing).await
            }
            Err(error) => {
                if let Some(write) = single.into_iter().next() {
                    write.fail(error);
                }
            }
        }
    }

    /// Answers, after the commit, each publish whose event id the tenant had used already: with
    /// that event (see `answer_committed`).
    async fn answer_existing(connection: &mut PooledOf<Self>, publishes: Vec<Write>) {
        for write in publishes {
            let Write::Publish { event, reply, .. } = write else {
                tracing::error!("the group commit left a write other than a publish unanswered");
                continue;
            };
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
    }
}
