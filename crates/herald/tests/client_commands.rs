//! The client commands, run as the real binary against a real server: login and its file, every
//! resource's commands, tables and `--json`, exit codes, and a bulk retry's summary.

use std::process::Output;
use std::time::Duration;

use herald_testkit::receiver::{Reply, TestReceiver};
use herald_testkit::{Backend, TestApp, eventually};
use serde_json::Value;

/// The binary with a home of its own (so the login file is the test's) and no HERALD_* of the
/// caller's.
struct Cli {
    home: tempfile::TempDir,
}

impl Cli {
    fn new() -> Self {
        Self { home: tempfile::tempdir().unwrap() }
    }

    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"));
        for (key, _) in std::env::vars() {
            if key.starts_with("HERALD_") {
                cmd.env_remove(key);
            }
        }
        cmd.env("HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.home.path().join("config"))
            .env("NO_COLOR", "1")
            .current_dir(self.home.path())
            .args(args)
            .stdin(std::process::Stdio::null());
        cmd
    }

    async fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().await.unwrap()
    }

    /// Runs a command that must succeed; returns its stdout.
    async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert!(out.status.success(), "herald {args:?}: {}{}", stderr(&out), stdout(&out));
        stdout(&out)
    }

    /// Runs a command with `--json` that must succeed; returns the document.
    async fn json(&self, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.push("--json");
        serde_json::from_str(&self.ok(&args).await).expect("--json prints JSON")
    }

    fn login_file(&self) -> std::path::PathBuf {
        self.home.path().join("config/herald/cli.toml")
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn login_keeps_the_key_private_and_flags_and_environment_override_it() {
    let app = TestApp::start(Backend::Sqlite).await;
    let cli = Cli::new();
    let server = app.url("");

    // Before logging in: a usage error that says what to do.
    let out = cli.run(&["tenants", "list"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("herald login"), "{}", stderr(&out));

    // A wrong key is refused, and nothing is saved.
    let out = cli.run(&["login", "--server", &server, "--api-key", "hk_wrong"]).await;
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(!cli.login_file().exists());

    // A server that is not there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nowhere = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let out = cli.run(&["login", "--server", &nowhere, "--api-key", &app.admin_key]).await;
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));

    // The key from standard input, as a script would give it.
    let mut login = cli.command(&["login", "--server", &server]);
    login
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = login.spawn().unwrap();
    use tokio::io::AsyncWriteExt;
    child.stdin.take().unwrap().write_all(format!("{}\n", app.admin_key).as_bytes()).await.unwrap();
    let out = child.wait_with_output().await.unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("admin key"), "{}", stderr(&out));
    let saved = std::fs::read_to_string(cli.login_file()).unwrap();
    assert!(saved.contains(&app.admin_key) && saved.contains(&server), "{saved}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&cli.login_file()), 0o600, "the login file is the user's only");
        assert_eq!(mode(cli.login_file().parent().unwrap()), 0o700);
    }
    let empty = cli.run(&["tenants", "list"]).await;
    assert!(empty.status.success() && stdout(&empty).is_empty(), "{}", stdout(&empty));
    assert_eq!(stderr(&empty).trim(), "(none)");
    cli.ok(&["tenants", "create", "--name", "Acme", "--uid", "acme"]).await;

    // A tenant key in the environment wins over the saved admin key.
    let tenant_key = app.tenant_key("acme").await;
    let mut cmd = cli.command(&["tenants", "list"]);
    cmd.env("HERALD_API_KEY", &tenant_key);
    let out = cmd.output().await.unwrap();
    assert_eq!(out.status.code(), Some(3), "a tenant key may not list tenants: {}", stderr(&out));
    assert!(stderr(&out).contains("403"), "{}", stderr(&out));
    let mut cmd = cli.command(&["tenants", "get", "acme", "--json"]);
    cmd.env("HERALD_API_KEY", &tenant_key);
    let out = cmd.output().await.unwrap();
    assert!(out.status.success(), "its own tenant: {}", stderr(&out));
    // And a flag wins over the environment.
    let mut cmd = cli.command(&["tenants", "list", "--api-key", &app.admin_key]);
    cmd.env("HERALD_API_KEY", &tenant_key);
    assert!(cmd.output().await.unwrap().status.success());

    cli.ok(&["logout"]).await;
    assert!(!cli.login_file().exists());
    assert_eq!(cli.run(&["tenants", "list"]).await.status.code(), Some(2));
}

