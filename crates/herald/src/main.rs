//! The `herald` binary: the server (`serve`, `migrate`, which call into `herald-server`) and the
//! client commands (`login`, `tenants`, `endpoints`, …, which talk to a server through
//! `herald-client`).

mod allocator;
mod client;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use herald_server::Config;
use herald_server::config::LogFormat;

#[derive(Debug, Parser)]
#[command(name = "herald", version, about = "Webhook delivery service", after_help = EXIT_CODES)]
struct Cli {
    /// Configuration file (TOML). Default: ./herald.toml when it exists.
    #[arg(long, short, global = true, env = "HERALD_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

const EXIT_CODES: &str = "Client commands exit with 0 on success, 2 on a usage error, 3 when the server refuses \
the request, 4 when the server cannot be reached, 1 otherwise.";

/// The commands as `herald --help` groups them: what runs a server, what talks to one.
const GROUPS: &[(&str, &[&str])] = &[
    ("Server", &["serve", "migrate", "backup"]),
    (
        "Client (talk to a Herald server; see `herald login`)",
        &["login", "logout", "tenants", "keys", "event-types", "endpoints", "events", "deliveries", "listen"],
    ),
    ("Other", &["completions", "help"]),
];

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server: apply migrations, then serve the API.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Copy the SQLite database consistently to PATH, while Herald serves or not.
    Backup {
        /// Where to write the copy (must not exist).
        path: PathBuf,
    },
    /// Save the server URL, API key and default tenant for the client commands.
    Login(client::login::LoginArgs),
    /// Forget the saved login.
    Logout,
    /// Tenants: list, get, create, update, delete, stats, portal-link.
    Tenants(client::tenants::TenantsArgs),
    /// A tenant's API keys: list, create, revoke.
    Keys(client::tenants::KeysArgs),
    /// The event catalog: list, get, create, update, delete.
    EventTypes(client::event_types::EventTypesArgs),
    /// Endpoints: list, get, create, update, delete, enable, disable, rotate-secret, test, recover, stats.
    Endpoints(client::endpoints::EndpointsArgs),
    /// Events: publish, get, list.
    Events(client::events::EventsArgs),
    /// The delivery log: list, get, retry (one, or every match with a progress bar).
    Deliveries(client::deliveries::DeliveriesArgs),
    /// Receive a tenant's deliveries here and forward them to a local URL, for development.
    Listen(client::listen::ListenArgs),
    /// Print a shell completion script (`herald completions bash > ~/.local/share/bash-completion/completions/herald`).
    Completions {
        /// The shell to complete in.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Logs to standard error as configured, and spans to the OTLP collector when one is set;
/// returns the span exporter's provider, to flush at exit.
fn init_logging(config: &Config) -> anyhow::Result<Option<opentelemetry_sdk::trace::SdkTracerProvider>> {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    // The log level filters the logs only: spans go to the collector at `info` whatever it is.
    let logs = || tracing_subscriber::EnvFilter::new(&config.log.level);
    // Colour only for a person watching a terminal, never in files or log collectors.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let (fmt_text, fmt_json) = match config.log.format {
        LogFormat::Json => (
            None,
            Some(tracing_subscriber::fmt::layer().json().with_writer(std::io::stderr).with_filter(logs())),
        ),
        LogFormat::Text => (
            Some(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(ansi)
                    .with_filter(logs()),
            ),
            None,
        ),
    };
    let provider = match &config.traces.otlp_endpoint {
        Some(endpoint) => {
            use opentelemetry::trace::TracerProvider as _;
            use opentelemetry_otlp::{Protocol, WithExportConfig};
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpJson)
                .with_endpoint(endpoint)
                .build()
                .context("setting up the OTLP exporter (option `traces.otlp_endpoint`)")?;
            let resource = opentelemetry_sdk::Resource::builder()
                .with_service_name(config.traces.service_name.clone())
                .build();
            let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_resource(resource)
                .build();
            Some((provider.tracer("herald"), provider))
        }
        None => None,
    };
    let otel = provider.as_ref().map(|(tracer, _)| {
        tracing_opentelemetry::layer()
            .with_tracer(tracer.clone())
            .with_filter(tracing_subscriber::filter::LevelFilter::INFO)
    });
    tracing_subscriber::registry().with(fmt_text).with(fmt_json).with(otel).init();
    Ok(provider.map(|(_, provider)| provider))
}

