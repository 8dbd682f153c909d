//! Percentiles over measured durations.

use std::time::Duration;

use serde::Serialize;

/// p50 / p90 / p99 / max of a sample, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Percentiles {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub samples: usize,
}

impl Percentiles {
    pub fn of(mut sample: Vec<Duration>) -> Self {
        if sample.is_empty() {
            return Self::default();
        }
        sample.sort_unstable();
        let at = |q: f64| {
            let index = ((sample.len() as f64 - 1.0) * q).round() as usize;
            sample[index.min(sample.len() - 1)].as_secs_f64() * 1000.0
        };
        Self { p50_ms: at(0.50), p90_ms: at(0.90), p99_ms: at(0.99), max_ms: at(1.0), samples: sample.len() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_sample() {
        let sample: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let p = Percentiles::of(sample);
        assert_eq!(
            (p.p50_ms.round(), p.p90_ms.round(), p.p99_ms.round(), p.max_ms),
            (51.0, 90.0, 99.0, 100.0)
        );
        assert_eq!(Percentiles::of(vec![]).samples, 0);
    }
}
