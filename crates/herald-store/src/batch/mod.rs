//! Group commit: concurrent `publish`, `expand_fanout`, `settle` and `defer` calls are folded into one
//! transaction.
//!
//! On SQLite a single writer task ([`Writer::spawn`], here) takes the writes queued while the
//! previous transaction was committing — every publish and fan-out expansion, and attempts'
//! outcomes up to [`OUTCOMES_PER_BATCH`]; `apply.rs` applies them all with a few multi-row
//! statements — on SQLite's batch thread (`sqlite.rs`), while the task holds the store's writer
//! connection so that no other write runs beside them —, commits once (one fsync), and only then
//! answers each caller. When more than
//! [`OUTCOMES_BESIDE_URGENT`] outcomes were taken, the publishes and expansions commit first in
//! a transaction of their own, so that a publish waits for its own commit, not for the outcomes'. On PostgreSQL two
//! tasks do so side by side ([`Writer::spawn_two_lanes`]), one for publishes and expansions and
//! one for outcomes, so a publish never waits behind a transaction of a thousand outcomes.
//! Nothing is acknowledged before its commit, so durability is exactly that of one transaction
//! per call; the cost of the commit is shared. If a batch fails as a whole, each of its writes is retried alone, so one bad write
//! cannot fail its neighbours, and the bad one's caller gets the cause.
//!
//! Each writer lane keeps its connection from one batch to the next while writes are waiting, for
//! at most [`HOLD_MAX`]: a connection taken from the pool and given back per batch costs two
//! more round trips to the database (the pool checks a connection given back).
//!
//! The writer task is supervised: a panic while applying a batch fails that batch's callers
//! (their replies are dropped: an error, never a false acknowledgement), is logged, and the task
//! goes on with the next batch, so one bad batch cannot stop every later write.
//! [`Writer::is_running`] tells readiness whether writes can still be taken.

use std::sync::Arc;
use std::time::Duration;

use herald_core::Timestamp;
use herald_core::delivery::{Attempt, Delivery, Next};
use herald_core::event::Event;
use herald_core::id::{DeliveryId, GeneratedEventId};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::queue::{Lease, LeaseToken};
use crate::{Published, Result};

mod apply;
mod sqlite;

pub(crate) use apply::{Plan, created_under};
pub(crate) use sqlite::BatchThread;

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

/// The queues into the writer: publishes and fan-out expansions (a caller waits on each to
/// answer its publisher) apart from attempts' outcomes, of which each transaction takes at most
/// [`OUTCOMES_PER_BATCH`]. Each write is queued with a number: for a publish or expansion its
/// place in the urgent queue, for an outcome how many urgent writes were queued before it.
#[derive(Debug, Clone)]
pub(crate) struct Writer {
    urgent: mpsc::Sender<(u64, Write)>,
    outcomes: mpsc::Sender<(u64, Write)>,
    /// Urgent writes queued so far; held while one is queued, so that the queue's order and
    /// the numbers agree.
    urgent_queued: Arc<std::sync::Mutex<u64>>,
}

/// A writer's queue as its task reads it: each write with its number (see [`Writer`]).
type Queue = mpsc::Receiver<(u64, Write)>;

/// Settles and deferrals folded into one transaction at most: with one lane, a publish arriving
/// while a batch commits waits for that batch, so a batch is kept short enough for the publish
/// to be answered soon, and long enough to share a commit among many outcomes.
pub(crate) const OUTCOMES_PER_BATCH: usize = 250;

/// Outcomes that share a transaction with publishes and expansions at most (one lane): beyond
/// this, the publishes commit first in a transaction of their own, so that a publish does not
/// wait for a large batch of outcomes to commit with it.
pub(crate) const OUTCOMES_BESIDE_URGENT: usize = 32;

/// Longest a lane keeps its connection from one batch to the next. Holding it while writes keep
/// coming spares each batch the pool's round trip (a check of the connection when it is given
/// back, and a wake-up when it is taken again); giving it back this often lets every other write
/// on the same connection — SQLite has one — wait for at most this long behind the group commit.
pub(crate) const HOLD_MAX: Duration = Duration::from_millis(10);

/// A writer lane's connection (`C`), held from one batch to the next while writes keep coming
/// (see [`HOLD_MAX`]).
struct Lane<C> {
    held: Option<(C, Instant)>,
}

