//! Side-by-side runs: several arms — a `herald` binary, perhaps with extra server settings — run
//! in turn, round after round, on the same machine; their figures are compared by their medians
//! over the rounds and by paired ratios (each round's figure over the first arm's in that round,
//! then the median), which cancel most of a shared machine's drift between rounds.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::{Options, Outcome, Report};

/// One side of a comparison.
#[derive(Debug, Clone)]
pub struct Arm {
    /// How the arm is named in the table and in the JSON files' names.
    pub label: String,
    pub herald: PathBuf,
    /// Extra server settings, `KEY=VALUE`, on top of `--server-env`.
    pub settings: Vec<String>,
}

impl Arm {
    /// The arms of a command line: each binary as it is, then the first binary with each set of
    /// extra settings (`"KEY=VALUE KEY2=VALUE2"`). Binaries with the same file name are told
    /// apart by their place.
    pub fn from_args(binaries: &[PathBuf], settings: &[String]) -> Vec<Arm> {
        let name = |path: &Path| {
            path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
        };
        let mut arms: Vec<Arm> = binaries
            .iter()
            .enumerate()
            .map(|(i, path)| {
                let same = binaries.iter().filter(|other| name(other) == name(path)).count() > 1;
                let label = if same { format!("{}#{}", name(path), i + 1) } else { name(path) };
                Arm { label, herald: path.clone(), settings: Vec::new() }
            })
            .collect();
        if let Some(first) = binaries.first() {
            for set in settings {
                arms.push(Arm {
                    label: format!("{} {set}", name(first)),
                    herald: first.clone(),
                    settings: set.split_whitespace().map(str::to_owned).collect(),
                });
            }
        }
        arms
    }
}

/// One run of one arm.
#[derive(Debug)]
pub struct Run {
    pub arm: usize,
    pub round: usize,
    pub report: Report,
}

/// Runs every arm once per round, the order reversed every other round (so that neither side
/// always runs first); with `options.json`, each run's report goes to `<stem>-<label>-<round>.json`
/// beside it and the comparison to `<stem>-comparison.json`.
pub async fn compare(options: &Options, arms: &[Arm], rounds: usize) -> anyhow::Result<Comparison> {
    let rounds = rounds.max(1);
    let mut runs = Vec::new();
    for round in 0..rounds {
        let mut order: Vec<usize> = (0..arms.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for i in order {
            let arm = &arms[i];
            eprintln!("round {} of {rounds}: {}", round + 1, arm.label);
            let mut arm_options = options.clone();
            arm_options.json = None;
            arm_options.server_env.extend(arm.settings.iter().cloned());
            let report = crate::run(arm_options, arm.herald.clone()).await?;
            if let Some(path) = &options.json {
                let file = beside(path, &format!("{}-{}", file_safe(&arm.label), round + 1));
                std::fs::write(file, serde_json::to_string_pretty(&report)?)?;
            }
            runs.push(Run { arm: i, round, report });
        }
    }
    let comparison = Comparison {
        arms: arms.iter().map(|a| a.label.clone()).collect(),
        rounds,
        rows: summarize(&runs, arms.len()),
    };
    if let Some(path) = &options.json {
        std::fs::write(beside(path, "comparison"), serde_json::to_string_pretty(&comparison)?)?;
    }
    Ok(comparison)
}

/// The figures of every arm, side by side.
#[derive(Debug, Serialize)]
pub struct Comparison {
    pub arms: Vec<String>,
    pub rounds: usize,
    pub rows: Vec<Row>,
}

/// One figure of one scenario across the arms.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub scenario: String,
    pub figure: &'static str,
    /// Per arm: the median over its rounds.
    pub medians: Vec<Option<f64>>,
    /// Per arm: the median over the rounds of its figure divided by the first arm's in the same
    /// round (the first arm's own is 1).
    pub paired: Vec<Option<f64>>,
}

