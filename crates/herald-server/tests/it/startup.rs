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
