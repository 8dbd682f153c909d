//! The PostgreSQL backend: any number of Herald instances share one database. Work is claimed
//! with leases and `FOR UPDATE SKIP LOCKED`; wake-ups travel by `LISTEN/NOTIFY`.

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgPool, PgPoolOptions};

use crate::batch::Writer;
use crate::{Backend, ConnectOptions, Result};

#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    queue: Writer,
}

impl PostgresStore {
    pub(crate) const MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

    pub async fn connect(url: &str, options: &ConnectOptions) -> Result<Self> {
        let pool = PgPoolOptions::new().max_connections(options.max_connections.max(2)).connect(url).await?;
        let writer = pool.clone();
        let queue = Writer::spawn(move |writes| Self::apply_batch(writer.clone(), writes));
        Ok(Self { pool, queue })
    }

    fn reader(&self) -> &PgPool {
        &self.pool
    }

    fn writer(&self) -> &PgPool {
        &self.pool
    }

    /// Leases due deliveries; concurrent instances skip each other's locked rows instead of
    /// waiting, so claims never block one another.
    const CLAIM_SQL: &str =
        "UPDATE deliveries SET lease_owner = $1, leased_until = $3, next_attempt_at = $3, updated_at = $2
         WHERE id IN (SELECT id FROM deliveries
                      WHERE status IN ('pending', 'retrying') AND next_attempt_at <= $2
                      ORDER BY next_attempt_at LIMIT $4
                      FOR UPDATE SKIP LOCKED)
         RETURNING id";

    /// Leases an endpoint's earliest waiting delivery that no one holds, due or not (a probe).
    const PROBE_SQL: &str =
        "UPDATE deliveries SET lease_owner = $1, leased_until = $4, next_attempt_at = $4, updated_at = $3
         WHERE id IN (SELECT id FROM deliveries
                      WHERE endpoint_id = $2 AND status IN ('pending', 'retrying')
                        AND (leased_until IS NULL OR leased_until <= $3)
                      ORDER BY next_attempt_at LIMIT 1
                      FOR UPDATE SKIP LOCKED)
         RETURNING id";

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
    async fn forward_wakeups_to(&self, wakeup: std::sync::Arc<tokio::sync::Notify>) -> Result<()> {
        let mut listener = sqlx::postgres::PgListener::connect_with(&self.pool).await?;
        listener.listen(WAKEUP_CHANNEL).await?;
        loop {
            listener.recv().await?;
            wakeup.notify_one();
        }
    }
}

/// The `LISTEN/NOTIFY` channel on which instances announce new due work.
pub const WAKEUP_CHANNEL: &str = "herald_work";

crate::sql::shared_store_impl!(PostgresStore, sqlx::Postgres, Backend::Postgres);
