//! `herald-bench`: the benchmark as its own binary, so the shipped `herald` carries no test code.
//! It runs a `herald` binary as the server under test: the one given with `--herald`, else the
//! one built next to this binary (`cargo build --release -p herald -p herald-bench`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    name = "herald-bench",
    version,
    about = "Benchmark a herald binary on loopback (see docs/benchmarks.md)"
)]
struct Cli {
    /// The `herald` binary to benchmark. Default: `herald` next to this binary.
    #[arg(long)]
    herald: Option<PathBuf>,
    #[command(flatten)]
    options: herald_bench::Options,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let run = async {
        let herald = match cli.herald {
            Some(path) => path,
            None => std::env::current_exe().context("locating this binary")?.with_file_name("herald"),
        };
        anyhow::ensure!(
            herald.is_file(),
            "no herald binary at {} (build it with `cargo build --release -p herald`, or pass --herald PATH)",
            herald.display()
        );
        herald_bench::run(cli.options, herald).await
    };
    let report = tokio::runtime::Runtime::new().map_err(anyhow::Error::from).and_then(|rt| rt.block_on(run));
    match report {
        Ok(report) => {
            #[allow(clippy::print_stdout)] // the report is the command's output
            {
                println!("{}", herald_bench::markdown(&report));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("herald-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
