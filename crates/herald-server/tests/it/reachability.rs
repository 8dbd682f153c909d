//! The SSRF guard end to end, under the production policy: loopback receivers are refused at
//! registration when the URL names an address, and at the attempt when a name resolves to one —
//! and they receive nothing. Only loopback is ever contacted (or rather, not contacted) here.

use std::time::Duration;

use herald_server::config::OutboundConfig;
use herald_testkit::receiver::TestReceiver;
use herald_testkit::{Backend, TestApp, on_both_backends};
use serde_json::json;

async fn production(backend: Backend) -> TestApp {
    TestApp::start_with(backend, |c| c.outbound = OutboundConfig::default()).await
}

async fn refused_at_registration(backend: Backend) {
    let app = production(backend).await;
    let receiver = TestReceiver::start().await;
    let tenant = app.tenant("Acme").await;
    let port = receiver.addr().port();
    for url in [
        receiver.url(), // http://127.0.0.1:…: the scheme alone is refused
        format!("https://127.0.0.1:{port}/hook"),
        format!("https://[::1]:{port}/hook"),
        format!("https://[::ffff:127.0.0.1]:{port}/hook"),
        "https://169.254.169.254/latest/meta-data".to_owned(),
        "https://10.0.0.1/hook".to_owned(),
    ] {
        let r = app.post(&format!("/v1/tenants/{tenant}/endpoints"), json!({"url": url})).await;
        r.assert_problem(422, "validation_failed");
        assert_eq!(r.error_paths(), ["/url"], "{url}: {}", r.body);
    }
    let oauth = json!({"url": "https://example.com/hook", "auth": {"type": "oauth2ClientCredentials",
        "tokenUrl": "https://127.0.0.1/token", "clientId": "c", "clientSecret": "s"}});
    let r = app.post(&format!("/v1/tenants/{tenant}/endpoints"), oauth).await;
    assert_eq!(r.error_paths(), ["/auth/tokenUrl"], "{}", r.body);
    assert_eq!(app.get(&format!("/v1/tenants/{tenant}/endpoints")).await.body["data"], json!([]));
    assert!(receiver.requests().is_empty());
}

/// A name that resolves to loopback passes registration (nothing is resolved then) and is
/// refused at the attempt: error kind `blocked`, and the receiver gets nothing.
async fn refused_at_the_attempt(backend: Backend) {
    let app = production(backend).await;
    let receiver = TestReceiver::start().await;
    let tenant = app.tenant("Acme").await;
    let url = format!("https://localhost:{}/hook", receiver.addr().port());
    let endpoint = app.endpoint(&tenant, json!({"url": url, "retryPolicy": {"maxAttempts": 1}})).await;
    let event = app.publish(&tenant, json!({"type": "t.x", "data": {}})).await;
    let id = event["deliveries"][0]["deliveryId"].as_str().unwrap();
    let delivery = app.delivery_with_status(&tenant, id, "failed").await;
    assert_eq!(delivery["endpointId"], endpoint["id"]);
    let attempt = &delivery["attempts"][0];
    assert_eq!(attempt["errorKind"], "blocked", "{attempt}");
    assert!(attempt["errorMessage"].as_str().unwrap().contains("loopback"), "{attempt}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(receiver.requests().is_empty(), "nothing reached the receiver");
}

#[tokio::test]
async fn refused_at_registration_sqlite() {
    refused_at_registration(Backend::Sqlite).await;
}

#[tokio::test]
async fn refused_at_registration_postgres() {
    refused_at_registration(Backend::Postgres).await;
}

#[tokio::test]
async fn refused_at_the_attempt_sqlite() {
    refused_at_the_attempt(Backend::Sqlite).await;
}

#[tokio::test]
async fn refused_at_the_attempt_postgres() {
    refused_at_the_attempt(Backend::Postgres).await;
}

on_both_backends! {
    async fn the_allow_list_admits_exactly_its_networks(app) {
        // The harness allows 127.0.0.0/8 and ::1 over http: a loopback receiver works…
        let receiver = TestReceiver::start().await;
        let tenant = app.tenant("Acme").await;
        app.endpoint(&tenant, json!({"url": receiver.url()})).await;
        app.publish(&tenant, json!({"type": "t.x", "data": {}})).await;
        receiver.wait_for(1, Duration::from_secs(20)).await;
        // …while other private ranges stay refused.
        let r = app.post(&format!("/v1/tenants/{tenant}/endpoints"), json!({"url": "http://192.168.1.10/hook"})).await;
        r.assert_problem(422, "validation_failed");
    }
}
