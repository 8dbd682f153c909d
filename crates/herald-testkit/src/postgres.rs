//! PostgreSQL for tests: `HERALD_TEST_POSTGRES_URL` when set (a server URL whose user may create
//! databases), otherwise a throwaway cluster started from the installed binaries and shared by
//! all test processes of this user (a file lock makes exactly one of them start it). Each test
//! gets a fresh database. When neither is possible the test fails loudly: never a silent skip.
//!
//! The tests' cluster runs without fsync and synchronous commit (no test depends on surviving a
//! power cut, and they run faster). Benchmarks get a cluster of their own with PostgreSQL's
//! durable defaults ([`create_durable_database`]), so that what they measure is what a
//! production server does.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use sqlx::Connection;
use sqlx::postgres::PgConnection;

pub const URL_VAR: &str = "HERALD_TEST_POSTGRES_URL";

/// Which throwaway cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cluster {
    /// The tests': fsync, synchronous commit and full-page writes off.
    Tests,
    /// The benchmarks': PostgreSQL's defaults, every commit flushed to disk.
    Durable,
}

/// The server to create test databases on.
fn server_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| match std::env::var(URL_VAR) {
        Ok(url) if !url.is_empty() => url,
        _ => throwaway_cluster(Cluster::Tests).unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is needed for the postgres variant of this test and none could be had.\n\
                 Set {URL_VAR}=postgres://user@host:port/db, or install the PostgreSQL server binaries \
                 (initdb, pg_ctl) so the tests can start their own cluster.\nCause: {e}"
            )
        }),
    })
}

/// A fresh, empty database; dropped again by [`drop_database`].
pub async fn create_database() -> String {
    database_on(server_url()).await
}

/// A fresh, empty database for a benchmark: on `HERALD_TEST_POSTGRES_URL`'s server when set,
/// otherwise on a throwaway cluster of its own that keeps PostgreSQL's durable defaults (fsync,
/// synchronous commit, full-page writes), unlike the tests' cluster.
pub async fn create_durable_database() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    let server = URL.get_or_init(|| match std::env::var(URL_VAR) {
        Ok(url) if !url.is_empty() => url,
        _ => throwaway_cluster(Cluster::Durable)
            .unwrap_or_else(|e| panic!("no PostgreSQL cluster for the benchmark could be started: {e}")),
    });
    database_on(server).await
}

async fn database_on(server: &str) -> String {
    let name = format!("herald_test_{}", ulid::Ulid::new().to_string().to_lowercase());
    let mut conn = PgConnection::connect(server)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test PostgreSQL server at {server}: {e}"));
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
    conn.close().await.ok();
    with_database(server, &name)
}

/// Best effort: removes a database made by [`create_database`].
pub fn drop_database(url: &str) {
    let Some(name) = url.rsplit('/').next().map(|n| n.split('?').next().unwrap_or(n).to_owned()) else {
        return;
    };
    let server = server_url().to_owned();
    // Drop runs outside any runtime: use a small one on its own thread.
    let _ = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
        runtime.block_on(async {
            let mut conn = PgConnection::connect(&server).await.ok()?;
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn)
                .await
                .ok()?;
            conn.close().await.ok()
        })
    })
    .join();
}

/// Makes a test database unavailable (`false`: new connections refused, open ones cut) or
/// available again, as an outage would.
pub async fn set_available(url: &str, available: bool) {
    let name =
        url.rsplit('/').next().map(|n| n.split('?').next().unwrap_or(n).to_owned()).unwrap_or_default();
    assert!(name.starts_with("herald_test_"), "only test databases: {name}");
    let mut conn = PgConnection::connect(server_url()).await.expect("the test server answers");
    sqlx::query(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS {available}"))
        .execute(&mut conn)
        .await
        .expect("alter the test database");
    if !available {
        sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
            .bind(&name)
            .execute(&mut conn)
            .await
            .expect("cut the test database's connections");
    }
    conn.close().await.ok();
}

fn with_database(server: &str, name: &str) -> String {
    let mut url = url::Url::parse(server).expect("the PostgreSQL URL parses");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{cmd:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn find_binary(name: &str) -> Option<PathBuf> {
    let in_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join(name));
    let versioned = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin").join(name));
    in_path.chain(versioned).find(|p| p.is_file())
}

fn is_root() -> bool {
    run(Command::new("id").arg("-u")).map(|s| s.trim() == "0").unwrap_or(false)
}

/// A command run as the `postgres` user when we are root (initdb refuses to run as root).
fn as_cluster_user(program: &Path, root: bool) -> Command {
    if root {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

fn throwaway_cluster(cluster: Cluster) -> Result<String, String> {
    let initdb = find_binary("initdb").ok_or("initdb not found in PATH or /usr/lib/postgresql/*/bin")?;
    let pg_ctl = find_binary("pg_ctl").ok_or("pg_ctl not found")?;
    let root = is_root();
    let user = std::env::var("USER").unwrap_or_else(|_| "user".into());
    let dir = std::env::temp_dir().join(match cluster {
        Cluster::Tests => format!("herald-test-pg-{user}"),
        Cluster::Durable => format!("herald-bench-pg-{user}"),
    });
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let lock = File::create(dir.join("lock")).map_err(|e| e.to_string())?;
    lock.lock().map_err(|e| format!("locking {}: {e}", dir.display()))?;

    let data = dir.join("data");
    let port_file = dir.join("port");
    if let Ok(port) = fs::read_to_string(&port_file) {
        let running = as_cluster_user(&pg_ctl, root).arg("status").arg("-D").arg(&data).output();
        if running.is_ok_and(|o| o.status.success()) {
            return Ok(format!("postgres://postgres@127.0.0.1:{}/postgres", port.trim()));
        }
    }
    let _ = fs::remove_dir_all(&data);
    let _ = fs::remove_file(&port_file);
    if root {
        run(Command::new("chown").args(["-R", "postgres"]).arg(&dir))?;
    }
    run(as_cluster_user(&initdb, root)
        .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync", "-D"])
        .arg(&data))?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let fast = match cluster {
        Cluster::Tests => "-c fsync=off -c synchronous_commit=off -c full_page_writes=off",
        Cluster::Durable => "",
    };
    let options =
        format!("-p {port} -k {} -c listen_addresses=127.0.0.1 {fast} -c max_connections=400", dir.display());
    run(as_cluster_user(&pg_ctl, root)
        .args(["-w", "-t", "60", "-D"])
        .arg(&data)
        .args(["-l"])
        .arg(dir.join("log"))
        .args(["-o", &options, "start"]))?;
    fs::write(&port_file, port.to_string()).map_err(|e| e.to_string())?;
    Ok(format!("postgres://postgres@127.0.0.1:{port}/postgres"))
}
