//! The multi-instance scenario: three `herald serve` processes on one PostgreSQL database, each
//! sending from its own loopback address (`delivery.source_address` 127.0.0.2, .3 and .4), so the
//! receiver can tell which instance delivered what.
//!
//! - **Quiet run** (default settings): events published round robin through the three publish
//!   APIs; deliveries/s from the first publish to the last receipt, each instance's share of the
//!   deliveries, and duplicates — there must be none.
//! - **Kill run** (a short lease, so it ends quickly): the same, but one instance is killed with
//!   SIGKILL once a third of the events have arrived. The other two must deliver its leased work
//!   once the lease ends: nothing may be lost. Duplicates (what the killed one sent without living
//!   to record it) are allowed and counted, and the time to complete is reported.
//!
//! Both runs wait until the endpoint has nothing left to deliver (its stats' `backlog` is 0)
//! before counting, so a late duplicate cannot go unseen.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::publisher::{self, Sent, Up};
use crate::server::{Server, Usage};
use crate::{Bench, Outcome};

const INSTANCES: usize = 3;
/// The instance the kill run kills (the third: 127.0.0.4).
const VICTIM: usize = 2;
/// The kill run's delivery timeout and lease: short, so that the killed instance's work is due
/// again within seconds (`--server-env` overrides them).
const KILL_RUN_SETTINGS: [(&str, &str); 2] =
    [("HERALD_DELIVERY__TIMEOUT", "2s"), ("HERALD_DELIVERY__LEASE", "5s")];

/// The loopback address instance `i` sends from.
fn source_of(instance: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + instance as u8))
}

impl Bench {
    /// Scenario 6: the quiet run, then the kill run, each on a fresh database.
    pub(crate) async fn multi(&self) -> anyhow::Result<Vec<Outcome>> {
        Ok(vec![self.multi_run(false).await?, self.multi_run(true).await?])
    }

