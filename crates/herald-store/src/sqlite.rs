//! The SQLite backend: one database file, WAL journal, `synchronous = FULL` (a commit is on disk
//! before it returns), foreign keys on. SQLite allows one writer at a time, so writes go through
//! a pool of exactly one connection and reads through a separate pool: no transaction ever has to
//! upgrade from reader to writer (which SQLite answers with SQLITE_BUSY instead of waiting). The
//! group commit writes through a connection of its own, on its own thread, while the group-commit
//! task holds that one writer connection (see `batch/sqlite.rs`).
//!
//! Checkpoints (copying the WAL's pages back into the database file) run on a connection of their
//! own every [`CHECKPOINT_EVERY`], not in the writer: SQLite's automatic checkpoint runs inside
//! the commit that crosses its threshold, and every write waiting for that commit — a publish's
//! included — would wait for the copy and its fsync too. A passive checkpoint never blocks the
//! writer, and durability is unchanged: a commit is on disk in the WAL before it returns.
//!
//! A WAL only starts over from its beginning when a write begins with every frame already copied,
//! which a checkpoint running beside a busy writer never achieves: under steady load the file
//! would grow by every page ever written (hundreds of megabytes for a few tens of thousands of
//! deliveries), each write extending it and each read searching an ever longer index. So when the
//! checkpointer finds more than [`RESTART_FRAMES`] frames in the WAL, it asks the writer to
//! checkpoint once itself between two transactions — little is left to copy by then — and the
//! writer's next transaction starts the WAL over.
//!
//! Its [`Dialect`]: a claim needs no row locks (the single writer serialises claims), and
//! wake-ups never leave the process (one process owns the file).

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::batch::{BatchThread, Writer};
use crate::dialect::Dialect;
use crate::{Backend, ConnectOptions, Result};

#[derive(Debug, Clone)]
pub struct SqliteStore {
    reader: SqlitePool,
    writer: SqlitePool,
    batch: Writer,
    /// Lets one circuit hold's transaction at a time compete with the group commit.
    hold_lane: Arc<tokio::sync::Mutex<()>>,
    /// The checkpointer stops once every clone of the store is gone.
    _alive: Arc<()>,
}

/// How often the checkpointer copies the WAL back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// WAL frames (pages written) past which the writer is asked to let the WAL start over: 4,096
/// frames are 16 MiB with SQLite's default page size.
const RESTART_FRAMES: i64 = 4096;

/// Writes a consistent copy of the SQLite database at `url` to `dest` (which must not exist)
/// while other connections — a serving Herald — go on reading and writing: `VACUUM INTO` reads
/// one snapshot of the database (committed transactions only, the WAL included) in a read
/// transaction, which never blocks the writer.
pub async fn backup(url: &str, dest: &std::path::Path) -> Result<()> {
    use sqlx::Connection;
    let options = SqliteConnectOptions::from_str(url)?.read_only(true).busy_timeout(Duration::from_secs(10));
    let mut conn = sqlx::SqliteConnection::connect_with(&options).await?;
    sqlx::query("VACUUM INTO ?").bind(dest.to_string_lossy().into_owned()).execute(&mut conn).await?;
    conn.close().await?;
    Ok(())
}

impl SqliteStore {
    /// Applies a group-commit batch on the batch thread (the lane holds `_writer` meanwhile, so
    /// no other write of this process runs beside it); see `batch/apply.rs`.
    pub(crate) async fn apply_in_transaction(
        _writer: &mut crate::dialect::PooledOf<Self>,
        engine: &BatchThread,
        writes: Vec<crate::batch::Write>,
    ) -> (Vec<crate::batch::Write>, Result<std::collections::HashSet<String>>) {
        engine.apply(writes).await
    }

    /// Opens (creating when missing) the database at `url` (`sqlite://path/to/herald.db`). An
    /// in-memory database is refused: the group commit writes through a connection of its own,
    /// which would open a database of its own.
    pub async fn connect(url: &str, options: &ConnectOptions) -> Result<Self> {
        if in_memory(url) {
            return Err(crate::StoreError::UnsupportedUrl(url.to_owned()));
        }
        let base = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let writer_options = base
            .clone()
            .pragma("wal_autocheckpoint", "0")
            // A multi-row statement keeps a statement journal (the pages it changes, to undo it
            // alone): in memory rather than in a temporary file, that is a copy instead of a write
            // and a read through the kernel.
            .pragma("temp_store", "memory");
        let writer = SqlitePoolOptions::new().max_connections(1).connect_with(writer_options.clone()).await?;
        let checkpointer = sqlx::ConnectOptions::connect(&base).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .connect_with(base.read_only(true))
            .await?;
        let engine = BatchThread::start(writer_options.get_filename())?;
        let pool = writer.clone();
        let restart = Arc::new(AtomicBool::new(false));
        let wanted = restart.clone();
        // The lane holds the writer connection while the batch thread writes: no other write of
        // this process runs meanwhile (see `batch/sqlite.rs`).
        let batch = Writer::spawn(
            move || {
                let pool = pool.clone();
                async move { Ok(pool.acquire().await?) }
            },
            move |connection, writes| {
                let (restart, engine) = (restart.clone(), engine.clone());
                async move {
                    let mut connection = Self::apply_batch(connection, &engine, writes).await?;
                    if restart.swap(false, Ordering::Relaxed) {
                        checkpoint_in_writer(&mut connection).await;
                    }
                    Some(connection)
                }
            },
        );
        let alive = Arc::new(());
        tokio::spawn(checkpoints(checkpointer, wanted, Arc::downgrade(&alive)));
        Ok(Self { reader, writer, batch, hold_lane: Arc::default(), _alive: alive })
    }
}

