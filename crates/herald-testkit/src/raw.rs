//! Reading the database behind the API's back: what an attacker with a copy of it would see.

use sqlx::Connection;

use super::{Backend, TestApp};

const TABLES: &[&str] =
    &["tenants", "api_keys", "event_types", "endpoints", "events", "deliveries", "attempts"];

/// One text column of every row `sql` returns.
pub async fn strings(app: &TestApp, sql: &str) -> Vec<String> {
    match app.backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&app.database_url).await.unwrap();
            let rows: Vec<(String,)> = sqlx::query_as(sql).fetch_all(&mut conn).await.unwrap();
            rows.into_iter().map(|r| r.0).collect()
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&app.database_url).await.unwrap();
            let rows: Vec<(String,)> = sqlx::query_as(sql).fetch_all(&mut conn).await.unwrap();
            rows.into_iter().map(|r| r.0).collect()
        }
    }
}

/// Everything the database holds, as text: the raw SQLite files (main file and WAL), or every
/// row of every table rendered by PostgreSQL.
pub async fn dump(app: &TestApp) -> String {
    match app.backend {
        Backend::Sqlite => {
            let path = app.database_url.trim_start_matches("sqlite://").to_owned();
            let mut out = String::new();
            for file in [path.clone(), format!("{path}-wal")] {
                if let Ok(bytes) = std::fs::read(&file) {
                    out.push_str(&String::from_utf8_lossy(&bytes));
                }
            }
            assert!(out.contains("CREATE TABLE endpoints"), "read the real database file");
            out
        }
        Backend::Postgres => {
            let mut out = String::new();
            for table in TABLES {
                for row in strings(app, &format!("SELECT t::text FROM {table} t")).await {
                    out.push_str(&row);
                    out.push('\n');
                }
            }
            out
        }
    }
}

/// The raw `spec` and `sealed_credentials` of an endpoint.
pub async fn endpoint_row(app: &TestApp, id: &str) -> (String, Vec<u8>) {
    let sql = "SELECT spec, sealed_credentials FROM endpoints WHERE id = $1";
    match app.backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&app.database_url).await.unwrap();
            sqlx::query_as(sql).bind(id).fetch_one(&mut conn).await.unwrap()
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&app.database_url).await.unwrap();
            sqlx::query_as(sql).bind(id).fetch_one(&mut conn).await.unwrap()
        }
    }
}
