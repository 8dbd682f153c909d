//! Configuration: built-in defaults, overridden by a TOML file, overridden by `HERALD_*`
//! environment variables (nested keys with `__`: `HERALD_DATABASE__URL`). Every option is listed
//! in docs/config.md. Invalid configuration fails at start with a message naming the key.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use herald_core::api_key::ApiKeySecret;
use herald_core::duration::HumanDuration;
use herald_core::reachability::{Cidr, Policy};
use herald_core::retry::RetryPolicy;
use herald_core::seal::MasterKey;
use serde::{Deserialize, Serialize};

pub use crate::ui::FrameAncestors;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid configuration: {0}")]
    Invalid(String),
    #[error("configuration file {path} could not be read")]
    File { path: PathBuf, source: std::io::Error },
}

impl ConfigError {
    fn key(key: &str, problem: impl std::fmt::Display) -> Self {
        Self::Invalid(format!("`{key}`: {problem}"))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the HTTP API listens on.
    pub listen: SocketAddr,
    /// Directory for the SQLite database and the generated master key.
    pub data_dir: PathBuf,
    /// An admin API key to accept (at least 32 characters). When unset and no admin key exists,
    /// one is generated at first start and printed once.
    pub admin_key: Option<String>,
    /// Base64 of 32 bytes, used to encrypt credentials at rest. When unset (SQLite only), a key
    /// is generated into `<data_dir>/master.key`.
    pub master_key: Option<String>,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// How long looked-up API keys, tenants, endpoints and event types are reused; changes made
    /// through another instance are seen within this time (this instance's own at once).
    pub cache_ttl: HumanDuration,
    /// Events one tenant may publish per second through this instance (one second's worth may
    /// come at once); beyond, the publish API answers 429 with `Retry-After`. Unset: no quota.
    pub tenant_publish_per_second: Option<u32>,
    /// Header names a publish may give an event to send with its deliveries: exact names or
    /// prefixes ending in `*`. Default `["x-*"]`; `[]` refuses every event header.
    pub event_headers: herald_core::event::HeaderAllowList,
    /// Herald's address as browsers reach it (`https://herald.example.com`): the base of the
    /// portal links the API makes. Unset: the request's `Host`, over https when
    /// `X-Forwarded-Proto` says so.
    pub public_url: Option<PublicUrl>,
    /// The sites that may show a tenant portal in a frame (CSP `frame-ancestors` sources such as
    /// `https://app.example.com https://*.example.com`). Empty: no page may be framed.
    pub ui_frame_ancestors: FrameAncestors,
    /// How long a `herald listen` session's temporary endpoint lives on with no CLI connected;
    /// then it is deleted (its waiting deliveries fail as `endpoint_deleted`).
    pub listen_idle_timeout: HumanDuration,
    pub database: DatabaseConfig,
    pub delivery: DeliveryConfig,
    pub outbound: OutboundConfig,
    pub operator: OperatorConfig,
    pub metrics: MetricsConfig,
    pub retention: RetentionConfig,
    pub traces: TracesConfig,
    pub log: LogConfig,
}

/// Herald's own address as people's browsers reach it: an absolute `http(s)://` URL with a host,
/// perhaps a path (a proxy's prefix), no credentials, query or fragment. Kept without a trailing
/// slash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PublicUrl(String);

impl PublicUrl {
    pub fn parse(s: &str) -> Result<Self, String> {
        let url = url::Url::parse(s.trim()).map_err(|e| format!("`{s}` is not an absolute URL: {e}"))?;
        if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none_or(str::is_empty) {
            return Err("must be an https:// (or http://) URL with a host".into());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not carry credentials".into());
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err("must not have a query or a fragment".into());
        }
        Ok(Self(url.as_str().trim_end_matches('/').to_owned()))
    }