/// Whether `url` names an in-memory SQLite database (`sqlite::memory:`, `sqlite://:memory:`,
/// `…?mode=memory`).
fn in_memory(url: &str) -> bool {
    let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    path == ":memory:" || query.split('&').any(|pair| pair == "mode=memory")
}

/// Checkpoints the WAL every [`CHECKPOINT_EVERY`] on a connection of its own (passive: it copies
/// what no reader still needs and never waits for the writer) until the store is gone; sets
/// `restart` when the WAL has grown past [`RESTART_FRAMES`].
async fn checkpoints(
    mut connection: sqlx::SqliteConnection,
    restart: Arc<AtomicBool>,
    alive: std::sync::Weak<()>,
) {
    let mut every = tokio::time::interval(CHECKPOINT_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    every.tick().await;
    loop {
        every.tick().await;
        if alive.strong_count() == 0 {
            break;
        }
        // (busy, frames in the WAL, frames copied into the database file)
        match sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&mut connection)
            .await
        {
            Ok((_, frames, _)) if frames > RESTART_FRAMES => restart.store(true, Ordering::Relaxed),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "checkpointing the SQLite WAL failed; the next try is in {CHECKPOINT_EVERY:?}")
            }
        }
    }
    let _ = sqlx::Connection::close(connection).await;
}

/// A passive checkpoint on the writer's connection between two of its transactions: nothing is
/// appended while it copies, so it can finish the WAL, and the writer's next transaction then
/// starts writing it from the beginning again.
async fn checkpoint_in_writer(writer: &mut sqlx::SqliteConnection) {
    if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(writer).await {
        tracing::warn!(error = %e, "checkpointing the SQLite WAL from the writer failed");
    }
}

impl Dialect for SqliteStore {
    type Db = sqlx::Sqlite;

    type BatchEngine = BatchThread;

    const BACKEND: Backend = Backend::Sqlite;

    const MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

    /// SQLite has a single writer, so no two claims ever race.
    const CLAIM_SQL: &'static str =
        "UPDATE deliveries SET lease_owner = $1, leased_until = $3, next_attempt_at = $3, updated_at = $2
         WHERE id IN (SELECT id FROM deliveries
                      WHERE status IN ('pending', 'retrying') AND next_attempt_at <= $2
                        AND tenant_id NOT IN (SELECT value FROM json_each($5))
                      ORDER BY next_attempt_at LIMIT $4)
         RETURNING id";

    const NEXT_DUE_SQL: &'static str = "SELECT MIN(next_attempt_at) FROM deliveries
         WHERE status IN ('pending', 'retrying') AND tenant_id NOT IN (SELECT value FROM json_each($1))";

    const FANOUT_CLAIM_SQL: &'static str = "UPDATE fanouts SET lease_owner = $1, leased_until = $3
         WHERE event_key IN (SELECT event_key FROM fanouts WHERE leased_until <= $2
                             ORDER BY leased_until LIMIT $4)
         RETURNING event_key";

    const PROBE_SQL: &'static str =
        "UPDATE deliveries SET lease_owner = $1, leased_until = $4, next_attempt_at = $4, updated_at = $3
         WHERE id IN (SELECT id FROM deliveries
                      WHERE endpoint_id = $2 AND status IN ('pending', 'retrying')
                        AND (leased_until IS NULL OR leased_until <= $3)
                      ORDER BY next_attempt_at LIMIT 1)
         RETURNING id";

    fn reader(&self) -> &SqlitePool {
        &self.reader
    }

    fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    fn batch_writer(&self) -> &Writer {
        &self.batch
    }

    fn hold_lane(&self) -> &tokio::sync::Mutex<()> {
        &self.hold_lane
    }

    /// Wake-ups stay in the process with SQLite (one process owns the file).
    async fn notify_in(_tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>, _work: bool) -> Result<()> {
        Ok(())
    }

    async fn forward_wakeups_to(&self, _wakeup: Arc<tokio::sync::Notify>) -> Result<()> {
        Ok(())
    }
}
