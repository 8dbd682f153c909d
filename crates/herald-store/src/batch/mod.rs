//! Group commit: concurrent `publish`, `expand_fanout`, `settle` and `defer` calls are folded into one
//! transaction.
//!
//! A single writer task ([`Writer`], here) takes the writes queued while the previous
//! transaction was committing — every publish and fan-out expansion, and attempts' outcomes up to
//! [`OUTCOMES_PER_BATCH`]; `apply.rs` applies them all with a few multi-row statements,
//! commits once (one fsync), and only then answers each caller. Nothing is acknowledged before
//! its commit, so durability is exactly that of one transaction per call; the cost of the commit
//! is shared. If a batch fails as a whole, each of its writes is retried alone, so one bad write
//! cannot fail its neighbours, and the bad one's caller gets the cause.
//!
//! The writer task is supervised: a panic while applying a batch fails that batch's callers
//! (their replies are dropped: an error, never a false acknowledgement), is logged, and the task
//! goes on with the next batch, so one bad batch cannot stop every later write.
//! [`Writer::is_running`] tells readiness whether writes can still be taken.

use herald_core::Timestamp;
use herald_core::delivery::{Attempt, Delivery, Next};
use herald_core::event::Event;
use herald_core::id::{DeliveryId, GeneratedEventId};
use tokio::sync::{mpsc, oneshot};

use crate::queue::{Lease, LeaseToken};
use crate::{Published, Result};

mod apply;

pub(crate) use apply::{Settled, created_under};

/// Most writes folded into one transaction.
pub(crate) const MAX_BATCH: usize = 1000;

/// One caller's write, with where its answer goes (after the commit).
#[derive(Debug)]
pub(crate) enum Write {
    /// Stores the event and its deliveries — or nothing, when the tenant already has an event
    /// with this id (the answer is then that event).
    /// With a `fanout` lease, stores a fan-out marker under it instead (the deliveries are
    /// empty and follow with an `Expand`).
    Publish {
        event: Event,
        deliveries: Vec<Delivery>,
        lease: Option<Lease>,
        fanout: Option<Lease>,
        reply: oneshot::Sender<Result<Published>>,
    },
    /// Creates a fan-out's deliveries and removes its marker — only while `marker` still holds
    /// it; the answer tells whether it did (else nothing is written).
    Expand {
        event_key: GeneratedEventId,
        marker: LeaseToken,
        deliveries: Vec<Delivery>,
        lease: Option<Lease>,
        reply: oneshot::Sender<Result<bool>>,
    },
    /// Gives the delivery back, due at `until`, with no attempt and no status change.
    Defer { lease: LeaseToken, delivery: DeliveryId, until: Timestamp, reply: oneshot::Sender<Result<()>> },
    /// Records the attempt (if any) and moves the delivery on, while `lease` still holds it.
    Settle {
        lease: LeaseToken,
        delivery: DeliveryId,
        attempt: Option<Box<Attempt>>,
        next: Next,
        now: Timestamp,
        reply: oneshot::Sender<Result<()>>,
    },
}

