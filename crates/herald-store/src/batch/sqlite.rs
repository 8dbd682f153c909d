//! SQLite's group commit on a thread of its own: [`BatchThread`] owns a second write connection
//! to the database file (rusqlite, over the same SQLite library as sqlx) and runs each batch's
//! whole transaction — `BEGIN`, every statement, `COMMIT` — in one go. Through sqlx, each query
//! is a round trip to the connection's own thread and back to the writer task, which then waits
//! behind the async tasks it has just woken before it can send the next; here a batch costs one
//! hand-off and one wake-up, and its rows are read where they are made.
//!
//! SQLite allows one writer at a time, and this process writes through two connections: the
//! store's writer (a pool of one, for every other write) and this one. They never meet: the
//! writer lane takes the store's writer connection before it hands a batch over and holds it
//! meanwhile (see `Writer::spawn`), so no other write of this process runs beside a batch — the
//! held connection is the lock, and nothing waits in SQLite's busy handler.
//!
//! Each step of a batch is a few multi-row `VALUES` statements (SQLite has no arrays). A step's
//! rows go in pieces of a few fixed sizes ([`PIECES`]), so that each kind of statement is
//! prepared at most once per size and then reused from the connection's statement cache:
//! parsing a statement of hundreds of rows anew for every batch cost about a tenth of this
//! thread's time in a fan-out.
//! (No `PRAGMA` may run on this connection between batches: a pragma that sets a flag expires
//! every prepared statement, which SQLite then prepares again on its next use.)

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use herald_core::delivery::{Attempt, Delivery};
use herald_core::event::Event;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags, ToSql};
use tokio::sync::oneshot;

use super::Write;
use super::apply::{Deferred, Plan, Settled, created_under};
use crate::rows::{millis, to_json};
use crate::{Lease, Result, StoreError, batch_conflict};

/// The sizes (rows) of the multi-row statements, largest first: a step of `n` rows runs the
/// largest piece that fits as often as it fits, then the next size down, …, ending with single
/// rows (at most three of each size). Every statement stays well under SQLite's 32,766 bound
/// parameters.
const PIECES: [usize; 5] = [256, 64, 16, 4, 1];
/// Statements kept prepared: each kind of row at each piece size, and `BEGIN` and `COMMIT`.
const STATEMENT_CACHE: usize = 7 * PIECES.len() + 2;

/// How long the batch connection waits for a lock another process holds (a backup, the CLI).
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A batch handed back by the thread, with the keys its first step took (see [`Plan::then`]).
type Done = (Vec<Write>, Result<HashSet<String>>);

struct Job {
    writes: Vec<Write>,
    done: oneshot::Sender<Done>,
}

/// The thread that applies SQLite's group-commit batches (cheap to clone). It stops once every
/// clone is dropped.
#[derive(Debug, Clone)]
pub(crate) struct BatchThread {
    jobs: mpsc::Sender<Job>,
}

impl BatchThread {
    /// Opens the batch connection to the database file at `path` (which the store's pools have
    /// created and migrated) and starts its thread.
    pub(crate) fn start(path: &Path) -> Result<Self> {
        let connection = BatchConnection::open(path.to_owned())?;
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("herald-sqlite-batch".into())
            .spawn(move || connection.serve(queue))
            .map_err(|e| StoreError::Batch(format!("starting the SQLite batch thread: {e}")))?;
        Ok(Self { jobs })
    }

    /// Applies `writes` in one transaction; returns them with the keys the first step took, or
    /// the error that rolled the transaction back. The caller must hold the store's writer
    /// connection meanwhile (see the module's documentation).
    pub(crate) async fn apply(&self, writes: Vec<Write>) -> Done {
        let (done, answer) = oneshot::channel();
        if let Err(mpsc::SendError(job)) = self.jobs.send(Job { writes, done }) {
            return (job.writes, Err(StoreError::Batch("the SQLite batch thread has stopped".into())));
        }
        // Only a thread that died mid-batch drops it; its writes' replies went with it.
        answer.await.unwrap_or_else(|_| {
            (Vec::new(), Err(StoreError::Batch("the SQLite batch thread stopped".into())))
        })
    }
}

/// The batch thread's connection.
struct BatchConnection {
    path: PathBuf,
    connection: Connection,
}

impl BatchConnection {
    fn open(path: PathBuf) -> Result<Self> {
        let connection = open(&path).map_err(database)?;
        Ok(Self { path, connection })
    }

