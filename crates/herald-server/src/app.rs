//! Start-up: from a [`Config`] to a served API.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use herald_core::Timestamp;
use herald_core::api_key::{ApiKey, ApiKeySecret, Scope};
use herald_core::id::ApiKeyId;
use herald_core::seal::MasterKey;
use herald_store::{ConnectOptions, Store};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};

use crate::cache::Caches;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::dispatcher::{self, Dispatcher, Sender};
use crate::state::{AppState, Shared};

/// A Herald server, bound and ready to serve.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    state: AppState,
    dispatcher: Option<Dispatcher>,
    generated_admin_key: Option<ApiKeySecret>,
}

impl Application {
    /// Binds `config.listen` and prepares everything (see [`Application::build_with_listener`]).
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {} (option `listen`)", config.listen))?;
        Self::build_with_listener(config, listener).await
    }

    /// Opens the store, migrates it, loads the master key and makes sure an admin key exists.
    pub async fn build_with_listener(config: Config, listener: TcpListener) -> anyhow::Result<Self> {
        crate::metrics::handle();
        let store = open_store(&config).await?;
        store.migrate().await.context("applying database migrations")?;
        let master_key = load_master_key(&config)?;
        check_master_key(store.as_ref(), &master_key).await?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        if config.delivery.enabled && store.backend() == herald_store::Backend::Sqlite {
            // Only one process can use an SQLite database: leases left in it belong to a process
            // that is gone, so its deliveries need not wait for them to expire.
            let released = store.release_every_lease(clock.now()).await.context("releasing old leases")?;
            if released > 0 {
                crate::metrics::leases_released("restart", released);
                tracing::info!(released, "released the leases of the previous run");
            }
        }
        let policy = config.outbound.policy();
        if policy.is_relaxed() {
            tracing::warn!(
                development = policy.development,
                allow_http = policy.allow_http,
                allow_cidrs = ?config.outbound.allow_cidrs,
                "THE REACHABILITY POLICY IS RELAXED: Herald may contact addresses beyond the public internet; \
                 never run this configuration where receivers are untrusted"
            );
        }
        let generated_admin_key = ensure_admin_key(store.as_ref(), &config, clock.now()).await?;
        let master_key = Arc::new(master_key);
        let wakeup = Arc::new(Notify::new());
        let caches = Arc::new(Caches::new(config.cache_ttl.get()));
        let flow = Arc::new(
            dispatcher::FlowControl::new(
                config.delivery.endpoint_max_in_flight(),
                config.delivery.tenant_max_in_flight(),
            )
            .enough_at_least(config.delivery.workers)
            .hand_over_at_most(dispatcher::HAND_OVER_HELD_MAX),
        );
        flow.replace_tenant_limits(store.tenant_limits().await.context("reading tenants' limits")?);
        let (local, inbox) = match config.delivery.enabled {
            true => {
                let (local, inbox) =
                    dispatcher::LocalQueue::channel(config.delivery.lease.get(), flow.clone());
                (Some(local), Some(inbox))
            }
            false => (None, None),
        };
        let publisher = crate::publish::Publisher::new(
            store.clone(),
            clock.clone(),
            caches.clone(),
            wakeup.clone(),
            local,
            config.delivery.probe_time(),
            config.delivery.lease.get(),
        );
        let operational =
            crate::operational::Operational::setup(&config, store.clone(), clock.clone(), publisher.clone())
                .await?;
        let relays = Arc::new(crate::listen::Relays::default());
        let dispatcher = if let Some(inbox) = inbox {
            let services = dispatcher::Services {
                relays: relays.clone(),
                store: store.clone(),
                clock: clock.clone(),
                master_key: master_key.clone(),
                wakeup: wakeup.clone(),
                caches: caches.clone(),
                operational: operational.clone(),
                flow: flow.clone(),
            };
            if let Some(address) = config.delivery.source_address {
                // Fail at start, not at every attempt, when the address is not this machine's.
                std::net::UdpSocket::bind((address, 0)).with_context(|| {
                    format!("cannot send from {address} (option `delivery.source_address`)")
                })?;
            }
            let sender = Sender::new(
                config.outbound.policy(),
                config.outbound.proxy.as_deref(),
                config.delivery.source_address,
            )
            .context("building the HTTP client (option `outbound.proxy`?)")?;
            let ctx = dispatcher::Context::new(services, config.delivery.clone(), sender);
            Some(Dispatcher::new(ctx, inbox))
        } else {
            None
        };
        let endpoints = crate::endpoints::Endpoints::new(
            store.clone(),
            master_key.clone(),
            clock.clone(),
            caches.clone(),
            operational.clone(),
            publisher.clone(),
            config.delivery.probe_time(),
        );
        let access = crate::access::Access::new(store.clone(), caches.clone(), flow.clone());
        let catalog = crate::catalog::Catalog::new(store.clone(), caches.clone());
        let quota = crate::quota::PublishQuota::new(config.tenant_publish_per_second);
        let bulk = crate::bulk::BulkRetries::new(store.clone(), clock.clone(), publisher.clone());
        let state = AppState::new(Shared {
            dispatching: Arc::default(),
            relays,
            bulk,
            access,
            catalog,
            quota,
            flow,
            store,
            master_key,
            caches,
            config: Arc::new(config),
            clock,
            wakeup,
            publisher,
            endpoints,
            operational,
        });
        Ok(Self { listener, state, dispatcher, generated_admin_key })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or_else(|_| self.state.config.listen)
    }

    /// The admin key generated at this start, if one was (it is shown once, then only its hash
    /// remains).
    pub fn generated_admin_key(&self) -> Option<&ApiKeySecret> {
        self.generated_admin_key.as_ref()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves the API and runs the dispatcher until `shutdown` resolves; then finishes in-flight
    /// requests and drains the dispatcher (see `dispatcher`).
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let fanouts = tokio::spawn(finish_fanouts(
            self.state.publisher.clone(),
            self.state.config.delivery.poll_interval.get(),
        ));
        let limits = tokio::spawn(reload_tenant_limits(
            self.state.store.clone(),
            self.state.flow.clone(),
            self.state.config.cache_ttl.get(),
        ));
        // Bulk retries a stopped process left half done go on from their last page.
        if let Err(e) = self.state.bulk.resume(false).await {
            tracing::warn!(error = %e, "resuming bulk retries failed; trying again later");
        }
        let bulk = tokio::spawn(crate::bulk::resume_stale(self.state.bulk.clone()));
        let upkeep = tokio::spawn(crate::metrics::upkeep());
        let retention = tokio::spawn(crate::retention::run(self.state.clone()));
        let keep_every = (self.state.config.listen_idle_timeout.get() / 4)
            .clamp(std::time::Duration::from_millis(100), crate::listen::KEEP_EVERY);
        let listen = tokio::spawn(crate::listen::keep(self.state.clone(), keep_every));
        let running = if let Some(dispatcher) = self.dispatcher {
            let wakeups = tokio::spawn({
                let store = self.state.store.clone();
                let wakeup = self.state.wakeup.clone();
                async move {
                    if let Err(e) = store.forward_wakeups(wakeup).await {
                        tracing::warn!(error = %e, "cross-instance wake-ups stopped; polling continues");
                    }
                }
            });
            let owner = dispatcher.owner().to_owned();
            let failover = tokio::spawn(crate::failover::keep(
                self.state.store.clone(),
                self.state.clock.clone(),
                owner.clone(),
                self.state.config.delivery.instance_timeout.get(),
            ));
            let dispatching = Dispatching::start(self.state.dispatching.clone());
            let run = tokio::spawn(async move {
                let _dispatching = dispatching;
                dispatcher.run(stop_rx).await
            });
            Some((run, wakeups, failover, owner))
        } else {
            None
        };
        let self_store = self.state.store.clone();
        let router = crate::api::router(self.state);
        let served = axum::serve(self.listener, router)
            .with_graceful_shutdown(async move {
                shutdown.await;
                let _ = stop_tx.send(true);
            })
            .await;
        fanouts.abort();
        limits.abort();
        bulk.abort();
        listen.abort();
        upkeep.abort();
        retention.abort();
        if let Some((run, wakeups, failover, owner)) = running {
            wakeups.abort();
            run.await.context("the dispatcher stopped abnormally")?;
            // Its leases are given back (the drain did it): nothing for the others to release.
            failover.abort();
            if let Err(e) = self_store.forget_instance(&owner).await {
                tracing::warn!(error = %e, "forgetting this instance failed; the others will");
            }
        }
        served?;
        Ok(())
    }
}