impl Write {
    /// Answers the caller with `error`: this write's own cause, not a copy (a conflict stays a
    /// conflict, a database error keeps its detail).
    pub(crate) fn fail(self, error: crate::StoreError) {
        match self {
            Write::Publish { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            Write::Expand { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            Write::Settle { reply, .. } | Write::Defer { reply, .. } => {
                let _ = reply.send(Err(error));
            }
        }
    }
}

/// The queues into the writer task: publishes and fan-out expansions (a caller waits on each
/// to answer its publisher) go ahead of attempts' outcomes, of which each transaction takes at
/// most [`OUTCOMES_PER_BATCH`].
#[derive(Debug, Clone)]
pub(crate) struct Writer {
    urgent: mpsc::Sender<Write>,
    outcomes: mpsc::Sender<Write>,
}

/// Settles and deferrals folded into one transaction at most: a publish arriving while a batch
/// commits waits for that batch, so a batch is kept short enough for the publish to be answered
/// soon, and long enough to share a commit among many outcomes.
pub(crate) const OUTCOMES_PER_BATCH: usize = 250;

impl Writer {
    /// Starts the writer task, which runs `apply` on each batch until every `Writer` is dropped.
    pub(crate) fn spawn<F, Fut>(apply: F) -> Self
    where
        F: Fn(Vec<Write>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send,
    {
        use futures::FutureExt;
        let (urgent, mut urgent_rx) = mpsc::channel::<Write>(MAX_BATCH * 4);
        let (outcomes, mut outcomes_rx) = mpsc::channel::<Write>(MAX_BATCH * 4);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(MAX_BATCH);
            loop {
                let mut taken = tokio::select! {
                    biased;
                    Some(write) = urgent_rx.recv() => {
                        batch.push(write);
                        0
                    }
                    Some(write) = outcomes_rx.recv() => {
                        batch.push(write);
                        1
                    }
                    else => break,
                };
                // Outcomes first, then every urgent write: a settle is queued after the write
                // that created its delivery, so whichever batch takes the settle takes that
                // write too, or a batch before (within a batch, creations come first).
                while taken < OUTCOMES_PER_BATCH
                    && let Ok(write) = outcomes_rx.try_recv()
                {
                    batch.push(write);
                    taken += 1;
                }
                while let Ok(write) = urgent_rx.try_recv() {
                    batch.push(write);
                }
                let applied = std::panic::AssertUnwindSafe(apply(std::mem::take(&mut batch))).catch_unwind();
                if applied.await.is_err() {
                    tracing::error!(
                        "the database writer panicked applying a batch; its writes failed, it goes on"
                    );
                }
            }
        });
        Self { urgent, outcomes }
    }

    /// Whether the writer task still takes writes.
    pub(crate) fn is_running(&self) -> bool {
        !self.urgent.is_closed()
    }

    pub(crate) async fn send(&self, write: Write) -> Result<()> {
        let queue = match write {
            Write::Publish { .. } | Write::Expand { .. } => &self.urgent,
            Write::Settle { .. } | Write::Defer { .. } => &self.outcomes,
        };
        queue.send(write).await.map_err(|_| crate::StoreError::Batch("the writer has stopped".into()))
    }

    /// Queues the write `build` makes around its reply channel and waits for the answer, which
    /// comes after the commit; `what` names the write if the writer drops it unanswered.
    pub(crate) async fn commit<T>(
        &self,
        what: &'static str,
        build: impl FnOnce(oneshot::Sender<Result<T>>) -> Write,
    ) -> Result<T> {
        self.queue(what, build).await?.committed().await
    }

    /// Queues the write `build` makes and returns once it is queued: every write queued after it
    /// is applied after it (in a later transaction, or later in the same one).
    pub(crate) async fn queue<T>(
        &self,
        what: &'static str,
        build: impl FnOnce(oneshot::Sender<Result<T>>) -> Write,
    ) -> Result<Committing<T>> {
        let (reply, answer) = oneshot::channel();
        self.send(build(reply)).await?;
        Ok(Committing { what, answer })
    }
}

/// A write queued to the group-commit writer, not yet answered.
#[derive(Debug)]
#[must_use = "a queued write's outcome is only known once committed"]
pub struct Committing<T> {
    what: &'static str,
    answer: oneshot::Receiver<Result<T>>,
}

impl<T> Committing<T> {
    /// The write's answer, once its transaction has committed (or failed).
    pub async fn committed(self) -> Result<T> {
        self.answer
            .await
            .map_err(|_| crate::StoreError::Batch(format!("the writer dropped {}", self.what)))?
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn defer() -> (Write, oneshot::Receiver<Result<()>>) {
        let (reply, answer) = oneshot::channel();
        let until = Timestamp::from_second(1_700_000_000).unwrap();
        let lease = LeaseToken::new("worker_1", "claim_1");
        (Write::Defer { lease, delivery: DeliveryId::generate(), until, reply }, answer)
    }

    #[tokio::test]
    async fn a_panicking_batch_fails_its_callers_and_the_writer_goes_on() {
        let batches = Arc::new(AtomicUsize::new(0));
        let seen = batches.clone();
        let writer = Writer::spawn(move |writes| {
            let n = seen.fetch_add(1, Ordering::SeqCst);
            async move {
                assert!(n > 0, "the first batch blows up");
                for write in writes {
                    if let Write::Defer { reply, .. } = write {
                        let _ = reply.send(Ok(()));
                    }
                }
            }
        });
        let (write, answer) = defer();
        writer.send(write).await.unwrap();
        assert!(answer.await.is_err(), "the caller of the failed batch hears of it, never a success");
        assert!(writer.is_running(), "the writer survived");
        let (write, answer) = defer();
        writer.send(write).await.unwrap();
        assert!(matches!(answer.await, Ok(Ok(()))), "later writes are applied");
        assert_eq!(batches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn publishes_and_expansions_go_ahead_of_queued_outcomes() {
        // The first batch holds the writer until released; meanwhile 1,200 outcomes and then one
        // expansion are queued.
        let (release, held) = (Arc::new(tokio::sync::Notify::new()), Arc::new(AtomicUsize::new(0)));
        let batches = Arc::new(std::sync::Mutex::new(Vec::<(usize, bool)>::new()));
        let (gate, seen, first) = (release.clone(), batches.clone(), held.clone());
        let writer = Writer::spawn(move |writes| {
            let (gate, seen, first) = (gate.clone(), seen.clone(), first.clone());
            async move {
                if first.fetch_add(1, Ordering::SeqCst) == 0 {
                    gate.notified().await;
                }
                let outcomes = writes.iter().filter(|w| matches!(w, Write::Defer { .. })).count();
                let expands = writes.iter().any(|w| matches!(w, Write::Expand { .. }));
                seen.lock().unwrap().push((outcomes, expands));
                for write in writes {
                    match write {
                        Write::Defer { reply, .. } => drop(reply.send(Ok(()))),
                        Write::Expand { reply, .. } => drop(reply.send(Ok(true))),
                        _ => {}
                    }
                }
            }
        });
        let (write, blocker) = defer();
        writer.send(write).await.unwrap();
        while held.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        let mut answers = Vec::new();
        for _ in 0..1200 {
            let (write, answer) = defer();
            writer.send(write).await.unwrap();
            answers.push(answer);
        }
        let expanded = writer
            .queue("a fan-out", |reply| Write::Expand {
                event_key: GeneratedEventId::generate(),
                marker: LeaseToken::new("worker_1", "fanout"),
                deliveries: Vec::new(),
                lease: None,
                reply,
            })
            .await
            .unwrap();
        release.notify_one();
        assert!(expanded.committed().await.unwrap());
        blocker.await.unwrap().unwrap();
        for answer in answers {
            answer.await.unwrap().unwrap();
        }
        let batches = batches.lock().unwrap().clone();
        assert_eq!(
            batches[1],
            (OUTCOMES_PER_BATCH, true),
            "the expansion rode in the very next batch: {batches:?}"
        );
        assert!(batches.iter().all(|(outcomes, _)| *outcomes <= OUTCOMES_PER_BATCH), "{batches:?}");
        assert_eq!(
            batches.iter().map(|(outcomes, _)| outcomes).sum::<usize>(),
            1201,
            "every outcome applied once"
        );
    }

    #[tokio::test]
    async fn a_failed_write_reports_its_cause() {
        let (write, answer) = defer();
        write.fail(crate::StoreError::Conflict("tenant uid".into()));
        let error = answer.await.unwrap().unwrap_err();
        assert!(
            matches!(&error, crate::StoreError::Conflict(what) if what == "tenant uid"),
            "a conflict stays a conflict: {error}"
        );
    }
}
