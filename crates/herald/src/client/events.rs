//! `herald events …`: publish, and the event log.

use std::io::IsTerminal;

use herald_api::events::{EventIn, EventListParams, EventOut};
use serde_json::{Map, Value};

use super::output::time;
use super::{
    Connection, Failure, Paging, Session, TenantArg, collect, parse_time, print_list, read_json, request,
};

#[derive(Debug, clap::Args)]
pub struct EventsArgs {
    #[command(subcommand)]
    pub command: EventsCommand,
    #[command(flatten)]
    pub tenant: TenantArg,
    #[command(flatten)]
    pub connection: Connection,
}

#[derive(Debug, clap::Subcommand)]
pub enum EventsCommand {
    /// Publish an event to every endpoint of the tenant that subscribes to its type.
    Publish {
        /// The event type, e.g. invoice.paid.
        #[arg(long = "type", value_name = "EVENT_TYPE")]
        event_type: String,
        /// The payload, a JSON object: inline, @file or - (default: standard input when it is not
        /// a terminal).
        #[arg(long, value_name = "JSON")]
        data: Option<String>,
        /// Your id for the event: publishing the same id again creates nothing.
        #[arg(long)]
        id: Option<String>,
        /// What the event is about (e.g. the id of the object it concerns).
        #[arg(long)]
        subject: Option<String>,
        /// Where it comes from (e.g. the service that published it).
        #[arg(long)]
        source: Option<String>,
    },
    /// Show an event with its delivery to each endpoint.
    Get { event: String },
    /// List the tenant's events, newest first.
    List {
        /// Only events of this type.
        #[arg(long = "type", value_name = "EVENT_TYPE")]
        event_type: Option<String>,
        /// Published at or after (RFC 3339, or a duration ago such as 2h).
        #[arg(long, value_parser = parse_time)]
        since: Option<herald_core::Timestamp>,
        /// Published before.
        #[arg(long, value_parser = parse_time)]
        until: Option<herald_core::Timestamp>,
        #[command(flatten)]
        paging: Paging,
    },
}

pub async fn run(args: EventsArgs) -> Result<(), Failure> {
    let session = Session::open(&args.connection)?;
    let events = session.client.events(session.tenant(&args.tenant)?);
    let out = &session.out;
    match args.command {
        EventsCommand::Publish { event_type, data, id, subject, source } => {
            let data = match data {
                Some(arg) => arg,
                None if !std::io::stdin().is_terminal() => "-".to_owned(),
                None => return Err(Failure::usage("pass the payload with --data (JSON, @file or -)")),
            };
            let mut body = Map::new();
            body.insert("type".into(), Value::String(event_type));
            body.insert("data".into(), read_json("--data", &data)?);
            for (name, value) in [("id", id), ("subject", subject), ("source", source)] {
                if let Some(value) = value {
                    body.insert(name.into(), Value::String(value));
                }
            }
            let event: EventIn = request("event", Value::Object(body))?;
            let published = events.publish(&event).await?;
            if out.json {
                return out.json(&published);
            }
            print_event(out, &published)
        }
        EventsCommand::Get { event } => {
            let event = events.get(&event).await?;
            if out.json {
                return out.json(&event);
            }
            print_event(out, &event)
        }
        EventsCommand::List { event_type, since, until, paging } => {
            let filter = EventListParams {
                event_type: event_type.map(|t| request("--type", Value::String(t))).transpose()?,
                since,
                until,
            };
            let (items, next) =
                collect(&paging, events.list(&filter, &paging.params()), || events.stream(filter.clone()))
                    .await?;
            print_list(out, &items, next, &["ID", "TYPE", "CREATED"], |e: &EventOut| {
                vec![e.id.to_string(), e.event_type.to_string(), time(&e.created_at)]
            })
        }
    }
}

/// An event, then its deliveries as a table.
fn print_event(out: &super::Output, event: &EventOut) -> Result<(), Failure> {
    out.record(&[
        ("id", event.id.to_string()),
        ("type", event.event_type.to_string()),
        ("tenantId", event.tenant_id.to_string()),
        ("createdAt", time(&event.created_at)),
        ("data", Value::Object(event.data.clone()).to_string()),
    ])?;
    let deliveries = event.deliveries.as_deref().unwrap_or_default();
    if deliveries.is_empty() {
        return out.line(&out.dim("no endpoint subscribes to this type"));
    }
    out.line("")?;
    let rows: Vec<Vec<String>> = deliveries
        .iter()
        .map(|d| {
            vec![
                d.delivery_id.to_string(),
                d.endpoint_id.to_string(),
                out.tone(d.status.as_str()),
                d.attempt_count.to_string(),
            ]
        })
        .collect();
    out.table(&["DELIVERY", "ENDPOINT", "STATUS", "ATTEMPTS"], &rows)
}
