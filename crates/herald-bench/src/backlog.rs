//! Loading a deep backlog straight into the database (through the API it would take hours), and
//! reading the plan of the claim query over it.
//!
//! The backlog is what a dead endpoint accumulates: undelivered deliveries in `retrying`, their
//! next attempt an hour away. They must not slow down claiming for everyone else.

use sqlx::Connection;

/// `n` zero-padded into a valid ULID body (digits are Crockford base-32, and a leading `0` keeps
/// it in range).
const SQLITE_LOAD: &str = "
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $3)
INSERT INTO events (event_key, tenant_id, id, event_type, data, created_at)
SELECT 'evt_00' || printf('%024d', i), $1, 'backlog-' || i, 'bench.backlog', '{\"n\":1}', $4 FROM n";

const SQLITE_LOAD_DELIVERIES: &str = "
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $3)
INSERT INTO deliveries (id, tenant_id, event_key, event_id, endpoint_id, status, attempt_count,
                        next_attempt_at, next_trigger, created_at, updated_at)
SELECT 'dlv_00' || printf('%024d', i), $1, 'evt_00' || printf('%024d', i), 'backlog-' || i, $2,
       $6, 1, $5, 'scheduled', $4, $4 FROM n";

const POSTGRES_LOAD: &str = "
INSERT INTO events (event_key, tenant_id, id, event_type, data, created_at)
SELECT 'evt_00' || lpad(i::text, 24, '0'), $1, 'backlog-' || i, 'bench.backlog', '{\"n\":1}', $3
FROM generate_series(1, $2::bigint) AS i";

const POSTGRES_LOAD_DELIVERIES: &str = "
INSERT INTO deliveries (id, tenant_id, event_key, event_id, endpoint_id, status, attempt_count,
                        next_attempt_at, next_trigger, created_at, updated_at)
SELECT 'dlv_00' || lpad(i::text, 24, '0'), $1, 'evt_00' || lpad(i::text, 24, '0'), 'backlog-' || i, $4,
       $6, 1, $5, 'scheduled', $3, $3
FROM generate_series(1, $2::bigint) AS i";

/// Loads `size` undelivered deliveries (and their events) for `endpoint`, due in an hour.
pub async fn load(database_url: &str, tenant: &str, endpoint: &str, size: usize) -> anyhow::Result<()> {
    let now = herald_core::Timestamp::now().as_millisecond();
    insert(database_url, tenant, endpoint, size, "retrying", now, now + 3_600_000).await
}

/// Loads `size` delivered deliveries (and their events) for `endpoint`, created 100 days ago:
/// what the retention purge deletes.
pub async fn load_finished(
    database_url: &str,
    tenant: &str,
    endpoint: &str,
    size: usize,
) -> anyhow::Result<()> {
    let old = herald_core::Timestamp::now().as_millisecond() - 100 * 86_400_000;
    insert(database_url, tenant, endpoint, size, "delivered", old, old).await
}

/// Inserts `size` events with one delivery each of `status`, created at `created` (Unix ms),
/// next attempt at `next`, in one transaction.
async fn insert(
    database_url: &str,
    tenant: &str,
    endpoint: &str,
    size: usize,
    status: &str,
    created: i64,
    next: i64,
) -> anyhow::Result<()> {
    let size = size as i64;
    if database_url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(database_url).await?;
        sqlx::query("PRAGMA synchronous = OFF").execute(&mut conn).await?;
        let mut tx = conn.begin().await?;
        sqlx::query(SQLITE_LOAD)
            .bind(tenant)
            .bind(endpoint)
            .bind(size)
            .bind(created)
            .execute(&mut *tx)
            .await?;
        sqlx::query(SQLITE_LOAD_DELIVERIES)
            .bind(tenant)
            .bind(endpoint)
            .bind(size)
            .bind(created)
            .bind(next)
            .bind(status)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        sqlx::query("ANALYZE").execute(&mut conn).await?;
    } else {
        let mut conn = sqlx::PgConnection::connect(database_url).await?;
        let mut tx = conn.begin().await?;
        sqlx::query(POSTGRES_LOAD).bind(tenant).bind(size).bind(created).execute(&mut *tx).await?;
        sqlx::query(POSTGRES_LOAD_DELIVERIES)
            .bind(tenant)
            .bind(size)
            .bind(created)
            .bind(endpoint)
            .bind(next)
            .bind(status)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        sqlx::query("ANALYZE").execute(&mut conn).await?;
    }
    Ok(())
}

/// How many of the loaded deliveries are left (their ids start `dlv_00`).
pub async fn count_old(database_url: &str) -> anyhow::Result<i64> {
    let sql = "SELECT COUNT(*) FROM deliveries WHERE id < 'dlv_01'";
    let (n,): (i64,) = if database_url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(database_url).await?;
        sqlx::query_as(sql).fetch_one(&mut conn).await?
    } else {
        let mut conn = sqlx::PgConnection::connect(database_url).await?;
        sqlx::query_as(sql).fetch_one(&mut conn).await?
    };
    Ok(n)
}

/// The plan of the claim's inner query, as the database reports it.
pub async fn claim_plan(database_url: &str) -> anyhow::Result<String> {
    let now = herald_core::Timestamp::now().as_millisecond();
    let inner = "SELECT id FROM deliveries WHERE status IN ('pending', 'retrying') AND next_attempt_at <= $1
                 ORDER BY next_attempt_at LIMIT 64";
    if database_url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(database_url).await?;
        let rows: Vec<(i64, i64, i64, String)> =
            sqlx::query_as(&format!("EXPLAIN QUERY PLAN {inner}")).bind(now).fetch_all(&mut conn).await?;
        Ok(rows.into_iter().map(|r| r.3).collect::<Vec<_>>().join("; "))
    } else {
        let mut conn = sqlx::PgConnection::connect(database_url).await?;
        let rows: Vec<(String,)> =
            sqlx::query_as(&format!("EXPLAIN {}", inner.replace("$1", &now.to_string())))
                .fetch_all(&mut conn)
                .await?;
        Ok(rows.into_iter().map(|r| r.0.trim().to_owned()).collect::<Vec<_>>().join("; "))
    }
}
