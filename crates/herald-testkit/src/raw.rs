//! Reading the database behind the API's back: what an attacker with a copy of it would see.

use sqlx::Connection;

use super::{Backend, TestApp};

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

/// Runs a statement behind the API's back (to age a row, say); returns the rows it changed.
pub async fn execute(app: &TestApp, sql: &str) -> u64 {
    match app.backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&app.database_url).await.unwrap();
            sqlx::query(sql).execute(&mut conn).await.unwrap().rows_affected()
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&app.database_url).await.unwrap();
            sqlx::query(sql).execute(&mut conn).await.unwrap().rows_affected()
        }
    }
}

/// Everything the database holds, as text: the raw SQLite files (main file and WAL), or every
/// row of every table of the schema (whatever tables exist, not a list) rendered by PostgreSQL.
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
            let tables = strings(
                app,
                "SELECT quote_ident(table_name)::text FROM information_schema.tables
                 WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
            )
            .await;
            assert!(tables.iter().any(|t| t == "idempotency_keys"), "read the real schema: {tables:?}");
            let mut out = String::new();
            for table in tables {
                // Binary columns rendered with their printable bytes as they are (`escape`), so
                // text stored in them is seen as text.
                let columns = strings(
                    app,
                    &format!(
                        "SELECT CASE WHEN data_type = 'bytea' THEN 'encode(' || quote_ident(column_name) || ', ''escape'')'
                                     ELSE quote_ident(column_name) || '::text' END
                         FROM information_schema.columns
                         WHERE table_schema = current_schema() AND quote_ident(table_name) = '{table}'"
                    ),
                )
                .await;
                let row = format!("concat_ws(' ', {})", columns.join(", "));
                for row in strings(app, &format!("SELECT {row} FROM {table}")).await {
                    out.push_str(&row);
                    out.push('\n');
                }
            }
            out
        }
    }
}

/// Tables that change on their own while a server runs (instances' heartbeats): left out of
/// [`rows`].
const LIVELY: &[&str] = &["instances"];

/// Every row of every table (whatever tables exist), as text, but the tables that change on
/// their own ([`LIVELY`]): what to compare before and after a request that must write nothing.
pub async fn rows(app: &TestApp) -> String {
    let tables = match app.backend {
        Backend::Sqlite => strings(
            app,
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )
        .await,
        Backend::Postgres => {
            strings(
                app,
                "SELECT quote_ident(table_name)::text FROM information_schema.tables
                 WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1",
            )
            .await
        }
    };
    assert!(tables.iter().any(|t| t == "deliveries"), "read the real schema: {tables:?}");
    let mut out = String::new();
    for table in tables.iter().filter(|t| !LIVELY.contains(&t.as_str())) {
        let columns =
            match app.backend {
                Backend::Sqlite => strings(
                    app,
                    &format!(
                        "SELECT 'quote(\"' || name || '\")' FROM pragma_table_info('{table}') ORDER BY cid"
                    ),
                )
                .await,
                Backend::Postgres => {
                    strings(
                        app,
                        &format!(
                            "SELECT quote_ident(column_name) || '::text' FROM information_schema.columns
                         WHERE table_schema = current_schema() AND quote_ident(table_name) = '{table}'
                         ORDER BY ordinal_position"
                        ),
                    )
                    .await
                }
            };
        let row = match app.backend {
            Backend::Sqlite => columns.join(" || ' ' || "),
            Backend::Postgres => format!("concat_ws(' ', {})", columns.join(", ")),
        };
        let mut lines = strings(app, &format!("SELECT {row} FROM {table}")).await;
        lines.sort();
        out.push_str(&format!("[{table}]\n"));
        for line in lines {
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
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

/// Overwrites an endpoint's sealed credentials behind the API's back (damage, or a restore).
pub async fn set_sealed_credentials(app: &TestApp, id: &str, sealed: &[u8]) {
    let sql = "UPDATE endpoints SET sealed_credentials = $1 WHERE id = $2";
    let done = match app.backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&app.database_url).await.unwrap();
            sqlx::query(sql).bind(sealed).bind(id).execute(&mut conn).await.unwrap().rows_affected()
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&app.database_url).await.unwrap();
            sqlx::query(sql).bind(sealed).bind(id).execute(&mut conn).await.unwrap().rows_affected()
        }
    };
    assert_eq!(done, 1, "endpoint {id} exists");
}
