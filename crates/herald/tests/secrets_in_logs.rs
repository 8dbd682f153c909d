//! Secrets never reach the logs: the real binary, logging at `debug` (JSON and text), creates
//! endpoints with every kind of credential, rotates a secret and delivers; its whole output is
//! then searched for every secret.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use herald_core::api_key::ApiKeySecret;
use herald_core::seal::MasterKey;
use herald_testkit::eventually;
use herald_testkit::receiver::TestReceiver;
use serde_json::json;

async fn run(format: &str) {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let admin = ApiKeySecret::generate().expose().to_owned();
    let master = MasterKey::generate().to_base64();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_herald"));
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("HERALD_") || k == "RUST_LOG") {
        cmd.env_remove(key);
    }
    let mut child = cmd
        .arg("serve")
        .current_dir(dir.path())
        .env("HERALD_LISTEN", format!("127.0.0.1:{port}"))
        .env("HERALD_ADMIN_KEY", &admin)
        .env("HERALD_MASTER_KEY", &master)
        .env("HERALD_LOG__LEVEL", "debug")
        .env("HERALD_LOG__FORMAT", format)
        .env("HERALD_OUTBOUND__POLICY", "allowlist")
        .env("HERALD_OUTBOUND__ALLOW_CIDRS", "[127.0.0.0/8]")
        .env("HERALD_OUTBOUND__ALLOW_HTTP", "true")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read the output while the server runs: a full pipe would block its logging.
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    eventually("the server to be ready", Duration::from_secs(30), || async {
        client.get(format!("{base}/health/ready")).send().await.ok().filter(|r| r.status().is_success())
    })
    .await;
    let call = |path: String, body: serde_json::Value| {
        let request = client.post(format!("{base}{path}")).bearer_auth(&admin).json(&body);
        async move { request.send().await.unwrap().json::<serde_json::Value>().await.unwrap() }
    };

    let receiver = TestReceiver::start().await;
    let tenant = call("/v1/tenants".into(), json!({"name": "t"})).await["id"].as_str().unwrap().to_owned();
    let tenant_key =
        call(format!("/v1/tenants/{tenant}/keys"), json!({})).await["key"].as_str().unwrap().to_owned();
    let mut secrets = vec![admin.clone(), master.clone(), tenant_key];
    for (auth, secret) in [
        (json!({"type": "basic", "username": "u", "password": "basic-PASSWORD-1"}), "basic-PASSWORD-1"),
        (json!({"type": "bearer", "token": "bearer-TOKEN-2"}), "bearer-TOKEN-2"),
        (json!({"type": "apiKey", "keyName": "X-Api-Key", "keyValue": "apikey-VALUE-3"}), "apikey-VALUE-3"),
    ] {
        let endpoint = call(
            format!("/v1/tenants/{tenant}/endpoints"),
            json!({"url": receiver.url(), "auth": auth, "headers": {"X-Auth-Token": "header-SECRET-4"}}),
        )
        .await;
        secrets.push(secret.to_owned());
        secrets.push(endpoint["secret"].as_str().unwrap().to_owned());
        let ep = endpoint["id"].as_str().unwrap();
        let rotated = call(format!("/v1/tenants/{tenant}/endpoints/{ep}/secret/rotate"), json!({})).await;
        secrets.push(rotated["secret"].as_str().unwrap().to_owned());
    }
    secrets.push("header-SECRET-4".into());
    // A delivery to each, plus a failing one (its error is logged).
    call(format!("/v1/tenants/{tenant}/events"), json!({"type": "t.x", "data": {}})).await;
    receiver.wait_for(3, Duration::from_secs(20)).await;

    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let _ = child.wait();
    let output = stdout.join().unwrap() + &stderr.join().unwrap();
    assert!(output.contains("herald listening"), "the logs were captured: {output}");
    assert!(!output.contains('\u{1b}'), "no terminal colour codes when stderr is a pipe: {output}");
    assert!(
        output.contains("THE REACHABILITY POLICY IS RELAXED"),
        "a relaxed policy is loud at start: {output}"
    );
    for secret in &secrets {
        // Also look for the base64 body of whsec_ secrets on its own.
        let needle = secret.strip_prefix("whsec_").unwrap_or(secret);
        assert!(!output.contains(needle), "a secret is in the {format} logs: {needle}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn no_secret_in_text_logs() {
    run("text").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn no_secret_in_json_logs() {
    run("json").await;
}
