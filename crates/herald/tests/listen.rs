//! `herald listen`, run as the real binary against a real server: a session forwards to a local
//! receiver, the official verifier accepts what arrives, the server records the local answers
//! as the attempts, and killing the CLI mid-stream loses nothing once it resumes.

use std::collections::HashSet;
use std::process::Stdio;
use std::time::Duration;

use herald_testkit::receiver::{Reply, TestReceiver};
use herald_testkit::{Backend, TestApp, eventually};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// `herald listen` with the given arguments, against `app`, as the tenant `acme`.
fn listen(app: &TestApp, args: &[&str]) -> Child {
    let home = std::env::temp_dir();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_herald"));
    for (key, _) in std::env::vars() {
        if key.starts_with("HERALD_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("XDG_CONFIG_HOME", home.join("herald-listen-test-no-login"))
        .env("NO_COLOR", "1")
        .args(["listen", "--server", &app.url(""), "--api-key", &app.admin_key, "--tenant", "acme"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd.spawn().unwrap()
}

/// Reads the CLI's stderr until it says it is ready; returns the endpoint id and secret.
async fn ready(child: &mut Child) -> (String, String) {
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = String::new();
    let found = tokio::time::timeout(Duration::from_secs(20), async {
        let (mut endpoint, mut secret) = (None, None);
        while let Some(line) = lines.next_line().await.unwrap() {
            seen.push_str(&line);
            seen.push('\n');
            for word in line.split([' ', '(', ')', '`', '.']) {
                if word.starts_with("ep_") {
                    endpoint.get_or_insert_with(|| word.to_owned());
                }
                if word.starts_with("whsec_") {
                    secret = Some(word.trim_end_matches(['.', ',']).to_owned());
                }
            }
            if let (Some(e), Some(s)) = (&endpoint, &secret) {
                return (e.clone(), s.clone());
            }
        }
        panic!("the CLI ended before it was ready:\n{seen}")
    })
    .await;
    // Keep draining stderr so the CLI never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    found.expect("the CLI is ready within 20 s")
}

async fn publish(app: &TestApp, n: usize) -> String {
    let body = json!({"type": "contract.signed", "data": {"n": n}});
    app.publish("acme", body).await["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_session_forwards_signed_deliveries_and_records_the_local_answers() {
    let app = TestApp::start(Backend::Sqlite).await;
    app.post("/v1/tenants", json!({"name": "Acme", "uid": "acme"})).await;
    let local = TestReceiver::start().await;
    local.set_default(Reply::Full {
        status: 201,
        headers: vec![("x-local".into(), "yes".into())],
        body: "made it".into(),
    });
    let mut cli = listen(&app, &["--forward-to", &local.url(), "--events", "contract.*"]);
    let (endpoint, secret) = ready(&mut cli).await;
    let mut stdout = BufReader::new(cli.stdout.take().unwrap()).lines();

    // A type the session does not subscribe to is not its business.
    app.publish("acme", json!({"type": "invoice.paid", "data": {}})).await;
    let event = publish(&app, 1).await;
    let received = local.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(received.len(), 1);
    let request = &received[0];
    standardwebhooks::Webhook::new(&secret)
        .unwrap()
        .verify(&request.body, &request.headers)
        .expect("the forwarded request verifies with the official library");
    assert_eq!(request.header("webhook-id"), Some(event.as_str()));
    assert_eq!(request.json()["data"]["n"], 1);
    assert_eq!(request.uri.path(), "/hook");

    // One line per delivery: time, type, id, local status, duration.
    let line =
        tokio::time::timeout(Duration::from_secs(10), stdout.next_line()).await.unwrap().unwrap().unwrap();
    assert!(line.contains("contract.signed") && line.contains(&event) && line.contains("→ 201"), "{line}");
    assert!(line.ends_with(" ms"), "{line}");

    // The server's log holds the local answer as the attempt.
    let deliveries = app.get(&format!("/v1/tenants/acme/deliveries?endpointId={endpoint}")).await.body;
    let delivery = deliveries["data"][0]["id"].as_str().unwrap().to_owned();
    let recorded = app.delivery_with_status("acme", &delivery, "delivered").await;
    let attempt = &recorded["attempts"][0];
    assert_eq!(attempt["response"]["status"], 201);
    assert_eq!(attempt["response"]["body"], "made it");
    assert!(
        attempt["response"]["headers"].as_array().unwrap().iter().any(|h| h[0] == "x-local" && h[1] == "yes")
    );
    let endpoint_shown = app.get(&format!("/v1/tenants/acme/endpoints/{endpoint}")).await.body;
    assert_eq!(endpoint_shown["description"], format!("herald listen → {}", local.url()));

    // A local receiver that is down is a failed attempt, retried like any.
    local.set_default(Reply::Status(503));
    publish(&app, 2).await;
    let line =
        tokio::time::timeout(Duration::from_secs(10), stdout.next_line()).await.unwrap().unwrap().unwrap();
    assert!(line.contains("→ 503"), "{line}");
}

#[tokio::test]
async fn print_shows_each_request_without_forwarding_and_counts_it_delivered() {
    let app = TestApp::start(Backend::Sqlite).await;
    app.post("/v1/tenants", json!({"name": "Acme", "uid": "acme"})).await;
    let mut cli = listen(&app, &["--print"]);
    let (endpoint, _) = ready(&mut cli).await;
    let mut stdout = BufReader::new(cli.stdout.take().unwrap()).lines();
    let event = publish(&app, 7).await;
    let mut shown = String::new();
    while !shown.contains("\"n\": 7") {
        let line = tokio::time::timeout(Duration::from_secs(10), stdout.next_line())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        shown.push_str(&line);
        shown.push('\n');
    }
    assert!(shown.starts_with("POST contract.signed"), "{shown}");
    assert!(
        shown.contains(&format!("webhook-id: {event}")) && shown.contains("webhook-signature: v1,"),
        "{shown}"
    );
    let log = app.get(&format!("/v1/tenants/acme/deliveries?endpointId={endpoint}")).await.body;
    let delivery = log["data"][0]["id"].as_str().unwrap().to_owned();
    let recorded = app.delivery_with_status("acme", &delivery, "delivered").await;
    assert_eq!(recorded["attempts"][0]["response"]["status"], 200);
}

#[tokio::test]
async fn a_tenant_key_listens_only_on_its_own_tenant() {
    let app = TestApp::start(Backend::Sqlite).await;
    app.post("/v1/tenants", json!({"name": "Acme", "uid": "acme"})).await;
    app.post("/v1/tenants", json!({"name": "Globex", "uid": "globex"})).await;
    let key = app.tenant_key("globex").await;
    let out = Command::new(env!("CARGO_BIN_EXE_herald"))
        .env("XDG_CONFIG_HOME", std::env::temp_dir().join("herald-listen-test-no-login"))
        .args(["listen", "--server", &app.url(""), "--api-key", &key, "--tenant", "acme", "--print"])
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let endpoints = app.get("/v1/tenants/acme/endpoints").await.body;
    assert_eq!(endpoints["data"], Value::Array(vec![]), "no session was opened");
}

#[tokio::test]
async fn killing_the_cli_mid_stream_loses_nothing_once_it_resumes() {
    let app = TestApp::start(Backend::Sqlite).await;
    app.post("/v1/tenants", json!({"name": "Acme", "uid": "acme"})).await;
    let local = TestReceiver::start().await;
    // Slow enough that the kill lands with requests in flight.
    local.set_default(Reply::Delay(Duration::from_millis(300), 204));
    let mut cli = listen(&app, &["--forward-to", &local.url()]);
    let (endpoint, _) = ready(&mut cli).await;
    let mut published = HashSet::new();
    for n in 0..20 {
        published.insert(publish(&app, n).await);
    }
    local.wait_for(2, Duration::from_secs(20)).await;
    cli.kill().await.unwrap();
    cli.wait().await.unwrap();

    // Some were answered, some were in flight, some had not been sent: none is lost.
    let mut resumed = listen(&app, &["--forward-to", &local.url(), "--resume", &endpoint]);
    let (again, _) = ready(&mut resumed).await;
    assert_eq!(again, endpoint, "the same session");
    local.set_default(Reply::Status(204));
    eventually("every delivery to arrive after the resume", Duration::from_secs(60), || async {
        let log = app
            .get(&format!("/v1/tenants/acme/deliveries?endpointId={endpoint}&status=delivered&limit=100"))
            .await;
        (log.body["data"].as_array().unwrap().len() == 20).then_some(())
    })
    .await;
    let arrived: HashSet<String> =
        local.requests().iter().filter_map(|r| r.header("webhook-id").map(str::to_owned)).collect();
    assert_eq!(arrived, published, "every event reached the local receiver");
    resumed.kill().await.unwrap();
}
