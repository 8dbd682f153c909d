//! Drives the publish API: as fast as a number of concurrent clients allow, or at a fixed rate.
//! Records, per event, when its publish request started and how long the API took to answer.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::server::Server;

/// One published event.
#[derive(Debug, Clone)]
pub struct Sent {
    pub id: String,
    pub started: Instant,
    pub api_latency: Duration,
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
    let next = Arc::new(AtomicUsize::new(0));
    let url = format!("{}/v1/tenants/{tenant}/events", server.base);
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (next, url, client, key, prefix) =
            (next.clone(), url.clone(), server.client().clone(), server.admin_key.clone(), prefix.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut sent = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count {
                    return Ok::<_, anyhow::Error>(sent);
                }
                sent.push(publish_one(&client, &url, &key, &format!("{prefix}-{n}"), n).await?);
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
    let url = format!("{}/v1/tenants/{tenant}/events", server.base);
    let count = (rate * seconds).ceil().max(1.0) as usize;
    let interval = Duration::from_secs_f64(1.0 / rate.max(0.001));
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(count);
    for n in 0..count {
        tokio::time::sleep_until(start + interval.mul_f64(n as f64)).await;
        let (url, client, key, id) =
            (url.clone(), server.client().clone(), server.admin_key.clone(), format!("{prefix}-{n}"));
        tasks.push(tokio::spawn(async move { publish_one(&client, &url, &key, &id, n).await }));
    }
    let mut all = Vec::with_capacity(count);
    for task in tasks {
        all.push(task.await??);
    }
    Ok(all)
}

async fn publish_one(
    client: &reqwest::Client,
    url: &str,
    key: &str,
    id: &str,
    n: usize,
) -> anyhow::Result<Sent> {
    let started = Instant::now();
    let response = client.post(url).bearer_auth(key).json(&event_body(id, n)).send().await?;
    let api_latency = started.elapsed();
    anyhow::ensure!(response.status().is_success(), "publish {id}: {}", response.status());
    Ok(Sent { id: id.to_owned(), started, api_latency })
}
