//! Herald's benchmark harness (the `herald-bench` binary): starts everything on loopback — a fast receiver,
//! a `herald serve` child process on SQLite or PostgreSQL (three of them on one PostgreSQL
//! database for `multi`), a publisher — and measures the raw ceiling and seven scenarios. Results
//! are a markdown table and JSON; nothing is asserted about speed. With `--check` it fails unless
//! every published event reached the receiver exactly as expected (what CI's smoke run uses).
//!
//! Traffic stays on 127.0.0.0/8: servers and receiver listen on 127.0.0.1; the instances of
//! `multi` send from 127.0.0.2, 127.0.0.3 and 127.0.0.4.

mod backlog;
pub mod compare;
mod log;
mod multi;
mod noisy;
mod publisher;
mod receiver;
mod server;
mod stats;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};

use publisher::Sent;
use receiver::Receiver;
pub use server::Backend;
use server::{Server, Usage};
use stats::Percentiles;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    /// The receiver driven by a plain HTTP client: no Herald, no persistence.
    Raw,
    /// One endpoint, events as fast as possible.
    Throughput,
    /// A fixed rate: 175 events/s, then 20 % of the measured throughput.
    Latency,
    /// One tenant with many endpoints.
    Fanout,
    /// Throughput with a deep backlog of undelivered deliveries for a dead endpoint.
    Backlog,
    /// Throughput next to an endpoint that never answers and has a deep backlog.
    Isolation,
    /// Three instances on one PostgreSQL database: throughput, each one's share, and a run
    /// where one is killed mid-way (PostgreSQL only).
    Multi,
    /// A quiet tenant's latency at a fixed rate, alone and next to a tenant whose many endpoints
    /// answer slowly and have a deep backlog.
    Noisy,
    /// The delivery log's first page under each filter over a large log (`--log-rows`); not in
    /// the default set. Its "latency" is the API read's time.
    Log,
    /// Throughput while the retention purge deletes `--backlog` delivered deliveries (and their
    /// events) older than the retention; not in the default set.
    Purge,
}

