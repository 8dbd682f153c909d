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
    /// The `herald` binary to benchmark. Default: `herald` next to this binary. Given more than
    /// once, the binaries are compared: each runs the scenarios in turn, every round.
    #[arg(long)]
    herald: Vec<PathBuf>,
    /// Compare the first binary with itself run with these extra server settings as well
    /// (`"KEY=VALUE KEY2=VALUE2"`; repeatable: one more side each).
    #[arg(long = "compare-env")]
    compare_env: Vec<String>,
    /// Rounds of a comparison: every side runs the scenarios once per round (their order
    /// reversed every other round); the table gives medians and paired ratios to the first side.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    #[command(flatten)]
    options: herald_bench::Options,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let run = async {
        let mut binaries = cli.herald;
        if binaries.is_empty() {
            binaries.push(std::env::current_exe().context("locating this binary")?.with_file_name("herald"));
        }
        for herald in &binaries {
            anyhow::ensure!(
                herald.is_file(),
                "no herald binary at {} (build it with `cargo build --release -p herald`, or pass --herald PATH)",
                herald.display()
            );
        }
        let arms = herald_bench::compare::Arm::from_args(&binaries, &cli.compare_env);
        if arms.len() == 1 && cli.rounds <= 1 {
            let report = herald_bench::run(cli.options, binaries.swap_remove(0)).await?;
            return Ok(herald_bench::markdown(&report));
        }
        let comparison = herald_bench::compare::compare(&cli.options, &arms, cli.rounds).await?;
        Ok(herald_bench::compare::markdown(&comparison))
    };
    let report = tokio::runtime::Runtime::new().map_err(anyhow::Error::from).and_then(|rt| rt.block_on(run));
    match report {
        Ok(report) => {
            #[allow(clippy::print_stdout)] // the report is the command's output
            {
                println!("{report}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("herald-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
