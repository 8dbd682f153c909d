//! `herald endpoints …`: a tenant's receivers.

use herald_api::endpoints::{
    EndpointIn, EndpointOut, EndpointPatch, RecoverIn, RotateIn, StatsParams, TestIn,
};
use serde_json::{Map, Value};

use super::output::{time, yes_no};
use super::{
    Connection, Failure, Paging, Session, TenantArg, collect, pairs, parse_time, print_list, read_json,
    request,
};

#[derive(Debug, clap::Args)]
pub struct EndpointsArgs {
    #[command(subcommand)]
    pub command: EndpointsCommand,
    #[command(flatten)]
    pub tenant: TenantArg,
    #[command(flatten)]
    pub connection: Connection,
}

#[derive(Debug, clap::Subcommand)]
pub enum EndpointsCommand {
    /// List the tenant's endpoints, newest first.
    List(Paging),
    /// Show an endpoint (credentials only as "set").
    Get { endpoint: String },
    /// Register an endpoint; its signing secret is printed once.
    Create {
        /// Where deliveries go (https://…).
        #[arg(long)]
        url: Option<String>,
        #[command(flatten)]
        settings: Settings,
        /// Send nothing until enabled.
        #[arg(long)]
        disabled: bool,
        /// The signing secret (whsec_…, or whsk_… for v1a); generated when absent.
        #[arg(long)]
        secret: Option<String>,
        /// v1 (HMAC-SHA256, the default) or v1a (ed25519).
        #[arg(long, value_parser = ["v1", "v1a"])]
        scheme: Option<String>,
    },
    /// Change the settings given; the others stay.
    Update {
        endpoint: String,
        /// Where deliveries go from now on.
        #[arg(long)]
        url: Option<String>,
        #[command(flatten)]
        settings: Settings,
    },
    /// Delete an endpoint; its waiting deliveries fail.
    Delete { endpoint: String },
    /// Start sending to the endpoint again.
    Enable { endpoint: String },
    /// Stop sending to the endpoint; its deliveries wait as failed until recovered.
    Disable { endpoint: String },
    /// Replace the signing secret; the old one keeps signing during the grace period.
    RotateSecret {
        endpoint: String,
        /// How long the old secret keeps signing (0s to 7d).
        #[arg(long, default_value = "24h")]
        grace: String,
        /// The new secret; generated when absent.
        #[arg(long)]
        secret: Option<String>,
    },
    /// End every grace period: only the current secret signs from now on.
    RetireSecrets { endpoint: String },
    /// Send a test event to this endpoint only.
    Test {
        endpoint: String,
        /// Send this type's catalog example (default: a herald.ping).
        #[arg(long = "type", value_name = "EVENT_TYPE")]
        event_type: Option<String>,
    },
    /// Queue again the endpoint's failed deliveries created in a time range.
    Recover {
        endpoint: String,
        /// From (RFC 3339, or a duration ago such as 2h).
        #[arg(long, value_parser = parse_time)]
        since: herald_core::Timestamp,
        /// Until (default: now).
        #[arg(long, value_parser = parse_time)]
        until: Option<herald_core::Timestamp>,
    },
    /// Deliveries by status, success rate, latency, backlog and circuit state.
    Stats {
        endpoint: String,
        /// From (default: 24 hours before --until).
        #[arg(long, value_parser = parse_time)]
        since: Option<herald_core::Timestamp>,
        /// Until (default: now).
        #[arg(long, value_parser = parse_time)]
        until: Option<herald_core::Timestamp>,
    },
}

/// Settings common to create and update. `--body` gives any setting as the API's JSON; the
/// flags given override it.
#[derive(Debug, clap::Args)]
pub struct Settings {
    /// What the endpoint is, for people.
    #[arg(long)]
    description: Option<String>,
    /// An event-type pattern to subscribe to (repeatable): invoice.paid, invoice.*, *.
    #[arg(long = "event", value_name = "PATTERN")]
    events: Vec<String>,
    /// A custom header sent with every delivery, NAME=VALUE (repeatable).
    #[arg(long = "header", value_name = "NAME=VALUE")]
    headers: Vec<String>,
    /// At most this many requests per second.
    #[arg(long, value_name = "N")]
    rate_limit: Option<u32>,
    /// At most this many requests at once.
    #[arg(long, value_name = "N")]
    max_in_flight: Option<u32>,
    /// json, cloudevents, cloudevents-binary, data or template (give the template, and
    /// signature profiles, through --body: {"payloadTemplate": …, "signatureProfiles": […]}).
    #[arg(long, value_parser = ["json", "cloudevents", "cloudevents-binary", "data", "template"])]
    payload_format: Option<String>,
    /// Metadata, KEY=VALUE (repeatable).
    #[arg(long = "metadata", value_name = "KEY=VALUE")]
    metadata: Vec<String>,
    /// Any setting as the API's JSON (auth, tls, retryPolicy, filter, …): inline, @file or -.
    #[arg(long, value_name = "JSON")]
    body: Option<String>,
}