    /// The absolute URL of `path` (which starts with `/`) on Herald.
    pub fn join(&self, path: &str) -> String {
        format!("{}{path}", self.0)
    }
}

impl TryFrom<String> for PublicUrl {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl From<PublicUrl> for String {
    fn from(u: PublicUrl) -> String {
        u.0
    }
}

/// How long the delivery log is kept.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Finished (delivered or failed) deliveries, their attempts, and events nothing refers to any
    /// more are deleted this long after they were created; `0s`: kept forever. A tenant's
    /// `limits.retentionDays` overrides it. Idempotency keys expire after 24 hours whatever this is.
    pub keep: HumanDuration,
    /// Events' payloads (`data`) are removed this long after they were created, once every
    /// delivery of the event is finished; the event and its deliveries stay (with `data` as `{}`)
    /// until `keep`. Such a delivery cannot be retried. `0s`: payloads stay as long as the event.
    pub keep_payloads: HumanDuration,
    /// How often the purge looks for what to delete.
    pub interval: HumanDuration,
    /// Rows deleted per transaction: small, so publishing and delivery never wait long for the
    /// database.
    pub batch: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            keep: HumanDuration::from_secs(90 * 24 * 3600),
            keep_payloads: HumanDuration::from_secs(0),
            interval: HumanDuration::from_secs(60),
            batch: 500,
        }
    }
}

impl RetentionConfig {
    /// The instance's retention in whole days (rounded up), as a tenant's limits show it; `None`:
    /// forever.
    pub fn days(&self) -> Option<u32> {
        let secs = self.keep.get().as_secs();
        (secs > 0).then(|| u32::try_from(secs.div_ceil(86_400)).unwrap_or(u32::MAX))
    }
}

/// Who may read `/metrics`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Serve `/metrics` at all (false: 404).
    pub enabled: bool,
    /// A token that scrapers send as `Authorization: Bearer <token>` (at least 32 characters).
    /// Unset: an admin API key is needed.
    pub token: Option<String>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self { enabled: true, token: None }
    }
}

/// Where operational events go.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OperatorConfig {
    /// The tenant (id `ten_…` or uid) that receives operational events (`endpoint.disabled`,
    /// `delivery.failed`, …) as ordinary events; a uid that does not exist yet is created at
    /// start. Unset: no operational events.
    pub tenant: Option<String>,
}

/// Which receivers Herald may contact (the SSRF guard; see `herald_core::reachability`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboundConfig {
    /// `production`: `https://` only, and only globally routable addresses. `allowlist`: only
    /// the networks in `allow_cidrs`. `development`: anything, `http://` included — local work only.
    pub policy: PolicyName,
    /// Networks that are always reachable, even private or loopback (`["10.20.0.0/16"]`).
    pub allow_cidrs: Vec<Cidr>,
    /// Allow `http://` receivers under the production policy.
    pub allow_http: bool,
    /// Send every delivery (and OAuth2 token request) through this HTTP proxy, e.g. for static
    /// egress addresses: `http://egress.internal:3128`.
    pub proxy: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyName {
    #[default]
    Production,
    Allowlist,
    Development,
}

