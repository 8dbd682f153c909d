//! The client commands: `herald login`, and commands for every resource of the API, run against
//! a Herald server through `herald-client`.
//!
//! Exit codes: 0 success, 1 any other failure, 2 a usage error (bad arguments or input files),
//! 3 the server refused the request (an API error), 4 the server could not be reached.

pub mod deliveries;
pub mod endpoints;
pub mod event_types;
pub mod events;
pub mod listen;
pub mod login;
pub mod output;
pub mod profile;
pub mod tenants;

use std::sync::Arc;

use herald_client::{Client, Exchange};
use herald_core::Timestamp;
use serde::de::DeserializeOwned;

pub use output::Output;

/// Why a client command stopped, and the exit code that says so.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: Option<String>,
}

impl Failure {
    pub const OTHER: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const API: u8 = 3;
    pub const NETWORK: u8 = 4;

    pub fn usage(message: impl Into<String>) -> Self {
        Self { code: Self::USAGE, message: Some(message.into()) }
    }
    pub fn other(message: impl Into<String>) -> Self {
        Self { code: Self::OTHER, message: Some(message.into()) }
    }
    /// Stop without a message (stdout was closed: `herald … | head`).
    pub fn quiet() -> Self {
        Self { code: 0, message: None }
    }
}

impl From<herald_client::Error> for Failure {
    fn from(error: herald_client::Error) -> Self {
        use herald_client::Error;
        let code = match &error {
            Error::Api { .. } | Error::Http { .. } | Error::Decode { .. } => Self::API,
            Error::Network(_) => Self::NETWORK,
            Error::Url(_) => Self::USAGE,
        };
        let mut message = match &error {
            Error::Api { status, problem } => format!("{} ({status} {})", problem.detail, problem.code),
            Error::Network(e) => format!("{error}{}", cause_chain(e.as_ref())),
            _ => error.to_string(),
        };
        if let Some(problem) = error.problem() {
            for field in &problem.errors {
                message.push_str(&format!("\n  {}: {}", field.path, field.message));
            }
        }
        Self { code, message: Some(message) }
    }
}

/// ": because …" for each cause below the error itself.
fn cause_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = String::new();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// Which server, which key, and how to print: every client command takes these.
#[derive(Debug, Clone, clap::Args)]
pub struct Connection {
    /// The Herald server, e.g. http://127.0.0.1:8080 (default: the one `herald login` saved).
    #[arg(long, env = "HERALD_URL", global = true, value_name = "URL")]
    pub server: Option<String>,
    /// The API key (default: the one `herald login` saved).
    #[arg(long, env = "HERALD_API_KEY", hide_env_values = true, global = true, value_name = "KEY")]
    pub api_key: Option<String>,
    /// Print the API's JSON documents instead of tables, for scripts.
    #[arg(long, global = true)]
    pub json: bool,
    /// Print each API call (method, URL, status, time) to stderr.
    #[arg(long, short = 'v', global = true)]
    pub verbose: bool,
}

/// The tenant a command acts on.
#[derive(Debug, Clone, clap::Args)]
pub struct TenantArg {
    /// The tenant, by id or uid (default: HERALD_TENANT, then the one `herald login` saved).
    #[arg(long, short = 't', env = "HERALD_TENANT", global = true, value_name = "TENANT")]
    pub tenant: Option<String>,
}

/// A connected command: the client, where to print, and the saved tenant.
#[derive(Debug)]
pub struct Session {
    pub client: Client,
    pub out: Output,
    saved_tenant: Option<String>,
}

impl Session {
    /// The client for these arguments: flags and environment first, then the saved login.
    pub fn open(connection: &Connection) -> Result<Self, Failure> {
        let saved = profile::load(&profile::path()?)?;
        let url = connection.server.clone().or(saved.url).ok_or_else(|| {
            Failure::usage("no server: run `herald login`, or pass --server (or set HERALD_URL)")
        })?;
        let key = connection.api_key.clone().or(saved.api_key).ok_or_else(|| {
            Failure::usage("no API key: run `herald login`, or pass --api-key (or set HERALD_API_KEY)")
        })?;
        let mut builder = Client::builder(&url, &key);
        if connection.verbose {
            builder = builder.observer(Arc::new(|exchange: &Exchange| {
                let status = exchange.status.map_or_else(|| "no answer".to_owned(), |s| s.to_string());
                eprintln!(
                    "{} {} → {status} in {} ms",
                    exchange.operation.method,
                    exchange.url,
                    exchange.elapsed.as_millis()
                );
            }));
        }
        Ok(Self { client: builder.build()?, out: Output::new(connection.json), saved_tenant: saved.tenant })
    }

