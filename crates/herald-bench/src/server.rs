//! The Herald server under test: a child `herald serve` process on loopback, with a fresh
//! database, and its peak resident memory and CPU time read from `/proc`. On PostgreSQL, more
//! instances can join the same database ([`Server::another_instance`]).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use herald_core::api_key::ApiKeySecret;
use herald_core::seal::MasterKey;
use serde_json::Value;

pub use herald_store::Backend;

#[derive(Debug)]
pub struct Server {
    child: Child,
    pub base: String,
    pub admin_key: String,
    pub database_url: String,
    client: reqwest::Client,
    binary: PathBuf,
    env: Vec<(String, String)>,
    dir: tempfile::TempDir,
}

/// Resource use of the server process so far.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Usage {
    pub peak_rss_mb: f64,
    pub cpu_seconds: f64,
}

impl Usage {
    /// This usage with the CPU time of `before` taken off (the peak stays the process's).
    pub fn since(self, before: Usage) -> Usage {
        Usage { cpu_seconds: (self.cpu_seconds - before.cpu_seconds).max(0.0), ..self }
    }
}

impl Server {
    /// Starts `binary serve` on a fresh database of `backend`; `settings` are extra `HERALD_*`.
    pub async fn start(
        binary: &Path,
        backend: Backend,
        settings: &[(String, String)],
    ) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let database_url = match backend {
            Backend::Sqlite => format!("sqlite://{}", dir.path().join("herald.db").display()),
            Backend::Postgres => match std::env::var("HERALD_BENCH_POSTGRES_URL") {
                Ok(url) if !url.is_empty() => url,
                _ => herald_testkit::postgres::create_durable_database().await,
            },
        };
        if matches!(backend, Backend::Postgres) && DATABASE.get().is_none() {
            let settings = durability(&database_url).await?;
            eprintln!("PostgreSQL: {settings}");
            let _ = DATABASE.set(settings);
        }
        let admin_key = ApiKeySecret::generate().expose().to_owned();
        let mut env = vec![
            ("HERALD_DATABASE__URL".to_owned(), database_url.clone()),
            ("HERALD_ADMIN_KEY".to_owned(), admin_key.clone()),
            ("HERALD_MASTER_KEY".to_owned(), MasterKey::generate().to_base64()),
            ("HERALD_LOG__LEVEL".to_owned(), "warn".to_owned()),
            ("HERALD_DELIVERY__DRAIN_TIMEOUT".to_owned(), "1s".to_owned()),
            // The receiver is a loopback HTTP server: allow exactly that.
            ("HERALD_OUTBOUND__POLICY".to_owned(), "allowlist".to_owned()),
            ("HERALD_OUTBOUND__ALLOW_CIDRS".to_owned(), "[127.0.0.0/8]".to_owned()),
            ("HERALD_OUTBOUND__ALLOW_HTTP".to_owned(), "true".to_owned()),
        ];
        env.extend(settings.iter().cloned());
        Self::launch(binary, env, admin_key, database_url, dir).await
    }

    /// Another `herald serve` on this one's database, with the same admin and master keys (so
    /// it accepts the same calls and opens the same secrets), the same settings and then
    /// `settings`, its own port and data directory. PostgreSQL only: SQLite serves one process.
    pub async fn another_instance(&self, settings: &[(String, String)]) -> anyhow::Result<Self> {
        anyhow::ensure!(
            !self.database_url.starts_with("sqlite:"),
            "only PostgreSQL can be shared by several instances"
        );
        let mut env = self.env.clone();
        env.retain(|(key, _)| key != "HERALD_LISTEN");
        env.extend(settings.iter().cloned());
        let dir = tempfile::tempdir()?;
        Self::launch(&self.binary, env, self.admin_key.clone(), self.database_url.clone(), dir).await
    }

    /// Starts the process on a free port (`env` minus the listen address) and waits until ready.
    async fn launch(
        binary: &Path,
        mut env: Vec<(String, String)>,
        admin_key: String,
        database_url: String,
        dir: tempfile::TempDir,
    ) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        env.push(("HERALD_LISTEN".to_owned(), format!("127.0.0.1:{port}")));
        let child = spawn(binary, dir.path(), &env)?;
        let client = reqwest::Client::builder().no_proxy().pool_max_idle_per_host(1024).build()?;
        let server = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            admin_key,
            database_url,
            client,
            binary: binary.to_owned(),
            env,
            dir,
        };
        server.wait_ready().await?;
        Ok(server)
    }

    /// Kills the process with SIGKILL — no drain, no lease released — and waits for it; returns
    /// its resource use up to then.
    pub fn kill(&mut self) -> anyhow::Result<Usage> {
        let usage = self.usage();
        self.child.kill()?;
        self.child.wait()?;
        Ok(usage)
    }

    /// Starts a stopped server again, on the same database and configuration.
    pub async fn resume(&mut self) -> anyhow::Result<()> {
        self.child = spawn(&self.binary, self.dir.path(), &self.env)?;
        self.wait_ready().await
    }

    /// Stops the process with SIGTERM (it drains) and waits for it to exit.
    pub async fn terminate(&mut self) -> anyhow::Result<()> {
        Command::new("kill").arg("-TERM").arg(self.pid().to_string()).status()?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while self.child.try_wait()?.is_none() {
            anyhow::ensure!(tokio::time::Instant::now() < deadline, "the server did not stop");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    async fn wait_ready(&self) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let ok = self.client.get(format!("{}/health/ready", self.base)).send().await;
            if ok.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            anyhow::ensure!(tokio::time::Instant::now() < deadline, "the server did not become ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// An admin-key JSON call; fails unless the status is 2xx.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut request =
            self.client.request(method, format!("{}{path}", self.base)).bearer_auth(&self.admin_key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        anyhow::ensure!(status.is_success(), "{path}: {status} {body}");
        Ok(body)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn usage(&self) -> Usage {
        usage_of(self.pid()).unwrap_or_default()
    }

    /// Stops the server with SIGTERM (letting it drain) and waits for it.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.terminate().await
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(binary: &Path, dir: &Path, env: &[(String, String)]) -> anyhow::Result<Child> {
    let mut cmd = Command::new(binary);
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("HERALD_")) {
        cmd.env_remove(key);
    }
    cmd.arg("serve")
        .current_dir(dir)
        .envs(env.iter().cloned())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    Ok(cmd.spawn()?)
}

/// Peak RSS (VmHWM) and user+system CPU time of a process.
fn usage_of(pid: u32) -> Option<Usage> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let hwm_kb: f64 =
        status.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(Usage { peak_rss_mb: hwm_kb / 1024.0, cpu_seconds: ticks / clock_ticks() })
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// The PostgreSQL server's durability settings, as the first server started found them (the
/// report carries them: figures measured without fsync would not be a production server's).
pub static DATABASE: std::sync::OnceLock<Value> = std::sync::OnceLock::new();

async fn durability(url: &str) -> anyhow::Result<Value> {
    use sqlx::Connection;
    let mut conn = sqlx::postgres::PgConnection::connect(url).await?;
    let (fsync, synchronous_commit, full_page_writes): (String, String, String) = sqlx::query_as(
        "SELECT current_setting('fsync'), current_setting('synchronous_commit'), current_setting('full_page_writes')",
    )
    .fetch_one(&mut conn)
    .await?;
    conn.close().await.ok();
    Ok(serde_json::json!({
        "fsync": fsync,
        "synchronous_commit": synchronous_commit,
        "full_page_writes": full_page_writes,
    }))
}