/// What to run (see `herald-bench --help`).
#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// Database backend of the server under test.
    #[arg(long, default_value = "sqlite")]
    pub backend: Backend,
    /// Scenarios to run (repeatable); default: all (`multi` with PostgreSQL only). `raw` is
    /// always measured for the ratios.
    #[arg(long = "scenario", value_enum)]
    pub scenarios: Vec<Scenario>,
    /// Events for throughput, backlog, isolation and each multi-instance run (and requests for
    /// the raw ceiling).
    #[arg(long, default_value_t = 100_000)]
    pub events: usize,
    /// Concurrent publishing clients (and raw-ceiling clients).
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Seconds of each fixed-rate latency run.
    #[arg(long, default_value_t = 10.0)]
    pub latency_seconds: f64,
    /// Endpoints of the fan-out tenant.
    #[arg(long, default_value_t = 1000)]
    pub endpoints: usize,
    /// Events published one at a time to the fan-out tenant (latency to reach all endpoints).
    #[arg(long, default_value_t = 20)]
    pub fanout_events: usize,
    /// Events published at once to the fan-out tenant (sustained fan-out rate).
    #[arg(long, default_value_t = 100)]
    pub fanout_burst: usize,
    /// Undelivered deliveries loaded before the backlog scenario.
    #[arg(long, default_value_t = 1_000_000)]
    pub backlog: usize,
    /// Deliveries in the log the `log` scenario reads.
    #[arg(long, default_value_t = 1_000_000)]
    pub log_rows: usize,
    /// Load 10 million backlog deliveries instead.
    #[arg(long)]
    pub backlog_10m: bool,
    /// Events queued for the never-answering endpoint in the isolation scenario.
    #[arg(long, default_value_t = 5000)]
    pub stuck: usize,
    /// Give up on a scenario's deliveries after this many seconds (reported as incomplete).
    #[arg(long, default_value_t = 300.0)]
    pub max_seconds: f64,
    /// Verify every signature at the receiver with the official standardwebhooks library.
    #[arg(long)]
    pub verify: bool,
    /// Tiny sizes: every scenario in seconds (for CI).
    #[arg(long)]
    pub smoke: bool,
    /// Fail unless every published event arrived exactly as expected.
    #[arg(long)]
    pub check: bool,
    /// Run throughput, backlog and isolation this many times each and report the median run
    /// (by deliveries/s); ratios are then between medians. Every run's rate is in the notes.
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
    /// Also write the results as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Endpoints of the slow tenant in the noisy scenario.
    #[arg(long, default_value_t = 20)]
    pub noisy_endpoints: usize,
    /// How long the slow tenant's receivers take to answer (the server's timeout is a second more).
    #[arg(long, default_value_t = 4000)]
    pub noisy_delay_ms: u64,
    /// Events queued for the slow tenant (each to all its endpoints) in the noisy scenario.
    #[arg(long, default_value_t = 300)]
    pub noisy_backlog: usize,
    /// The quiet tenant's events per second in the noisy scenario (for `latency_seconds`).
    #[arg(long, default_value_t = 50.0)]
    pub noisy_rate: f64,
    /// Seconds of the quiet tenant's runs (alone, and next to the loud one) in the noisy
    /// scenario's 1,000x-volume variant, where it publishes at a twenty-fifth of `noisy_rate`:
    /// long enough for its p99 not to be the largest of a handful of samples.
    #[arg(long, default_value_t = 60.0)]
    pub noisy_volume_seconds: f64,
    /// Which of the noisy scenario's neighbours to run (repeatable); default: all three.
    #[arg(long = "noisy-variant", value_enum)]
    pub noisy_variants: Vec<noisy::Neighbour>,
    /// Extra server settings, `KEY=VALUE` (e.g. `HERALD_DELIVERY__WORKERS=128`).
    #[arg(long = "server-env")]
    pub server_env: Vec<String>,
}

impl Options {
    fn smoke_sized(mut self) -> Self {
        if self.smoke {
            self.events = self.events.min(300);
            self.concurrency = self.concurrency.min(8);
            self.latency_seconds = self.latency_seconds.min(1.0);
            self.noisy_volume_seconds = self.noisy_volume_seconds.min(1.0);
            self.endpoints = self.endpoints.min(20);
            self.fanout_events = self.fanout_events.min(3);
            self.fanout_burst = self.fanout_burst.min(5);
            self.backlog = self.backlog.min(2000);
            self.log_rows = self.log_rows.min(5000);
            self.backlog_10m = false;
            self.stuck = self.stuck.min(10);
            self.noisy_endpoints = self.noisy_endpoints.min(3);
            self.noisy_delay_ms = self.noisy_delay_ms.min(200);
            self.noisy_backlog = self.noisy_backlog.min(5);
            self.max_seconds = self.max_seconds.min(60.0);
        }
        self
    }
}

/// One scenario's figures.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub scenario: String,
    pub backend: Backend,
    pub events: usize,
    pub deliveries: usize,
    pub elapsed_s: f64,
    pub deliveries_per_s: f64,
    /// Throughput relative to the raw ceiling (or, for backlog and isolation, to the throughput
    /// scenario; for fan-out latency runs, none).
    pub ratio: Option<f64>,
    /// Publish → receipt (fan-out: publish → the last endpoint's receipt).
    pub latency: Percentiles,
    pub publish_api: Percentiles,
    pub server: Usage,
    /// The server's CPU time (its whole run, set-up included) per delivery, in microseconds: what
    /// a delivery costs, whatever the machine's speed that day.
    pub cpu_us_per_delivery: Option<f64>,
    /// Every expected delivery arrived, none twice (in the multi-instance kill run, where
    /// duplicates are expected and counted: every one arrived at least once).
    pub complete: bool,
    pub missing: usize,
    pub duplicates: usize,
    pub bad_signatures: u64,
    pub notes: Value,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub machine: Value,
    /// PostgreSQL's durability settings (`fsync`, `synchronous_commit`, `full_page_writes`)
    /// when a scenario ran on it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postgres: Option<Value>,
    pub commit: Option<String>,
    pub command: String,
    pub outcomes: Vec<Outcome>,
}

