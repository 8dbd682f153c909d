//! The noisy-neighbour scenario: does one tenant's traffic delay another tenant?
//!
//! Tenant B has one healthy endpoint receiving events at a fixed rate. In each variant it is
//! measured twice on a fresh server: alone, then next to tenant A, which has
//! - **slow**: many endpoints whose receivers answer 2xx, but only after a delay close to the
//!   delivery timeout, and a deep backlog of events;
//! - **failing**: as many endpoints, half answering 500 at once and half never answering (each
//!   attempt runs into the timeout), and the same backlog;
//! - **volume**: one healthy endpoint receiving up to a thousand times B's events, published as
//!   fast as the publishers go while B's run lasts (B runs at a twenty-fifth of its rate here, so
//!   a thousand times its events stay a publishable number, and for `--noisy-volume-seconds`,
//!   so that its p99 is not simply the largest of a few samples).
//!
//! Each variant's outcome is B's publish → receipt latency next to A, with B's figures alone and
//! the ratio of the two p99s in the notes, and how many of A's deliveries arrived meanwhile.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::json;

use crate::publisher;
use crate::server::Server;
use crate::{Bench, Outcome, tenant_with_endpoint};

/// What tenant A does next to B.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Neighbour {
    /// Many endpoints answering 2xx after a delay close to the timeout, and a deep backlog.
    Slow,
    /// As many endpoints, half answering 500 and half never answering, and the same backlog.
    Failing,
    /// One endpoint receiving a thousand times B's events.
    Volume,
}

impl Neighbour {
    fn name(self) -> &'static str {
        match self {
            Neighbour::Slow => "slow receivers",
            Neighbour::Failing => "failing receivers",
            Neighbour::Volume => "1,000x volume",
        }
    }
}

impl Bench {
    /// Scenario 7: tenant B alone, then next to tenant A, for each kind of neighbour.
    pub(crate) async fn noisy(&self) -> anyhow::Result<Vec<Outcome>> {
        let mut outcomes = Vec::new();
        for neighbour in [Neighbour::Slow, Neighbour::Failing, Neighbour::Volume] {
            let chosen = &self.options.noisy_variants;
            if !chosen.is_empty() && !chosen.contains(&neighbour) {
                continue;
            }
            outcomes.extend(self.noisy_variant(neighbour).await?);
        }
        Ok(outcomes)
    }

    async fn noisy_variant(&self, neighbour: Neighbour) -> anyhow::Result<Vec<Outcome>> {
        let delay = Duration::from_millis(self.options.noisy_delay_ms);
        // The timeout leaves the slow receivers just enough time to answer.
        let timeout = format!("{}ms", self.options.noisy_delay_ms + 1000);
        let mut settings = vec![("HERALD_DELIVERY__TIMEOUT".to_owned(), timeout)];
        settings.extend(self.settings.iter().cloned());
        self.receiver.reset();
        let server = Server::start(&self.herald, self.options.backend, &settings).await?;
        let (rate, seconds) = match neighbour {
            Neighbour::Volume => (self.options.noisy_rate / 25.0, self.options.noisy_volume_seconds),
            Neighbour::Slow | Neighbour::Failing => (self.options.noisy_rate, self.options.latency_seconds),
        };

        let (quiet, _) = tenant_with_endpoint(&server, "b", &self.receiver.url("quiet/b")).await?;
        let mut alone = self.fixed_rate(&server, &quiet, "b-alone", rate, seconds).await?;

        let a = self.noisy_tenant(&server, neighbour, delay).await?;
        let before = self.receiver.total();
        let started = std::time::Instant::now();
        let (mut next_to, a_events) = match neighbour {
            Neighbour::Slow | Neighbour::Failing => {
                let backlog = self.options.noisy_backlog;
                publisher::as_fast_as_possible(&server, &a, "a", backlog, self.options.concurrency).await?;
                (self.fixed_rate(&server, &quiet, "b-noisy", rate, seconds).await?, backlog)
            }
            Neighbour::Volume => {
                let volume = ((rate * seconds).ceil() as usize) * 1000;
                let going = Arc::new(AtomicBool::new(true));
                let quiet_run = async {
                    let run = self.fixed_rate(&server, &quiet, "b-noisy", rate, seconds).await;
                    going.store(false, Ordering::Relaxed);
                    run
                };
                let concurrency = self.options.concurrency;
                let (b, a) = tokio::join!(
                    quiet_run,
                    publisher::as_fast_as_possible_while(
                        &server,
                        &a,
                        "a",
                        volume,
                        concurrency,
                        going.clone()
                    ),
                );
                (b?, a?.len())
            }
        };
        let window = started.elapsed().as_secs_f64();
        // Receipts during B's run that were not B's: A's.
        let a_delivered = (self.receiver.total() - before).saturating_sub(next_to.deliveries as u64);
        next_to.notes = json!({
            "neighbour": neighbour.name(),
            "rate": rate,
            "seconds": seconds,
            "noisy_endpoints": match neighbour { Neighbour::Volume => 1, _ => self.options.noisy_endpoints },
            "slow_delay_ms": self.options.noisy_delay_ms,
            "noisy_tenant_events": a_events,
            "alone": alone.latency,
            "p99_ratio": next_to.latency.p99_ms / alone.latency.p99_ms.max(1e-9),
            "noisy_tenant_deliveries": a_delivered,
            "noisy_tenant_deliveries_per_s": a_delivered as f64 / window.max(1e-9),
        });
        server.stop().await?;
        alone.scenario = format!("noisy ({}): quiet tenant alone", neighbour.name());
        next_to.scenario = format!("noisy ({}): quiet tenant next to it", neighbour.name());
        Ok(vec![alone, next_to])
    }

    /// Tenant A for `neighbour`: its endpoints (slow ones answer after `delay`).
    async fn noisy_tenant(
        &self,
        server: &Server,
        neighbour: Neighbour,
        delay: Duration,
    ) -> anyhow::Result<String> {
        let tenant = server.call(reqwest::Method::POST, "/v1/tenants", Some(json!({"name": "a"}))).await?;
        let tenant = tenant["id"].as_str().unwrap_or_default().to_owned();
        let paths: Vec<String> = match neighbour {
            Neighbour::Slow => (0..self.options.noisy_endpoints)
                .map(|n| format!("slow/{}/a{n}", delay.as_millis()))
                .collect(),
            Neighbour::Failing => (0..self.options.noisy_endpoints)
                .map(|n| if n % 2 == 0 { format!("fail/a{n}") } else { format!("hang/a{n}") })
                .collect(),
            Neighbour::Volume => vec!["loud/a".to_owned()],
        };
        for path in paths {
            server
                .call(
                    reqwest::Method::POST,
                    &format!("/v1/tenants/{tenant}/endpoints"),
                    Some(json!({"url": self.receiver.url(&path)})),
                )
                .await?;
        }
        Ok(tenant)
    }

    /// Publishes to `tenant` at `rate` for `seconds` and waits for every event's receipt.
    async fn fixed_rate(
        &self,
        server: &Server,
        tenant: &str,
        prefix: &str,
        rate: f64,
        seconds: f64,
    ) -> anyhow::Result<Outcome> {
        let deadline = self.deadline();
        let sent = publisher::at_rate(server, tenant, prefix, rate, seconds).await?;
        let arrivals = self.wait_for(&sent, 1, deadline).await;
        Ok(self.outcome(prefix, server.usage(), &sent, &arrivals, 1, json!({"rate": rate})))
    }
}
