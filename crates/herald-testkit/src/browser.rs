//! A real headless Chromium, driven over WebDriver (chromedriver), for the web interface's tests.
//!
//! Chromium and chromedriver come from the system (Debian's `chromium` and `chromium-driver`,
//! which the test command installs when missing); `HERALD_TEST_CHROMIUM` and
//! `HERALD_TEST_CHROMEDRIVER` name other binaries. When either cannot be found or started, the
//! test fails with the reason: a browser test never skips.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

pub use fantoccini::Locator;
use fantoccini::{Client, ClientBuilder};
use serde_json::json;

/// A browser session: a chromedriver process and the Chromium it drives.
#[derive(Debug)]
pub struct Browser {
    pub client: Client,
    driver: tokio::process::Child,
    _profile: tempfile::TempDir,
}

fn binary(variable: &str, candidates: &[&str]) -> PathBuf {
    if let Ok(path) = std::env::var(variable) {
        return PathBuf::from(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in candidates {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "the browser tests need {} (set {variable}, or install Debian's chromium and chromium-driver: \
         scripts/test does)",
        candidates.join(" or ")
    )
}

impl Browser {
    /// Starts chromedriver on a free loopback port and opens a headless Chromium window of
    /// `width` × `height` pixels.
    pub async fn start(width: u32, height: u32) -> Self {
        let chromium = binary("HERALD_TEST_CHROMIUM", &["chromium", "chromium-browser", "google-chrome"]);
        let chromedriver = binary("HERALD_TEST_CHROMEDRIVER", &["chromedriver"]);
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = tokio::process::Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromedriver.display()));
        let url = format!("http://127.0.0.1:{port}");
        let status = format!("{url}/status");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = reqwest::get(&status).await.ok().filter(|r| r.status().is_success());
            if ready.is_some() {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not answer on {status} within 30 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().expect("a browser profile directory");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless=new",
                    // Tests often run as root in containers, where Chromium's sandbox cannot start.
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--no-first-run",
                    "--disable-extensions",
                    // Tests talk to loopback only: no background traffic (updates, sync,
                    // metrics), and every host but localhost and 127.0.0.1 resolves to nothing, so a
                    // page cannot reach out either.
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--disable-domain-reliability",
                    "--no-pings",
                    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
                    format!("--window-size={width},{height}"),
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&url)
            .await
            .unwrap_or_else(|e| panic!("cannot open a Chromium session ({}): {e}", chromium.display()));
        Self { client, driver, _profile: profile }
    }

    /// Saves a screenshot of the window as `name`.png in `dir` (created when missing); returns
    /// its path.
    pub async fn screenshot(&self, dir: &std::path::Path, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("a screenshot");
        std::fs::create_dir_all(dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    /// Ends the session (closing Chromium) and stops chromedriver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill().await;
    }
}