impl OutboundConfig {
    pub fn policy(&self) -> Policy {
        let base = match self.policy {
            PolicyName::Production => Policy::production(),
            PolicyName::Allowlist => Policy::allow_list(Vec::new()),
            PolicyName::Development => Policy::development(),
        };
        Policy { allow_http: base.allow_http || self.allow_http, allow: self.allow_cidrs.clone(), ..base }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// Run the dispatcher in this process (`false`: serve the API only).
    pub enabled: bool,
    /// How long an attempt may take, connection to last response byte.
    pub timeout: HumanDuration,
    /// The local address outgoing delivery connections (and OAuth2 token requests) are made
    /// from, for receivers that allow-list Herald's source address. It must be an address of
    /// this machine; it applies to receivers of its own family (IPv4 or IPv6). Unset: the
    /// system chooses.
    pub source_address: Option<IpAddr>,
    /// Attempts in flight at once, across all endpoints. An attempt waiting on a slow receiver
    /// costs memory (a task and a connection), not a thread, so this can be large.
    pub workers: u32,
    /// Requests in flight at once to one endpoint, unless its `rateLimit.maxInFlight` says
    /// otherwise: a slow or hanging endpoint can then hold at most this many workers. Unset:
    /// an eighth of `workers`.
    pub endpoint_max_in_flight: Option<u32>,
    /// Requests in flight at once for all of one tenant's endpoints together: a tenant whose
    /// receivers are slow holds at most this many workers, and other tenants keep the rest.
    /// Unset: a quarter of `workers`.
    pub tenant_max_in_flight: Option<u32>,
    /// How long a claimed delivery stays with this process before another may take it.
    pub lease: HumanDuration,
    /// An instance not heard from for this long is taken for dead, and the others give back its
    /// leases at once (each instance writes a heartbeat every fifth of this).
    pub instance_timeout: HumanDuration,
    /// The longest the dispatcher sleeps without looking for due work (a safety net: new work
    /// wakes it at once).
    pub poll_interval: HumanDuration,
    /// On shutdown, how long in-flight attempts may take to finish.
    pub drain_timeout: HumanDuration,
    /// The longest `Retry-After` (on 429 and 503) that is honoured; longer values are capped.
    pub retry_after_max: HumanDuration,
    /// The retry policy of endpoints that set none (default: the default retry schedule, 24 h TTL).
    pub retry_policy: Option<RetryPolicy>,
    /// Consecutive failed attempts after which an endpoint's circuit opens: its queued
    /// deliveries wait, and one probe is sent on the retry schedule until one succeeds. 0: never.
    pub circuit_failure_threshold: u32,
    /// Disable an endpoint that has failed continuously this long. `0s`: never.
    pub disable_after: HumanDuration,
    /// An endpoint whose attempts take this long or longer (a tenth of them or more, over the
    /// range asked for) is flagged `slow` in its stats.
    pub slow_threshold: HumanDuration,
    /// The `WebHook-Request-Origin` of CloudEvents validation handshakes: the DNS name receivers
    /// know this Herald by (`webhooks.example.com`). Unset: `herald`.
    pub handshake_origin: Option<String>,
}

impl DeliveryConfig {
    pub fn circuit_policy(&self) -> herald_core::circuit::CircuitPolicy {
        let disable_after = self.disable_after.get();
        herald_core::circuit::CircuitPolicy {
            failure_threshold: self.circuit_failure_threshold,
            disable_after: (!disable_after.is_zero()).then_some(disable_after),
        }
    }

    /// The per-endpoint in-flight cap: as configured, else an eighth of `workers`.
    pub fn endpoint_max_in_flight(&self) -> u32 {
        self.endpoint_max_in_flight.unwrap_or(self.workers / 8).max(1)
    }

    /// The per-tenant in-flight cap: as configured, else a quarter of `workers`.
    pub fn tenant_max_in_flight(&self) -> u32 {
        self.tenant_max_in_flight.unwrap_or(self.workers / 4).max(1)
    }

    /// How long a circuit's probe may take: deliveries held behind it wait that much past the
    /// probe time.
    pub fn probe_time(&self) -> std::time::Duration {
        self.timeout.get() + std::time::Duration::from_secs(2)
    }

    /// The retry policy of an endpoint: its own, else the configured one, else the default.
    pub fn retry_policy_of<'a>(
        &'a self,
        endpoint: &'a herald_core::endpoint::Endpoint,
    ) -> std::borrow::Cow<'a, RetryPolicy> {
        match (&endpoint.spec.retry_policy, &self.retry_policy) {
            (Some(policy), _) | (None, Some(policy)) => std::borrow::Cow::Borrowed(policy),
            (None, None) => std::borrow::Cow::Owned(RetryPolicy::default()),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://path` (a file; an in-memory database is refused) or `postgres://…`. Default:
    /// `sqlite://<data_dir>/herald.db`.
    pub url: Option<String>,
    /// Connection pool size (PostgreSQL; SQLite readers).
    pub max_connections: u32,
}

/// Where spans go (OpenTelemetry, OTLP over HTTP with JSON).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TracesConfig {
    /// The collector's OTLP/HTTP traces URL, e.g. `http://otel-collector:4318/v1/traces`.
    /// Unset: no spans are exported.
    pub otlp_endpoint: Option<String>,
    /// The `service.name` of the exported spans.
    pub service_name: String,
}

