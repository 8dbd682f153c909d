//! The `log` scenario: the delivery log's pages and filters over a large log.
//!
//! A tenant's log of `--log-rows` deliveries (one event each, spread over 30 days) is loaded
//! straight into the database: 90 % to one endpoint and 10 % to another, 2 % failed, event types
//! spread over four common ones plus one rare type (0.1 %); ids are real ULIDs of their time.
//! Then each filter's first page (and one page deep in the log) is read through the API, as the
//! web interface reads it, and timed.

use std::time::Instant;

use serde_json::json;
use sqlx::Connection;

use crate::server::Server;
use crate::stats::Percentiles;

const SPAN_MS: i64 = 30 * 24 * 3600 * 1000;

/// Crockford base-32, as ULIDs are written.
const BASE32: &str = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// SQL for a real ULID of row `i` created at `ms` (both SQL expressions): the time in its first
/// ten characters, `i` as its random part. `int` casts a shift for PostgreSQL's `substr`.
fn ulid_sql(ms: &str, random: &str, int: &str) -> String {
    let time: Vec<String> = (0..10)
        .map(|k| format!("substr('{BASE32}', ((({ms}) >> {}) & 31){int} + 1, 1)", 45 - 5 * k))
        .collect();
    format!("{} || {random}", time.join(" || "))
}

/// The two loading statements of a backend: `$1` tenant, `$2` rows, `$3` now (ms), `$4` the
/// step between rows (ms), `$5`/`$6` the endpoints.
fn load_sql(sqlite: bool) -> (String, String) {
    let (rows, ms) = ("n", "$3 - ($2 - i) * $4");
    let (from, random, int) = if sqlite {
        (
            format!(
                "WITH RECURSIVE {rows}(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM {rows} WHERE i < $2) "
            ),
            "printf('%016d', i)".to_owned(),
            "",
        )
    } else {
        (String::new(), "lpad(i::text, 16, '0')".to_owned(), "::int")
    };
    let ulid = ulid_sql(ms, &random, int);
    let series =
        if sqlite { format!("FROM {rows}") } else { "FROM generate_series(1, $2::bigint) AS i".to_owned() };
    let events = format!(
        "{from}INSERT INTO events (event_key, tenant_id, id, event_type, data, created_at)
         SELECT 'evt_' || {ulid}, $1, 'log-' || i,
                CASE WHEN i % 1000 = 0 THEN 'rare.type' ELSE CASE i % 4 WHEN 0 THEN 'order.created'
                     WHEN 1 THEN 'order.paid' WHEN 2 THEN 'invoice.sent' ELSE 'user.updated' END END,
                '{{}}', {ms} {series}"
    );
    let deliveries = format!(
        "{from}INSERT INTO deliveries (id, tenant_id, event_key, event_id, endpoint_id, status, attempt_count,
                                next_trigger, created_at, updated_at)
         SELECT 'dlv_' || {ulid}, $1, 'evt_' || {ulid}, 'log-' || i,
                CASE WHEN i % 10 = 0 THEN $6 ELSE $5 END,
                CASE WHEN i % 50 = 0 THEN 'failed' ELSE 'delivered' END,
                1, 'scheduled', {ms}, {ms} {series}"
    );
    (events, deliveries)
}

/// Loads `rows` delivered (or failed) deliveries of `tenant` to endpoints `a` (90 %) and `b`.
async fn load(database_url: &str, tenant: &str, (a, b): (&str, &str), rows: usize) -> anyhow::Result<()> {
    let now = herald_core::Timestamp::now().as_millisecond();
    let rows = rows as i64;
    let step = (SPAN_MS / rows.max(1)).max(1);
    macro_rules! run {
        ($conn:expr, $sqlite:expr) => {{
            let (events, deliveries) = load_sql($sqlite);
            let mut tx = $conn.begin().await?;
            sqlx::query(&events).bind(tenant).bind(rows).bind(now).bind(step).execute(&mut *tx).await?;
            sqlx::query(&deliveries)
                .bind(tenant)
                .bind(rows)
                .bind(now)
                .bind(step)
                .bind(a)
                .bind(b)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }};
    }
    if database_url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(database_url).await?;
        sqlx::query("PRAGMA synchronous = OFF").execute(&mut conn).await?;
        run!(conn, true);
    } else {
        let mut conn = sqlx::PgConnection::connect(database_url).await?;
        run!(conn, false);
        // What autovacuum does soon after a bulk load anyway.
        sqlx::query("ANALYZE events").execute(&mut conn).await?;
        sqlx::query("ANALYZE deliveries").execute(&mut conn).await?;
    }
    Ok(())
}