    /// Applies each job until every sender is gone. A panic fails that job's batch (its writes
    /// go back with the error), and the thread goes on.
    fn serve(mut self, queue: mpsc::Receiver<Job>) {
        while let Ok(Job { writes, done }) = queue.recv() {
            let applied =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.transaction(&writes)));
            let result = applied.unwrap_or_else(|_| {
                tracing::error!(
                    "the SQLite batch thread panicked applying a batch; its writes failed, it goes on"
                );
                self.recover();
                Err(StoreError::Batch("applying the batch panicked".into()))
            });
            // The writer task answers the callers: woken from inside the async runtime, they are
            // queued on its worker; woken from this thread, each would be a wake-up from outside
            // (measured: slower).
            let _ = done.send((writes, result));
        }
    }

    fn transaction(&mut self, writes: &[Write]) -> Result<HashSet<String>> {
        let plan = Plan::of(writes);
        let result = begin(&self.connection)
            .and_then(|()| both_steps(&self.connection, &plan))
            .and_then(|took| commit(&self.connection).map(|()| took));
        if result.is_err() {
            self.recover();
        }
        result.map_err(|error| batch_conflict(sqlx_error(error)))
    }

    /// Leaves the connection outside any transaction: rolled back, or opened anew when it cannot be.
    fn recover(&mut self) {
        if self.connection.is_autocommit() {
            return;
        }
        if self.connection.execute_batch("ROLLBACK").is_ok() && self.connection.is_autocommit() {
            return;
        }
        match open(&self.path) {
            Ok(connection) => self.connection = connection,
            Err(e) => tracing::error!(error = %e, "the SQLite batch connection could not be reopened"),
        }
    }
}

/// A write connection with the store writer's settings: WAL, `synchronous = FULL` (a commit is on
/// disk before it returns), foreign keys on, statement journals in memory, no automatic
/// checkpoint (the store's checkpointer copies the WAL).
fn open(path: &Path) -> rusqlite::Result<Connection> {
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    connection.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;
         PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = 0;",
    )?;
    Ok(connection)
}

fn begin(connection: &Connection) -> rusqlite::Result<()> {
    connection.prepare_cached("BEGIN")?.execute([]).map(drop)
}

fn commit(connection: &Connection) -> rusqlite::Result<()> {
    connection.prepare_cached("COMMIT")?.execute([]).map(drop)
}

/// Writes both steps of `plan`; returns the keys the first took.
fn both_steps(connection: &Connection, plan: &Plan<'_>) -> rusqlite::Result<HashSet<String>> {
    let mut took = HashSet::new();
    for piece in pieces(&plan.events) {
        events(piece).returning(connection, &mut took)?;
    }
    for piece in pieces(&plan.expansions) {
        expansions(piece).returning(connection, &mut took)?;
    }
    let then = plan.then(|key| took.contains(key));
    for piece in pieces(&then.markers) {
        markers(piece).execute(connection)?;
    }
    for piece in pieces(&then.deliveries) {
        deliveries(piece).execute(connection)?;
    }
    for piece in pieces(&then.attempts) {
        attempts(piece).execute(connection)?;
    }
    for piece in pieces(&then.settled) {
        settles(piece).execute(connection)?;
    }
    for piece in pieces(&then.deferred) {
        deferrals(piece).execute(connection)?;
    }
    Ok(took)
}

/// `items` cut into consecutive pieces whose sizes are all in [`PIECES`], largest first.
fn pieces<T>(items: &[T]) -> impl Iterator<Item = &[T]> {
    let mut rest = items;
    std::iter::from_fn(move || {
        let size = PIECES.into_iter().find(|&size| size <= rest.len())?;
        let (piece, after) = rest.split_at(size);
        rest = after;
        Some(piece)
    })
}

/// A value bound to a statement, borrowed from the batch where it can be.
#[derive(Debug)]
enum Bind<'a> {
    Text(&'a str),
    Owned(String),
    Int(i64),
    Null,
}

impl ToSql for Bind<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Bind::Text(text) => ValueRef::Text(text.as_bytes()),
            Bind::Owned(text) => ValueRef::Text(text.as_bytes()),
            Bind::Int(n) => ValueRef::Integer(*n),
            Bind::Null => ValueRef::Null,
        }))
    }
}

impl<'a> From<&'a str> for Bind<'a> {
    fn from(text: &'a str) -> Self {
        Bind::Text(text)
    }
}

impl From<String> for Bind<'_> {
    fn from(text: String) -> Self {
        Bind::Owned(text)
    }
}

impl From<i64> for Bind<'_> {
    fn from(n: i64) -> Self {
        Bind::Int(n)
    }
}

impl<'a, T: Into<Bind<'a>>> From<Option<T>> for Bind<'a> {
    fn from(value: Option<T>) -> Self {
        value.map_or(Bind::Null, Into::into)
    }
}

/// A multi-row statement and its bound values.
struct Rows<'a> {
    sql: String,
    binds: Vec<Bind<'a>>,
}

