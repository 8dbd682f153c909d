//! Drives the publish API: as fast as a number of concurrent clients allow, or at a fixed rate;
//! through one server, or round robin through several instances sharing a database. Records,
//! per event, when its publish request started, how long the API took to answer, and which
//! instance accepted it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::server::Server;

/// One published event.
#[derive(Debug, Clone)]
pub struct Sent {
    pub id: String,
    pub started: Instant,
    pub api_latency: Duration,
    /// The index of the instance that accepted it.
    pub via: usize,
}

/// Which of several instances are up: the bench marks one down before it kills it, and the
/// publisher sends no more events to it.
#[derive(Debug, Clone)]
pub struct Up(Arc<[AtomicBool]>);

impl Up {
    pub fn all(n: usize) -> Self {
        Self((0..n).map(|_| AtomicBool::new(true)).collect())
    }

    pub fn down(&self, instance: usize) {
        if let Some(up) = self.0.get(instance) {
            up.store(false, Ordering::Relaxed);
        }
    }

    fn is_up(&self, instance: usize) -> bool {
        self.0.get(instance).is_some_and(|up| up.load(Ordering::Relaxed))
    }
}

/// Where events are published: every instance's publish URL, and which are up.
#[derive(Debug, Clone)]
pub struct Targets {
    urls: Arc<[String]>,
    up: Up,
    client: reqwest::Client,
    key: String,
}

impl Targets {
    pub fn new(servers: &[&Server], tenant: &str, up: Up) -> Self {
        Self {
            urls: servers.iter().map(|s| format!("{}/v1/tenants/{tenant}/events", s.base)).collect(),
            up,
            client: servers[0].client().clone(),
            key: servers[0].admin_key.clone(),
        }
    }
}

/// The body of event `n`: about 250 bytes of JSON.
pub fn event_body(id: &str, n: usize) -> serde_json::Value {
    json!({"id": id, "type": "bench.event", "data": {"n": n, "customer": "cus_0000000001", "amount": 4200,
        "currency": "EUR", "note": "benchmark payload, roughly the size of a small real event"}})
}

/// Publishes `count` events to `tenant` from `concurrency` clients, as fast as they go.
pub async fn as_fast_as_possible(
    server: &Server,
    tenant: &str,
    prefix: &str,
    count: usize,
    concurrency: usize,
) -> anyhow::Result<Vec<Sent>> {
    round_robin(Targets::new(&[server], tenant, Up::all(1)), prefix, count, concurrency).await
}

/// Publishes up to `count` events to `tenant` from `concurrency` clients, as fast as they go,
/// while `going` stays true (each client finishes the request it is in when it turns false).
pub async fn as_fast_as_possible_while(
    server: &Server,
    tenant: &str,
    prefix: &str,
    count: usize,
    concurrency: usize,
    going: Arc<AtomicBool>,
) -> anyhow::Result<Vec<Sent>> {
    let targets = Targets::new(&[server], tenant, Up::all(1));
    publish_from_clients(targets, prefix, count, concurrency, going).await
}

/// Publishes `count` events from `concurrency` clients, as fast as they go, event `n` through
/// instance `n % instances`. An instance marked down gets no more events; one
/// whose connection fails (killed mid-request) is skipped for that event, which is published
/// again through the next instance up with the same id — Herald answers that idempotently (200,
/// nothing created) when the first instance had committed it.
pub async fn round_robin(
    targets: Targets,
    prefix: &str,
    count: usize,
    concurrency: usize,
) -> anyhow::Result<Vec<Sent>> {
    publish_from_clients(targets, prefix, count, concurrency, Arc::new(AtomicBool::new(true))).await
}

/// Publishes up to `count` events from `concurrency` clients while `going` stays true.
async fn publish_from_clients(
    targets: Targets,
    prefix: &str,
    count: usize,
    concurrency: usize,
    going: Arc<AtomicBool>,
) -> anyhow::Result<Vec<Sent>> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (next, targets, prefix, going) =
            (next.clone(), targets.clone(), prefix.to_owned(), going.clone());
        tasks.push(tokio::spawn(async move {
            let mut sent = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count || !going.load(Ordering::Relaxed) {
                    return Ok::<_, anyhow::Error>(sent);
                }
                sent.push(publish_one(&targets, &format!("{prefix}-{n}"), n).await?);
            }
        }));
    }
    let mut all = Vec::with_capacity(count);
    for task in tasks {
        all.extend(task.await??);
    }
    Ok(all)
}

/// Publishes at `rate` events per second for `seconds`, each request on its own task.
pub async fn at_rate(
    server: &Server,
    tenant: &str,
    prefix: &str,
    rate: f64,
    seconds: f64,
) -> anyhow::Result<Vec<Sent>> {
    let targets = Targets::new(&[server], tenant, Up::all(1));
    let count = (rate * seconds).ceil().max(1.0) as usize;
    let interval = Duration::from_secs_f64(1.0 / rate.max(0.001));
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(count);
    for n in 0..count {
        tokio::time::sleep_until(start + interval.mul_f64(n as f64)).await;
        let (targets, id) = (targets.clone(), format!("{prefix}-{n}"));
        tasks.push(tokio::spawn(async move { publish_one(&targets, &id, n).await }));
    }
    let mut all = Vec::with_capacity(count);
    for task in tasks {
        all.push(task.await??);
    }
    Ok(all)
}

/// Publishes event `n` through instance `n % instances`, or the next one up.
async fn publish_one(targets: &Targets, id: &str, n: usize) -> anyhow::Result<Sent> {
    let started = Instant::now();
    let instances = targets.urls.len();
    let mut failure = None;
    for via in (0..instances).map(|step| (n + step) % instances).filter(|&i| targets.up.is_up(i)) {
        let request =
            targets.client.post(&targets.urls[via]).bearer_auth(&targets.key).json(&event_body(id, n));
        match request.send().await {
            Ok(response) if response.status() == reqwest::StatusCode::TOO_MANY_REQUESTS => {
                // Over the tenant's publish quota: wait as told, then publish it again.
                let wait = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
                    .unwrap_or(1);
                tokio::time::sleep(Duration::from_secs(wait)).await;
                return Box::pin(publish_one(targets, id, n)).await;
            }
            Ok(response) => {
                let api_latency = started.elapsed();
                anyhow::ensure!(response.status().is_success(), "publish {id}: {}", response.status());
                return Ok(Sent { id: id.to_owned(), started, api_latency, via });
            }
            Err(e) => failure = Some(e),
        }
    }
    match failure {
        Some(e) => Err(anyhow::Error::new(e).context(format!("publish {id}"))),
        None => anyhow::bail!("publish {id}: no instance is up"),
    }
}
