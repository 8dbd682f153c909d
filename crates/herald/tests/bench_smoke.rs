//! CI's smoke run of the benchmark: every scenario at tiny sizes, on both backends (`multi` on
//! PostgreSQL only). It asserts only that the run completes and that every published event
//! reached the receiver exactly as expected (`--check`; once at least in the run that kills an
//! instance), with every signature verified (`--verify`) — never any timing.

use clap::Parser;

/// The benchmark's own command line, parsed as `herald-bench` parses it.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    options: herald_bench::Options,
}

async fn smoke(backend: &str) {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let Args { options } = Args::parse_from(
        ["herald-bench", "--smoke", "--check", "--verify", "--backend", backend, "--json"]
            .into_iter()
            .chain([json.to_str().unwrap()]),
    );
    // The server under test is the real `herald` binary, as `herald-bench` runs it.
    let report = herald_bench::run(options, env!("CARGO_BIN_EXE_herald").into()).await;
    let report = report.unwrap_or_else(|e| panic!("bench failed: {e:#}"));
    let table = herald_bench::markdown(&report);
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let outcomes = report["outcomes"].as_array().unwrap();
    let names: Vec<&str> = outcomes.iter().map(|o| o["scenario"].as_str().unwrap()).collect();
    for expected in [
        "raw ceiling",
        "throughput",
        "fan-out: publish → last endpoint",
        "fan-out: back to back → last endpoint",
        "fan-out: sustained",
        "backlog",
        "isolation",
        "noisy (slow receivers): quiet tenant next to it",
        "noisy (failing receivers): quiet tenant next to it",
        "noisy (1,000x volume): quiet tenant next to it",
    ] {
        assert!(names.contains(&expected), "{expected} missing from {names:?}");
    }
    assert!(names.iter().filter(|n| n.starts_with("latency at")).count() == 2, "{names:?}");
    let multi = ["multi: 3 instances", "multi: 3 instances, one killed"];
    for expected in multi {
        assert_eq!(names.contains(&expected), backend == "postgres", "{expected} in {names:?}");
    }
    for o in outcomes {
        assert_eq!(o["complete"], true, "{o}");
        assert_eq!(o["missing"], 0);
        if o["scenario"] != multi[1] {
            assert_eq!(o["duplicates"], 0, "{o}");
        }
        assert_eq!(o["bad_signatures"], 0);
        assert!(o["deliveries"].as_u64().unwrap() > 0);
        if o["scenario"] != "raw ceiling" {
            let cpu = o["cpu_us_per_delivery"].as_f64();
            assert!(cpu.is_some_and(|us| us > 0.0), "the server's CPU per delivery is reported: {o}");
        }
    }
    assert!(table.contains("| scenario |") && table.contains("| throughput |"), "{table}");
    for o in outcomes.iter().filter(|o| multi.contains(&o["scenario"].as_str().unwrap())) {
        // Every delivery came from one of the three instances' source addresses.
        let instances = o["notes"]["instances"].as_array().unwrap();
        assert_eq!(instances.len(), 3, "{o}");
        assert_eq!(o["notes"]["other_sources"], 0, "{o}");
        let counted: u64 = instances.iter().map(|i| i["deliveries"].as_u64().unwrap()).sum();
        assert_eq!(counted, o["notes"]["requests"].as_u64().unwrap(), "{o}");
        assert!(table.contains(&format!("{}: shares 127.0.0.2", o["scenario"].as_str().unwrap())), "{table}");
        if o["scenario"] == multi[0] {
            assert!(
                instances.iter().all(|i| i["deliveries"].as_u64().unwrap() > 0),
                "all three deliver: {o}"
            );
        }
    }
    for noisy in
        outcomes.iter().filter(|o| o["scenario"].as_str().unwrap().ends_with("quiet tenant next to it"))
    {
        assert!(noisy["notes"]["p99_ratio"].as_f64().is_some_and(|r| r > 0.0), "{noisy}");
        assert!(noisy["notes"]["alone"]["samples"].as_u64().is_some_and(|n| n > 0), "{noisy}");
    }
    if backend == "postgres" {
        let killed = outcomes.iter().find(|o| o["scenario"] == multi[1]).unwrap();
        assert_eq!(killed["notes"]["killed"]["instance"], 3, "{killed}");
        assert!(killed["notes"]["killed"]["complete_after_kill_s"].as_f64().is_some(), "{killed}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bench_smoke_sqlite() {
    smoke("sqlite").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bench_smoke_postgres() {
    smoke("postgres").await;
}

// A comparison: the binary against itself with fewer workers, two rounds, on SQLite. Each run's
// report and the comparison are written beside `--json`; the table has both sides' medians and
// the paired ratio for every figure measured.
#[tokio::test(flavor = "multi_thread")]
async fn bench_smoke_comparison() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("ab.json");
    let Args { options } = Args::parse_from(
        ["herald-bench", "--smoke", "--check", "--scenario", "throughput", "--json"]
            .into_iter()
            .chain([json.to_str().unwrap()]),
    );
    let herald = std::path::PathBuf::from(env!("CARGO_BIN_EXE_herald"));
    let arms = herald_bench::compare::Arm::from_args(&[herald], &["HERALD_DELIVERY__WORKERS=8".to_owned()]);
    let comparison = herald_bench::compare::compare(&options, &arms, 2).await;
    let comparison = comparison.unwrap_or_else(|e| panic!("comparison failed: {e:#}"));
    let mut written: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    assert_eq!(
        written,
        [
            "ab-comparison.json",
            "ab-herald-1.json",
            "ab-herald-2.json",
            "ab-herald_HERALD_DELIVERY__WORKERS_8-1.json",
            "ab-herald_HERALD_DELIVERY__WORKERS_8-2.json",
        ]
    );
    let rate = comparison
        .rows
        .iter()
        .find(|r| r.scenario == "throughput" && r.figure == "deliveries/s")
        .expect("the throughput's rate is compared");
    assert!(rate.medians.iter().all(|m| m.is_some_and(|v| v > 0.0)), "{rate:?}");
    assert_eq!(rate.paired[0], Some(1.0));
    assert!(rate.paired[1].is_some_and(|r| r > 0.0), "{rate:?}");
    let table = herald_bench::compare::markdown(&comparison);
    assert!(table.contains("| throughput | deliveries/s |"), "{table}");
    assert!(table.contains("herald HERALD_DELIVERY__WORKERS=8 / herald, paired"), "{table}");
}