    /// The tenant to act on.
    pub fn tenant(&self, arg: &TenantArg) -> Result<String, Failure> {
        arg.tenant.clone().or_else(|| self.saved_tenant.clone()).ok_or_else(|| {
            Failure::usage("which tenant? pass --tenant (or set HERALD_TENANT, or `herald login --tenant`)")
        })
    }
}

/// A time given on the command line: RFC 3339 (`2026-11-24T10:00:00Z`) or a duration before now
/// (`30m`, `2h`, `7d`).
pub fn parse_time(text: &str) -> Result<Timestamp, String> {
    if let Ok(t) = text.parse::<Timestamp>() {
        return Ok(t);
    }
    let ago = herald_core::duration::HumanDuration::parse(text)
        .map_err(|_| format!("`{text}` is neither an RFC 3339 time nor a duration such as 30m, 2h or 7d"))?;
    Ok(herald_core::time::sub(Timestamp::now(), ago.get()))
}

/// JSON given on the command line: inline, `@path` for a file, or `-` for standard input.
pub fn read_json<T: DeserializeOwned>(what: &str, arg: &str) -> Result<T, Failure> {
    let text = match arg {
        "-" => {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
                .map_err(|e| Failure::usage(format!("cannot read {what} from standard input: {e}")))?;
            text
        }
        _ => match arg.strip_prefix('@') {
            Some(path) => std::fs::read_to_string(path)
                .map_err(|e| Failure::usage(format!("cannot read {what} from {path}: {e}")))?,
            None => arg.to_owned(),
        },
    };
    serde_json::from_str(&text).map_err(|e| Failure::usage(format!("{what} is not valid: {e}")))
}

/// Builds a request document from JSON, so the server's own types check it as the server would.
pub fn request<T: DeserializeOwned>(what: &str, value: serde_json::Value) -> Result<T, Failure> {
    serde_json::from_value(value).map_err(|e| Failure::usage(format!("invalid {what}: {e}")))
}

/// `KEY=VALUE` arguments as a JSON object of strings.
pub fn pairs(args: &[String], what: &str) -> Result<serde_json::Map<String, serde_json::Value>, Failure> {
    args.iter()
        .map(|arg| {
            let (key, value) = arg
                .split_once('=')
                .ok_or_else(|| Failure::usage(format!("{what} `{arg}` is not KEY=VALUE")))?;
            Ok((key.to_owned(), serde_json::Value::String(value.to_owned())))
        })
        .collect()
}

/// `--limit`, `--cursor` and `--all` on every list.
#[derive(Debug, Clone, clap::Args)]
pub struct Paging {
    /// Items to show, 1–250.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=250))]
    pub limit: u32,
    /// Start at this page (the cursor a previous list printed).
    #[arg(long, conflicts_with = "all")]
    pub cursor: Option<String>,
    /// Every item, following the pages.
    #[arg(long)]
    pub all: bool,
}

impl Paging {
    pub fn params(&self) -> herald_api::PageParams {
        herald_api::PageParams { limit: Some(self.limit), cursor: self.cursor.clone() }
    }
}

/// The items of a list as `Paging` asks, and the cursor of the page after them.
pub async fn collect<T>(
    paging: &Paging,
    page: impl Future<Output = herald_client::Result<herald_api::ListResponse<T>>>,
    all: impl FnOnce() -> futures::stream::BoxStream<'static, herald_client::Result<T>>,
) -> Result<(Vec<T>, Option<String>), Failure> {
    use futures::TryStreamExt;
    if paging.all {
        return Ok((all().try_collect().await?, None));
    }
    let page = page.await?;
    Ok((page.data, page.next_cursor))
}

/// Prints a list: JSON (`{data, nextCursor}`) or a table, with a hint for the next page.
pub fn print_list<T: serde::Serialize>(
    out: &Output,
    items: &[T],
    next_cursor: Option<String>,
    headers: &[&str],
    row: impl Fn(&T) -> Vec<String>,
) -> Result<(), Failure> {
    if out.json {
        return out.json(&serde_json::json!({"data": items, "nextCursor": next_cursor}));
    }
    if items.is_empty() {
        eprintln!("(none)");
        return Ok(());
    }
    out.table(headers, &items.iter().map(row).collect::<Vec<_>>())?;
    if let Some(cursor) = next_cursor {
        eprintln!("{}", out.dim(&format!("more: add --cursor {cursor} (or --all)")));
    }
    Ok(())
}
