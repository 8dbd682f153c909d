//! `herald deliveries …`: the delivery log, one delivery with its attempts, and retries — of one
//! delivery, or of every delivery matching a filter (a bulk retry, followed with a progress bar).

use std::time::Duration;

use herald_api::bulk_retries::{BulkFilter, BulkRetryOut, BulkRetryStatus};
use herald_api::deliveries::{DeliveryListParams, DeliveryOut};
use herald_core::Timestamp;
use herald_core::delivery::DeliveryStatus;
use serde_json::Value;

use super::output::{opt_time, time};
use super::{
    Connection, Failure, Output, Paging, Session, TenantArg, collect, parse_time, print_list, request,
};

#[derive(Debug, clap::Args)]
pub struct DeliveriesArgs {
    #[command(subcommand)]
    pub command: DeliveriesCommand,
    #[command(flatten)]
    pub tenant: TenantArg,
    #[command(flatten)]
    pub connection: Connection,
}

/// Which deliveries: the delivery log's filters.
#[derive(Debug, clap::Args)]
pub struct Filter {
    /// pending, retrying, delivered or failed.
    #[arg(long, value_parser = ["pending", "retrying", "delivered", "failed"])]
    status: Option<String>,
    /// Only deliveries to this endpoint.
    #[arg(long, value_name = "ENDPOINT")]
    endpoint: Option<String>,
    /// Only deliveries of events of this type.
    #[arg(long = "type", value_name = "EVENT_TYPE")]
    event_type: Option<String>,
    /// Created at or after (RFC 3339, or a duration ago such as 2h).
    #[arg(long, value_parser = parse_time)]
    since: Option<Timestamp>,
    /// Created before.
    #[arg(long, value_parser = parse_time)]
    until: Option<Timestamp>,
}

impl Filter {
    fn status(&self) -> Result<Option<DeliveryStatus>, Failure> {
        self.status.as_deref().map(|s| s.parse().map_err(Failure::usage)).transpose()
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum DeliveriesCommand {
    /// List deliveries, newest first.
    List {
        #[command(flatten)]
        filter: Filter,
        /// Only the deliveries of this event.
        #[arg(long, value_name = "EVENT")]
        event: Option<String>,
        #[command(flatten)]
        paging: Paging,
    },
    /// Show a delivery with every attempt: request, response, duration, error.
    Get { delivery: String },
    /// Queue a delivery again now, or every delivery matching the filters (then --since is
    /// needed, and a progress bar follows the work).
    Retry {
        /// The delivery to retry; without it, every delivery the filters match.
        #[arg(conflicts_with_all = ["status", "endpoint", "event_type", "since", "until"])]
        delivery: Option<String>,
        #[command(flatten)]
        filter: Filter,
        /// Start a bulk retry and return without waiting for it.
        #[arg(long)]
        detach: bool,
    },
    /// Follow a bulk retry started with --detach until it is done.
    RetryStatus {
        /// The bulk retry (blk_…).
        bulk_retry: String,
    },
}

pub async fn run(args: DeliveriesArgs) -> Result<(), Failure> {
    let session = Session::open(&args.connection)?;
    let tenant = session.tenant(&args.tenant)?;
    let deliveries = session.client.deliveries(&tenant);
    let out = &session.out;
    match args.command {
        DeliveriesCommand::List { filter, event, paging } => {
            let params = DeliveryListParams {
                endpoint_id: filter
                    .endpoint
                    .clone()
                    .map(|e| request("--endpoint", Value::String(e)))
                    .transpose()?,
                event_id: event.map(|e| request("--event", Value::String(e))).transpose()?,
                status: filter.status()?,
                event_type: filter
                    .event_type
                    .clone()
                    .map(|t| request("--type", Value::String(t)))
                    .transpose()?,
                since: filter.since,
                until: filter.until,
            };
            let (items, next) = collect(&paging, deliveries.list(&params, &paging.params()), || {
                deliveries.stream(params.clone())
            })
            .await?;
            let headers = ["ID", "STATUS", "EVENT", "ENDPOINT", "ATTEMPTS", "CREATED", "NEXT ATTEMPT"];
            print_list(out, &items, next, &headers, |d: &DeliveryOut| {
                vec![
                    d.id.to_string(),
                    out.tone(d.status.as_str()),
                    d.event_id.to_string(),
                    d.endpoint_id.to_string(),
                    d.attempt_count.to_string(),
                    time(&d.created_at),
                    opt_time(d.next_attempt_at.as_ref()),
                ]
            })
        }
        DeliveriesCommand::Get { delivery } => {
            let delivery = deliveries.get(&delivery).await?;
            if out.json {
                return out.json(&delivery);
            }
            print_delivery(out, &delivery)
        }
        DeliveriesCommand::Retry { delivery: Some(delivery), .. } => {
            let queued = deliveries.retry(&delivery).await?;
            if out.json {
                return out.json(&queued);
            }
            out.line(&format!("Queued {} again.", queued.id))
        }
        DeliveriesCommand::Retry { delivery: None, filter, detach } => {
            let since = filter.since.ok_or_else(|| {
                Failure::usage(
                    "which deliveries? give a delivery id, or --since (e.g. --since 2h) and filters",
                )
            })?;
            let bulk = BulkFilter {
                since,
                until: filter.until,
                status: filter.status()?,
                endpoint_id: filter
                    .endpoint
                    .clone()
                    .map(|e| request("--endpoint", Value::String(e)))
                    .transpose()?,
                event_type: filter
                    .event_type
                    .clone()
                    .map(|t| request("--type", Value::String(t)))
                    .transpose()?,
            };
            let operations = session.client.bulk_retries(&tenant);
            let started = operations.create(&bulk).await?;
            if detach {
                if out.json {
                    return out.json(&started);
                }
                return out.line(&format!(
                    "Started bulk retry {}; follow it with `herald deliveries retry-status {}`.",
                    started.id, started.id
                ));
            }
            let finished = follow(out, &operations, started).await?;
            summary(out, &finished)
        }
        DeliveriesCommand::RetryStatus { bulk_retry } => {
            let operations = session.client.bulk_retries(&tenant);
            let op = operations.get(&bulk_retry).await?;
            let finished = follow(out, &operations, op).await?;
            summary(out, &finished)
        }
    }
}

fn summary(out: &Output, op: &BulkRetryOut) -> Result<(), Failure> {
    if out.json {
        return out.json(op);
    }
    out.line(&format!("Queued {} deliveries again (bulk retry {}).", op.retried, op.id))
}

/// Polls a bulk retry until it is done, with a progress bar on a terminal.
async fn follow(
    out: &Output,
    operations: &herald_client::BulkRetries,
    mut op: BulkRetryOut,
) -> Result<BulkRetryOut, Failure> {
    let bar = match op.total {
        Some(total) => indicatif::ProgressBar::new(total).with_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} retrying [{bar:30}] {pos}/{len} deliveries ({elapsed})",
            )
            .map_err(|e| Failure::other(e.to_string()))?
            .progress_chars("=> "),
        ),
        None => indicatif::ProgressBar::new_spinner().with_message("retrying…"),
    };
    if out.json {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    while op.status != BulkRetryStatus::Done {
        bar.set_position(op.retried.min(op.total.unwrap_or(u64::MAX)));
        tokio::time::sleep(Duration::from_millis(250)).await;
        op = operations.get(op.id.as_str()).await?;
    }
    bar.set_position(op.retried.min(op.total.unwrap_or(u64::MAX)));
    bar.finish_and_clear();
    Ok(op)
}