    async fn multi_run(&self, kill: bool) -> anyhow::Result<Outcome> {
        let name = if kill { "multi: 3 instances, one killed" } else { "multi: 3 instances" };
        let mut settings: Vec<(String, String)> = Vec::new();
        if kill {
            settings.extend(KILL_RUN_SETTINGS.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        }
        settings.extend(self.settings.iter().cloned());
        let with_source = |instance: usize| {
            let mut own = settings.clone();
            own.push(("HERALD_DELIVERY__SOURCE_ADDRESS".into(), source_of(instance).to_string()));
            own
        };
        self.receiver.reset();
        let mut servers = vec![Server::start(&self.herald, self.options.backend, &with_source(0)).await?];
        for instance in 1..INSTANCES {
            servers.push(servers[0].another_instance(&with_source(instance)).await?);
        }

        let tenant =
            servers[0].call(reqwest::Method::POST, "/v1/tenants", Some(json!({"name": "multi"}))).await?;
        let tenant = tenant["id"].as_str().unwrap_or_default().to_owned();
        let endpoint = servers[0]
            .call(
                reqwest::Method::POST,
                &format!("/v1/tenants/{tenant}/endpoints"),
                Some(json!({"url": self.receiver.url("multi")})),
            )
            .await?;
        let endpoint_id = endpoint["id"].as_str().unwrap_or_default().to_owned();
        self.receiver.reset();
        if self.options.verify {
            self.receiver.verify_with(endpoint["secret"].as_str().unwrap_or_default())?;
        }

        let deadline = self.deadline();
        let up = Up::all(INSTANCES);
        let events = self.options.events;
        let prefix = if kill { "mk" } else { "m" };
        let started = Instant::now();
        let targets = publisher::Targets::new(&servers.iter().collect::<Vec<_>>(), &tenant, up.clone());
        let publish = publisher::round_robin(targets, prefix, events, self.options.concurrency);
        let victim = &mut servers[VICTIM];
        let killer = async {
            if !kill {
                return anyhow::Ok(None);
            }
            // Kill once a third of the events have arrived.
            while (self.receiver.total() as usize) < events.div_ceil(3) && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            up.down(VICTIM);
            let at = Instant::now();
            let received = self.receiver.total();
            let usage = victim.kill()?;
            anyhow::Ok(Some(Killed { at, received, usage }))
        };
        let (sent, killed) = tokio::try_join!(publish, killer)?;

        let arrivals = self.wait_for(&sent, 1, deadline).await;
        let complete_at = sent
            .iter()
            .map(|s| arrivals.get(&s.id).map(|a| a.first))
            .collect::<Option<Vec<Instant>>>()
            .and_then(|firsts| firsts.into_iter().max());
        // Nothing left to deliver: from here on nothing more can arrive.
        let settled = settled(&servers[0], &tenant, &endpoint_id, deadline).await;
        let arrivals = self.receiver.arrivals();
        let sources = self.receiver.sources();

        let usages: Vec<Usage> = (0..INSTANCES)
            .map(|i| match (&killed, i == VICTIM) {
                (Some(k), true) => k.usage,
                _ => servers[i].usage(),
            })
            .collect();
        let usage = Usage {
            peak_rss_mb: usages.iter().map(|u| u.peak_rss_mb).fold(0.0, f64::max),
            cpu_seconds: usages.iter().map(|u| u.cpu_seconds).sum(),
        };
        let requests: u64 = sources.values().sum();
        let instances: Vec<Value> = (0..INSTANCES)
            .map(|i| {
                let delivered = sources.get(&source_of(i)).copied().unwrap_or(0);
                json!({
                    "instance": i + 1,
                    "source": source_of(i).to_string(),
                    "published": sent.iter().filter(|s| s.via == i).count(),
                    "deliveries": delivered,
                    "share": delivered as f64 / requests.max(1) as f64,
                    "killed": killed.is_some() && i == VICTIM,
                    "peak_rss_mb": usages[i].peak_rss_mb,
                    "cpu_seconds": usages[i].cpu_seconds,
                })
            })
            .collect();
        let other_sources: u64 = sources
            .iter()
            .filter(|(ip, _)| !(0..INSTANCES).any(|i| source_of(i) == **ip))
            .map(|(_, n)| n)
            .sum();
        let mut notes = json!({
            "instances": instances,
            "requests": requests,
            "other_sources": other_sources,
            "concurrency": self.options.concurrency,
            "settled": match &settled {
                Ok(stats) => stats.clone(),
                Err(e) => json!({"error": format!("{e:#}")}),
            },
        });

        let mut o = self.outcome(name, usage, &sent, &arrivals, 1, Value::Null);
        if let Some(k) = &killed {
            let first = first_publish(&sent).unwrap_or(started);
            let complete_s = complete_at.map(|at| at.saturating_duration_since(first).as_secs_f64());
            // Events the victim had accepted and not yet delivered when it died: the others had to
            // take them over once its leases ended.
            let stranded: Vec<Option<Instant>> = sent
                .iter()
                .filter(|s| s.via == VICTIM)
                .map(|s| arrivals.get(&s.id).map(|a| a.first))
                .filter(|first| first.is_none_or(|at| at > k.at))
                .collect();
            let stranded_in = stranded.iter().copied().collect::<Option<Vec<Instant>>>();
            notes["killed"] = json!({
                "instance": VICTIM + 1,
                "source": source_of(VICTIM).to_string(),
                "after_received": k.received,
                "at_s": k.at.saturating_duration_since(first).as_secs_f64(),
                "stranded": stranded.len(),
                "stranded_in_after_kill_s": stranded_in
                    .and_then(|firsts| firsts.into_iter().max())
                    .map(|at| at.saturating_duration_since(k.at).as_secs_f64()),
                "complete_s": complete_s,
                "complete_after_kill_s": complete_at.map(|at| at.saturating_duration_since(k.at).as_secs_f64()),
            });
            notes["settings"] = json!(settings.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>());
            // Duplicates are the expected price of a kill; the rate runs to the moment every event
            // had arrived once, not to the last duplicate.
            o.complete = o.missing == 0;
            if let Some(complete_s) = complete_s.filter(|s| *s > 0.0) {
                o.elapsed_s = complete_s;
                o.deliveries_per_s = o.deliveries as f64 / complete_s;
            }
        }
        o.complete = o.complete && other_sources == 0 && settled.is_ok();
        o.notes = notes;
        drop(servers); // SIGKILL: the run is over, nothing is left to drain
        Ok(o)
    }
}

/// The moment the victim was killed, how many requests had arrived by then, and its resource use.
struct Killed {
    at: Instant,
    received: u64,
    usage: Usage,
}

fn first_publish(sent: &[Sent]) -> Option<Instant> {
    sent.iter().map(|s| s.started).min()
}

/// Waits (until `deadline`) for the endpoint to have nothing left to deliver; returns its
/// delivery counts and recorded attempts then, or why it did not settle.
async fn settled(server: &Server, tenant: &str, endpoint: &str, deadline: Instant) -> anyhow::Result<Value> {
    let path = format!("/v1/tenants/{tenant}/endpoints/{endpoint}/stats");
    loop {
        let stats = server.call(reqwest::Method::GET, &path, None).await?;
        if stats["backlog"].as_u64() == Some(0) {
            // The stats' figures are read one after another, not as one snapshot: read them again
            // now that nothing changes any more.
            let stats = server.call(reqwest::Method::GET, &path, None).await?;
            return Ok(json!({"deliveries": stats["deliveries"], "attempts": stats["attempts"]}));
        }
        anyhow::ensure!(Instant::now() < deadline, "deliveries still waiting at the deadline: {stats}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One line for the report: each instance's share, duplicates, and the kill.
pub(crate) fn summary(o: &Outcome) -> Option<String> {
    let instances = o.notes.get("instances")?.as_array()?;
    let shares: Vec<String> = instances
        .iter()
        .map(|i| {
            format!(
                "{} {:.1} % ({}{})",
                i["source"].as_str().unwrap_or("?"),
                i["share"].as_f64().unwrap_or(0.0) * 100.0,
                i["deliveries"],
                if i["killed"] == true { ", killed" } else { "" }
            )
        })
        .collect();
    let mut line = format!("shares {}; {} duplicates", shares.join(", "), o.duplicates);
    if let Some(k) = o.notes.get("killed") {
        let seconds = |key: &str| k[key].as_f64().map_or("–".to_owned(), |s| format!("{s:.2} s"));
        line.push_str(&format!(
            "; instance {} killed at {} after {} receipts, {} of the events it had accepted still \
             undelivered (the last of them in {} after the kill); every event in {} after the kill",
            k["instance"],
            seconds("at_s"),
            k["after_received"],
            k["stranded"],
            seconds("stranded_in_after_kill_s"),
            seconds("complete_after_kill_s"),
        ));
    }
    Some(line)
}
