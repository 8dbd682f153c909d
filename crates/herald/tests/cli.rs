//! The real binary: `herald serve` with no configuration at all, `herald migrate`, and start-up
//! failures on bad configuration.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn herald(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_herald"));
    cmd.current_dir(dir);
    // A clean environment: no HERALD_* from the caller, no proxies.
    for (key, _) in std::env::vars() {
        if key.starts_with("HERALD_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn serve_with_no_configuration_creates_its_database_and_prints_an_admin_key_once() {
    let dir = tempfile::tempdir().unwrap();
    // Everything default except the port, which a test cannot assume free.
    let port = free_port();
    let start = || {
        let child = herald(dir.path())
            .arg("serve")
            .env("HERALD_LISTEN", format!("127.0.0.1:{port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Server(child)
    };

    let mut server = start();
    let stdout = server.0.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let key = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| line.trim().starts_with("hk_").then(|| line.trim().to_owned()))
        .expect("the admin key is printed");
    assert!(dir.path().join("herald-data/herald.db").is_file(), "database under the default data directory");
    assert!(dir.path().join("herald-data/master.key").is_file());
    #[cfg(unix)]
    for file in ["herald.db", "herald.db-wal", "master.key"] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("herald-data").join(file)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{file} is private to its owner");
    }

    let client = reqwest::blocking::Client::builder().no_proxy().build().unwrap();
    let url = format!("http://127.0.0.1:{port}/v1/tenants");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        match client.get(&url).bearer_auth(&key).send() {
            Ok(r) => break r.status().as_u16(),
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => panic!("server did not answer: {e}"),
        }
    };
    assert_eq!(status, 200);
    drop(server);

    let mut again = start();
    let mut out = String::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.get(&url).bearer_auth(&key).send().is_err() {
        assert!(Instant::now() < deadline, "restarted server did not answer");
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = again.0.kill();
    let _ = again.0.wait();
    std::io::Read::read_to_string(&mut again.0.stdout.take().unwrap(), &mut out).unwrap();
    assert!(!out.contains("hk_"), "the key is printed only at first start: {out}");
}

#[test]
fn completion_scripts_are_printed_for_each_shell() {
    let dir = tempfile::tempdir().unwrap();
    for (shell, marker) in [("bash", "_herald()"), ("zsh", "#compdef herald"), ("fish", "complete -c herald")]
    {
        let out = herald(dir.path()).args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}: {}", String::from_utf8_lossy(&out.stderr));
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(script.contains(marker) && script.contains("migrate"), "{shell}: {script}");
    }
    let out = herald(dir.path()).args(["completions", "tcsh-of-the-future"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "a usage error");
}

#[test]
fn migrate_applies_migrations_without_serving() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("custom.db");
    // The client commands' variables are not server settings: the server ignores them.
    let out = herald(dir.path())
        .arg("migrate")
        .env("HERALD_URL", "https://herald.example.com")
        .env("HERALD_API_KEY", "hk_for_the_client")
        .env("HERALD_TENANT", "acme")
        .env("HERALD_DATABASE__URL", format!("sqlite://{}", db.display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bytes = std::fs::read(&db).unwrap_or_default();
    let wal = std::fs::read(dir.path().join("custom.db-wal")).unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes) + String::from_utf8_lossy(&wal);
    assert!(text.contains("CREATE TABLE deliveries"), "schema created");
}

#[test]
fn invalid_configuration_fails_at_start_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.toml"), "[database]\nmax_connections = \"many\"\n").unwrap();
    for (args, env, key) in [
        (vec!["serve"], Some(("HERALD_LISTEN", "not-an-address")), "`listen`"),
        (vec!["serve"], Some(("HERALD_DATABASE__URL", "mysql://x")), "`database.url`"),
        (vec!["serve"], Some(("HERALD_MASTER_KEY", "short")), "`master_key`"),
        (vec!["serve"], Some(("HERALD_NO_SUCH_OPTION", "1")), "no_such_option"),
        (vec!["--config", "bad.toml", "serve"], None, "`database.max_connections`"),
        (vec!["--config", "missing.toml", "serve"], None, "missing.toml"),
    ] {
        let mut cmd = herald(dir.path());
        cmd.args(&args);
        if let Some((k, v)) = env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} {env:?} should fail");
        assert!(stderr.contains(key), "{args:?} {env:?}: {stderr}");
        assert_eq!(
            stderr.matches("No such file").count(),
            usize::from(key == "missing.toml"),
            "said once: {stderr}"
        );
    }
    assert!(!dir.path().join("herald-data").exists(), "nothing created when the configuration is bad");
}

/// Waits for the process to exit by itself (a refused start), killing it after `within`.
fn exit_within(mut child: Child, within: Duration) -> (std::process::ExitStatus, String) {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
            return (status, stderr);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the server kept running");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_until_answers(url: &str) {
    let client = reqwest::blocking::Client::builder().no_proxy().build().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.get(url).send().is_err() {
        assert!(Instant::now() < deadline, "the server did not answer");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_start_with_another_master_key_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let serve = |master_key: Option<&str>| {
        let mut cmd = herald(dir.path());
        cmd.arg("serve")
            .env("HERALD_LISTEN", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(key) = master_key {
            cmd.env("HERALD_MASTER_KEY", key);
        }
        cmd.spawn().unwrap()
    };
    let health = format!("http://127.0.0.1:{port}/health/live");
    let first = Server(serve(None));
    wait_until_answers(&health);
    drop(first);
    let key_file = dir.path().join("herald-data/master.key");
    let original = std::fs::read_to_string(&key_file).unwrap();

    let another = herald_core::seal::MasterKey::generate().to_base64();
    let (status, stderr) = exit_within(serve(Some(&another)), Duration::from_secs(30));
    assert!(!status.success(), "refused with HERALD_MASTER_KEY set to another key");
    assert!(stderr.contains("master key") && stderr.contains("nothing was changed"), "{stderr}");

    std::fs::write(&key_file, &another).unwrap();
    let (status, stderr) = exit_within(serve(None), Duration::from_secs(30));
    assert!(!status.success(), "refused with a replaced master.key");
    assert!(stderr.contains("master key"), "{stderr}");

    std::fs::write(&key_file, &original).unwrap();
    let again = Server(serve(None));
    wait_until_answers(&health);
    drop(again);
}

#[test]
fn help_groups_server_and_client_commands() {
    let dir = tempfile::tempdir().unwrap();
    let out = herald(dir.path()).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout).into_owned();
    let at = |text: &str| help.find(text).unwrap_or_else(|| panic!("{text:?} not in:\n{help}"));
    let (server, client, other) = (at("Server:"), at("Client ("), at("Other:"));
    assert!(server < client && client < other, "{help}");
    for command in ["serve", "migrate"] {
        let line = at(&format!("\n  {command} "));
        assert!(server < line && line < client, "{command} is a server command:\n{help}");
    }
    for command in ["login", "tenants", "keys", "event-types", "endpoints", "events", "deliveries", "listen"]
    {
        let line = at(&format!("\n  {command} "));
        assert!(client < line && line < other, "{command} is a client command:\n{help}");
    }
    assert!(help.contains("3 when the server refuses"), "exit codes are documented:\n{help}");
}
