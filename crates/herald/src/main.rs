//! The `herald` binary: parses arguments and calls into `herald-server`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use herald_server::Config;
use herald_server::config::LogFormat;

/// mimalloc: less CPU than glibc's allocator on Herald's many short-lived allocations (measured in
/// docs/benchmarks.md) and less fragmentation, hence a smaller resident set.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(name = "herald", version, about = "Webhook delivery service")]
struct Cli {
    /// Configuration file (TOML). Default: ./herald.toml when it exists.
    #[arg(long, short, global = true, env = "HERALD_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server: apply migrations, then serve the API.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Print a shell completion script (`herald completions bash > ~/.local/share/bash-completion/completions/herald`).
    Completions {
        /// The shell to complete in.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::new(&config.log.level);
    // Colour only for a person watching a terminal, never in files or log collectors.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    match config.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => return fail(&anyhow::Error::from(e)),
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

fn fail(error: &anyhow::Error) -> ExitCode {
    eprintln!("herald: {error:#}");
    ExitCode::FAILURE
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve => {
            let config = load(cli.config.as_deref())?;
            serve(config).await
        }
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "herald", &mut std::io::stdout());
            Ok(())
        }
        Command::Migrate => {
            let config = load(cli.config.as_deref())?;
            let store = herald_server::app::open_store(&config).await?;
            store.migrate().await.context("applying database migrations")?;
            tracing::info!(backend = ?store.backend(), "migrations applied");
            Ok(())
        }
    }
}

/// The configuration, with logging set up as it says.
fn load(file: Option<&std::path::Path>) -> anyhow::Result<Config> {
    let config = Config::load(file)?;
    init_logging(&config);
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