impl Default for TracesConfig {
    fn default() -> Self {
        Self { otlp_endpoint: None, service_name: "herald".into() }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A tracing filter: `info`, `herald_server=debug,info`, …
    pub level: String,
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

pub const DEFAULT_PORT: u16 = 8080;

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)),
            data_dir: PathBuf::from("herald-data"),
            admin_key: None,
            master_key: None,
            max_body_bytes: 1024 * 1024,
            cache_ttl: HumanDuration::from_secs(1),
            tenant_publish_per_second: None,
            event_headers: Default::default(),
            public_url: None,
            ui_frame_ancestors: FrameAncestors::default(),
            listen_idle_timeout: HumanDuration::from_secs(3600),
            database: DatabaseConfig::default(),
            delivery: DeliveryConfig::default(),
            outbound: OutboundConfig::default(),
            operator: OperatorConfig::default(),
            metrics: MetricsConfig::default(),
            retention: RetentionConfig::default(),
            traces: TracesConfig::default(),
            log: LogConfig::default(),
        }
    }
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            timeout: HumanDuration::from_secs(10),
            source_address: None,
            workers: 512,
            endpoint_max_in_flight: None,
            tenant_max_in_flight: None,
            lease: HumanDuration::from_secs(60),
            instance_timeout: HumanDuration::from_secs(15),
            poll_interval: HumanDuration::from_secs(1),
            drain_timeout: HumanDuration::from_secs(15),
            retry_after_max: HumanDuration::from_secs(3600),
            retry_policy: None,
            circuit_failure_threshold: 5,
            disable_after: HumanDuration::from_secs(5 * 24 * 3600),
            slow_threshold: HumanDuration::from_secs(2),
            handshake_origin: None,
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self { url: None, max_connections: 10 }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { level: "info".into(), format: LogFormat::Text }
    }
}

impl Config {
    /// Loads defaults, then `file` (when given, it must exist; otherwise `herald.toml` in the
    /// working directory when present), then the environment; and checks the result.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(path) => {
                std::fs::metadata(path)
                    .map_err(|source| ConfigError::File { path: path.to_owned(), source })?;
                figment = figment.merge(Toml::file_exact(path));
            }
            None => figment = figment.merge(Toml::file("herald.toml")),
        }
        // HERALD_URL, HERALD_API_KEY and HERALD_TENANT belong to the client commands (the server to
        // talk to, the key to use, the tenant to act on), HERALD_CONFIG to the command line: none
        // is a server setting.
        let env = Env::prefixed("HERALD_").split("__").filter(|key| {
            let key = key.as_str().to_ascii_lowercase();
            !matches!(key.as_str(), "config" | "url" | "api_key" | "tenant") && !key.starts_with("test_")
        });
        let config: Config = figment.merge(env).extract().map_err(|e| ConfigError::Invalid(describe(e)))?;
        config.check()?;
        Ok(config)
    }

    /// The checks serde cannot express; each error names its key.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.retention.batch == 0 || self.retention.interval.get().is_zero() {
            return Err(ConfigError::key("retention", "`batch` and `interval` must be more than 0"));
        }
        if self.metrics.token.as_ref().is_some_and(|t| t.chars().count() < 32) {
            return Err(ConfigError::key("metrics.token", "must be at least 32 characters"));
        }
        if let Some(tenant) = &self.operator.tenant
            && herald_core::tenant::TenantRef::parse(tenant).is_none()
        {
            return Err(ConfigError::key("operator.tenant", "must be a tenant id (ten_…) or a valid uid"));
        }
        let url = self.database_url();
        if !(url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            return Err(ConfigError::key("database.url", "must start with sqlite:// or postgres://"));
        }
        if let Some(key) = &self.master_key {
            MasterKey::from_base64(key).map_err(|e| ConfigError::key("master_key", e))?;
        } else if !url.starts_with("sqlite:") {
            return Err(ConfigError::key(
                "master_key",
                "is required with PostgreSQL, so that every instance seals and opens credentials alike",
            ));
        }
        if let Some(key) = &self.admin_key {
            ApiKeySecret::from_configured(key).map_err(|e| ConfigError::key("admin_key", e))?;
        }
        if self.max_body_bytes < 1024 {
            return Err(ConfigError::key("max_body_bytes", "must be at least 1024"));
        }
        if self.tenant_publish_per_second == Some(0) {
            return Err(ConfigError::key("tenant_publish_per_second", "must be at least 1"));
        }
        if self.database.max_connections == 0 {
            return Err(ConfigError::key("database.max_connections", "must be at least 1"));
        }
        if let Some(proxy) = &self.outbound.proxy {
            let parsed = url::Url::parse(proxy).map_err(|e| ConfigError::key("outbound.proxy", e))?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
                return Err(ConfigError::key("outbound.proxy", "must be an http:// or https:// proxy URL"));
            }
        }
        let d = &self.delivery;
        if d.timeout.get().is_zero() {
            return Err(ConfigError::key("delivery.timeout", "must be more than 0s"));
        }
        if d.lease.get() <= d.timeout.get() {
            return Err(ConfigError::key("delivery.lease", "must be longer than delivery.timeout"));
        }
        if d.workers == 0 {
            return Err(ConfigError::key("delivery.workers", "must be at least 1"));
        }
        if d.endpoint_max_in_flight == Some(0) {
            return Err(ConfigError::key("delivery.endpoint_max_in_flight", "must be at least 1"));
        }
        if d.tenant_max_in_flight == Some(0) {
            return Err(ConfigError::key("delivery.tenant_max_in_flight", "must be at least 1"));
        }
        if d.slow_threshold.get().is_zero() {
            return Err(ConfigError::key("delivery.slow_threshold", "must be more than 0s"));
        }
        if d.poll_interval.get().is_zero() {
            return Err(ConfigError::key("delivery.poll_interval", "must be more than 0s"));
        }
        tracing_subscriber::EnvFilter::try_new(&self.log.level)
            .map_err(|e| ConfigError::key("log.level", e))?;
        Ok(())
    }

    /// The database URL, defaulting to the SQLite file in the data directory.
    pub fn database_url(&self) -> String {
        self.database
            .url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("herald.db").display()))
    }
}

