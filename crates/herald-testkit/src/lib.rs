//! Test support for Herald: [`TestApp`] starts a full Herald server on port 0 against SQLite (a
//! temp file) or PostgreSQL (a fresh database), exactly as `herald serve` builds it, and talks to
//! it over real HTTP; [`receiver::TestReceiver`] is a real HTTP server that records what it is
//! sent and answers as told.

pub mod browser;
pub mod postgres;
pub mod raw;
pub mod receiver;
pub mod tls;

use std::future::Future;
use std::time::Duration;

use std::net::SocketAddr;

use herald_core::api_key::ApiKeySecret;
use herald_core::duration::HumanDuration;
use herald_core::seal::MasterKey;
use herald_server::config::{DatabaseConfig, DeliveryConfig, OutboundConfig, PolicyName};
use herald_server::{Application, Config};
use reqwest::Method;
use serde_json::Value;
use tokio::sync::oneshot;

pub use herald_store::Backend;

/// Declares each test once and runs it against both backends.
#[macro_export]
macro_rules! on_both_backends {
    ($(async fn $name:ident($app:ident) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn scenario($app: $crate::TestApp) $body
            #[tokio::test]
            async fn sqlite() {
                scenario($crate::TestApp::start($crate::Backend::Sqlite).await).await
            }
            #[tokio::test]
            async fn postgres() {
                scenario($crate::TestApp::start($crate::Backend::Postgres).await).await
            }
        }
    )*};
    // Scenarios that start their own app (custom configuration): given the backend.
    ($(async fn $name:ident($backend:ident: Backend) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn scenario($backend: $crate::Backend) $body
            #[tokio::test]
            async fn sqlite() {
                scenario($crate::Backend::Sqlite).await
            }
            #[tokio::test]
            async fn postgres() {
                scenario($crate::Backend::Postgres).await
            }
        }
    )*};
}

#[derive(Debug)]
pub struct TestApp {
    pub backend: Backend,
    pub addr: SocketAddr,
    pub admin_key: String,
    pub database_url: String,
    pub master_key: MasterKey,
    client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    /// Drop the database with this app (not for [`TestApp::another_instance`]).
    owns_database: bool,
    _dir: tempfile::TempDir,
}

/// A response: status, headers and the body as JSON (`Null` when empty).
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Resp {
    pub fn content_type(&self) -> &str {
        self.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    /// Asserts a problem document with this status and code.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(self.content_type(), "application/problem+json", "body: {}", self.body);
        assert_eq!(self.body["code"], code, "body: {}", self.body);
        assert_eq!(self.body["status"], status);
        assert!(self.body["detail"].as_str().is_some_and(|d| !d.is_empty()));
        assert!(self.body["type"].as_str().is_some_and(|t| t.ends_with(code)));
    }

    /// The paths named by a validation problem.
    pub fn error_paths(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|errors| errors.iter().map(|e| e["path"].as_str().unwrap_or("").to_owned()).collect())
            .unwrap_or_default()
    }
}