/// The command line, with `--help` listing the commands by group.
fn command() -> clap::Command {
    use clap::CommandFactory;
    let command = Cli::command();
    let mut listing = String::new();
    for (heading, names) in GROUPS {
        listing.push_str(&format!("{heading}:\n"));
        for name in *names {
            let about = command.find_subcommand(name).and_then(|sub| sub.get_about()).map_or_else(
                || "Print this message or the help of the given command".to_owned(),
                ToString::to_string,
            );
            listing.push_str(&format!("  {name:<13} {about}\n"));
        }
        listing.push('\n');
    }
    let template = format!(
        "{{about-with-newline}}\n{{usage-heading}} {{usage}}\n\n{listing}Options:\n{{options}}{{after-help}}"
    );
    command.help_template(template)
}

fn main() -> ExitCode {
    allocator::tune();
    let cli =
        match command().try_get_matches().and_then(|m| <Cli as clap::FromArgMatches>::from_arg_matches(&m)) {
            Ok(cli) => cli,
            Err(e) => e.exit(),
        };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => return fail(&anyhow::Error::from(e)),
    };
    match cli.command {
        Command::Login(_)
        | Command::Logout
        | Command::Tenants(_)
        | Command::Keys(_)
        | Command::EventTypes(_)
        | Command::Endpoints(_)
        | Command::Events(_)
        | Command::Deliveries(_)
        | Command::Listen(_) => match runtime.block_on(run_client(cli.command)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(failure) => {
                if let Some(message) = failure.message {
                    eprintln!("herald: {message}");
                }
                ExitCode::from(failure.code)
            }
        },
        _ => match runtime.block_on(run(cli)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e),
        },
    }
}

async fn run_client(command: Command) -> Result<(), client::Failure> {
    match command {
        Command::Login(args) => client::login::login(args).await,
        Command::Logout => client::login::logout(&client::Output::new(false)),
        Command::Tenants(args) => client::tenants::run(args).await,
        Command::Keys(args) => client::tenants::run_keys(args).await,
        Command::EventTypes(args) => client::event_types::run(args).await,
        Command::Endpoints(args) => client::endpoints::run(args).await,
        Command::Events(args) => client::events::run(args).await,
        Command::Deliveries(args) => client::deliveries::run(args).await,
        Command::Listen(args) => client::listen::run(args).await,
        Command::Serve | Command::Migrate | Command::Backup { .. } | Command::Completions { .. } => {
            Err(client::Failure::other("not a client command"))
        }
    }
}

fn fail(error: &anyhow::Error) -> ExitCode {
    eprintln!("herald: {error:#}");
    ExitCode::FAILURE
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve => {
            let config = Config::load(cli.config.as_deref())?;
            let spans = init_logging(&config)?;
            let served = serve(config).await;
            if let Some(provider) = spans {
                // Send the spans still buffered before the process ends.
                let _ = tokio::task::spawn_blocking(move || provider.shutdown()).await;
            }
            served
        }
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut command(), "herald", &mut std::io::stdout());
            Ok(())
        }
        Command::Migrate => {
            let config = load(cli.config.as_deref())?;
            let store = herald_server::app::open_store(&config).await?;
            store.migrate().await.context("applying database migrations")?;
            tracing::info!(backend = ?store.backend(), "migrations applied");
            Ok(())
        }
        Command::Backup { path } => {
            let config = load(cli.config.as_deref())?;
            let master_key = herald_server::app::backup(&config, &path).await?;
            eprintln!(
                "Copied the database to {}. Its credentials are sealed with the master key, which is not in it: \
                 keep a copy of {master_key} apart from the backup, as safely — a restore without it cannot \
                 open them.",
                path.display()
            );
            Ok(())
        }
        _ => anyhow::bail!("not a server command"),
    }
}

/// The configuration, with logging set up as it says (spans are exported by `serve` only).
fn load(file: Option<&std::path::Path>) -> anyhow::Result<Config> {
    let mut config = Config::load(file)?;
    config.traces.otlp_endpoint = None;
    init_logging(&config)?;
    Ok(config)
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let app = herald_server::Application::build(config).await?;
    if let Some(key) = app.generated_admin_key() {
        #[allow(clippy::print_stdout)] // shown once, on purpose, to the operator
        {
            println!("Herald generated an admin API key. It is shown only this once; store it safely:");
            println!();
            println!("    {}", key.expose());
            println!();
        }
    }
    tracing::info!(address = %app.local_addr(), "herald listening");
    app.run_until(shutdown_signal()).await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
