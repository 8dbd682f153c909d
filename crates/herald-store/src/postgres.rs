//! The PostgreSQL backend: any number of Herald instances share one database.
//!
//! Its [`Dialect`]: work is claimed with leases and `FOR UPDATE SKIP LOCKED` (concurrent
//! instances never block one another nor lease a delivery twice); wake-ups travel between
//! instances by `LISTEN/NOTIFY` on [`WAKEUP_CHANNEL`].

use std::sync::Arc;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgPool, PgPoolOptions};

use crate::batch::Writer;
use crate::dialect::Dialect;
use crate::{Backend, ConnectOptions, Result};

#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    batch: Writer,
}

impl PostgresStore {
    pub async fn connect(url: &str, options: &ConnectOptions) -> Result<Self> {
        let pool = PgPoolOptions::new().max_connections(options.max_connections.max(2)).connect(url).await?;
        let writer = pool.clone();
        let batch = Writer::spawn(move |writes| Self::apply_batch(writer.clone(), writes));
        Ok(Self { pool, batch })
    }
}

/// The `LISTEN/NOTIFY` channel on which instances announce new due work.
pub const WAKEUP_CHANNEL: &str = "herald_work";

impl Dialect for PostgresStore {
    type Db = sqlx::Postgres;

    const BACKEND: Backend = Backend::Postgres;

    const MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

    /// Concurrent instances skip each other's locked rows instead of waiting, so claims never
    /// block one another.
    const CLAIM_SQL: &'static str =
        "UPDATE deliveries SET lease_owner = $1, leased_until = $3, next_attempt_at = $3, updated_at = $2
         WHERE id IN (SELECT id FROM deliveries
                      WHERE status IN ('pending', 'retrying') AND next_attempt_at <= $2
                      ORDER BY next_attempt_at LIMIT $4
                      FOR UPDATE SKIP LOCKED)
         RETURNING id";

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
