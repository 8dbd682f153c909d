//! Crash safety with the real binary, on SQLite and PostgreSQL:
//! - SIGKILL while deliveries are in flight loses nothing that was acknowledged, nor while
//!   fan-outs are acknowledged before their deliveries exist;
//! - SIGTERM drains: it stops claiming, lets in-flight attempts finish, and releases the rest,
//!   even when the signal comes while a claim waits for the database.
//!
//! Receivers and the server listen on 127.0.0.1 only.

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use herald_core::api_key::ApiKeySecret;
use herald_core::seal::MasterKey;
use herald_testkit::receiver::{Reply, TestReceiver};
use herald_testkit::{Backend, eventually, postgres};
use serde_json::{Value, json};

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What two starts of the same installation share.
struct Install {
    database_url: String,
    admin_key: String,
    master_key: String,
    dir: tempfile::TempDir,
    settings: Vec<(&'static str, String)>,
}

impl Install {
    async fn new(backend: Backend, settings: &[(&'static str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let database_url = match backend {
            Backend::Sqlite => format!("sqlite://{}", dir.path().join("herald.db").display()),
            Backend::Postgres => postgres::create_database().await,
        };
        Self {
            database_url,
            admin_key: ApiKeySecret::generate().expose().to_owned(),
            master_key: MasterKey::generate().to_base64(),
            dir,
            settings: settings.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
        }
    }

    async fn start(&self) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_herald"));
        for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("HERALD_")) {
            cmd.env_remove(key);
        }
        cmd.arg("serve")
            .current_dir(self.dir.path())
            .env("HERALD_LISTEN", format!("127.0.0.1:{port}"))
            .env("HERALD_DATABASE__URL", &self.database_url)
            .env("HERALD_ADMIN_KEY", &self.admin_key)
            .env("HERALD_MASTER_KEY", &self.master_key)
            .env("HERALD_LOG__LEVEL", "warn")
            .env("HERALD_OUTBOUND__POLICY", "allowlist")
            .env("HERALD_OUTBOUND__ALLOW_CIDRS", "[127.0.0.0/8]")
            .env("HERALD_OUTBOUND__ALLOW_HTTP", "true")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (key, value) in &self.settings {
            cmd.env(key, value);
        }
        let server = Server { child: cmd.spawn().unwrap(), base: format!("http://127.0.0.1:{port}") };
        let client = client();
        let ready = format!("{}/health/ready", server.base);
        eventually("the server to be ready", Duration::from_secs(30), || async {
            client.get(&ready).send().await.ok().filter(|r| r.status().is_success())
        })
        .await;
        server
    }

