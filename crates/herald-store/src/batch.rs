//! Group commit: concurrent `publish` and `settle` calls are folded into one transaction.
//!
//! A single writer task takes every write queued while the previous transaction was committing,
//! applies them all with a few multi-row statements, commits once (one fsync), and only then
//! answers each caller. Nothing is acknowledged before its commit, so durability is exactly that
//! of one transaction per call; the cost of the commit is shared. If a batch fails as a whole,
//! each of its writes is retried alone, so one bad write cannot fail its neighbours.

use herald_core::Timestamp;
use herald_core::delivery::{Attempt, Delivery, Next};
use herald_core::event::Event;
use herald_core::id::DeliveryId;
use tokio::sync::{mpsc, oneshot};

use crate::{Published, Result};

/// Most writes folded into one transaction.
pub(crate) const MAX_BATCH: usize = 1000;

/// A lease that new deliveries are created under (handed straight to the publishing process's
/// dispatcher instead of waiting to be claimed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub token: String,
    pub until: Timestamp,
}

#[derive(Debug)]
pub(crate) enum Write {
    Publish {
        event: Event,
        deliveries: Vec<Delivery>,
        lease: Option<Lease>,
        reply: oneshot::Sender<Result<Published>>,
    },
    /// Gives the delivery back, due at `until`, with no attempt and no status change.
    Defer { lease: String, delivery: DeliveryId, until: Timestamp, reply: oneshot::Sender<Result<()>> },
    Settle {
        lease: String,
        delivery: DeliveryId,
        attempt: Option<Box<Attempt>>,
        next: Next,
        now: Timestamp,
        reply: oneshot::Sender<Result<()>>,
    },
}

/// What a batch's transaction decided for each write, before replies.
#[derive(Debug)]
pub(crate) enum Applied {
    /// Published, or (`false`) the event id already existed: fetch it after commit.
    Publish(bool),
    Settle,
}

impl Write {
    pub(crate) fn fail(self, error: &crate::StoreError) {
        let message = crate::StoreError::Batch(error.to_string());
        match self {
            Write::Publish { reply, .. } => {
                let _ = reply.send(Err(message));
            }
            Write::Settle { reply, .. } | Write::Defer { reply, .. } => {
                let _ = reply.send(Err(message));
            }
        }
    }
}

/// The queue into the writer task.
#[derive(Debug, Clone)]
pub(crate) struct Writer {
    queue: mpsc::Sender<Write>,
}

impl Writer {
    /// Starts the writer task, which runs `apply` on each batch until every `Writer` is dropped.
    pub(crate) fn spawn<F, Fut>(apply: F) -> Self
    where
        F: Fn(Vec<Write>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send,
    {
        let (queue, mut rx) = mpsc::channel::<Write>(MAX_BATCH * 4);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(MAX_BATCH);
            while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
                apply(std::mem::take(&mut batch)).await;
            }
        });
        Self { queue }
    }

    pub(crate) async fn send(&self, write: Write) -> Result<()> {
        self.queue.send(write).await.map_err(|_| crate::StoreError::Batch("the writer has stopped".into()))
    }
}