/// Marks the dispatcher as running while it lives: dropped when its task ends, however it ends.
struct Dispatching(Arc<std::sync::atomic::AtomicBool>);

impl Dispatching {
    fn start(flag: Arc<std::sync::atomic::AtomicBool>) -> Self {
        flag.store(true, std::sync::atomic::Ordering::Release);
        Self(flag)
    }
}

impl Drop for Dispatching {
    fn drop(&mut self) {
        self.0.store(false, std::sync::atomic::Ordering::Release);
    }
}

/// Finishes, at start and then every `interval`, the fan-outs that a stopped process left half
/// done (their marker's lease ran out; on SQLite, every lease is released at start).
async fn finish_fanouts(publisher: crate::publish::Publisher, interval: std::time::Duration) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        loop {
            match publisher.finish_fanouts().await {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "finishing fan-outs failed; trying again later");
                    break;
                }
            }
        }
    }
}

/// Reads the tenants' own limits again every `interval`, so that a change made through another
/// process sharing the database reaches this one's dispatcher (changes made through this process
/// apply at once).
async fn reload_tenant_limits(
    store: Arc<dyn Store>,
    flow: Arc<dispatcher::FlowControl>,
    interval: std::time::Duration,
) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await; // the first tick is immediate, and the limits were read at start
    loop {
        ticks.tick().await;
        match store.tenant_limits().await {
            Ok(limits) => flow.replace_tenant_limits(limits),
            Err(e) => tracing::warn!(error = %e, "reading tenants' limits failed; keeping the last ones"),
        }
    }
}