/// Runs the benchmark; `herald` is the binary to start as the server.
pub async fn run(options: Options, herald: PathBuf) -> anyhow::Result<Report> {
    let options = options.smoke_sized();
    let scenarios = if options.scenarios.is_empty() {
        let mut all = vec![
            Scenario::Raw,
            Scenario::Throughput,
            Scenario::Latency,
            Scenario::Fanout,
            Scenario::Backlog,
            Scenario::Isolation,
            Scenario::Noisy,
        ];
        if options.backend == Backend::Postgres {
            all.push(Scenario::Multi);
        }
        all
    } else {
        options.scenarios.clone()
    };
    anyhow::ensure!(
        !(scenarios.contains(&Scenario::Multi) && options.backend != Backend::Postgres),
        "the multi scenario needs PostgreSQL (--backend postgres): several instances share one \
         database only there — an SQLite database belongs to one process"
    );
    let settings: Vec<(String, String)> = options
        .server_env
        .iter()
        .filter_map(|kv| kv.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect();
    let bench = Bench { options: options.clone(), herald, settings, receiver: Receiver::start().await? };
    let mut outcomes: Vec<Outcome> = Vec::new();
    let raw = bench.raw().await?;
    eprintln!("raw ceiling: {:.0} requests/s", raw.deliveries_per_s);
    let raw_rate = raw.deliveries_per_s;
    outcomes.push(raw);
    let mut throughput: Option<f64> = None;
    for scenario in scenarios {
        let results = match scenario {
            Scenario::Raw => continue,
            Scenario::Throughput => {
                let mut o = median_run(options.repeat, || bench.throughput("throughput", None)).await?;
                o.ratio = Some(o.deliveries_per_s / raw_rate);
                throughput = Some(o.deliveries_per_s);
                vec![o]
            }
            Scenario::Latency => {
                let max = match throughput {
                    Some(t) => t,
                    None => bench.throughput("throughput (for latency)", None).await?.deliveries_per_s,
                };
                let fixed = if options.smoke { 50.0 } else { 175.0 };
                vec![bench.latency(fixed).await?, bench.latency((max * 0.2).max(1.0)).await?]
            }
            Scenario::Fanout => bench.fanout().await?,
            Scenario::Multi => bench.multi().await?,
            Scenario::Noisy => bench.noisy().await?,
            Scenario::Log => bench.log().await?,
            Scenario::Backlog | Scenario::Isolation | Scenario::Purge => {
                let base = match throughput {
                    Some(t) => t,
                    None => {
                        let o =
                            median_run(options.repeat, || bench.throughput("throughput (baseline)", None))
                                .await?;
                        throughput = Some(o.deliveries_per_s);
                        o.deliveries_per_s
                    }
                };
                let mut o = if scenario == Scenario::Backlog {
                    median_run(options.repeat, || bench.backlog()).await?
                } else if scenario == Scenario::Purge {
                    median_run(options.repeat, || bench.purge()).await?
                } else {
                    median_run(options.repeat, || bench.isolation()).await?
                };
                o.ratio = Some(o.deliveries_per_s / base);
                vec![o]
            }
        };
        for o in results {
            eprintln!(
                "{}: {:.0} deliveries/s, p50 {:.2} ms, complete: {}",
                o.scenario, o.deliveries_per_s, o.latency.p50_ms, o.complete
            );
            outcomes.push(o);
        }
    }
    let report = Report {
        machine: machine(),
        postgres: server::DATABASE.get().cloned(),
        commit: git_commit(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        outcomes,
    };
    if let Some(path) = &options.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)?;
    }
    if options.check {
        let bad: Vec<&Outcome> =
            report.outcomes.iter().filter(|o| !o.complete || o.bad_signatures > 0).collect();
        anyhow::ensure!(
            bad.is_empty(),
            "incomplete scenarios: {:?}",
            bad.iter().map(|o| &o.scenario).collect::<Vec<_>>()
        );
    }
    Ok(report)
}

