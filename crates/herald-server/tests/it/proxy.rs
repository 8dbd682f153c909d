//! Deliveries through the configured outbound proxy (static egress addresses): a local
//! forward proxy sees every request, absolute-form, and relays it to the receiver.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use herald_testkit::receiver::TestReceiver;
use herald_testkit::{Backend, TestApp};
use serde_json::json;

/// A minimal HTTP forward proxy on 127.0.0.1; returns its URL and the targets it relayed.
async fn forward_proxy() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let relay = reqwest::Client::builder().no_proxy().build().unwrap();
    let app =
        axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let (log, relay) = (log.clone(), relay.clone());
            async move {
                log.lock().unwrap().push(uri.to_string());
                let mut forward = relay.request(method, uri.to_string()).body(body);
                for (name, value) in &headers {
                    if name != "host" && name != "proxy-connection" {
                        forward = forward.header(name, value);
                    }
                }
                match forward.send().await {
                    Ok(r) => StatusCode::from_u16(r.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY),
                    Err(_) => StatusCode::BAD_GATEWAY,
                }
            }
        });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, seen)
}

async fn deliveries_go_through_the_proxy(backend: Backend) {
    let (proxy, seen) = forward_proxy().await;
    let app = TestApp::start_with(backend, |c| c.outbound.proxy = Some(proxy.clone())).await;
    let receiver = TestReceiver::start().await;
    let tenant = app.tenant("Acme").await;
    let endpoint = app.endpoint(&tenant, json!({"url": receiver.url()})).await;
    app.publish(&tenant, json!({"type": "t.x", "data": {}})).await;
    let requests = receiver.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(seen.lock().unwrap().as_slice(), [receiver.url()], "relayed by the proxy");
    let wh = standardwebhooks::Webhook::new(endpoint["secret"].as_str().unwrap()).unwrap();
    wh.verify(&requests[0].body, &requests[0].headers).expect("signed as usual");
}

#[tokio::test]
async fn deliveries_go_through_the_proxy_sqlite() {
    deliveries_go_through_the_proxy(Backend::Sqlite).await;
}

#[tokio::test]
async fn deliveries_go_through_the_proxy_postgres() {
    deliveries_go_through_the_proxy(Backend::Postgres).await;
}
