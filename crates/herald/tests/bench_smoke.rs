//! CI's smoke run of the benchmark: every scenario at tiny sizes, on both backends. It asserts
//! only that the run completes and that every published event reached the receiver exactly as
//! expected (`--check`), with every signature verified (`--verify`) — never any timing.

use std::process::Command;

fn smoke(backend: &str) {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let out = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["bench", "--smoke", "--check", "--verify", "--backend", backend, "--json"])
        .arg(&json)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bench failed:\n{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let outcomes = report["outcomes"].as_array().unwrap();
    let names: Vec<&str> = outcomes.iter().map(|o| o["scenario"].as_str().unwrap()).collect();
    for expected in [
        "raw ceiling",
        "throughput",
        "fan-out: publish → last endpoint",
        "fan-out: sustained",
        "backlog",
        "isolation",
    ] {
        assert!(names.contains(&expected), "{expected} missing from {names:?}");
    }
    assert!(names.iter().filter(|n| n.starts_with("latency at")).count() == 2, "{names:?}");
    for o in outcomes {
        assert_eq!(o["complete"], true, "{o}");
        assert_eq!(o["missing"], 0);
        assert_eq!(o["duplicates"], 0);
        assert_eq!(o["bad_signatures"], 0);
        assert!(o["deliveries"].as_u64().unwrap() > 0);
    }
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("| scenario |") && table.contains("| throughput |"), "{table}");
}

#[test]
fn bench_smoke_sqlite() {
    smoke("sqlite");
}

#[test]
fn bench_smoke_postgres() {
    smoke("postgres");
}