impl Settings {
    /// The request body: `--body`, then each flag given.
    fn into_body(self, url: Option<String>) -> Result<Map<String, Value>, Failure> {
        let mut body: Map<String, Value> = match &self.body {
            Some(arg) => match read_json::<Value>("--body", arg)? {
                Value::Object(map) => map,
                _ => return Err(Failure::usage("--body must be a JSON object")),
            },
            None => Map::new(),
        };
        if let Some(url) = url {
            body.insert("url".into(), Value::String(url));
        }
        if let Some(description) = self.description {
            body.insert("description".into(), Value::String(description));
        }
        if !self.events.is_empty() {
            body.insert("events".into(), self.events.into_iter().map(Value::String).collect());
        }
        if !self.headers.is_empty() {
            body.insert("headers".into(), Value::Object(pairs(&self.headers, "header")?));
        }
        if self.rate_limit.is_some() || self.max_in_flight.is_some() {
            let mut limit = Map::new();
            if let Some(n) = self.rate_limit {
                limit.insert("perSecond".into(), n.into());
            }
            if let Some(n) = self.max_in_flight {
                limit.insert("maxInFlight".into(), n.into());
            }
            body.insert("rateLimit".into(), Value::Object(limit));
        }
        if let Some(format) = self.payload_format {
            body.insert("payloadFormat".into(), Value::String(format));
        }
        if !self.metadata.is_empty() {
            body.insert("metadata".into(), Value::Object(pairs(&self.metadata, "metadata")?));
        }
        Ok(body)
    }
}

pub async fn run(args: EndpointsArgs) -> Result<(), Failure> {
    let session = Session::open(&args.connection)?;
    let endpoints = session.client.endpoints(session.tenant(&args.tenant)?);
    let out = &session.out;
    match args.command {
        EndpointsCommand::List(paging) => {
            let (items, next) =
                collect(&paging, endpoints.list(&paging.params()), || endpoints.stream()).await?;
            print_list(
                out,
                &items,
                next,
                &["ID", "URL", "EVENTS", "ENABLED", "CREATED"],
                |e: &EndpointOut| {
                    let events = if e.events.is_empty() {
                        "*".to_owned()
                    } else {
                        e.events.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
                    };
                    vec![
                        e.id.to_string(),
                        e.url.as_str().to_owned(),
                        events,
                        out.tone(yes_no(e.enabled)),
                        time(&e.created_at),
                    ]
                },
            )
        }
        EndpointsCommand::Get { endpoint } => out.document(&endpoints.get(&endpoint).await?),
        EndpointsCommand::Create { url, settings, disabled, secret, scheme } => {
            let mut body = settings.into_body(url)?;
            if !body.contains_key("url") {
                return Err(Failure::usage("pass --url (or a url in --body)"));
            }
            if disabled {
                body.insert("enabled".into(), Value::Bool(false));
            }
            if let Some(secret) = secret {
                body.insert("secret".into(), Value::String(secret));
            }
            if let Some(scheme) = scheme {
                body.insert("signatureScheme".into(), Value::String(scheme));
            }
            let spec: EndpointIn = request("endpoint", Value::Object(body))?;
            let created = endpoints.create(&spec).await?;
            out.document(&created)?;
            if !out.json {
                eprintln!("{}", out.dim("the secret is shown only this once: give it to the receiver now"));
            }
            Ok(())
        }
        EndpointsCommand::Update { endpoint, url, settings } => {
            let body = settings.into_body(url)?;
            if body.is_empty() {
                return Err(Failure::usage("nothing to change: pass a setting to change"));
            }
            let patch: EndpointPatch = request("change", Value::Object(body))?;
            out.document(&endpoints.update(&endpoint, &patch).await?.value)
        }
        EndpointsCommand::Delete { endpoint } => {
            endpoints.delete(&endpoint).await?;
            eprintln!("Deleted endpoint {endpoint}.");
            Ok(())
        }
        EndpointsCommand::Enable { endpoint } => {
            out.document(&endpoints.set_enabled(&endpoint, true).await?.value)
        }
        EndpointsCommand::Disable { endpoint } => {
            out.document(&endpoints.set_enabled(&endpoint, false).await?.value)
        }
        EndpointsCommand::RotateSecret { endpoint, grace, secret } => {
            let mut body = Map::new();
            body.insert("gracePeriod".into(), Value::String(grace));
            if let Some(secret) = secret {
                body.insert("secret".into(), Value::String(secret));
            }
            let rotation: RotateIn = request("rotation", Value::Object(body))?;
            out.document(&endpoints.rotate_secret(&endpoint, &rotation).await?.value)
        }
        EndpointsCommand::RetireSecrets { endpoint } => {
            endpoints.retire_previous_secrets(&endpoint).await?;
            eprintln!("Only the current secret of {endpoint} signs now.");
            Ok(())
        }
        EndpointsCommand::Test { endpoint, event_type } => {
            let test: TestIn = request("test", serde_json::json!({"eventType": event_type}))?;
            let sent = endpoints.test(&endpoint, &test).await?;
            out.document(&sent)?;
            if !out.json {
                eprintln!("{}", out.dim(&format!("follow it: herald deliveries get {}", sent.delivery_id)));
            }
            Ok(())
        }
        EndpointsCommand::Recover { endpoint, since, until } => {
            let recovered = endpoints.recover(&endpoint, &RecoverIn { since, until }).await?;
            if out.json {
                return out.json(&recovered);
            }
            out.line(&format!("Queued {} failed deliveries again.", recovered.recovered))
        }
        EndpointsCommand::Stats { endpoint, since, until } => {
            out.document(&endpoints.stats(&endpoint, &StatsParams { since, until }).await?)
        }
    }
}