    async fn call(
        &self,
        server: &Server,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request =
            client().request(method, format!("{}{path}", server.base)).bearer_auth(&self.admin_key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

impl Install {
    /// Creates a tenant with one endpoint per URL; returns the tenant's id.
    async fn tenant_with_endpoints(&self, server: &Server, urls: &[String]) -> String {
        let (_, tenant) =
            self.call(server, reqwest::Method::POST, "/v1/tenants", Some(json!({"name": "t"}))).await;
        let tenant = tenant["id"].as_str().unwrap().to_owned();
        let path = format!("/v1/tenants/{tenant}/endpoints");
        for url in urls {
            let (status, _) =
                self.call(server, reqwest::Method::POST, &path, Some(json!({"url": url}))).await;
            assert_eq!(status, 201, "endpoint {url}");
        }
        tenant
    }

    /// Publishes an `order.paid` event with this id; returns the response's status.
    async fn publish(&self, server: &Server, tenant: &str, id: &str) -> u16 {
        let body = json!({"id": id, "type": "order.paid", "data": {}});
        let path = format!("/v1/tenants/{tenant}/events");
        self.call(server, reqwest::Method::POST, &path, Some(body)).await.0
    }
}

/// Waits for the server to exit, at most `within`.
async fn exit_status(server: &mut Server, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "the server did not exit within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(10)).build().unwrap()
}

fn distinct_ids(receiver: &TestReceiver) -> HashSet<String> {
    receiver.requests().iter().filter_map(|r| r.header("webhook-id").map(str::to_owned)).collect()
}

fn signal(server: &Server, name: &str) {
    let status =
        Command::new("kill").arg(format!("-{name}")).arg(server.child.id().to_string()).status().unwrap();
    assert!(status.success());
}

/// Publishes from several tasks until told to stop; returns the ids that were acknowledged.
async fn publish_until_killed(
    base: String,
    key: String,
    tenant: String,
    stop_after: usize,
) -> HashSet<String> {
    let acked = Arc::new(Mutex::new(HashSet::new()));
    let mut tasks = Vec::new();
    for worker in 0..4 {
        let (base, key, tenant, acked) = (base.clone(), key.clone(), tenant.clone(), acked.clone());
        tasks.push(tokio::spawn(async move {
            let client = client();
            for n in 0.. {
                let id = format!("w{worker}-{n}");
                let sent = client
                    .post(format!("{base}/v1/tenants/{tenant}/events"))
                    .bearer_auth(&key)
                    .json(&json!({"id": id, "type": "order.paid", "data": {"n": n}}))
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status().is_success() => {
                        let mut acked = acked.lock().unwrap();
                        acked.insert(id);
                        if acked.len() >= stop_after {
                            return;
                        }
                    }
                    Ok(r) => panic!("publish refused: {}", r.status()),
                    Err(_) => return, // the server is gone
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    acked.lock().unwrap().clone()
}

async fn sigkill_in_flight_loses_nothing_acknowledged(backend: Backend) {
    let install =
        Install::new(backend, &[("HERALD_DELIVERY__LEASE", "3s"), ("HERALD_DELIVERY__TIMEOUT", "2s")]).await;
    let receiver = TestReceiver::start().await;
    // Slow enough that the kill lands with deliveries outstanding, within the 2 s timeout.
    receiver.set_default(Reply::Delay(Duration::from_millis(1500), 204));
    let server = install.start().await;
    let tenant = install.tenant_with_endpoints(&server, &[receiver.url()]).await;

    let acked =
        publish_until_killed(server.base.clone(), install.admin_key.clone(), tenant.clone(), 300).await;
    let received_before = distinct_ids(&receiver);
    let mut server = server;
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    assert!(
        received_before.len() < acked.len(),
        "the kill must land with deliveries outstanding ({} received of {} acknowledged)",
        received_before.len(),
        acked.len()
    );

    receiver.set_default(Reply::Status(204));
    let _restarted = install.start().await;
    let received =
        eventually("every acknowledged event to be delivered", Duration::from_secs(90), || async {
            let received = distinct_ids(&receiver);
            acked.is_subset(&received).then_some(received)
        })
        .await;
    assert!(acked.is_subset(&received));
}

async fn sigterm_drains(backend: Backend) {
    let install = Install::new(
        backend,
        &[
            ("HERALD_DELIVERY__WORKERS", "4"),
            ("HERALD_DELIVERY__LEASE", "120s"),
            ("HERALD_DELIVERY__TIMEOUT", "5s"),
            ("HERALD_DELIVERY__DRAIN_TIMEOUT", "10s"),
        ],
    )
    .await;
    let receiver = TestReceiver::start().await;
    receiver.set_default(Reply::Delay(Duration::from_millis(1500), 204));
    let server = install.start().await;
    let tenant = install.tenant_with_endpoints(&server, &[receiver.url()]).await;
    let mut ids = HashSet::new();
    for n in 0..20 {
        assert_eq!(install.publish(&server, &tenant, &format!("e{n}")).await, 201);
        ids.insert(format!("e{n}"));
    }
    let in_flight = receiver.wait_for(4, Duration::from_secs(20)).await;
    let signalled = Instant::now();
    let mut server = server;
    signal(&server, "TERM");
    let exited = exit_status(&mut server, Duration::from_secs(20)).await;
    let took = signalled.elapsed();
    assert!(exited.success(), "clean exit: {exited:?}");
    let after_signal: Vec<_> = receiver.requests().into_iter().filter(|r| r.at > signalled).collect();
    assert!(
        after_signal.is_empty(),
        "nothing new was claimed after SIGTERM ({} requests)",
        after_signal.len()
    );
    assert!(took < Duration::from_secs(15), "exited within the drain bound: {took:?}");
    let drained: HashSet<String> =
        in_flight.iter().filter_map(|r| r.header("webhook-id").map(str::to_owned)).collect();

    // The in-flight attempts finished and were recorded (they are not sent again); the rest were
    // released, so they go out at once after the restart instead of after the 120 s lease.
    receiver.set_default(Reply::Status(204));
    let restarted_at = Instant::now();
    let _restarted = install.start().await;
    eventually("the released deliveries to go out", Duration::from_secs(60), || async {
        ids.is_subset(&distinct_ids(&receiver)).then_some(())
    })
    .await;
    assert!(restarted_at.elapsed() < Duration::from_secs(100), "released, not waiting for lease expiry");
    let requests = receiver.requests();
    for id in &drained {
        let sends = requests.iter().filter(|r| r.header("webhook-id") == Some(id.as_str())).count();
        assert_eq!(sends, 1, "{id} was in flight at SIGTERM, finished, and was not sent again");
    }
}

/// SIGTERM while the dispatcher's claim waits for the database: the claim is dropped, not left
/// holding the store's writer connection (on SQLite the only one), so the attempts in flight still
/// record their outcomes and the leases are released within the drain bound. The claim is made to
/// wait by a transaction of the test's own holding SQLite's write lock across the signal.
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_during_a_claim_still_drains_sqlite() {
    let install = Install::new(
        Backend::Sqlite,
        &[
            ("HERALD_DELIVERY__WORKERS", "8"),
            ("HERALD_DELIVERY__ENDPOINT_MAX_IN_FLIGHT", "2"),
            ("HERALD_DELIVERY__LEASE", "120s"),
            ("HERALD_DELIVERY__TIMEOUT", "10s"),
            ("HERALD_DELIVERY__DRAIN_TIMEOUT", "10s"),
            ("HERALD_DELIVERY__POLL_INTERVAL", "100ms"),
        ],
    )
    .await;
    let receiver = TestReceiver::start().await;
    receiver.set_default(Reply::Delay(Duration::from_secs(3), 204));
    let server = install.start().await;
    let tenant = install.tenant_with_endpoints(&server, &[receiver.url()]).await;
    // Two in flight, two waiting in the dispatcher behind the endpoint's cap.
    for n in 0..4 {
        assert_eq!(install.publish(&server, &tenant, &format!("e{n}")).await, 201);
    }
    receiver.wait_for(2, Duration::from_secs(20)).await;

    // Six workers are free, so the dispatcher claims every 100 ms; each claim now waits for the
    // write lock, and the signal comes while one does.
    let database = install.dir.path().join("herald.db");
    let lock = rusqlite::Connection::open(&database).unwrap();
    lock.busy_timeout(Duration::from_secs(5)).unwrap();
    lock.execute_batch("BEGIN IMMEDIATE").unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let signalled = Instant::now();
    let mut server = server;
    signal(&server, "TERM");
    tokio::time::sleep(Duration::from_millis(500)).await;
    lock.execute_batch("ROLLBACK").unwrap();
    drop(lock);

    let exited = exit_status(&mut server, Duration::from_secs(25)).await;
    let took = signalled.elapsed();
    assert!(exited.success(), "clean exit: {exited:?}");
    assert!(took < Duration::from_secs(10), "exited within the drain bound: {took:?}");
    // Both attempts in flight at the signal finished and were recorded; the two waiting were
    // released, due at once for the next process rather than after their 120 s lease.
    let database = rusqlite::Connection::open(&database).unwrap();
    let count = |sql: &str| -> i64 { database.query_row(sql, [], |row| row.get(0)).unwrap() };
    assert_eq!(count("SELECT COUNT(*) FROM deliveries WHERE status = 'delivered'"), 2);
    assert_eq!(count("SELECT COUNT(*) FROM attempts"), 2);
    assert_eq!(count("SELECT COUNT(*) FROM deliveries WHERE status = 'pending' AND lease_owner IS NULL"), 2);
}

/// SIGKILL while fan-outs (events owed to more endpoints than a publish stores inline) are being
/// acknowledged: after a restart every acknowledged event reaches every endpoint — including those
/// whose deliveries were still owed by their fan-out marker when the process died.
async fn sigkill_during_fanouts_loses_no_delivery(backend: Backend) {
    const ENDPOINTS: usize = 80;
    let install =
        Install::new(backend, &[("HERALD_DELIVERY__LEASE", "3s"), ("HERALD_DELIVERY__TIMEOUT", "2s")]).await;
    let receiver = TestReceiver::start().await;
    let server = install.start().await;
    let urls: Vec<String> = (0..ENDPOINTS).map(|i| format!("{}/e{i}", receiver.url())).collect();
    let tenant = install.tenant_with_endpoints(&server, &urls).await;

    let acked =
        publish_until_killed(server.base.clone(), install.admin_key.clone(), tenant.clone(), 12).await;
    let mut server = server;
    server.child.kill().unwrap(); // SIGKILL, right after the last acknowledgement
    server.child.wait().unwrap();
    let owed = acked.len() * ENDPOINTS;
    let before = receiver.requests().len();

    let _restarted = install.start().await;
    eventually("every acknowledged event to reach every endpoint", Duration::from_secs(90), || async {
        let received: HashSet<(String, String)> = receiver
            .requests()
            .iter()
            .filter_map(|r| Some((r.header("webhook-id")?.to_owned(), r.uri.path().to_owned())))
            .collect();
        let missing = acked
            .iter()
            .flat_map(|id| (0..ENDPOINTS).map(move |i| (id.clone(), format!("/hook/e{i}"))))
            .filter(|pair| !received.contains(pair))
            .count();
        (missing == 0).then_some(())
    })
    .await;
    eprintln!("fan-out kill: {before} of {owed} deliveries had arrived before the kill");
}

/// Deliveries claimed by a process that died are taken again: on PostgreSQL (where other
/// instances may hold leases) once their lease expires; on SQLite, where only one process can use
/// the database, at once when Herald starts again, however long the lease.
async fn a_dead_workers_deliveries_are_retaken(backend: Backend) {
    let lease = match backend {
        Backend::Postgres => "3s",
        Backend::Sqlite => "300s",
    };
    let install =
        Install::new(backend, &[("HERALD_DELIVERY__LEASE", lease), ("HERALD_DELIVERY__TIMEOUT", "2500ms")])
            .await;
    let receiver = TestReceiver::start().await;
    receiver.set_default(Reply::Hang);
    let server = install.start().await;
    let tenant = install.tenant_with_endpoints(&server, &[receiver.url()]).await;
    for n in 0..3 {
        install.publish(&server, &tenant, &format!("e{n}")).await;
    }
    receiver.wait_for(3, Duration::from_secs(20)).await;
    let claimed_at = Instant::now();
    let mut server = server;
    server.child.kill().unwrap();
    server.child.wait().unwrap();

    receiver.set_default(Reply::Status(204));
    let _restarted = install.start().await;
    let requests = receiver.wait_for(6, Duration::from_secs(60)).await;
    for n in 0..3 {
        let id = format!("e{n}");
        let sends: Vec<_> = requests.iter().filter(|r| r.header("webhook-id") == Some(id.as_str())).collect();
        assert_eq!(sends.len(), 2, "{id}: once before the kill, once after");
        let waited = sends[1].at.duration_since(claimed_at);
        match backend {
            Backend::Postgres => {
                assert!(waited >= Duration::from_millis(2500), "not before the lease ran out")
            }
            // Within the minute waited above, while the 300 s lease still had minutes to run.
            Backend::Sqlite => assert!(waited < Duration::from_secs(90), "released at start: {waited:?}"),
        }
    }
}

/// Three instances on one PostgreSQL database; one is SIGKILLed while its deliveries are in
/// flight. The others notice its silence and give its leases back, so its deliveries arrive again
/// within 20 s — long before the 60 s lease would have run out — and nothing is lost.
#[tokio::test(flavor = "multi_thread")]
async fn a_killed_instances_leases_are_given_back_within_seconds_postgres() {
    let install = Install::new(Backend::Postgres, &[("HERALD_DELIVERY__TIMEOUT", "50s")]).await;
    let receiver = TestReceiver::start().await;
    receiver.set_default(Reply::Hang);
    let first = install.start().await;
    let _second = install.start().await;
    let doomed = install.start().await;
    let tenant = install.tenant_with_endpoints(&first, &[receiver.url()]).await;
    // Published through the doomed instance: it hands them to its own dispatcher, which holds
    // their leases while the receiver keeps the requests open.
    let mut ids = HashSet::new();
    for n in 0..10 {
        let id = format!("e{n}");
        assert_eq!(install.publish(&doomed, &tenant, &id).await, 201);
        ids.insert(id);
    }
    receiver.wait_for(10, Duration::from_secs(20)).await;
    assert_eq!(distinct_ids(&receiver), ids, "all ten in flight at the doomed instance");
    let mut doomed = doomed;
    doomed.child.kill().unwrap();
    doomed.child.wait().unwrap();
    let killed_at = Instant::now();

    receiver.set_default(Reply::Status(204));
    let requests = receiver.wait_for(20, Duration::from_secs(30)).await;
    for id in &ids {
        let again = requests.iter().filter(|r| r.header("webhook-id") == Some(id.as_str())).nth(1);
        let again = again.unwrap_or_else(|| panic!("{id} was not sent again"));
        let waited = again.at.duration_since(killed_at);
        assert!(waited < Duration::from_secs(20), "{id} sent again after {waited:?}, not within 20 s");
    }
    // The surviving instance records each outcome just after its receiver answered.
    for id in &ids {
        eventually(
            &format!("{id} to be recorded delivered: nothing lost"),
            Duration::from_secs(10),
            || async {
                let (_, event) = install
                    .call(&first, reqwest::Method::GET, &format!("/v1/tenants/{tenant}/events/{id}"), None)
                    .await;
                (event["deliveries"][0]["status"] == "delivered").then_some(())
            },
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn restart_releases_leases_sqlite() {
    a_dead_workers_deliveries_are_retaken(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn lease_expiry_postgres() {
    a_dead_workers_deliveries_are_retaken(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_sqlite() {
    sigkill_in_flight_loses_nothing_acknowledged(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_postgres() {
    sigkill_in_flight_loses_nothing_acknowledged(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_fanout_sqlite() {
    sigkill_during_fanouts_loses_no_delivery(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_fanout_postgres() {
    sigkill_during_fanouts_loses_no_delivery(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_sqlite() {
    sigterm_drains(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_postgres() {
    sigterm_drains(Backend::Postgres).await;
}

/// `herald backup` copies the SQLite database while Herald serves; a server started on the copy
/// (with the same master key) delivers every event acknowledged before the backup.
#[tokio::test(flavor = "multi_thread")]
async fn a_backup_taken_while_serving_restores_and_delivers_sqlite() {
    let install = Install::new(Backend::Sqlite, &[("HERALD_DELIVERY__TIMEOUT", "50s")]).await;
    let receiver = TestReceiver::start().await;
    // The receiver holds every request open: the deliveries are in flight when the copy is made.
    receiver.set_default(Reply::Hang);
    let server = install.start().await;
    let tenant = install.tenant_with_endpoints(&server, &[receiver.url()]).await;
    let mut acked = HashSet::new();
    for n in 0..5 {
        assert_eq!(install.publish(&server, &tenant, &format!("e{n}")).await, 201);
        acked.insert(format!("e{n}"));
    }

    let restored = tempfile::tempdir().unwrap();
    let copy = restored.path().join("herald.db");
    let mut backup = Command::new(env!("CARGO_BIN_EXE_herald"));
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("HERALD_")) {
        backup.env_remove(key);
    }
    let out = backup
        .arg("backup")
        .arg(&copy)
        .current_dir(install.dir.path())
        .env("HERALD_DATABASE__URL", &install.database_url)
        .env("HERALD_MASTER_KEY", &install.master_key)
        .env("HERALD_LOG__LEVEL", "warn")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("master key"), "the master key is called to mind: {said}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let again = Command::new(env!("CARGO_BIN_EXE_herald"))
        .arg("backup")
        .arg(&copy)
        .current_dir(install.dir.path())
        .env("HERALD_DATABASE__URL", &install.database_url)
        .env("HERALD_MASTER_KEY", &install.master_key)
        .output()
        .unwrap();
    assert!(!again.status.success(), "an existing file is never overwritten");
    drop(server);

    // Restore: the copy as the database of a new installation with the same keys.
    let restored = Install {
        database_url: format!("sqlite://{}", copy.display()),
        admin_key: install.admin_key.clone(),
        master_key: install.master_key.clone(),
        dir: restored,
        settings: Vec::new(),
    };
    receiver.set_default(Reply::Status(204));
    let restored_at = Instant::now();
    let server = restored.start().await;
    eventually("every acknowledged event to be delivered from the copy", Duration::from_secs(60), || async {
        let delivered: HashSet<String> = receiver
            .requests()
            .iter()
            .filter(|r| r.at >= restored_at)
            .filter_map(|r| r.header("webhook-id").map(str::to_owned))
            .collect();
        acked.is_subset(&delivered).then_some(())
    })
    .await;
    for id in &acked {
        let path = format!("/v1/tenants/{tenant}/events/{id}");
        let delivered = eventually("the restored server to record it", Duration::from_secs(20), || async {
            let (_, event) = restored.call(&server, reqwest::Method::GET, &path, None).await;
            (event["deliveries"][0]["status"] == "delivered").then_some(())
        });
        delivered.await;
    }
}