/// Every problem figment found, each naming its key in the documented dotted form and where the
/// value came from (file or environment).
fn describe(error: figment::Error) -> String {
    let problems: Vec<String> = error
        .into_iter()
        .map(|e| {
            let key = e.path.join(".").to_ascii_lowercase();
            let origin = e.metadata.as_ref().map(|m| match &m.source {
                Some(source) => format!("{} {source}", m.name),
                None => m.name.to_string(),
            });
            let origin = origin.map(|o| format!(" (from {o})")).unwrap_or_default();
            if key.is_empty() {
                format!("{}{origin}", e.kind)
            } else {
                format!("`{key}`: {}{origin}", e.kind)
            }
        })
        .collect();
    problems.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        Config::default().check().unwrap();
        assert_eq!(Config::default().database_url(), "sqlite://herald-data/herald.db");
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's signature, not ours
    fn file_and_environment_override_defaults_and_errors_name_the_key() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("h.toml", "listen = \"127.0.0.1:9000\"\n[database]\nmax_connections = 3\n")?;
            jail.set_env("HERALD_DATABASE__MAX_CONNECTIONS", "4");
            let c = Config::load(Some(Path::new("h.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(c.listen.port(), 9000);
            assert_eq!(c.database.max_connections, 4, "environment beats file");

            jail.set_env("HERALD_DATABASE__MAX_CONNECTIONS", "many");
            let err = Config::load(Some(Path::new("h.toml"))).unwrap_err().to_string();
            assert!(err.contains("database.max_connections"), "{err}");

            jail.set_env("HERALD_DATABASE__MAX_CONNECTIONS", "4");
            jail.set_env("HERALD_CONFIG", "h.toml");
            jail.set_env("HERALD_TEST_SOMETHING", "1");
            Config::load(None)
                .map_err(|e| format!("HERALD_CONFIG and HERALD_TEST_* are not options: {e}"))?;
            jail.set_env("HERALD_LISTEN_PORT", "1");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.contains("listen_port"), "{err}");
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's signature, not ours
    fn source_address_is_an_ip_address_from_file_or_environment() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("h.toml", "[delivery]\nsource_address = \"::1\"\n")?;
            let c = Config::load(Some(Path::new("h.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(c.delivery.source_address, Some("::1".parse().unwrap()));
            jail.set_env("HERALD_DELIVERY__SOURCE_ADDRESS", "127.0.0.2");
            let c = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(c.delivery.source_address, Some("127.0.0.2".parse().unwrap()));
            jail.set_env("HERALD_DELIVERY__SOURCE_ADDRESS", "egress.internal");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.contains("delivery.source_address"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn public_url_is_an_http_url_kept_without_its_trailing_slash() {
        let join = |s: &str| PublicUrl::parse(s).map(|u| u.join("/ui/portal/hp_x"));
        assert_eq!(join("https://herald.example.com/").unwrap(), "https://herald.example.com/ui/portal/hp_x");
        assert_eq!(join("http://127.0.0.1:8080").unwrap(), "http://127.0.0.1:8080/ui/portal/hp_x");
        assert_eq!(join("https://example.com/herald/").unwrap(), "https://example.com/herald/ui/portal/hp_x");
        for bad in [
            "herald.example.com",
            "ftp://x.example.com",
            "https://u:p@x.example.com",
            "https://x.example.com/?a=1",
            "https://x.example.com/#top",
        ] {
            assert!(PublicUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's signature, not ours
    fn the_web_interface_settings_come_from_file_or_environment() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "h.toml",
                "public_url = \"https://herald.example.com\"\nui_frame_ancestors = [\"https://app.example.com\", \"'self'\"]\n",
            )?;
            let c = Config::load(Some(Path::new("h.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(c.public_url, Some(PublicUrl::parse("https://herald.example.com").unwrap()));
            assert_eq!(c.ui_frame_ancestors.sources(), ["https://app.example.com", "'self'"]);
            jail.set_env("HERALD_UI_FRAME_ANCESTORS", "https://app.example.com https://*.example.com 'self'");
            jail.set_env("HERALD_PUBLIC_URL", "https://hooks.example.com/");
            let c = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(
                c.ui_frame_ancestors.sources(),
                ["https://app.example.com", "https://*.example.com", "'self'"]
            );
            assert_eq!(c.public_url.unwrap().join("/ui"), "https://hooks.example.com/ui");
            jail.set_env("HERALD_UI_FRAME_ANCESTORS", "https://app.example.com *");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.contains("ui_frame_ancestors") && err.contains("every site"), "{err}");
            jail.set_env("HERALD_UI_FRAME_ANCESTORS", "");
            jail.set_env("HERALD_PUBLIC_URL", "herald.example.com");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.contains("public_url"), "{err}");
            jail.set_env("HERALD_PUBLIC_URL", "https://hooks.example.com");
            assert!(Config::load(None).map_err(|e| e.to_string())?.ui_frame_ancestors.is_empty());
            Ok(())
        });
    }

    #[test]
    fn semantic_errors_name_the_key() {
        let mut c = Config::default();
        c.database.url = Some("mysql://x".into());
        assert!(c.check().unwrap_err().to_string().contains("database.url"));
        let mut c = Config::default();
        c.database.url = Some("postgres://localhost/herald".into());
        assert!(c.check().unwrap_err().to_string().contains("master_key"));
        let c = Config { master_key: Some("short".into()), ..Config::default() };
        assert!(c.check().unwrap_err().to_string().contains("master_key"));
        let mut c = Config::default();
        c.outbound.proxy = Some("ftp://egress".into());
        assert!(c.check().unwrap_err().to_string().contains("outbound.proxy"));
        let mut c = Config::default();
        c.log.level = "info,=x=y".into();
        assert!(c.check().unwrap_err().to_string().contains("log.level"));
        let mut c = Config::default();
        c.operator.tenant = Some("no spaces allowed".into());
        assert!(c.check().unwrap_err().to_string().contains("operator.tenant"));
        c.operator.tenant = Some("ops".into());
        c.check().unwrap();
    }
}