#[tokio::test]
async fn every_resource_is_managed_from_the_terminal() {
    let app = TestApp::start(Backend::Sqlite).await;
    let receiver = TestReceiver::start().await;
    let cli = Cli::new();
    cli.ok(&["login", "--server", &app.url(""), "--api-key", &app.admin_key]).await;

    // Tenants: a table for people, JSON for scripts.
    let created =
        cli.json(&["tenants", "create", "--name", "Acme", "--uid", "acme", "--metadata", "plan=pro"]).await;
    assert_eq!(created["metadata"]["plan"], "pro");
    let table = cli.ok(&["tenants", "list"]).await;
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("ID") && lines[0].contains("UID") && lines[0].contains("NAME"), "{table}");
    assert!(lines[1].contains("acme") && lines[1].contains("Acme"), "{table}");
    assert_eq!(lines[0].find("NAME"), lines[1].find("Acme"), "columns are aligned:\n{table}");
    let renamed = cli.json(&["tenants", "update", "acme", "--name", "Acme Corp"]).await;
    assert_eq!(renamed["name"], "Acme Corp");
    assert!(cli.ok(&["tenants", "stats", "acme"]).await.contains("backlog"));
    let out = cli.run(&["tenants", "delete", "acme"]).await;
    assert_eq!(out.status.code(), Some(2), "deleting needs --yes");
    // Keys.
    let key_text = cli.ok(&["keys", "create", "--tenant", "acme", "--name", "ci"]).await;
    assert!(key_text.trim().starts_with("hk_"), "{key_text}");
    let keys = cli.json(&["keys", "list", "--tenant", "acme"]).await;
    assert_eq!(keys["data"][0]["name"], "ci");
    let key_id = keys["data"][0]["id"].as_str().unwrap().to_owned();
    cli.ok(&["keys", "revoke", &key_id, "--tenant", "acme"]).await;
    assert_eq!(cli.json(&["keys", "list", "--tenant", "acme"]).await["data"], Value::Array(vec![]));
    let link = cli.ok(&["tenants", "portal-link", "acme"]).await;
    assert!(link.contains("/ui/portal/hp_"), "{link}");

    // The default tenant, saved at login.
    cli.ok(&["login", "--server", &app.url(""), "--api-key", &app.admin_key, "--tenant", "acme"]).await;

    // Event types.
    cli.ok(&[
        "event-types",
        "create",
        "invoice.paid",
        "--description",
        "An invoice was paid",
        "--example",
        r#"{"invoice":"in_example"}"#,
    ])
    .await;
    cli.ok(&["event-types", "create", "invoice.voided"]).await;
    let updated = cli.json(&["event-types", "update", "invoice.voided", "--deprecated", "true"]).await;
    assert_eq!(updated["deprecated"], true);
    let catalog = cli.ok(&["event-types", "list"]).await;
    assert!(catalog.contains("invoice.paid") && !catalog.contains("invoice.voided"), "{catalog}");
    assert!(cli.ok(&["event-types", "list", "--deprecated"]).await.contains("invoice.voided"));
    assert!(cli.ok(&["event-types", "get", "invoice.paid"]).await.contains("in_example"));
    cli.ok(&["event-types", "delete", "invoice.voided"]).await;

    // Endpoints.
    let endpoint = cli
        .json(&[
            "endpoints",
            "create",
            "--url",
            &receiver.url(),
            "--event",
            "invoice.*",
            "--header",
            "X-Team=billing",
            "--description",
            "billing",
        ])
        .await;
    let secret = endpoint["secret"].as_str().unwrap().to_owned();
    let ep = endpoint["id"].as_str().unwrap().to_owned();
    assert_eq!(endpoint["headers"]["X-Team"], "billing");
    let listed = cli.ok(&["endpoints", "list"]).await;
    assert!(listed.contains(&ep) && listed.contains("invoice.*"), "{listed}");
    let shown = cli.ok(&["endpoints", "get", &ep]).await;
    assert!(shown.contains("billing") && !shown.contains(&secret), "no secret once created:\n{shown}");
    let changed = cli.json(&["endpoints", "update", &ep, "--rate-limit", "50"]).await;
    assert_eq!(changed["rateLimit"]["perSecond"], 50);
    let bad = cli.run(&["endpoints", "update", &ep, "--url", "not a url"]).await;
    assert_eq!(bad.status.code(), Some(2), "refused before sending: {}", stderr(&bad));
    let bad = cli.run(&["endpoints", "update", &ep, "--body", r#"{"rateLimit":{"perSecond":0}}"#]).await;
    assert_eq!(bad.status.code(), Some(2), "the API's own types check it first: {}", stderr(&bad));
    let long = "x".repeat(1100);
    let refused = cli.run(&["endpoints", "update", &ep, "--description", &long]).await;
    assert_eq!(refused.status.code(), Some(3), "the server says why: {}", stderr(&refused));
    assert!(stderr(&refused).contains("/description"), "the field is named: {}", stderr(&refused));
    let test = cli.json(&["endpoints", "test", &ep, "--type", "invoice.paid"]).await;
    let test_delivery = test["deliveryId"].as_str().unwrap().to_owned();
    app.delivery_with_status("acme", &test_delivery, "delivered").await;

    // Publish from a file and from standard input; the receiver gets them signed.
    let payload = cli.home.path().join("paid.json");
    std::fs::write(&payload, r#"{"invoice":"in_1","amount":4200}"#).unwrap();
    let published = cli
        .json(&["events", "publish", "--type", "invoice.paid", "--data", &format!("@{}", payload.display())])
        .await;
    let delivery = published["deliveries"][0]["deliveryId"].as_str().unwrap().to_owned();
    let mut piped = cli.command(&["events", "publish", "--type", "invoice.paid", "--id", "evt_from_stdin"]);
    piped
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = piped.spawn().unwrap();
    use tokio::io::AsyncWriteExt;
    child.stdin.take().unwrap().write_all(br#"{"invoice":"in_2"}"#).await.unwrap();
    let out = child.wait_with_output().await.unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("evt_from_stdin") && stdout(&out).contains("DELIVERY"), "{}", stdout(&out));
    let received = receiver.wait_for(3, Duration::from_secs(20)).await;
    let wh = standardwebhooks::Webhook::new(&secret).unwrap();
    for request in &received {
        wh.verify(&request.body, &request.headers).expect("signed as any delivery");
    }
    assert!(received.iter().any(|r| r.json()["data"]["amount"] == 4200));

    // The logs.
    let event = cli.ok(&["events", "get", "evt_from_stdin"]).await;
    assert!(event.contains("in_2"), "{event}");
    let events = cli.json(&["events", "list", "--type", "invoice.paid", "--since", "1h"]).await;
    assert_eq!(events["data"].as_array().unwrap().len(), 3);
    app.delivery_with_status("acme", &delivery, "delivered").await;
    let log = cli.ok(&["deliveries", "list", "--status", "delivered", "--endpoint", &ep]).await;
    assert!(log.contains(&delivery) && log.contains("delivered"), "{log}");
    let one = cli.ok(&["deliveries", "get", &delivery]).await;
    assert!(
        one.contains("attempt 1") && one.contains("< HTTP 204") && one.contains("> webhook-signature"),
        "{one}"
    );
    let paged = cli.json(&["deliveries", "list", "--limit", "1"]).await;
    assert!(paged["nextCursor"].is_string());
    let everything = cli.json(&["deliveries", "list", "--limit", "1", "--all"]).await;
    assert_eq!(everything["data"].as_array().unwrap().len(), 3);

    // Failures, retried one at a time and in bulk.
    cli.ok(&["endpoints", "disable", &ep]).await;
    let held = cli.json(&["events", "publish", "--type", "invoice.paid", "--data", "{}"]).await;
    let held_delivery = held["deliveries"][0]["deliveryId"].as_str().unwrap().to_owned();
    app.delivery_with_status("acme", &held_delivery, "failed").await;
    cli.json(&["events", "publish", "--type", "invoice.paid", "--data", "{}"]).await;
    cli.ok(&["endpoints", "enable", &ep]).await;
    let failed = cli.json(&["deliveries", "list", "--status", "failed"]).await;
    assert_eq!(failed["data"].as_array().unwrap().len(), 2);
    let summary =
        cli.ok(&["deliveries", "retry", "--status", "failed", "--endpoint", &ep, "--since", "1h"]).await;
    assert!(summary.contains("Queued 2 deliveries again"), "{summary}");
    eventually("the retried deliveries to arrive", Duration::from_secs(20), || async {
        let left = cli.json(&["deliveries", "list", "--status", "failed"]).await;
        left["data"].as_array().unwrap().is_empty().then_some(())
    })
    .await;
    let one = cli.ok(&["deliveries", "retry", &delivery]).await;
    assert!(one.contains(&delivery), "{one}");
    let recovered = cli.ok(&["endpoints", "recover", &ep, "--since", "2h"]).await;
    assert!(recovered.contains("Queued 0 failed deliveries again"), "{recovered}");
    let stats = cli.json(&["endpoints", "stats", &ep]).await;
    assert!(stats["attempts"].as_u64().unwrap() >= 5, "{stats}");

    let rotated = cli.json(&["endpoints", "rotate-secret", &ep, "--grace", "1h"]).await;
    assert_ne!(rotated["secret"], secret.as_str());
    cli.ok(&["endpoints", "retire-secrets", &ep]).await;

    // Unknown things are API errors; deleting works.
    let missing = cli.run(&["endpoints", "get", "ep_01JBX5M3S7K2W8R9T4V6Y0Z1A2"]).await;
    assert_eq!(missing.status.code(), Some(3));
    assert!(stderr(&missing).contains("not_found"), "{}", stderr(&missing));
    cli.ok(&["endpoints", "delete", &ep]).await;
    cli.ok(&["tenants", "delete", "acme", "--yes"]).await;
    assert_eq!(cli.run(&["tenants", "get", "acme"]).await.status.code(), Some(3));
    receiver.set_default(Reply::Status(204));
}

#[tokio::test]
async fn on_a_terminal_tables_are_coloured_and_a_bulk_retry_shows_a_progress_bar() {
    let app = TestApp::start(Backend::Sqlite).await;
    let receiver = TestReceiver::start().await;
    let cli = Cli::new();
    cli.ok(&["login", "--server", &app.url(""), "--api-key", &app.admin_key]).await;
    cli.ok(&["tenants", "create", "--name", "Acme", "--uid", "acme"]).await;
    cli.ok(&["login", "--server", &app.url(""), "--api-key", &app.admin_key, "--tenant", "acme"]).await;
    let endpoint = cli.json(&["endpoints", "create", "--url", &receiver.url(), "--disabled"]).await;
    let ep = endpoint["id"].as_str().unwrap().to_owned();
    for _ in 0..3 {
        let held = cli.json(&["events", "publish", "--type", "a.b", "--data", "{}"]).await;
        let delivery = held["deliveries"][0]["deliveryId"].as_str().unwrap().to_owned();
        app.delivery_with_status("acme", &delivery, "failed").await;
    }
    cli.ok(&["endpoints", "enable", &ep]).await;

    // `script` (util-linux) runs the command on a pseudo-terminal, as a person would.
    let on_a_terminal = |args: &str| {
        let line = format!("{} {args}", env!("CARGO_BIN_EXE_herald"));
        let mut cmd = tokio::process::Command::new("script");
        cmd.args(["-qfec", &line, "/dev/null"])
            .env("HOME", cli.home.path())
            .env("XDG_CONFIG_HOME", cli.home.path().join("config"))
            .env("TERM", "xterm")
            .env_remove("NO_COLOR")
            .stdin(std::process::Stdio::null());
        cmd
    };
    let table = on_a_terminal("deliveries list --status failed").output().await.expect("`script` runs");
    let table = String::from_utf8_lossy(&table.stdout).into_owned();
    assert!(table.contains("\u{1b}[1mID\u{1b}[0m"), "a bold header on a terminal: {table:?}");
    assert!(table.contains("\u{1b}[31mfailed"), "statuses in colour: {table:?}");

    let out = on_a_terminal("deliveries retry --status failed --since 1h").output().await.unwrap();
    assert!(out.status.success());
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(shown.contains("retrying [") && shown.contains("/3 deliveries"), "a progress bar: {shown:?}");
    assert!(shown.contains("Queued 3 deliveries again"), "then a summary: {shown:?}");
}
