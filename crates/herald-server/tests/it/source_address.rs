//! `delivery.source_address`: every delivery connection leaves from the configured local
//! address — through the shared client and through an endpoint's own TLS client alike. The
//! receivers listen on 127.0.0.1 and record their peers; Herald sends from 127.0.0.2.

use std::net::IpAddr;
use std::time::Duration;

use herald_testkit::receiver::TestReceiver;
use herald_testkit::tls::{TlsReceiver, issue};
use herald_testkit::{Backend, TestApp};
use serde_json::json;

async fn deliveries_come_from_the_source_address(backend: Backend) {
    let source: IpAddr = "127.0.0.2".parse().unwrap();
    let app = TestApp::start_with(backend, |c| c.delivery.source_address = Some(source)).await;

    let receiver = TestReceiver::start().await;
    let tenant = app.tenant("Acme").await;
    app.endpoint(&tenant, json!({"url": receiver.url()})).await;
    for _ in 0..3 {
        app.publish(&tenant, json!({"type": "t.x", "data": {}})).await;
    }
    let requests = receiver.wait_for(3, Duration::from_secs(20)).await;
    let peers: Vec<IpAddr> = requests.iter().map(|r| r.peer.ip()).collect();
    assert_eq!(peers, [source; 3], "every delivery came from the source address");

    // An endpoint with TLS settings of its own is sent through its own client: same address.
    let certificate = issue("Receiver CA", &["localhost", "127.0.0.1"]);
    let tls = TlsReceiver::start(&certificate, None).await;
    let tenant = app.tenant("Tls").await;
    app.endpoint(&tenant, json!({"url": tls.url(), "tls": {"caCertPem": certificate.ca_pem}})).await;
    let event = app.publish(&tenant, json!({"type": "t.x", "data": {}})).await;
    app.delivery_with_status(&tenant, event["deliveries"][0]["deliveryId"].as_str().unwrap(), "delivered")
        .await;
    let peers = tls.peers();
    assert!(!peers.is_empty() && peers.iter().all(|p| p.ip() == source), "{peers:?}");
}

#[tokio::test]
async fn deliveries_come_from_the_source_address_sqlite() {
    deliveries_come_from_the_source_address(Backend::Sqlite).await;
}

#[tokio::test]
async fn deliveries_come_from_the_source_address_postgres() {
    deliveries_come_from_the_source_address(Backend::Postgres).await;
}