impl<C: Send + 'static> Lane<C> {
    fn new() -> Self {
        Self { held: None }
    }

    /// Applies `writes` on the held connection, or on one `open` gives; keeps the connection when
    /// `apply` gives it back. Survives `apply`'s panic: that batch's callers' replies are dropped
    /// (they hear of a failure, never a false acknowledgement), and its connection with them.
    async fn apply<O, OFut, A, AFut>(&mut self, open: &O, apply: &A, writes: Vec<Write>)
    where
        O: Fn() -> OFut,
        OFut: Future<Output = Result<C>>,
        A: Fn(C, Vec<Write>) -> AFut,
        AFut: Future<Output = Option<C>>,
    {
        use futures::FutureExt;
        let (connection, since) = match self.held.take() {
            Some(held) => held,
            None => match open().await {
                Ok(connection) => (connection, Instant::now()),
                Err(error) => {
                    tracing::warn!(%error, "the database writer found no connection; its batch failed");
                    for write in writes {
                        write.fail(crate::StoreError::Batch(format!("no database connection: {error}")));
                    }
                    return;
                }
            },
        };
        match std::panic::AssertUnwindSafe(apply(connection, writes)).catch_unwind().await {
            Ok(kept) => self.held = kept.map(|connection| (connection, since)),
            Err(_) => tracing::error!(
                "the database writer panicked applying a batch; its writes failed, it goes on"
            ),
        }
    }

    /// Gives the connection back unless `more` writes wait and it was taken less than
    /// [`HOLD_MAX`] ago.
    fn release_unless(&mut self, more: bool) {
        if !more || self.held.as_ref().is_some_and(|(_, since)| since.elapsed() >= HOLD_MAX) {
            self.held = None;
        }
    }
}

/// Takes every write waiting in `queue` after `first`, up to `most` in all, into `batch`;
/// returns the largest number among them.
fn take_waiting(queue: &mut Queue, first: (u64, Write), most: usize, batch: &mut Vec<Write>) -> u64 {
    let (mut largest, write) = first;
    batch.push(write);
    while batch.len() < most
        && let Ok((n, write)) = queue.try_recv()
    {
        largest = largest.max(n);
        batch.push(write);
    }
    largest
}

impl Writer {
    fn channels() -> (Self, Queue, Queue) {
        let (urgent, urgent_rx) = mpsc::channel(MAX_BATCH * 4);
        let (outcomes, outcomes_rx) = mpsc::channel(MAX_BATCH * 4);
        (Self { urgent, outcomes, urgent_queued: Arc::default() }, urgent_rx, outcomes_rx)
    }

    /// Starts the writer task, which runs `apply` on each batch until every `Writer` is dropped:
    /// one transaction at a time (SQLite's single writer), publishes and expansions ahead of
    /// outcomes. `apply` gets a connection — held from the last batch, or from `open` — and gives
    /// it back unless it should not be used again.
    pub(crate) fn spawn<C, O, OFut, A, AFut>(open: O, apply: A) -> Self
    where
        C: Send + 'static,
        O: Fn() -> OFut + Send + Sync + 'static,
        OFut: Future<Output = Result<C>> + Send,
        A: Fn(C, Vec<Write>) -> AFut + Send + Sync + 'static,
        AFut: Future<Output = Option<C>> + Send,
    {
        let (writer, mut urgent_rx, mut outcomes_rx) = Self::channels();
        tokio::spawn(async move {
            let mut lane = Lane::new();
            let mut batch = Vec::with_capacity(OUTCOMES_PER_BATCH);
            loop {
                let mut urgent = Vec::new();
                tokio::select! {
                    biased;
                    Some((_, write)) = urgent_rx.recv() => urgent.push(write),
                    Some((_, write)) = outcomes_rx.recv() => batch.push(write),
                    else => break,
                }
                // Outcomes first, then every urgent write: a settle is queued after the write
                // that created its delivery, so whichever batch takes the settle takes that
                // write too, or a batch before (within a batch, creations come first).
                while batch.len() < OUTCOMES_PER_BATCH
                    && let Ok((_, write)) = outcomes_rx.try_recv()
                {
                    batch.push(write);
                }
                while let Ok((_, write)) = urgent_rx.try_recv() {
                    urgent.push(write);
                }
                if urgent.is_empty() || batch.len() <= OUTCOMES_BESIDE_URGENT {
                    batch.append(&mut urgent);
                    lane.apply(&open, &apply, std::mem::take(&mut batch)).await;
                } else {
                    // The publishes and expansions commit first, on their own, and are answered
                    // before the many outcomes commit: every delivery those outcomes settle was
                    // created by a write queued before them, so in `urgent` or applied already.
                    lane.apply(&open, &apply, urgent).await;
                    lane.apply(&open, &apply, std::mem::take(&mut batch)).await;
                }
                lane.release_unless(!urgent_rx.is_empty() || !outcomes_rx.is_empty());
            }
        });
        writer
    }