impl<'a> Rows<'a> {
    /// `head`, then one `(?, …)` per item with the `N` values `row` gives, then `tail`.
    fn of<T, const N: usize>(head: &str, items: &[T], tail: &str, row: impl Fn(&T) -> [Bind<'a>; N]) -> Self {
        let group = format!("({})", ["?"; N].join(", "));
        let mut sql = String::with_capacity(head.len() + tail.len() + items.len() * (group.len() + 2) + 8);
        sql.push_str(head);
        sql.push_str(" VALUES ");
        let mut binds = Vec::with_capacity(items.len() * N);
        for (n, item) in items.iter().enumerate() {
            if n > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&group);
            binds.extend(row(item));
        }
        sql.push_str(tail);
        Self { sql, binds }
    }

    fn execute(&self, connection: &Connection) -> rusqlite::Result<()> {
        connection.prepare_cached(&self.sql)?.execute(rusqlite::params_from_iter(&self.binds)).map(drop)
    }

    /// Runs a statement `RETURNING event_key`; adds the keys to `took`.
    fn returning(&self, connection: &Connection, took: &mut HashSet<String>) -> rusqlite::Result<()> {
        let mut statement = connection.prepare_cached(&self.sql)?;
        let mut rows = statement.query(rusqlite::params_from_iter(&self.binds))?;
        while let Some(row) = rows.next()? {
            took.insert(row.get(0)?);
        }
        Ok(())
    }
}

/// Inserts events, skipping ids their tenant already used; returns the keys of those inserted.
fn events<'a>(chunk: &[&'a Event]) -> Rows<'a> {
    Rows::of(
        "INSERT INTO events
           (event_key, tenant_id, id, event_type, data, subject, source, created_at, traceparent, headers)",
        chunk,
        " ON CONFLICT (tenant_id, id) DO NOTHING RETURNING event_key",
        |e| {
            [
                e.key.as_str().into(),
                e.tenant_id.as_str().into(),
                e.id.as_str().into(),
                e.event_type.as_str().into(),
                to_json(&e.data).into(),
                e.subject.as_deref().into(),
                e.source.as_deref().into(),
                millis(e.created_at).into(),
                e.traceparent.as_ref().map(|t| t.as_str()).into(),
                crate::rows::headers_json(&e.headers).into(),
            ]
        },
    )
}

/// Removes fan-out markers still held by their expansion's holder; returns their event keys.
fn expansions<'a>(chunk: &[(&'a str, &'a str)]) -> Rows<'a> {
    Rows::of(
        "DELETE FROM fanouts WHERE (event_key, lease_owner) IN (",
        chunk,
        ") RETURNING event_key",
        |(key, marker)| [(*key).into(), (*marker).into()],
    )
}

fn markers<'a>(chunk: &[(&'a Event, &'a Lease)]) -> Rows<'a> {
    Rows::of("INSERT INTO fanouts (event_key, lease_owner, leased_until)", chunk, "", |(event, marker)| {
        [event.key.as_str().into(), marker.token.as_str().into(), millis(marker.until).into()]
    })
}

fn deliveries<'a>(chunk: &[(&'a Delivery, Option<&'a Lease>)]) -> Rows<'a> {
    Rows::of(
        "INSERT INTO deliveries
           (id, tenant_id, event_key, event_id, endpoint_id, status, attempt_count, next_attempt_at,
            lease_owner, leased_until, next_trigger, failure_reason, created_at, updated_at)",
        chunk,
        "",
        |(d, lease)| {
            let lease = created_under(d, *lease);
            let next = lease.map(|l| l.until).or(d.next_attempt_at);
            [
                d.id.as_str().into(),
                d.tenant_id.as_str().into(),
                d.event_key.as_str().into(),
                d.event_id.as_str().into(),
                d.endpoint_id.as_str().into(),
                d.status.as_str().into(),
                i64::from(d.attempt_count).into(),
                next.map(millis).into(),
                lease.map(|l| l.token.as_str()).into(),
                lease.map(|l| millis(l.until)).into(),
                d.next_trigger.as_str().into(),
                d.failure_reason.map(|r| r.as_str()).into(),
                millis(d.created_at).into(),
                millis(d.updated_at).into(),
            ]
        },
    )
}

fn attempts<'a>(chunk: &[&'a Attempt]) -> Rows<'a> {
    Rows::of(
        "INSERT INTO attempts (id, delivery_id, tenant_id, endpoint_id, attempt_no, trigger_kind,
           started_at, duration_ms, request, response_status, response_headers, response_body,
           error_kind, error_message)",
        chunk,
        "",
        |a| {
            [
                a.id.as_str().into(),
                a.delivery_id.as_str().into(),
                a.tenant_id.as_str().into(),
                a.endpoint_id.as_str().into(),
                i64::from(a.attempt_no).into(),
                a.trigger.as_str().into(),
                millis(a.started_at).into(),
                i64::try_from(a.duration_ms).unwrap_or(i64::MAX).into(),
                to_json(&a.request).into(),
                a.response_status.map(i64::from).into(),
                to_json(&a.response_headers).into(),
                a.response_body.as_deref().into(),
                a.error_kind.map(|k| k.as_str()).into(),
                a.error_message.as_deref().into(),
            ]
        },
    )
}