/// The id of the delivery halfway down the log.
async fn middle_id(database_url: &str, rows: usize) -> anyhow::Result<String> {
    let sql = "SELECT id FROM deliveries ORDER BY id LIMIT 1 OFFSET $1";
    let (id,): (String,) = if database_url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(database_url).await?;
        sqlx::query_as(sql).bind((rows / 2) as i64).fetch_one(&mut conn).await?
    } else {
        let mut conn = sqlx::PgConnection::connect(database_url).await?;
        sqlx::query_as(sql).bind((rows / 2) as i64).fetch_one(&mut conn).await?
    };
    Ok(id)
}

/// One timed read: its name, and the query string of the delivery log.
pub struct Read {
    pub name: &'static str,
    pub query: String,
}

/// The reads: a first page per filter, and a page from the middle of the log.
fn reads(rows: usize, b: &str, middle: &str) -> Vec<Read> {
    let now = herald_core::Timestamp::now();
    let ago = |hours: i64| {
        herald_core::Timestamp::from_millisecond(now.as_millisecond() - hours * 3_600_000).unwrap_or(now)
    };
    vec![
        Read { name: "first page", query: String::new() },
        Read { name: "a page halfway down", query: format!("cursor={middle}") },
        Read { name: "status failed (2 %)", query: "status=failed".into() },
        Read { name: "endpoint (10 %)", query: format!("endpointId={b}") },
        Read { name: "event type (25 %)", query: "eventType=order.paid".into() },
        Read { name: "event type (0.1 %)", query: "eventType=rare.type".into() },
        Read { name: "event type never published", query: "eventType=never.sent".into() },
        Read { name: "one event", query: format!("eventId=log-{}", rows / 3) },
        Read { name: "since an hour ago", query: format!("since={}", ago(1)) },
        Read { name: "until 29 days ago", query: format!("until={}", ago(29 * 24)) },
    ]
}

/// Loads the log and times each read `samples` times; one outcome per read.
pub async fn run(
    server: &mut Server,
    rows: usize,
    samples: usize,
) -> anyhow::Result<Vec<(Read, Percentiles, usize)>> {
    let tenant = server.call(reqwest::Method::POST, "/v1/tenants", Some(json!({"name": "log"}))).await?;
    let tenant = tenant["id"].as_str().unwrap_or_default().to_owned();
    let mut endpoints = Vec::new();
    for name in ["a", "b"] {
        let endpoint = server
            .call(
                reqwest::Method::POST,
                &format!("/v1/tenants/{tenant}/endpoints"),
                Some(json!({"url": format!("http://127.0.0.1:9/{name}"), "enabled": false})),
            )
            .await?;
        endpoints.push(endpoint["id"].as_str().unwrap_or_default().to_owned());
    }
    server.terminate().await?;
    let started = Instant::now();
    load(&server.database_url, &tenant, (&endpoints[0], &endpoints[1]), rows).await?;
    eprintln!("loaded a log of {rows} deliveries in {:.1} s", started.elapsed().as_secs_f64());
    let middle = middle_id(&server.database_url, rows).await?;
    server.resume().await?;
    let mut out = Vec::new();
    for read in reads(rows, &endpoints[1], &middle) {
        let path = format!("/v1/tenants/{tenant}/deliveries?limit=50&{}", read.query);
        let mut times = Vec::with_capacity(samples);
        let mut found = 0;
        for _ in 0..samples {
            let started = Instant::now();
            let page = server.call(reqwest::Method::GET, &path, None).await?;
            times.push(started.elapsed());
            found = page["data"].as_array().map_or(0, Vec::len);
        }
        let p = Percentiles::of(times);
        eprintln!("log: {}: {found} rows, p50 {:.2} ms, max {:.2} ms", read.name, p.p50_ms, p.max_ms);
        out.push((read, p, found));
    }
    Ok(out)
}

/// Samples per read: enough for a median on a noisy machine.
pub const SAMPLES: usize = 15;