    /// Starts two writer tasks, each running `apply` on its batches in a transaction of its own
    /// (PostgreSQL, which takes concurrent writers), each on a connection of its own (see
    /// [`Writer::spawn`]): one for publishes and expansions, one for outcomes. A publish never
    /// waits behind a transaction of outcomes. An outcome batch waits until every urgent write
    /// queued before any of its outcomes is applied: a settle is only ever queued after the write
    /// that created its delivery, so it never arrives first.
    pub(crate) fn spawn_two_lanes<C, O, OFut, A, AFut>(open: O, apply: A) -> Self
    where
        C: Send + 'static,
        O: Fn() -> OFut + Send + Sync + 'static,
        OFut: Future<Output = Result<C>> + Send,
        A: Fn(C, Vec<Write>) -> AFut + Send + Sync + 'static,
        AFut: Future<Output = Option<C>> + Send,
    {
        let (writer, mut urgent_rx, mut outcomes_rx) = Self::channels();
        let (open, apply) = (Arc::new(open), Arc::new(apply));
        let (applied, mut applied_rx) = tokio::sync::watch::channel(0u64);
        let (urgent_open, urgent_apply) = (open.clone(), apply.clone());
        tokio::spawn(async move {
            let mut lane = Lane::new();
            let mut batch = Vec::with_capacity(MAX_BATCH);
            while let Some(first) = urgent_rx.recv().await {
                let last = take_waiting(&mut urgent_rx, first, MAX_BATCH, &mut batch);
                lane.apply(&*urgent_open, &*urgent_apply, std::mem::take(&mut batch)).await;
                applied.send_replace(last);
                lane.release_unless(!urgent_rx.is_empty());
            }
        });
        tokio::spawn(async move {
            let mut lane = Lane::new();
            let mut batch = Vec::with_capacity(OUTCOMES_PER_BATCH);
            while let Some(first) = outcomes_rx.recv().await {
                let needs = take_waiting(&mut outcomes_rx, first, OUTCOMES_PER_BATCH, &mut batch);
                // Gone (the urgent lane stopped): nothing it held back can commit any more.
                let _ = applied_rx.wait_for(|applied| *applied >= needs).await;
                lane.apply(&*open, &*apply, std::mem::take(&mut batch)).await;
                lane.release_unless(!outcomes_rx.is_empty());
            }
        });
        writer
    }

    /// Whether the writer task still takes writes.
    pub(crate) fn is_running(&self) -> bool {
        !self.urgent.is_closed()
    }

