use herald_server::{Application, Config};
use reqwest::Method;

use crate::support::{Backend, TestApp};

fn config_in(dir: &std::path::Path) -> Config {
    Config { listen: "127.0.0.1:0".parse().unwrap(), data_dir: dir.to_owned(), ..Config::default() }
}

/// With no configuration, the first start creates the database and master key under the data
/// directory and generates an admin key once; later starts reuse all three.
#[tokio::test]
async fn first_start_generates_an_admin_key_once() {
    let dir = tempfile::tempdir().unwrap();
    let first = Application::build(config_in(dir.path())).await.unwrap();
    let key = first.generated_admin_key().expect("a key on first start").expose().to_owned();
    assert!(dir.path().join("herald.db").is_file());
    assert!(dir.path().join("master.key").is_file());
    drop(first);

    let second = Application::build(config_in(dir.path())).await.unwrap();
    assert!(second.generated_admin_key().is_none(), "shown only once");
    let addr = second.local_addr();
    tokio::spawn(second.run_until(std::future::pending()));
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let r = client.get(format!("http://{addr}/v1/tenants")).bearer_auth(&key).send().await.unwrap();
    assert_eq!(r.status(), 200, "the generated key still works after a restart");
}

/// A configured admin key is accepted and no key is generated.
#[tokio::test]
async fn a_configured_admin_key_is_used() {
    let app = TestApp::start(Backend::Sqlite).await;
    assert_eq!(app.call(Method::GET, "/v1/tenants", Some(&app.admin_key), None).await.status, 200);
}

/// Credentials sealed by one start open after the next: the generated master key persists.
#[tokio::test]
async fn the_generated_master_key_persists() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_in(dir.path());
    config.admin_key = Some(herald_core::api_key::ApiKeySecret::generate().expose().to_owned());
    let key = config.admin_key.clone().unwrap();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();

    let first = Application::build(config.clone()).await.unwrap();
    let addr = first.local_addr();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(first.run_until(async {
        let _ = rx.await;
    }));
    let base = format!("http://{addr}");
    let tenant: serde_json::Value = client
        .post(format!("{base}/v1/tenants"))
        .bearer_auth(&key)
        .json(&serde_json::json!({"name": "t"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tenant = tenant["id"].as_str().unwrap().to_owned();
    let r = client
        .post(format!("{base}/v1/tenants/{tenant}/endpoints"))
        .bearer_auth(&key)
        .json(&serde_json::json!({"url": "https://e.example.com/", "auth": {"type": "bearer", "token": "t"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    tx.send(()).unwrap();
    server.await.unwrap().unwrap();

    let second = Application::build(config).await.unwrap();
    let addr = second.local_addr();
    tokio::spawn(second.run_until(std::future::pending()));
    let r = client
        .get(format!("http://{addr}/v1/tenants/{tenant}/endpoints"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "sealed credentials open with the persisted key");
}

/// Readiness follows the database: an outage (connections refused and cut) makes the instance
/// not ready, with the reason, and it is ready again once the database is back — no restart.
#[tokio::test(flavor = "multi_thread")]
async fn readiness_follows_the_database_postgres() {
    use std::time::Duration;
    let app = TestApp::start(Backend::Postgres).await;
    let ready = || async { app.call(Method::GET, "/health/ready", None, None).await };
    assert_eq!(ready().await.status, 200);
    herald_testkit::postgres::set_available(&app.database_url, false).await;
    let down = herald_testkit::eventually("not ready during the outage", Duration::from_secs(30), || async {
        let r = ready().await;
        (r.status == 503).then_some(r)
    })
    .await;
    assert_eq!(down.body, serde_json::json!({"status": "unavailable", "reason": "database"}));
    assert_eq!(app.call(Method::GET, "/health/live", None, None).await.status, 200, "still alive");
    herald_testkit::postgres::set_available(&app.database_url, true).await;
    herald_testkit::eventually("ready after the outage", Duration::from_secs(60), || async {
        (ready().await.status == 200).then_some(())
    })
    .await;
    assert_eq!(app.get("/v1/tenants").await.status, 200, "serving again");
}

/// Readiness needs every migration of this build applied: a database missing one (an instance
/// started against a database nobody migrated) is not ready, and says why.
#[tokio::test(flavor = "multi_thread")]
async fn readiness_needs_every_migration_sqlite() {
    readiness_needs_every_migration(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn readiness_needs_every_migration_postgres() {
    readiness_needs_every_migration(Backend::Postgres).await;
}

async fn readiness_needs_every_migration(backend: Backend) {
    use sqlx::Connection;
    let app = TestApp::start(backend).await;
    assert_eq!(app.call(Method::GET, "/health/ready", None, None).await.status, 200);
    let forget = "DELETE FROM _sqlx_migrations WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)";
    match backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&app.database_url).await.unwrap();
            sqlx::query(forget).execute(&mut conn).await.unwrap();
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&app.database_url).await.unwrap();
            sqlx::query(forget).execute(&mut conn).await.unwrap();
        }
    }
    let ready = app.call(Method::GET, "/health/ready", None, None).await;
    assert_eq!(ready.status, 503);
    assert_eq!(ready.body, serde_json::json!({"status": "unavailable", "reason": "migrations"}));
    assert_eq!(app.call(Method::GET, "/health/live", None, None).await.status, 200, "still alive");
}

/// An instance that does not deliver (`delivery.enabled = false`: an API-only instance) is ready
/// without a dispatcher; one that delivers is ready once its dispatcher runs.
#[tokio::test(flavor = "multi_thread")]
async fn readiness_needs_a_dispatcher_only_where_one_delivers() {
    let api_only = TestApp::start_with(Backend::Sqlite, |config| config.delivery.enabled = false).await;
    assert_eq!(api_only.call(Method::GET, "/health/ready", None, None).await.status, 200);
    let delivering = TestApp::start(Backend::Sqlite).await;
    assert_eq!(delivering.call(Method::GET, "/health/ready", None, None).await.status, 200);
}
