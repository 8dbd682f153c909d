//! Spans with the real binary: `traces.otlp_endpoint` set to a local OTLP/HTTP stand-in, a
//! publish carrying a `traceparent`, and the trace followed from the publish through the attempt
//! to the receiver.

use std::process::{Command, Stdio};
use std::time::Duration;

use herald_core::api_key::ApiKeySecret;
use herald_testkit::eventually;
use herald_testkit::receiver::{Reply, TestReceiver};
use serde_json::{Value, json};

/// Every span the stand-in collector received: (name, trace id, span id, parent span id).
fn spans(collector: &TestReceiver) -> Vec<(String, String, String, String)> {
    let mut found = Vec::new();
    for request in collector.requests() {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        for resource in body["resourceSpans"].as_array().into_iter().flatten() {
            let service = resource["resource"]["attributes"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|a| a["key"] == "service.name")
                .map(|a| a["value"]["stringValue"].clone());
            assert_eq!(service, Some(json!("herald")), "the spans name their service");
            for scope in resource["scopeSpans"].as_array().into_iter().flatten() {
                for span in scope["spans"].as_array().into_iter().flatten() {
                    let text = |key: &str| span[key].as_str().unwrap_or_default().to_owned();
                    found.push((text("name"), text("traceId"), text("spanId"), text("parentSpanId")));
                }
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread")]
async fn a_publishs_trace_follows_the_event_to_the_receiver() {
    let collector = TestReceiver::start().await;
    collector.set_default(Reply::Full {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body: "{}".into(),
    });
    let receiver = TestReceiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let admin = ApiKeySecret::generate().expose().to_owned();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_herald"));
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("HERALD_") || k.starts_with("OTEL_")) {
        cmd.env_remove(key);
    }
    let mut server = cmd
        .arg("serve")
        .current_dir(dir.path())
        .env("HERALD_LISTEN", format!("127.0.0.1:{port}"))
        .env("HERALD_ADMIN_KEY", &admin)
        .env("HERALD_OUTBOUND__POLICY", "allowlist")
        .env("HERALD_OUTBOUND__ALLOW_CIDRS", "[127.0.0.0/8]")
        .env("HERALD_OUTBOUND__ALLOW_HTTP", "true")
        .env("HERALD_TRACES__OTLP_ENDPOINT", format!("http://{}/v1/traces", collector.addr()))
        // Quiet logs do not silence the spans.
        .env("HERALD_LOG__LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    eventually("the server to be ready", Duration::from_secs(30), || async {
        client.get(format!("{base}/health/ready")).send().await.ok().filter(|r| r.status().is_success())
    })
    .await;
    let post = |path: &str, body: Value| client.post(format!("{base}{path}")).bearer_auth(&admin).json(&body);
    let tenant: Value = post("/v1/tenants", json!({"name": "t"})).send().await.unwrap().json().await.unwrap();
    let tenant = tenant["id"].as_str().unwrap().to_owned();
    post(&format!("/v1/tenants/{tenant}/endpoints"), json!({"url": receiver.url()})).send().await.unwrap();
    let (trace_id, caller_span) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let published = post(&format!("/v1/tenants/{tenant}/events"), json!({"type": "a.b", "data": {}}))
        .header("traceparent", format!("00-{trace_id}-{caller_span}-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(published.status(), 201);
    let delivered = receiver.wait_for(1, Duration::from_secs(20)).await;
    let sent = delivered[0].header("traceparent").expect("a traceparent on the delivery").to_owned();
    let parts: Vec<&str> = sent.split('-').collect();
    assert_eq!(parts[1], trace_id, "the receiver is in the caller's trace: {sent}");
    assert_ne!(parts[2], caller_span, "its parent is Herald's attempt, not the caller: {sent}");

    // An event owed to more than 64 endpoints is fanned out after the publish answers: its
    // fan-out has a span of its own in the caller's trace.
    let fanned = "1bf92f3577b34da6a3ce929d0e0e4737";
    for n in 0..65 {
        post(
            &format!("/v1/tenants/{tenant}/endpoints"),
            json!({"url": receiver.url(), "events": ["fan.*"], "description": format!("fan {n}")}),
        )
        .send()
        .await
        .unwrap();
    }
    let fanout = post(&format!("/v1/tenants/{tenant}/events"), json!({"type": "fan.out", "data": {}}))
        .header("traceparent", format!("00-{fanned}-{caller_span}-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(fanout.status(), 201);
    receiver.wait_for(66, Duration::from_secs(30)).await;

    // Stopping flushes the spans still buffered.
    let _ = Command::new("kill").arg("-TERM").arg(server.id().to_string()).status();
    let _ = server.wait();
    let found = eventually("the spans to reach the collector", Duration::from_secs(10), || async {
        let found = spans(&collector);
        (found.iter().any(|s| s.0 == "publish") && found.iter().any(|s| s.0 == "attempt")).then_some(found)
    })
    .await;
    let publish = found.iter().find(|s| s.0 == "publish").unwrap();
    assert_eq!(
        (publish.1.as_str(), publish.3.as_str()),
        (trace_id, caller_span),
        "publish: the caller's child"
    );
    let attempt = found.iter().find(|s| s.0 == "attempt").unwrap();
    assert_eq!(attempt.1, trace_id, "the attempt is in the same trace");
    assert_eq!(attempt.2, parts[2], "and is the receiver's parent");
    assert!(
        found.iter().any(|s| s.0 == "fanout" && s.1 == fanned),
        "the fan-out's span is in its caller's trace: {found:?}"
    );
}