/// A delivery, then each attempt: what was sent and what came back.
fn print_delivery(out: &Output, d: &DeliveryOut) -> Result<(), Failure> {
    out.record(&[
        ("id", d.id.to_string()),
        ("status", out.tone(d.status.as_str())),
        ("event", d.event_id.to_string()),
        ("endpoint", d.endpoint_id.to_string()),
        ("attempts", d.attempt_count.to_string()),
        ("nextAttemptAt", opt_time(d.next_attempt_at.as_ref())),
        ("failureReason", d.failure_reason.map_or("-".into(), |r| r.as_str().to_owned())),
        ("createdAt", time(&d.created_at)),
    ])?;
    for attempt in d.attempts.as_deref().unwrap_or_default() {
        out.line("")?;
        let outcome = match (&attempt.response, &attempt.error_kind) {
            (Some(response), _) if (200..300).contains(&response.status) => out.tone("delivered"),
            (Some(response), _) => out.tone("failed") + &format!(" (HTTP {})", response.status),
            (None, Some(kind)) => out.tone("failed") + &format!(" ({kind})"),
            (None, None) => "-".to_owned(),
        };
        out.line(&format!(
            "attempt {} · {} · {} · {} ms · {outcome}",
            attempt.attempt_no,
            attempt.trigger,
            time(&attempt.started_at),
            attempt.duration_ms
        ))?;
        out.line(&format!("  {} {}", attempt.request.method, attempt.request.url))?;
        for (name, value) in &attempt.request.headers {
            out.line(&out.dim(&format!("  > {name}: {value}")))?;
        }
        if let Some(response) = &attempt.response {
            out.line(&format!("  < HTTP {}", response.status))?;
            for (name, value) in &response.headers {
                out.line(&out.dim(&format!("  < {name}: {value}")))?;
            }
            if let Some(body) = response.body.as_deref().filter(|b| !b.is_empty()) {
                out.line(&format!("  < {}", body.replace('\n', "\n  < ")))?;
            }
        }
        if let Some(message) = &attempt.error_message {
            out.line(&format!("  ! {message}"))?;
        }
    }
    Ok(())
}