type Figure = (&'static str, fn(&Outcome) -> Option<f64>);

/// The figures compared, in the table's order.
const FIGURES: [Figure; 8] = [
    ("deliveries/s", |o| Some(o.deliveries_per_s)),
    ("ratio", |o| o.ratio),
    ("p50 ms", |o| Some(o.latency.p50_ms)),
    ("p99 ms", |o| Some(o.latency.p99_ms)),
    ("publish p50 ms", |o| Some(o.publish_api.p50_ms)),
    ("publish p99 ms", |o| Some(o.publish_api.p99_ms)),
    ("CPU µs/delivery", |o| o.cpu_us_per_delivery),
    ("peak RSS MB", |o| Some(o.server.peak_rss_mb)),
];

/// Medians and paired ratios of every figure of every scenario the runs measured; a figure that
/// is zero or missing in every run (the raw ceiling's server figures), or a ratio that is 1 in
/// every run (the raw ceiling's to itself), is left out.
pub fn summarize(runs: &[Run], arms: usize) -> Vec<Row> {
    // The same options give every run the same outcomes in the same order; their names may
    // still differ (the latency run at 20 % of each run's own throughput names its rate).
    let outcomes = runs.iter().map(|r| r.report.outcomes.len()).max().unwrap_or(0);
    let value = |run: &Run, scenario: usize, figure: fn(&Outcome) -> Option<f64>| {
        run.report.outcomes.get(scenario).and_then(figure)
    };
    let of_arm: Vec<Vec<&Run>> =
        (0..arms).map(|arm| runs.iter().filter(|r| r.arm == arm).collect()).collect();
    let mut rows = Vec::new();
    for scenario in 0..outcomes {
        let mut names: Vec<&str> =
            runs.iter().filter_map(|r| Some(r.report.outcomes.get(scenario)?.scenario.as_str())).collect();
        names.dedup();
        let label = match names.as_slice() {
            [one] => (*one).to_owned(),
            [first, ..] => format!("{first} (each run's own)"),
            [] => continue,
        };
        for (name, figure) in FIGURES {
            let medians: Vec<Option<f64>> = of_arm
                .iter()
                .map(|runs| median(runs.iter().filter_map(|r| value(r, scenario, figure)).collect()))
                .collect();
            let constant = |c: f64| medians.iter().all(|m| m.is_none_or(|v| v == c));
            if constant(0.0) || (name == "ratio" && constant(1.0)) {
                continue;
            }
            let paired = of_arm
                .iter()
                .map(|runs_of_arm| {
                    let ratios = runs_of_arm
                        .iter()
                        .filter_map(|r| {
                            let first = runs.iter().find(|f| f.arm == 0 && f.round == r.round)?;
                            let (mine, theirs) =
                                (value(r, scenario, figure)?, value(first, scenario, figure)?);
                            (theirs != 0.0).then(|| mine / theirs)
                        })
                        .collect();
                    median(ratios)
                })
                .collect();
            rows.push(Row { scenario: label.clone(), figure: name, medians, paired });
        }
    }
    rows
}

/// The comparison as a markdown table: each arm's median, and beside every arm after the first
/// its paired ratio to the first.
pub fn markdown(comparison: &Comparison) -> String {
    let (first, others) = match comparison.arms.split_first() {
        Some(split) => split,
        None => return String::new(),
    };
    let mut head = format!("| scenario | figure | {first} |");
    let mut rule = String::from("|---|---|---:|");
    for arm in others {
        head.push_str(&format!(" {arm} | {arm} / {first}, paired |"));
        rule.push_str("---:|---:|");
    }
    let mut out = format!(
        "Medians of {} rounds; paired: the median of each round's ratio to `{first}`.\n\n{head}\n{rule}\n",
        comparison.rounds
    );
    let number = |v: Option<f64>| {
        v.map_or("–".to_owned(), |v| if v >= 100.0 { format!("{v:.0}") } else { format!("{v:.2}") })
    };
    for row in &comparison.rows {
        out.push_str(&format!("| {} | {} | {} |", row.scenario, row.figure, number(row.medians[0])));
        for arm in 1..comparison.arms.len() {
            out.push_str(&format!(
                " {} | {} |",
                number(row.medians[arm]),
                row.paired[arm].map_or("–".to_owned(), |r| format!("{r:.3}"))
            ));
        }
        out.push('\n');
    }
    out
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 { values[mid] } else { (values[mid - 1] + values[mid]) / 2.0 })
}

/// `dir/stem-<suffix>.json` for `dir/stem.json`.
fn beside(path: &Path, suffix: &str) -> PathBuf {
    let stem = path.file_stem().map_or_else(|| "bench".into(), |s| s.to_string_lossy().into_owned());
    path.with_file_name(format!("{stem}-{suffix}.json"))
}