/// Runs a scenario `repeat` times (at least once) and keeps the median run by deliveries/s, with
/// every run's rate in its notes (`runs_per_s`).
async fn median_run<F, Fut>(repeat: usize, mut run: F) -> anyhow::Result<Outcome>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Outcome>>,
{
    let mut runs = Vec::new();
    for _ in 0..repeat.max(1) {
        runs.push(run().await?);
    }
    runs.sort_by(|a, b| a.deliveries_per_s.total_cmp(&b.deliveries_per_s));
    let rates: Vec<f64> = runs.iter().map(|o| o.deliveries_per_s.round()).collect();
    let mut median = runs.swap_remove(runs.len() / 2);
    if rates.len() > 1 {
        match &mut median.notes {
            Value::Object(notes) => {
                notes.insert("runs_per_s".into(), json!(rates));
            }
            other => *other = json!({"runs_per_s": rates}),
        }
    }
    Ok(median)
}

struct Bench {
    options: Options,
    herald: PathBuf,
    settings: Vec<(String, String)>,
    receiver: Receiver,
}

/// A tenant with one endpoint at `path` of the receiver; returns (tenant id, endpoint secret).
async fn tenant_with_endpoint(server: &Server, name: &str, url: &str) -> anyhow::Result<(String, String)> {
    let tenant = server.call(reqwest::Method::POST, "/v1/tenants", Some(json!({"name": name}))).await?;
    let tenant = tenant["id"].as_str().unwrap_or_default().to_owned();
    let endpoint = server
        .call(reqwest::Method::POST, &format!("/v1/tenants/{tenant}/endpoints"), Some(json!({"url": url})))
        .await?;
    Ok((tenant, endpoint["secret"].as_str().unwrap_or_default().to_owned()))
}

impl Bench {
    async fn start_server(&self) -> anyhow::Result<Server> {
        self.receiver.reset();
        Server::start(&self.herald, self.options.backend, &self.settings).await
    }

    fn deadline(&self) -> Instant {
        Instant::now() + Duration::from_secs_f64(self.options.max_seconds)
    }

