//! The claim query must read only the due part of the `deliveries_due_with_tenant` index, in index
//! order, however deep the backlog and whichever tenants it leaves aside: no full scan, no sort of
//! every due row.

use herald_testkit::{Backend, TestApp, on_both_backends};
use sqlx::Connection;

/// The inner query of the claim (both backends' `CLAIM_SQL` select their rows this way), leaving
/// one tenant aside.
fn claim_inner(backend: Backend) -> String {
    let skip = match backend {
        Backend::Sqlite => "SELECT value FROM json_each('[\"ten_busy\"]')",
        Backend::Postgres => "SELECT jsonb_array_elements_text('[\"ten_busy\"]'::jsonb)",
    };
    format!(
        "SELECT id FROM deliveries WHERE status IN ('pending', 'retrying') AND next_attempt_at <= 5000
           AND tenant_id NOT IN ({skip})
         ORDER BY next_attempt_at LIMIT 64"
    )
}

async fn load_and_explain(app: &TestApp) -> String {
    // 20,000 deliveries due and 20,000 delivered ones, then fresh planner statistics. They are
    // created now, under an event key of now: the server's retention purge, running beside the
    // test, goes by event key, and would delete an event keyed in the past that nothing refers to
    // yet between its insert and its deliveries'.
    let tenant = app.tenant("Plan").await;
    let now = jiff::Timestamp::now().as_millisecond();
    let key = herald_core::id::GeneratedEventId::generate();
    let fill_events = format!(
        "INSERT INTO events (event_key, tenant_id, id, event_type, data, created_at)
         VALUES ('{key}', $1, 'e', 't.x', '{{}}', $2)",
        key = key.as_str()
    );
    let fill = |status: &str, base: i64| {
        format!(
            "INSERT INTO deliveries (id, tenant_id, event_key, event_id, endpoint_id, status, next_attempt_at, created_at, updated_at)
             SELECT 'dlv_{status}_' || n, $1, '{key}', 'e', 'ep_x', '{status}', {base} + n % 1000, $2, $2
             FROM {series}",
            key = key.as_str(),
            series = match app.backend {
                Backend::Sqlite => "(WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 20000) SELECT n FROM s)",
                Backend::Postgres => "generate_series(1, 20000) AS n",
            }
        )
    };
    let statements = [fill("pending", 0), fill("delivered", 0)];
    match app.backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&app.database_url).await.unwrap();
            sqlx::query(&fill_events).bind(&tenant).bind(now).execute(&mut conn).await.unwrap();
            for s in &statements {
                sqlx::query(s).bind(&tenant).bind(now).execute(&mut conn).await.unwrap();
            }
            sqlx::query("ANALYZE").execute(&mut conn).await.unwrap();
            let rows: Vec<(i64, i64, i64, String)> =
                sqlx::query_as(&format!("EXPLAIN QUERY PLAN {}", claim_inner(app.backend)))
                    .fetch_all(&mut conn)
                    .await
                    .unwrap();
            rows.into_iter().map(|r| r.3).collect::<Vec<_>>().join("; ")
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&app.database_url).await.unwrap();
            sqlx::query(&fill_events).bind(&tenant).bind(now).execute(&mut conn).await.unwrap();
            for s in &statements {
                sqlx::query(s).bind(&tenant).bind(now).execute(&mut conn).await.unwrap();
            }
            sqlx::query("ANALYZE").execute(&mut conn).await.unwrap();
            let rows: Vec<(String,)> = sqlx::query_as(&format!("EXPLAIN {}", claim_inner(app.backend)))
                .fetch_all(&mut conn)
                .await
                .unwrap();
            rows.into_iter().map(|r| r.0).collect::<Vec<_>>().join("; ")
        }
    }
}

on_both_backends! {
    async fn the_claim_reads_the_due_index_in_order(app) {
        let plan = load_and_explain(&app).await;
        assert!(plan.contains("deliveries_due_with_tenant"), "uses the partial index: {plan}");
        assert!(!plan.to_uppercase().contains("TEMP B-TREE"), "no sort of all due rows: {plan}");
        assert!(!plan.contains("Seq Scan") && !plan.contains("SCAN deliveries"), "no full scan: {plan}");
        assert!(!plan.contains("Sort"), "no sort of all due rows: {plan}");
    }
}