    pub(crate) async fn send(&self, write: Write) -> Result<()> {
        let stopped = || crate::StoreError::Batch("the writer has stopped".into());
        match write {
            Write::Publish { .. } | Write::Expand { .. } => {
                let permit = self.urgent.reserve().await.map_err(|_| stopped())?;
                let mut queued = self.urgent_queued.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                *queued += 1;
                permit.send((*queued, write));
            }
            Write::Settle { .. } | Write::Defer { .. } => {
                let before = *self.urgent_queued.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                self.outcomes.send((before, write)).await.map_err(|_| stopped())?;
            }
        }
        Ok(())
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

    /// The writers here apply their batches without a database.
    async fn no_connection() -> Result<()> {
        Ok(())
    }

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
        let writer = Writer::spawn(no_connection, move |(), writes| {
            let n = seen.fetch_add(1, Ordering::SeqCst);
            async move {
                assert!(n > 0, "the first batch blows up");
                for write in writes {
                    if let Write::Defer { reply, .. } = write {
                        let _ = reply.send(Ok(()));
                    }
                }
                Some(())
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

    /// A one-lane writer whose first batch (one outcome) holds it while `outcomes` more outcomes
    /// and then one expansion are queued; once every write is answered, the batches it applied
    /// after the first: (outcomes, whether the expansion was in it).
    async fn batches_after_a_held_one(outcomes: usize) -> Vec<(usize, bool)> {
        let (release, held) = (Arc::new(tokio::sync::Notify::new()), Arc::new(AtomicUsize::new(0)));
        let batches = Arc::new(std::sync::Mutex::new(Vec::<(usize, bool)>::new()));
        let (gate, seen, first) = (release.clone(), batches.clone(), held.clone());
        let writer = Writer::spawn(no_connection, move |(), writes| {
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
                Some(())
            }
        });
        let (write, blocker) = defer();
        writer.send(write).await.unwrap();
        while held.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        let mut answers = Vec::new();
        for _ in 0..outcomes {
            let (write, answer) = defer();
            writer.send(write).await.unwrap();
            answers.push(answer);
        }
        let expanded = expand(&writer).await.unwrap();
        release.notify_one();
        assert!(expanded.committed().await.unwrap());
        blocker.await.unwrap().unwrap();
        for answer in answers {
            answer.await.unwrap().unwrap();
        }
        let batches = batches.lock().unwrap().clone();
        assert_eq!(batches[0], (1, false), "the held batch: {batches:?}");
        batches[1..].to_vec()
    }

    #[tokio::test]
    async fn publishes_and_expansions_go_ahead_of_queued_outcomes() {
        let batches = batches_after_a_held_one(1200).await;
        assert_eq!(
            batches[..2],
            [(0, true), (OUTCOMES_PER_BATCH, false)],
            "the expansion committed in the very next transaction, on its own, then the outcomes taken with it: {batches:?}"
        );
        assert!(batches.iter().all(|(outcomes, _)| *outcomes <= OUTCOMES_PER_BATCH), "{batches:?}");
        assert_eq!(
            batches.iter().map(|(outcomes, _)| outcomes).sum::<usize>(),
            1200,
            "every outcome applied once"
        );
    }

    #[tokio::test]
    async fn a_few_outcomes_share_the_transaction_of_the_publishes() {
        let batches = batches_after_a_held_one(OUTCOMES_BESIDE_URGENT).await;
        assert_eq!(batches, [(OUTCOMES_BESIDE_URGENT, true)], "one transaction for both: {batches:?}");
    }

    fn expand(writer: &Writer) -> impl Future<Output = Result<Committing<bool>>> + '_ {
        writer.queue("a fan-out", |reply| Write::Expand {
            event_key: GeneratedEventId::generate(),
            marker: LeaseToken::new("worker_1", "fanout"),
            deliveries: Vec::new(),
            lease: None,
            reply,
        })
    }

    /// Two lanes whose batches answer every write, record what they applied ("urgent" or
    /// "outcomes"), and wait at `gate` first when `blocks` says so for the batch's kind.
    fn two_lanes(
        gate: Arc<tokio::sync::Semaphore>,
        blocks: &'static str,
    ) -> (Writer, Arc<std::sync::Mutex<Vec<&'static str>>>) {
        let applied = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = applied.clone();
        let writer = Writer::spawn_two_lanes(no_connection, move |(), writes| {
            let (gate, seen) = (gate.clone(), seen.clone());
            async move {
                let kind = match writes[0] {
                    Write::Expand { .. } | Write::Publish { .. } => "urgent",
                    Write::Settle { .. } | Write::Defer { .. } => "outcomes",
                };
                if kind == blocks {
                    gate.acquire().await.unwrap().forget();
                }
                seen.lock().unwrap().push(kind);
                for write in writes {
                    match write {
                        Write::Defer { reply, .. } => drop(reply.send(Ok(()))),
                        Write::Expand { reply, .. } => drop(reply.send(Ok(true))),
                        _ => {}
                    }
                }
                Some(())
            }
        });
        (writer, applied)
    }

    #[tokio::test]
    async fn with_two_lanes_a_publish_does_not_wait_behind_outcomes() {
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let (writer, applied) = two_lanes(gate.clone(), "outcomes");
        let (write, outcome) = defer();
        writer.send(write).await.unwrap();
        let expanded = expand(&writer).await.unwrap();
        let answered = tokio::time::timeout(Duration::from_secs(10), expanded.committed()).await;
        assert!(answered.expect("answered while the outcomes' transaction is still open").unwrap());
        assert_eq!(*applied.lock().unwrap(), ["urgent"]);
        gate.add_permits(1);
        outcome.await.unwrap().unwrap();
        assert_eq!(*applied.lock().unwrap(), ["urgent", "outcomes"]);
    }

    #[tokio::test]
    async fn with_two_lanes_an_outcome_waits_for_the_writes_queued_before_it() {
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let (writer, applied) = two_lanes(gate.clone(), "urgent");
        let expanded = expand(&writer).await.unwrap();
        // Settles of the expansion's deliveries, queued once it is queued (as the dispatcher
        // gets them): never applied before it.
        let (write, outcome) = defer();
        writer.send(write).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(applied.lock().unwrap().is_empty(), "the outcome waits for the expansion");
        gate.add_permits(1);
        outcome.await.unwrap().unwrap();
        assert!(expanded.committed().await.unwrap());
        assert_eq!(*applied.lock().unwrap(), ["urgent", "outcomes"]);
        // An outcome with no urgent write before it goes at once, whatever is queued after it.
        let (write, alone) = defer();
        writer.send(write).await.unwrap();
        let later = expand(&writer).await.unwrap();
        alone.await.unwrap().unwrap();
        gate.add_permits(1);
        assert!(later.committed().await.unwrap());
    }

    /// A one-lane writer on numbered connections (`open` makes 1, 2, …): each batch takes
    /// `takes` (the tests pause time), answers its deferrals, records the connection it ran on,
    /// and gives the connection back unless `keep` says no for that connection.
    fn numbered_connections(
        takes: Duration,
        keep: fn(usize) -> bool,
    ) -> (Writer, Arc<std::sync::Mutex<Vec<usize>>>) {
        let (opened, ran_on) = (Arc::new(AtomicUsize::new(0)), Arc::new(std::sync::Mutex::new(Vec::new())));
        let seen = ran_on.clone();
        let writer = Writer::spawn(
            move || {
                let n = opened.fetch_add(1, Ordering::SeqCst) + 1;
                async move { Ok(n) }
            },
            move |connection: usize, writes| {
                let seen = seen.clone();
                async move {
                    tokio::time::sleep(takes).await;
                    seen.lock().unwrap().push(connection);
                    for write in writes {
                        if let Write::Defer { reply, .. } = write {
                            let _ = reply.send(Ok(()));
                        }
                    }
                    keep(connection).then_some(connection)
                }
            },
        );
        (writer, ran_on)
    }

    /// Sends a write, and a second one once the first one's batch has begun; waits for both.
    async fn two_writes_the_second_queued_while_the_first_runs(writer: &Writer) {
        let (first, first_answer) = defer();
        writer.send(first).await.unwrap();
        tokio::task::yield_now().await;
        let (second, second_answer) = defer();
        writer.send(second).await.unwrap();
        first_answer.await.unwrap().unwrap();
        second_answer.await.unwrap().unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn the_connection_is_held_while_writes_keep_coming_and_given_back_when_idle() {
        let (writer, ran_on) = numbered_connections(Duration::from_millis(2), |_| true);
        // Queued while the first batch runs: the next batch runs on the same connection.
        two_writes_the_second_queued_while_the_first_runs(&writer).await;
        assert_eq!(*ran_on.lock().unwrap(), [1, 1]);
        // Nothing was waiting after it: the connection went back, the next write takes another.
        let (third, third_answer) = defer();
        writer.send(third).await.unwrap();
        third_answer.await.unwrap().unwrap();
        assert_eq!(*ran_on.lock().unwrap(), [1, 1, 2]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_held_connection_is_given_back_after_a_while_though_writes_keep_coming() {
        let (writer, ran_on) = numbered_connections(Duration::from_millis(2), |_| true);
        let mut answers = Vec::new();
        // A write every millisecond for 30 ms: one is always queued when a batch ends.
        for _ in 0..30 {
            let (write, answer) = defer();
            writer.send(write).await.unwrap();
            answers.push(answer);
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        for answer in answers {
            answer.await.unwrap().unwrap();
        }
        let ran_on = ran_on.lock().unwrap().clone();
        let on_first = ran_on.iter().filter(|&&c| c == 1).count();
        assert!(on_first > 1, "held from batch to batch: {ran_on:?}");
        assert!(
            on_first * 2 <= HOLD_MAX.as_millis() as usize + 2,
            "given back after {HOLD_MAX:?} of 2 ms batches: {ran_on:?}"
        );
        assert!(ran_on.contains(&2), "another connection taken after that: {ran_on:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_its_batch_gave_up_is_not_used_again() {
        // Connection 1 fails its batch (the writer gets it not back); the next batch opens 2
        // although a write was waiting.
        let (writer, ran_on) = numbered_connections(Duration::from_millis(2), |connection| connection != 1);
        two_writes_the_second_queued_while_the_first_runs(&writer).await;
        assert_eq!(*ran_on.lock().unwrap(), [1, 2]);
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