/// `OR FAIL`: a statement that fails keeps the rows it changed before the failure, instead of
/// undoing them from a statement journal — SQLite then keeps no such journal (a copy of every
/// page the statement changes). Nothing is lost by it: a failed statement fails the batch,
/// whose transaction is rolled back as a whole and its writes applied again one by one.
fn settles<'a>(chunk: &[Settled<'a>]) -> Rows<'a> {
    Rows::of(
        "UPDATE OR FAIL deliveries
         SET status = v.column3, next_attempt_at = v.column4, failure_reason = v.column5,
           attempt_count = attempt_count + v.column6,
           last_attempt_at = COALESCE(v.column7, last_attempt_at),
           next_trigger = 'scheduled', leased_until = NULL, lease_owner = NULL, updated_at = v.column8
         FROM (",
        chunk,
        ") AS v WHERE deliveries.id = v.column1 AND deliveries.lease_owner = v.column2",
        |s| {
            [
                s.delivery.into(),
                s.lease.into(),
                s.status.into(),
                s.next_at.into(),
                s.reason.into(),
                s.attempts.into(),
                s.attempted_at.into(),
                s.now.into(),
            ]
        },
    )
}

fn deferrals<'a>(chunk: &[Deferred<'a>]) -> Rows<'a> {
    Rows::of(
        "UPDATE deliveries SET next_attempt_at = v.column3, leased_until = NULL, lease_owner = NULL
         FROM (",
        chunk,
        ") AS v WHERE deliveries.id = v.column1 AND deliveries.lease_owner = v.column2",
        |d| [d.delivery.into(), d.lease.into(), d.until.into()],
    )
}

/// An error of the batch connection as the store's other SQLite errors are: a database error
/// with SQLite's extended code and message (so that a unique or foreign-key violation is told
/// apart, and names its table, exactly as through sqlx).
fn database(error: rusqlite::Error) -> StoreError {
    StoreError::Database(sqlx_error(error))
}

fn sqlx_error(error: rusqlite::Error) -> sqlx::Error {
    match error {
        rusqlite::Error::SqliteFailure(failure, message) => sqlx::Error::Database(Box::new(SqliteFailure {
            code: failure.extended_code,
            message: message.unwrap_or_else(|| failure.to_string()),
        })),
        other => sqlx::Error::Protocol(format!("SQLite batch connection: {other}")),
    }
}

/// A failure SQLite reported to the batch connection.
#[derive(Debug)]
struct SqliteFailure {
    code: i32,
    message: String,
}

impl std::fmt::Display for SqliteFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "(code: {}) {}", self.code, self.message)
    }
}

impl std::error::Error for SqliteFailure {}

impl sqlx::error::DatabaseError for SqliteFailure {
    fn message(&self) -> &str {
        &self.message
    }

    fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
        Some(self.code.to_string().into())
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> sqlx::error::ErrorKind {
        use rusqlite::ffi;
        match self.code {
            ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                sqlx::error::ErrorKind::UniqueViolation
            }
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY => sqlx::error::ErrorKind::ForeignKeyViolation,
            ffi::SQLITE_CONSTRAINT_NOTNULL => sqlx::error::ErrorKind::NotNullViolation,
            ffi::SQLITE_CONSTRAINT_CHECK => sqlx::error::ErrorKind::CheckViolation,
            _ => sqlx::error::ErrorKind::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_cover_every_row_in_order_in_the_fixed_sizes_largest_first() {
        for n in [0, 1, 3, 4, 5, 17, 255, 256, 257, 999, 1000, 1023, 1024, 5000] {
            let items: Vec<usize> = (0..n).collect();
            let cut: Vec<&[usize]> = pieces(&items).collect();
            assert_eq!(cut.concat(), items, "{n} rows: every row once, in order");
            let sizes: Vec<usize> = cut.iter().map(|p| p.len()).collect();
            assert!(sizes.iter().all(|s| PIECES.contains(s)), "{n} rows: {sizes:?}");
            assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "{n} rows: largest first, {sizes:?}");
            // Below the largest size, at most three pieces of each size.
            for size in &PIECES[1..] {
                assert!(sizes.iter().filter(|s| *s == size).count() <= 3, "{n} rows: {sizes:?}");
            }
        }
    }
}
