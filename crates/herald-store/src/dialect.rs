//! What differs between the two backends, as one trait: [`Dialect`].
//!
//! Everything else — every query in `tenants.rs`, `event_types.rs`, `endpoints.rs`, `events.rs`,
//! `queue.rs`, `settings.rs`, `idempotency.rs`, and the group commit's plan and answers in
//! `batch/apply.rs` — is written once and calls only this trait's items for what a backend
//! decides: which pool reads and which writes, how due work is claimed, and how other processes
//! hear of it. The group commit's statements are the one hot path each backend writes its own way
//! (`apply_in_transaction`: in `batch/sqlite.rs` for SQLite, on a thread and a connection of its
//! own, and in `postgres.rs` for PostgreSQL).
//!
//! Why a macro still stamps the shared code out: sqlx's pools, transactions and query builders are
//! concrete per database, and code generic over `sqlx::Database` needs a bound for every type it
//! binds or decodes. `for_each_backend!` instead writes one `impl` block per concrete store from
//! a single body; inside it, `Self` is [`SqliteStore`](crate::SqliteStore) or
//! [`PostgresStore`](crate::PostgresStore), and `DbOf<Self>` its sqlx database.

use std::future::Future;
use std::sync::Arc;

use sqlx::migrate::Migrator;

use crate::batch::Writer;
use crate::{Backend, Result};

/// A backend: its sqlx database, its connections, and the few statements and behaviours that
/// differ between SQLite and PostgreSQL. Implemented by `SqliteStore` (`sqlite.rs`) and
/// `PostgresStore` (`postgres.rs`).
pub(crate) trait Dialect: Send + Sync + Sized + 'static {
    /// The sqlx database the backend speaks.
    type Db: sqlx::Database;

    /// What `Store::backend` answers.
    const BACKEND: Backend;

    /// The migrations of this dialect, embedded in the binary.
    const MIGRATOR: Migrator;

    /// Leases due deliveries: `$1` the lease token, `$2` now, `$3` the lease's end (which also
    /// becomes their `next_attempt_at`, so an expired lease makes them due again), `$4` the most
    /// to take, earliest `next_attempt_at` first, `$5` a JSON array of tenant ids whose
    /// deliveries are left alone. Returns the ids leased (`RETURNING id`). Concurrent claims must
    /// never lease the same delivery twice.
    const CLAIM_SQL: &'static str;

    /// The earliest `next_attempt_at` of unfinished deliveries, those of the tenants in `$1` (a
    /// JSON array of ids) aside.
    const NEXT_DUE_SQL: &'static str;

    /// Leases an endpoint's earliest waiting delivery that no one holds, due or not (the probe of
    /// an open circuit): `$1` the lease token, `$2` the endpoint, `$3` now, `$4` the lease's end.
    /// Returns the id leased, if any.
    const PROBE_SQL: &'static str;

    /// Leases fan-outs whose lease ran out (their publisher died before creating the
    /// deliveries): `$1` the lease token, `$2` now, `$3` the lease's end, `$4` the most to take.
    /// Returns the event keys leased (`RETURNING event_key`); never the same one to two claims.
    const FANOUT_CLAIM_SQL: &'static str;

    /// The pool for reads that may lag a commit by nothing (SQLite: read-only connections).
    fn reader(&self) -> &sqlx::Pool<Self::Db>;

    /// The pool for writes and for reads inside them (SQLite: its single connection).
    fn writer(&self) -> &sqlx::Pool<Self::Db>;

    /// Each connection pool by name, with its open and idle connections (for `/metrics`).
    fn pools(&self) -> Vec<(&'static str, u32, u32)> {
        let (reader, writer) = (self.reader(), self.writer());
        let counts =
            |pool: &sqlx::Pool<Self::Db>| (pool.size(), u32::try_from(pool.num_idle()).unwrap_or(u32::MAX));
        if std::ptr::eq(reader, writer) {
            let (open, idle) = counts(reader);
            vec![("main", open, idle)]
        } else {
            let ((r_open, r_idle), (w_open, w_idle)) = (counts(reader), counts(writer));
            vec![("reader", r_open, r_idle), ("writer", w_open, w_idle)]
        }
    }

    /// What runs a group-commit batch's transaction beside the writer lane's connection:
    /// SQLite's batch thread (`batch/sqlite.rs`); nothing for PostgreSQL, whose batch is one
    /// statement on that connection.
    type BatchEngine: Send + Sync + 'static;

    /// The group-commit writer task that `publish`, `settle` and `defer` go through.
    fn batch_writer(&self) -> &Writer;

    /// Taken by each transaction of a circuit's hold: however many circuits open at once, the
    /// group commit (other tenants' publishes) waits for at most one of them.
    fn hold_lane(&self) -> &tokio::sync::Mutex<()>;

    /// Announces, when `tx` commits, that deliveries became due (`work`), so that other
    /// processes sharing the database wake their dispatchers. A no-op where no other process
    /// can share it (SQLite).
    fn notify_in(
        tx: &mut sqlx::Transaction<'_, Self::Db>,
        work: bool,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Calls `wakeup.notify_one()` for each announcement of another process; runs until the
    /// connection fails for good. Returns at once where there are no other processes (SQLite).
    fn forward_wakeups_to(&self, wakeup: Arc<tokio::sync::Notify>)
    -> impl Future<Output = Result<()>> + Send;
}

/// The sqlx database of a backend.
pub(crate) type DbOf<S> = <S as Dialect>::Db;

/// The connection pool of a backend.
pub(crate) type PoolOf<S> = sqlx::Pool<DbOf<S>>;

/// A connection taken from a backend's pool.
pub(crate) type PooledOf<S> = sqlx::pool::PoolConnection<DbOf<S>>;

/// What runs a backend's group-commit transactions (see [`Dialect::BatchEngine`]).
pub(crate) type BatchEngineOf<S> = <S as Dialect>::BatchEngine;

/// Writes the same items once for each backend: `impl SqliteStore { items }` and
/// `impl PostgresStore { items }`, or — given `impl Trait` — `impl Trait for SqliteStore { items }`
/// and the same for `PostgresStore`, with the attributes written before it (`#[async_trait]`).
/// Paths in the items resolve where the macro is called, like any code written there.
macro_rules! for_each_backend {
    ($(#[$attr:meta])* impl $trait:path { $($item:tt)* }) => {
        $(#[$attr])* impl $trait for $crate::SqliteStore { $($item)* }
        $(#[$attr])* impl $trait for $crate::PostgresStore { $($item)* }
    };
    ($($item:tt)*) => {
        impl $crate::SqliteStore { $($item)* }
        impl $crate::PostgresStore { $($item)* }
    };
}

pub(crate) use for_each_backend;
