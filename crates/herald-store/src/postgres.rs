//! The PostgreSQL backend: any number of Herald instances share one database. Work is claimed
//! with leases and `FOR UPDATE SKIP LOCKED`; wake-ups travel by `LISTEN/NOTIFY`.

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgPool, PgPoolOptions};

use crate::{Backend, ConnectOptions, Result};

#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    pub(crate) const MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

    pub async fn connect(url: &str, options: &ConnectOptions) -> Result<Self> {
        let pool = PgPoolOptions::new().max_connections(options.max_connections.max(2)).connect(url).await?;
        Ok(Self { pool })
    }

    fn reader(&self) -> &PgPool {
        &self.pool
    }

    fn writer(&self) -> &PgPool {
        &self.pool
    }
}

crate::sql::shared_store_impl!(PostgresStore, Backend::Postgres);