impl TestApp {
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, |_| {}).await
    }

    pub async fn start_with(backend: Backend, configure: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let database_url = match backend {
            Backend::Sqlite => format!("sqlite://{}", dir.path().join("herald.db").display()),
            Backend::Postgres => postgres::create_database().await,
        };
        let keys = (ApiKeySecret::generate().expose().to_owned(), MasterKey::generate());
        Self::launch(backend, database_url, dir, keys, true, configure).await
    }

    /// Another instance sharing this one's PostgreSQL database and keys (as a second `herald
    /// serve` would); the database is dropped with the first.
    pub async fn another_instance(&self, configure: impl FnOnce(&mut Config)) -> Self {
        assert_eq!(self.backend, Backend::Postgres, "only PostgreSQL is shared by several instances");
        let dir = tempfile::tempdir().expect("temp dir");
        let keys = (self.admin_key.clone(), self.master_key.clone());
        Self::launch(self.backend, self.database_url.clone(), dir, keys, false, configure).await
    }

    async fn launch(
        backend: Backend,
        database_url: String,
        dir: tempfile::TempDir,
        (admin_key, master_key): (String, MasterKey),
        owns_database: bool,
        configure: impl FnOnce(&mut Config),
    ) -> Self {
        let mut config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().to_owned(),
            admin_key: Some(admin_key.clone()),
            master_key: Some(master_key.to_base64()),
            database: DatabaseConfig { url: Some(database_url.clone()), max_connections: 4 },
            delivery: DeliveryConfig {
                timeout: HumanDuration::from(Duration::from_secs(2)),
                lease: HumanDuration::from(Duration::from_secs(5)),
                poll_interval: HumanDuration::from(Duration::from_millis(200)),
                drain_timeout: HumanDuration::from(Duration::from_secs(3)),
                ..DeliveryConfig::default()
            },
            // Receivers in tests are loopback HTTP servers: allow exactly those, nothing else — not
            // even public addresses, so no test can reach beyond this machine by mistake.
            outbound: OutboundConfig {
                policy: PolicyName::Allowlist,
                allow_cidrs: vec!["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()],
                allow_http: true,
                ..OutboundConfig::default()
            },
            ..Config::default()
        };
        configure(&mut config);
        config.check().expect("test configuration is valid");
        let listener = tokio::net::TcpListener::bind(config.listen).await.expect("bind port 0");
        let app = Application::build_with_listener(config, listener).await.expect("the server builds");
        let addr = app.local_addr();
        let (tx, rx) = oneshot::channel();
        let server = tokio::spawn(async move {
            app.run_until(async {
                let _ = rx.await;
            })
            .await
            .expect("the server runs");
        });
        Self {
            backend,
            addr,
            admin_key,
            database_url,
            master_key,
            client: reqwest::Client::builder().no_proxy().build().unwrap(),
            shutdown: Some(tx),
            server: Some(server),
            owns_database,
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Sends a request with an optional key and JSON body.
    pub async fn call(&self, method: Method, path: &str, key: Option<&str>, body: Option<&Value>) -> Resp {
        let mut request = self.client.request(method, self.url(path));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        Self::read(request.send().await.expect("request sent")).await
    }

    pub async fn read(response: reqwest::Response) -> Resp {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("body read");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Resp { status, headers, body }
    }

    /// A raw request builder (for malformed bodies, odd headers).
    pub fn raw(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, self.url(path))
    }

    // Admin-key shorthands.
    pub async fn get(&self, path: &str) -> Resp {
        self.call(Method::GET, path, Some(&self.admin_key), None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.call(Method::POST, path, Some(&self.admin_key), Some(&body)).await
    }
    pub async fn put(&self, path: &str, body: Value) -> Resp {
        self.call(Method::PUT, path, Some(&self.admin_key), Some(&body)).await
    }
    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        self.call(Method::PATCH, path, Some(&self.admin_key), Some(&body)).await
    }
    pub async fn delete(&self, path: &str) -> Resp {
        self.call(Method::DELETE, path, Some(&self.admin_key), None).await
    }

    /// Creates a tenant and returns its id.
    pub async fn tenant(&self, name: &str) -> String {
        let r = self.post("/v1/tenants", serde_json::json!({"name": name})).await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.body["id"].as_str().unwrap().to_owned()
    }

    /// Creates a tenant-scoped API key and returns the key text.
    pub async fn tenant_key(&self, tenant: &str) -> String {
        let r = self.post(&format!("/v1/tenants/{tenant}/keys"), serde_json::json!({"name": "test"})).await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.body["key"].as_str().unwrap().to_owned()
    }

    /// Creates an endpoint with `body` and returns the response body.
    pub async fn endpoint(&self, tenant: &str, body: Value) -> Value {
        let r = self.post(&format!("/v1/tenants/{tenant}/endpoints"), body).await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.body
    }
}

/// Polls `check` until it returns `Some`, for at most `within`; panics naming `what` otherwise.
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

impl TestApp {
    /// Publishes `body` as an event of the tenant and returns the response body.
    pub async fn publish(&self, tenant: &str, body: Value) -> Value {
        let r = self.post(&format!("/v1/tenants/{tenant}/events"), body).await;
        assert!(r.status == 201 || r.status == 200, "{} {}", r.status, r.body);
        r.body
    }

    /// Waits until the delivery reaches `status` and returns it (with its attempts).
    pub async fn delivery_with_status(&self, tenant: &str, delivery: &str, status: &str) -> Value {
        let path = format!("/v1/tenants/{tenant}/deliveries/{delivery}");
        eventually(&format!("delivery {delivery} to be {status}"), Duration::from_secs(20), || async {
            let r = self.get(&path).await;
            (r.body["status"] == status).then_some(r.body)
        })
        .await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.abort();
        }
        if self.backend == Backend::Postgres && self.owns_database {
            postgres::drop_database(&self.database_url);
        }
    }
}