    /// Waits until every sent event has arrived `expected` times (or the deadline passes).
    async fn wait_for(
        &self,
        sent: &[Sent],
        expected: u32,
        deadline: Instant,
    ) -> HashMap<String, receiver::Arrival> {
        loop {
            let arrivals = self.receiver.arrivals();
            let done = sent.iter().all(|s| arrivals.get(&s.id).is_some_and(|a| a.count >= expected));
            if done || Instant::now() > deadline {
                return arrivals;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// The raw ceiling: the receiver driven directly with the same signed body and concurrency.
    async fn raw(&self) -> anyhow::Result<Outcome> {
        self.receiver.reset();
        let secret = herald_core::secret::SigningSecret::generate();
        let body = serde_json::to_vec(
            &json!({"id": "raw", "type": "bench.event", "timestamp": "2026-01-01T00:00:00Z",
            "tenant": "ten_01ARZ3NDEKTSV4RRFFQ69G5FAV", "data": publisher::event_body("raw", 0)["data"]}),
        )?;
        let client = reqwest::Client::builder().no_proxy().pool_max_idle_per_host(1024).build()?;
        let url = self.receiver.url("raw");
        let count = self.options.events;
        let next = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..self.options.concurrency.max(1) {
            let (client, url, body, next, secret) =
                (client.clone(), url.clone(), body.clone(), next.clone(), secret.clone());
            tasks.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= count {
                        return Ok::<_, anyhow::Error>(latencies);
                    }
                    let id = format!("raw-{n}");
                    let ts = herald_core::Timestamp::now().as_second();
                    let signature = herald_core::signing::sign(&secret, &id, ts, &body).unwrap_or_default();
                    let t = Instant::now();
                    let r = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .header("webhook-id", &id)
                        .header("webhook-timestamp", ts.to_string())
                        .header("webhook-signature", signature)
                        .body(body.clone())
                        .send()
                        .await?;
                    anyhow::ensure!(r.status().is_success(), "raw post: {}", r.status());
                    latencies.push(t.elapsed());
                }
            }));
        }
        let mut latencies = Vec::new();
        for task in tasks {
            latencies.extend(task.await??);
        }
        let elapsed = started.elapsed().as_secs_f64();
        let received = self.receiver.total() as usize;
        Ok(Outcome {
            scenario: "raw ceiling".into(),
            backend: self.options.backend,
            events: count,
            deliveries: received,
            elapsed_s: elapsed,
            deliveries_per_s: count as f64 / elapsed,
            ratio: Some(1.0),
            latency: Percentiles::of(latencies),
            publish_api: Percentiles::default(),
            server: Usage::default(),
            cpu_us_per_delivery: None,
            complete: received == count,
            missing: count.saturating_sub(received),
            duplicates: received.saturating_sub(count),
            bad_signatures: 0,
            notes: json!({"concurrency": self.options.concurrency}),
        })
    }

    /// Scenario 1 (and the measuring part of 4 and 5): one endpoint, events as fast as possible.
    async fn throughput(&self, name: &str, existing: Option<&Server>) -> anyhow::Result<Outcome> {
        let owned;
        let server = match existing {
            Some(server) => server,
            None => {
                owned = self.start_server().await?;
                &owned
            }
        };
        let (tenant, secret) = tenant_with_endpoint(server, "healthy", &self.receiver.url("healthy")).await?;
        self.receiver.reset();
        if self.options.verify {
            self.receiver.verify_with(&secret)?;
        }
        let deadline = self.deadline();
        let sent = publisher::as_fast_as_possible(
            server,
            &tenant,
            "t",
            self.options.events,
            self.options.concurrency,
        )
        .await?;
        let arrivals = self.wait_for(&sent, 1, deadline).await;
        let notes = json!({"concurrency": self.options.concurrency});
        Ok(self.outcome(name, server.usage(), &sent, &arrivals, 1, notes))
    }

    /// Figures from what was sent and what arrived (each id expected `fan` times); `usage` is
    /// the server's.
    fn outcome(
        &self,
        name: &str,
        usage: Usage,
        sent: &[Sent],
        arrivals: &HashMap<String, receiver::Arrival>,
        fan: u32,
        notes: Value,
    ) -> Outcome {
        let first = sent.iter().map(|s| s.started).min().unwrap_or_else(Instant::now);
        let mut last = first;
        let (mut missing, mut duplicates, mut delivered) = (0, 0, 0usize);
        let mut latencies = Vec::with_capacity(sent.len());
        for s in sent {
            match arrivals.get(&s.id) {
                Some(a) => {
                    delivered += a.count.min(fan) as usize;
                    missing += fan.saturating_sub(a.count) as usize;
                    duplicates += a.count.saturating_sub(fan) as usize;
                    last = last.max(a.last);
                    if a.count >= fan {
                        latencies.push(
                            (if fan == 1 { a.first } else { a.last }).saturating_duration_since(s.started),
                        );
                    }
                }
                None => missing += fan as usize,
            }
        }
        let elapsed = last.saturating_duration_since(first).as_secs_f64().max(1e-9);
        Outcome {
            scenario: name.to_owned(),
            backend: self.options.backend,
            events: sent.len(),
            deliveries: delivered,
            elapsed_s: elapsed,
            deliveries_per_s: delivered as f64 / elapsed,
            ratio: None,
            latency: Percentiles::of(latencies),
            publish_api: Percentiles::of(sent.iter().map(|s| s.api_latency).collect()),
            server: usage,
            cpu_us_per_delivery: (delivered > 0 && usage.cpu_seconds > 0.0)
                .then(|| usage.cpu_seconds * 1e6 / delivered as f64),
            complete: missing == 0 && duplicates == 0,
            missing,
            duplicates,
            bad_signatures: self.receiver.bad_signatures(),
            notes,
        }
    }

    /// Scenario 2: a fixed publishing rate.
    async fn latency(&self, rate: f64) -> anyhow::Result<Outcome> {
        let server = self.start_server().await?;
        let (tenant, _) = tenant_with_endpoint(&server, "latency", &self.receiver.url("latency")).await?;
        let deadline = self.deadline();
        let sent = publisher::at_rate(&server, &tenant, "l", rate, self.options.latency_seconds).await?;
        let arrivals = self.wait_for(&sent, 1, deadline).await;
        let name = format!("latency at {rate:.0}/s");
        let o = self.outcome(&name, server.usage(), &sent, &arrivals, 1, json!({"rate": rate}));
        server.stop().await?;
        Ok(o)
    }

    /// Scenario 3: one tenant with many endpoints.
    async fn fanout(&self) -> anyhow::Result<Vec<Outcome>> {
        let server = self.start_server().await?;
        let tenant =
            server.call(reqwest::Method::POST, "/v1/tenants", Some(json!({"name": "fanout"}))).await?;
        let tenant = tenant["id"].as_str().unwrap_or_default().to_owned();
        for n in 0..self.options.endpoints {
            let url = self.receiver.url(&format!("fan/{n}"));
            server
                .call(
                    reqwest::Method::POST,
                    &format!("/v1/tenants/{tenant}/endpoints"),
                    Some(json!({"url": url})),
                )
                .await?;
        }
        let fan = self.options.endpoints as u32;
        // One event at a time: how long until the last endpoint has it. Idle: each event is
        // published once the server has stored every outcome of the one before.
        let reach = self.one_at_a_time(&server, &tenant, true).await?;
        // The same, each event published as soon as the one before reached its last endpoint,
        // while the server still stores that one's outcomes.
        let back_to_back = self.one_at_a_time(&server, &tenant, false).await?;
        // A burst: sustained deliveries per second.
        let before = server.usage();
        let burst = publisher::as_fast_as_possible(
            &server,
            &tenant,
            "fb",
            self.options.fanout_burst,
            self.options.concurrency,
        )
        .await?;
        let arrivals = self.wait_for(&burst, fan, self.deadline()).await;
        let sustained = self.outcome(
            "fan-out: sustained",
            server.usage().since(before),
            &burst,
            &arrivals,
            fan,
            json!({"endpoints": fan, "events": burst.len()}),
        );
        server.stop().await?;
        Ok(vec![reach, back_to_back, sustained])
    }

    /// `--fanout-events` events published one at a time to the fan-out tenant, each once the one
    /// before reached its last endpoint and — when `idle` — once the server has stored all of that
    /// one's outcomes (the tenant's backlog is empty and nothing is in flight).
    async fn one_at_a_time(&self, server: &Server, tenant: &str, idle: bool) -> anyhow::Result<Outcome> {
        let prefix = if idle { "f" } else { "g" };
        let fan = self.options.endpoints as u32;
        let deadline = self.deadline();
        let before = server.usage();
        let mut sent = Vec::new();
        for n in 0..self.options.fanout_events {
            if idle {
                self.wait_until_idle(server, tenant, deadline).await?;
            }
            let batch = publisher::as_fast_as_possible(server, tenant, &format!("{prefix}{n}"), 1, 1).await?;
            self.wait_for(&batch, fan, deadline).await;
            sent.extend(batch);
        }
        let arrivals = self.wait_for(&sent, fan, deadline).await;
        // Where the time goes: until the first copy leaves, then until the last one arrives.
        let first_copy = Percentiles::of(
            sent.iter()
                .filter_map(|s| arrivals.get(&s.id).map(|a| a.first.saturating_duration_since(s.started)))
                .collect(),
        );
        let name = if idle {
            "fan-out: publish → last endpoint"
        } else {
            "fan-out: back to back → last endpoint"
        };
        let mut reach = self.outcome(
            name,
            server.usage().since(before),
            &sent,
            &arrivals,
            fan,
            json!({"endpoints": fan, "first_copy": first_copy, "idle_before_each": idle}),
        );
        reach.ratio = None;
        Ok(reach)
    }

    /// Waits until `tenant` has no delivery pending or retrying and no request in flight: every
    /// outcome so far is stored.
    async fn wait_until_idle(&self, server: &Server, tenant: &str, deadline: Instant) -> anyhow::Result<()> {
        loop {
            let stats =
                server.call(reqwest::Method::GET, &format!("/v1/tenants/{tenant}/stats"), None).await?;
            let settled = stats["backlog"].as_u64() == Some(0) && stats["inFlight"].as_u64() == Some(0);
            if settled {
                return Ok(());
            }
            anyhow::ensure!(Instant::now() < deadline, "the fan-out tenant never became idle: {stats}");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Scenario 4: a deep backlog of undelivered deliveries (a dead endpoint's, due later), then
    /// scenario 1 for a healthy endpoint.
    async fn backlog(&self) -> anyhow::Result<Outcome> {
        let size = if self.options.backlog_10m { 10_000_000 } else { self.options.backlog };
        let server = self.start_server().await?;
        let tenant = server.call(reqwest::Method::POST, "/v1/tenants", Some(json!({"name": "dead"}))).await?;
        let tenant = tenant["id"].as_str().unwrap_or_default().to_owned();
        let endpoint = server
            .call(
                reqwest::Method::POST,
                &format!("/v1/tenants/{tenant}/endpoints"),
                Some(json!({"url": self.receiver.url("hang/dead")})),
            )
            .await?;
        let endpoint = endpoint["id"].as_str().unwrap_or_default().to_owned();
        let mut server = server;
        server.terminate().await?;
        let started = Instant::now();
        backlog::load(&server.database_url, &tenant, &endpoint, size).await?;
        eprintln!("loaded {size} backlog deliveries in {:.1} s", started.elapsed().as_secs_f64());
        server.resume().await?;
        let plan =
            backlog::claim_plan(&server.database_url).await.unwrap_or_else(|e| format!("(no plan: {e})"));
        let mut o = self.throughput("backlog", Some(&server)).await?;
        o.notes = json!({"backlog": size, "claim_plan": plan});
        server.stop().await?;
        Ok(o)
    }

    /// Throughput (scenario 1) while the retention purge deletes `--backlog` finished
    /// deliveries, and their events, that are older than the retention (loaded straight into
    /// the database, 100 days old). The purge runs every second, so it works all through the run.
    async fn purge(&self) -> anyhow::Result<Outcome> {
        let size = self.options.backlog;
        let mut settings = self.settings.clone();
        settings.push(("HERALD_RETENTION__INTERVAL".into(), "1s".into()));
        let server = Server::start(&self.herald, self.options.backend, &settings).await?;
        let tenant = server.call(reqwest::Method::POST, "/v1/tenants", Some(json!({"name": "old"}))).await?;
        let tenant = tenant["id"].as_str().unwrap_or_default().to_owned();
        let endpoint = server
            .call(
                reqwest::Method::POST,
                &format!("/v1/tenants/{tenant}/endpoints"),
                Some(json!({"url": self.receiver.url("ok/old")})),
            )
            .await?;
        let endpoint = endpoint["id"].as_str().unwrap_or_default().to_owned();
        let mut server = server;
        server.terminate().await?;
        let started = Instant::now();
        backlog::load_finished(&server.database_url, &tenant, &endpoint, size).await?;
        eprintln!(
            "loaded {size} finished deliveries, 100 days old, in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        server.resume().await?;
        let mut o = self.throughput("purge", Some(&server)).await?;
        let left = backlog::count_old(&server.database_url).await.unwrap_or(-1);
        o.notes = json!({"old_rows": size, "old_rows_left_after_the_run": left});
        server.stop().await?;
        Ok(o)
    }

    /// The delivery log's reads over a large log: one outcome per read, its latency the read's.
    async fn log(&self) -> anyhow::Result<Vec<Outcome>> {
        let mut server = self.start_server().await?;
        let rows = self.options.log_rows;
        let reads = log::run(&mut server, rows, log::SAMPLES).await?;
        let usage = server.usage();
        server.stop().await?;
        Ok(reads
            .into_iter()
            .map(|(read, latency, found)| Outcome {
                scenario: format!("log: {}", read.name),
                backend: self.options.backend,
                events: rows,
                deliveries: rows,
                elapsed_s: 0.0,
                deliveries_per_s: 0.0,
                ratio: None,
                latency,
                publish_api: Percentiles::default(),
                server: usage,
                cpu_us_per_delivery: None,
                complete: true,
                missing: 0,
                duplicates: 0,
                bad_signatures: 0,
                notes: json!({"query": read.query, "rows_returned": found}),
            })
            .collect())
    }

    /// Scenario 5: a never-answering endpoint with a deep backlog, and a healthy one.
    async fn isolation(&self) -> anyhow::Result<Outcome> {
        let server = self.start_server().await?;
        let (stuck, _) = tenant_with_endpoint(&server, "stuck", &self.receiver.url("hang/stuck")).await?;
        publisher::as_fast_as_possible(&server, &stuck, "s", self.options.stuck, self.options.concurrency)
            .await?;
        let mut o = self.throughput("isolation", Some(&server)).await?;
        o.notes = json!({"stuck_backlog": self.options.stuck});
        drop(server); // SIGKILL: draining hung requests would only wait for timeouts
        Ok(o)
    }
}

fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|s| {
        s.lines()
            .find(|l| l.starts_with("model name"))
            .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
    });
    let memory = std::fs::read_to_string("/proc/meminfo").ok().and_then(|s| {
        s.lines()
            .next()
            .map(|l| l.split_whitespace().nth(1).unwrap_or("0").parse::<f64>().unwrap_or(0.0) / 1048576.0)
    });
    json!({"cpu": cpu, "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1), "memory_gib": memory})
}

fn git_commit() -> Option<String> {
    let out = std::process::Command::new("git").args(["rev-parse", "--short", "HEAD"]).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The report as a markdown table.
pub fn markdown(report: &Report) -> String {
    let mut out = String::from(
        "| scenario | backend | events | deliveries | deliveries/s | ratio | p50 ms | p90 ms | p99 ms | max ms | publish p50 ms | publish p99 ms | peak RSS MB | CPU s | CPU µs/delivery | complete |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for o in &report.outcomes {
        out.push_str(&format!(
            "| {} | {:?} | {} | {} | {:.0} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1} | {:.1} | {} | {} |\n",
            o.scenario,
            o.backend,
            o.events,
            o.deliveries,
            o.deliveries_per_s,
            o.ratio.map_or("–".to_owned(), |r| format!("{r:.2}")),
            o.latency.p50_ms,
            o.latency.p90_ms,
            o.latency.p99_ms,
            o.latency.max_ms,
            o.publish_api.p50_ms,
            o.publish_api.p99_ms,
            o.server.peak_rss_mb,
            o.server.cpu_seconds,
            o.cpu_us_per_delivery.map_or("–".to_owned(), |us| format!("{us:.0}")),
            match (o.complete, o.duplicates) {
                (true, 0) => "yes".to_owned(),
                (true, twice) => format!("yes ({twice} twice, allowed)"),
                (false, twice) => format!("no ({} missing, {twice} twice)", o.missing),
            },
        ));
    }
    for o in &report.outcomes {
        if let Some(summary) = multi::summary(o) {
            out.push_str(&format!("\n{}: {summary}\n", o.scenario));
        }
    }
    out
}
