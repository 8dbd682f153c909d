//! Bar charts as inline SVG (no script, no styles of their own: colours come from app.css), each
//! with its figures as a table for those who do not see it.

use std::time::Duration;

use herald_core::Timestamp;
use herald_store::TimelineBucket;
use maud::{Markup, html};

const WIDTH: f64 = 600.0;
const HEIGHT: f64 = 140.0;
/// Room below the bars for the time labels.
const AXIS: f64 = 18.0;

/// One bar: its value (none: no attempt in that bucket) and what its tooltip says.
struct Bar {
    value: Option<f64>,
    /// A second, thinner mark (the longest attempt, over the mean).
    peak: Option<f64>,
    title: String,
}

/// The buckets of `[since, since + count × width)`, the empty ones included.
fn slots(
    timeline: &[TimelineBucket],
    since: Timestamp,
    width: Duration,
    count: usize,
) -> Vec<Option<&TimelineBucket>> {
    let width_ms = width.as_millis().max(1) as i64;
    let mut slots = vec![None; count];
    for bucket in timeline {
        let index = (bucket.start.as_millisecond() - since.as_millisecond()) / width_ms;
        if let Some(slot) = usize::try_from(index).ok().and_then(|i| slots.get_mut(i)) {
            *slot = Some(bucket);
        }
    }
    slots
}

fn label(t: Timestamp, width: Duration) -> String {
    let format = if width >= Duration::from_secs(3600) { "%b %d %H:%M" } else { "%H:%M" };
    t.strftime(format).to_string()
}

fn bars_svg(name: &str, summary: &str, bars: &[Bar], top: f64, unit: &str, start: &str, end: &str) -> Markup {
    let slot = WIDTH / bars.len().max(1) as f64;
    let plot = HEIGHT - AXIS;
    let y = |v: f64| plot - (v / top).clamp(0.0, 1.0) * (plot - 4.0);
    html! {
        svg.chart viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img" aria-label=(summary) data-chart=(name) {
            title { (summary) }
            line.axis x1="0" y1=(plot) x2=(WIDTH) y2=(plot) {}
            text.axis-label x="2" y="10" { (format!("{top:.0}{unit}")) }
            @for (i, bar) in bars.iter().enumerate() {
                @let x = i as f64 * slot + 1.0;
                @if let Some(value) = bar.value {
                    rect.bar x=(format!("{x:.1}")) y=(format!("{:.1}", y(value))) width=(format!("{:.1}", slot - 2.0))
                        height=(format!("{:.1}", plot - y(value))) {
                        title { (bar.title) }
                    }
                }
                @if let Some(peak) = bar.peak {
                    rect.peak x=(format!("{x:.1}")) y=(format!("{:.1}", y(peak) - 1.0)) width=(format!("{:.1}", slot - 2.0)) height="2" {}
                }
            }
            text.axis-label x="2" y=(HEIGHT - 4.0) { (start) }
            text.axis-label.end x=(WIDTH - 2.0) y=(HEIGHT - 4.0) { (end) }
        }
    }
}

/// Success rate and latency over time, one bar per bucket.
pub fn endpoint_charts(
    timeline: &[TimelineBucket],
    since: Timestamp,
    width: Duration,
    count: usize,
) -> Markup {
    let slots = slots(timeline, since, width, count);
    let until = herald_core::time::add(since, width * count as u32);
    let (start, end) = (label(since, width), label(until, width));
    let success: Vec<Bar> = slots
        .iter()
        .map(|slot| match slot {
            Some(b) if b.attempts > 0 => {
                let rate = 100.0 * b.succeeded as f64 / b.attempts as f64;
                Bar {
                    value: Some(rate),
                    peak: None,
                    title: format!(
                        "{}: {rate:.0}% of {} attempts succeeded",
                        label(b.start, width),
                        b.attempts
                    ),
                }
            }
            _ => Bar { value: None, peak: None, title: String::new() },
        })
        .collect();
    let top_ms = timeline.iter().map(|b| b.max_ms).max().unwrap_or(0).max(1) as f64;
    let latency: Vec<Bar> = slots
        .iter()
        .map(|slot| match slot {
            Some(b) => Bar {
                value: Some(b.mean_ms as f64),
                peak: Some(b.max_ms as f64),
                title: format!("{}: mean {} ms, longest {} ms", label(b.start, width), b.mean_ms, b.max_ms),
            },
            None => Bar { value: None, peak: None, title: String::new() },
        })
        .collect();
    let attempts: u64 = timeline.iter().map(|b| b.attempts).sum();
    html! {
        div.charts {
            figure {
                figcaption { "Attempts that succeeded" }
                (bars_svg("success", &format!("Share of attempts that succeeded, per bucket ({attempts} attempts)"), &success, 100.0, "%", &start, &end))
            }
            figure {
                figcaption { "Latency " span.muted { "(bars: mean, marks: longest)" } }
                (bars_svg("latency", "Attempt latency per bucket, in milliseconds", &latency, top_ms, " ms", &start, &end))
            }
        }
        details.chart-data {
            summary { "The figures" }
            @if timeline.is_empty() {
                p.muted { "No attempts in this range." }
            } @else {
                table.list.compact {
                    thead { tr { th { "From" } th { "Attempts" } th { "Succeeded" } th { "Mean ms" } th { "Longest ms" } } }
                    tbody {
                        @for b in timeline {
                            tr {
                                td { time datetime=(b.start) { (b.start) } }
                                td { (b.attempts) } td { (b.succeeded) } td { (b.mean_ms) } td { (b.max_ms) }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(start: i64, attempts: u64, succeeded: u64) -> TimelineBucket {
        TimelineBucket {
            start: Timestamp::from_second(start).unwrap(),
            attempts,
            succeeded,
            mean_ms: 10,
            max_ms: 40,
        }
    }

    #[test]
    fn buckets_land_in_their_slot_and_gaps_stay_empty() {
        let since = Timestamp::from_second(1_000).unwrap();
        let timeline = [bucket(1_000, 4, 4), bucket(1_120, 2, 1), bucket(9_999, 1, 1)];
        let slots = slots(&timeline, since, Duration::from_secs(60), 3);
        assert_eq!(slots.iter().map(Option::is_some).collect::<Vec<_>>(), [true, false, true]);
        let html = endpoint_charts(&timeline[..2], since, Duration::from_secs(60), 3).into_string();
        assert_eq!(html.matches("<rect class=\"bar\"").count(), 4, "two buckets in each chart");
        assert!(html.contains("50% of 2 attempts succeeded"));
        assert!(html.contains("mean 10 ms, longest 40 ms"));
    }
}