fn file_safe(label: &str) -> String {
    label.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '_' }).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::Backend;
    use crate::server::Usage;
    use crate::stats::Percentiles;

    fn outcome(scenario: &str, rate: f64, p50: f64) -> Outcome {
        Outcome {
            scenario: scenario.into(),
            backend: Backend::Sqlite,
            events: 10,
            deliveries: 10,
            elapsed_s: 1.0,
            deliveries_per_s: rate,
            ratio: None,
            latency: Percentiles { p50_ms: p50, ..Percentiles::default() },
            publish_api: Percentiles::default(),
            server: Usage { peak_rss_mb: 0.0, cpu_seconds: 0.0 },
            cpu_us_per_delivery: None,
            complete: true,
            missing: 0,
            duplicates: 0,
            bad_signatures: 0,
            notes: json!({}),
        }
    }

    fn run(arm: usize, round: usize, rate: f64, p50: f64) -> Run {
        let report = Report {
            machine: json!({}),
            postgres: None,
            commit: None,
            command: String::new(),
            outcomes: vec![
                Outcome { ratio: Some(1.0), ..outcome("raw ceiling", 5000.0, 0.0) },
                outcome("throughput", rate, p50),
            ],
        };
        Run { arm, round, report }
    }

    #[test]
    fn arms_are_compared_by_medians_and_by_ratios_within_each_round() {
        // The machine slows down in round 2 for both arms; arm 1 is 10 % faster in every round
        // although its median is not 10 % above arm 0's.
        let runs = [
            run(0, 0, 1000.0, 4.0),
            run(1, 0, 1100.0, 3.0),
            run(0, 1, 500.0, 8.0),
            run(1, 1, 550.0, 6.0),
            run(0, 2, 1200.0, 4.0),
            run(1, 2, 1320.0, 3.0),
        ];
        let rows = summarize(&runs, 2);
        let figures: Vec<(&str, &str)> = rows.iter().map(|r| (r.scenario.as_str(), r.figure)).collect();
        assert_eq!(
            figures,
            [("raw ceiling", "deliveries/s"), ("throughput", "deliveries/s"), ("throughput", "p50 ms")],
            "figures that are zero or missing everywhere, and ratios of 1 everywhere, are left out"
        );
        let rows = &rows[1..];
        let rate = &rows[0];
        assert_eq!(rate.medians, [Some(1000.0), Some(1100.0)]);
        let paired: Vec<f64> = rate.paired.iter().map(|r| (r.unwrap() * 1000.0).round() / 1000.0).collect();
        assert_eq!(paired, [1.0, 1.1]);
        assert_eq!(rows[1].medians, [Some(4.0), Some(3.0)]);
        assert_eq!(rows[1].paired[1], Some(0.75));
        let table =
            markdown(&Comparison { arms: vec!["a".into(), "b".into()], rounds: 3, rows: rows.to_vec() });
        assert!(table.contains("| throughput | deliveries/s | 1000 | 1100 | 1.100 |"), "{table}");
    }

    #[test]
    fn outcomes_are_matched_by_their_place_when_their_names_differ() {
        // The latency run at 20 % of each run's own throughput names a different rate each time.
        let named = |arm, round, name: &str, p50| {
            let mut r = run(arm, round, 100.0, p50);
            r.report.outcomes[1].scenario = name.to_owned();
            r
        };
        let runs = [named(0, 0, "latency at 2408/s", 2.0), named(1, 0, "latency at 2449/s", 3.0)];
        let rows = summarize(&runs, 2);
        let p50 = rows.iter().find(|r| r.figure == "p50 ms").expect("one row for both");
        assert_eq!(p50.scenario, "latency at 2408/s (each run's own)");
        assert_eq!((p50.medians.clone(), p50.paired[1]), (vec![Some(2.0), Some(3.0)], Some(1.5)));
    }

    #[test]
    fn arms_come_from_binaries_and_from_settings_on_the_first_binary() {
        let binaries =
            [PathBuf::from("/a/herald"), PathBuf::from("/b/herald"), PathBuf::from("/c/herald-new")];
        let arms = Arm::from_args(&binaries, &["K=1 L=2".to_owned()]);
        let labels: Vec<&str> = arms.iter().map(|a| a.label.as_str()).collect();
        assert_eq!(labels, ["herald#1", "herald#2", "herald-new", "herald K=1 L=2"]);
        assert_eq!(arms[3].herald, binaries[0]);
        assert_eq!(arms[3].settings, ["K=1", "L=2"]);
        assert_eq!(file_safe(&arms[3].label), "herald_K_1_L_2");
        assert_eq!(beside(Path::new("/tmp/r.json"), "x-1"), PathBuf::from("/tmp/r-x-1.json"));
    }
}