/// Opens the configured database, creating the data directory for the default SQLite file.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let url = config.database_url();
    if let Some(path) = sqlite_path(&url) {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating the data directory {}", parent.display()))?;
        }
        // The database holds hashes, sealed secrets and payloads: readable by its owner only,
        // like master.key. SQLite gives its WAL and shared-memory files the same mode.
        match write_private_file(path, b"") {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(e).with_context(|| format!("creating the database file {}", path.display()));
            }
        }
    }
    let options = ConnectOptions { max_connections: config.database.max_connections };
    herald_store::connect(&url, &options)
        .await
        .with_context(|| format!("opening the database (option `database.url` = {})", redact_url(&url)))
}

/// The generated master key's file in the data directory.
const MASTER_KEY_FILE: &str = "master.key";

/// Copies the SQLite database to `dest` while Herald may be serving from it (see
/// `herald_store::backup_sqlite`); the copy is readable by its owner only, like the database.
/// Returns where the master key it needs lives.
pub async fn backup(config: &Config, dest: &Path) -> anyhow::Result<String> {
    let url = config.database_url();
    if sqlite_path(&url).is_none() {
        anyhow::bail!(
            "`herald backup` copies the embedded SQLite database; back PostgreSQL up with its own tools (pg_dump, base backups)"
        );
    }
    write_private_file(dest, b"")
        .with_context(|| format!("creating {} (it must not exist)", dest.display()))?;
    if let Err(e) = herald_store::backup_sqlite(&url, dest).await {
        let _ = std::fs::remove_file(dest);
        return Err(e).context("copying the database");
    }
    Ok(match &config.master_key {
        Some(_) => "the `master_key` setting".to_owned(),
        None => config.data_dir.join(MASTER_KEY_FILE).display().to_string(),
    })
}

fn sqlite_path(url: &str) -> Option<&Path> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty() && path != ":memory:").then(|| Path::new(path))
}

/// Hides a password in a database URL before it is shown.
fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("****"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

/// The configured master key, or (SQLite only; `Config::check` enforces it) the one in
/// `<data_dir>/master.key`, generated on first start.
fn load_master_key(config: &Config) -> anyhow::Result<MasterKey> {
    if let Some(text) = &config.master_key {
        return MasterKey::from_base64(text).context("option `master_key`");
    }
    let path = config.data_dir.join(MASTER_KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => MasterKey::from_base64(&text).with_context(|| format!("reading {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(&config.data_dir)
                .with_context(|| format!("creating {}", config.data_dir.display()))?;
            let key = MasterKey::generate();
            write_private_file(&path, key.to_base64().as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
            tracing::warn!(path = %path.display(), "generated a master key; back it up: without it, stored credentials cannot be opened");
            Ok(key)
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Names the sealed text that proves which master key a database belongs to.
const CANARY: &str = "master_key_canary";
const CANARY_TEXT: &[u8] = b"herald master key canary v1";

/// Makes sure `key` is the master key this database's secrets are sealed with: a canary sealed
/// at first start must open with it (a database from before the canary is checked against an
/// endpoint's credentials, then given one). Starting with another key would leave every stored
/// credential unreadable, so it is refused.
async fn check_master_key(store: &dyn Store, key: &MasterKey) -> anyhow::Result<()> {
    let wrong_key = || {
        anyhow::anyhow!(
            "the master key does not open this database's sealed data: it is not the key the database \
             was first used with. Start Herald with that key (option `master_key` / HERALD_MASTER_KEY, \
             or the original <data_dir>/master.key); nothing was changed"
        )
    };
    if let Some(sealed) = store.instance_setting(CANARY).await? {
        return key.open(CANARY, &sealed).map(drop).map_err(|_| wrong_key());
    }
    if let Some((endpoint, sealed)) = store.any_sealed_credentials().await? {
        key.open(endpoint.as_str(), &sealed).map_err(|_| wrong_key())?;
    }
    let stored = store.init_instance_setting(CANARY, &key.seal(CANARY, CANARY_TEXT)).await?;
    key.open(CANARY, &stored).map(drop).map_err(|_| wrong_key())
}

fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(contents)
}

/// Registers the configured admin key, or generates one when no admin key exists yet.
async fn ensure_admin_key(
    store: &dyn Store,
    config: &Config,
    now: Timestamp,
) -> anyhow::Result<Option<ApiKeySecret>> {
    let (secret, generated) = match &config.admin_key {
        Some(text) => {
            let secret = ApiKeySecret::from_configured(text).map_err(anyhow::Error::msg)?;
            if store.api_key_by_hash(&secret.hash()).await?.is_some() {
                return Ok(None);
            }
            (secret, false)
        }
        None if store.count_admin_keys().await? > 0 => return Ok(None),
        None => (ApiKeySecret::generate(), true),
    };
    let key = ApiKey {
        id: ApiKeyId::generate_at(now),
        scope: Scope::Admin,
        name: if generated { "generated at first start" } else { "from configuration" }.to_owned(),
        prefix: secret.display_prefix(),
        hash: secret.hash(),
        created_at: now,
    };
    store.insert_api_key(&key).await?;
    Ok(generated.then_some(secret))
}
