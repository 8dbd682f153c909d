//! The noisy-neighbour scenario: does one tenant's slow receivers delay another tenant?
//!
//! Tenant B has one healthy endpoint receiving events at a fixed rate. It is measured twice on
//! the same server: alone, then while tenant A — many endpoints whose receivers answer 2xx, but
//! only after a delay close to the delivery timeout — has a deep backlog of events. The outcome is
//! B's publish → receipt latency next to A, with B's figures alone and the ratio of the two p99s
//! in the notes, and how many of A's deliveries arrived meanwhile (A must still drain at the rate
//! its receivers allow).

use std::time::Duration;

use serde_json::json;

use crate::publisher;
use crate::server::Server;
use crate::{Bench, Outcome, tenant_with_endpoint};

impl Bench {
    /// Scenario 7: tenant B alone, then next to tenant A's slow endpoints and backlog.
    pub(crate) async fn noisy(&self) -> anyhow::Result<Vec<Outcome>> {
        let delay = Duration::from_millis(self.options.noisy_delay_ms);
        // The timeout leaves the slow receivers just enough time to answer.
        let timeout = format!("{}ms", self.options.noisy_delay_ms + 1000);
        let mut settings = vec![("HERALD_DELIVERY__TIMEOUT".to_owned(), timeout)];
        settings.extend(self.settings.iter().cloned());
        self.receiver.reset();
        let server = Server::start(&self.herald, self.options.backend, &settings).await?;
        let (rate, seconds) = (self.options.noisy_rate, self.options.latency_seconds);

        let (quiet, _) = tenant_with_endpoint(&server, "b", &self.receiver.url("quiet/b")).await?;
        let alone = self.fixed_rate(&server, &quiet, "b-alone", rate, seconds).await?;

        let a = self.slow_tenant(&server, delay).await?;
        let before = self.receiver.total();
        publisher::as_fast_as_possible(
            &server,
            &a,
            "a",
            self.options.noisy_backlog,
            self.options.concurrency,
        )
        .await?;
        let started = std::time::Instant::now();
        let mut next_to = self.fixed_rate(&server, &quiet, "b-noisy", rate, seconds).await?;
        let window = started.elapsed().as_secs_f64();
        // Receipts during B's run that were not B's: A's.
        let a_delivered = (self.receiver.total() - before).saturating_sub(next_to.deliveries as u64);
        next_to.notes = json!({
            "rate": rate,
            "slow_endpoints": self.options.noisy_endpoints,
            "slow_delay_ms": self.options.noisy_delay_ms,
            "slow_backlog_events": self.options.noisy_backlog,
            "alone": alone.latency,
            "p99_ratio": next_to.latency.p99_ms / alone.latency.p99_ms.max(1e-9),
            "slow_tenant_deliveries": a_delivered,
            "slow_tenant_deliveries_per_s": a_delivered as f64 / window.max(1e-9),
        });
        server.stop().await?;
        let mut alone = alone;
        alone.scenario = "noisy: quiet tenant alone".into();
        next_to.scenario = "noisy: quiet tenant next to slow receivers".into();
        Ok(vec![alone, next_to])
    }

    /// Tenant A: `noisy_endpoints` endpoints whose receivers answer after `delay`.
    async fn slow_tenant(&self, server: &Server, delay: Duration) -> anyhow::Result<String> {
        let tenant = server.call(reqwest::Method::POST, "/v1/tenants", Some(json!({"name": "a"}))).await?;
        let tenant = tenant["id"].as_str().unwrap_or_default().to_owned();
        for n in 0..self.options.noisy_endpoints {
            let url = self.receiver.url(&format!("slow/{}/a{n}", delay.as_millis()));
            server
                .call(
                    reqwest::Method::POST,
                    &format!("/v1/tenants/{tenant}/endpoints"),
                    Some(json!({"url": url})),
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
        let ids: Vec<&str> = sent.iter().map(|s| s.id.as_str()).collect();
        let arrivals = self.wait_for(&ids, 1, deadline).await;
        Ok(self.outcome(prefix, server.usage(), &sent, &arrivals, 1, json!({"rate": rate})))
    }
}
