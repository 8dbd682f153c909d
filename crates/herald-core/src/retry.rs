//! Retry policies: when the next attempt of a failing delivery happens, and when Herald gives up.
//!
//! A schedule is either an explicit list of delays (the wait before attempt 2, 3, …; the last
//! delay repeats when attempts outnumber the list) or exponential (`initial × factor^n`, capped
//! at `max`). Jitter spreads each delay by ±`jitter` (a fraction). Herald gives up after
//! `maxAttempts` attempts or once `ttl` has passed since the event, whichever comes first.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

use crate::duration::HumanDuration;

/// The default retry schedule: immediately, then 5s, 5m, 30m, 2h, 5h, 10h, 10h.
pub const DEFAULT_DELAYS_SECS: [u64; 7] = [5, 300, 1800, 7200, 18_000, 36_000, 36_000];
pub const DEFAULT_TTL: HumanDuration = HumanDuration::from_secs(24 * 3600);
pub const DEFAULT_JITTER: f64 = 0.2;
pub const MAX_ATTEMPTS_LIMIT: u32 = 100;
pub const MAX_DELAY: Duration = Duration::from_secs(7 * 24 * 3600);
pub const MAX_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Exponential {
    /// The first delay.
    pub initial: HumanDuration,
    /// Each delay is the previous one times this (1–10).
    #[schema(minimum = 1.0, maximum = 10.0)]
    pub factor: f64,
    /// The longest delay (at least `initial`, at most 7d).
    pub max: HumanDuration,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    Delays(Vec<HumanDuration>),
    Exponential(Exponential),
}

/// A retry policy as an endpoint (or the instance) configures it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RetryPolicy {
    /// Waits before attempt 2, 3, …; the last one repeats. Exclusive with `exponential`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delays: Option<Vec<HumanDuration>>,
    /// Exponential backoff. Exclusive with `delays`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exponential: Option<Exponential>,
    /// Total attempts including the first (1–100).
    #[schema(minimum = 1, maximum = 100)]
    pub max_attempts: u32,
    /// Give up once this much time has passed since the event was published.
    pub ttl: HumanDuration,
    /// Random spread of each delay, as a fraction (0–1).
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub jitter: f64,
}

/// A retry policy as a caller writes it: every field optional. Absent fields take the default
/// retry schedule's values (`maxAttempts` follows `delays`: one more than it lists; 30 with
/// `exponential`).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RetryPolicyIn {
    /// Waits before attempt 2, 3, …; the last one repeats (1 to 100 delays, each at most 7d).
    /// Exclusive with `exponential`.
    #[schema(min_items = 1, max_items = 100)]
    delays: Option<Vec<HumanDuration>>,
    /// Exponential backoff. Exclusive with `delays`.
    exponential: Option<Exponential>,
    /// Total attempts including the first (1–100).
    #[schema(minimum = 1, maximum = 100)]
    max_attempts: Option<u32>,
    /// Give up once this much time has passed since the event was published (more than 0s, at
    /// most 30d; default 24h).
    ttl: Option<HumanDuration>,
    /// Random spread of each delay, as a fraction (0–1; default 0.2).
    #[schema(minimum = 0.0, maximum = 1.0)]
    jitter: Option<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawExponential {
    initial: HumanDuration,
    factor: f64,
    max: HumanDuration,
}

impl<'de> Deserialize<'de> for Exponential {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawExponential::deserialize(d)?;
        if !(raw.factor.is_finite() && (1.0..=10.0).contains(&raw.factor)) {
            return Err(serde::de::Error::custom("factor must be between 1 and 10"));
        }
        if raw.initial > raw.max || raw.max.get() > MAX_DELAY {
            return Err(serde::de::Error::custom("initial must not exceed max, and max at most 7d"));
        }
        Ok(Self { initial: raw.initial, factor: raw.factor, max: raw.max })
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            delays: Some(DEFAULT_DELAYS_SECS.iter().map(|s| HumanDuration::from_secs(*s)).collect()),
            exponential: None,
            max_attempts: DEFAULT_DELAYS_SECS.len() as u32 + 1,
            ttl: DEFAULT_TTL,
            jitter: DEFAULT_JITTER,
        }
    }
}

impl RetryPolicy {
    pub fn schedule(&self) -> Schedule {
        match (&self.delays, &self.exponential) {
            (_, Some(exp)) => Schedule::Exponential(exp.clone()),
            (Some(delays), None) => Schedule::Delays(delays.clone()),
            (None, None) => Schedule::Delays(RetryPolicy::default().delays.unwrap_or_default()),
        }
    }

    /// The wait before attempt `next_attempt` (2 for the first retry), before jitter.
    pub fn base_delay(&self, next_attempt: u32) -> Duration {
        let retry_index = next_attempt.saturating_sub(2) as usize;
        match self.schedule() {
            Schedule::Delays(delays) => {
                delays.get(retry_index).or(delays.last()).map_or(Duration::ZERO, |d| d.get())
            }
            Schedule::Exponential(exp) => {
                let grown = exp.initial.get().as_secs_f64() * exp.factor.powi(retry_index.min(64) as i32);
                Duration::from_secs_f64(grown.min(exp.max.get().as_secs_f64()))
            }
        }
    }

    /// The wait before attempt `next_attempt`, spread by jitter. `unit` is a number in [0, 1)
    /// (drawn at random by the caller), which keeps this function pure.
    pub fn delay(&self, next_attempt: u32, unit: f64) -> Duration {
        let base = self.base_delay(next_attempt).as_secs_f64();
        let spread = 1.0 + self.jitter * (2.0 * unit.clamp(0.0, 1.0) - 1.0);
        Duration::from_secs_f64((base * spread).max(0.0))
    }
}

impl<'de> Deserialize<'de> for RetryPolicy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let raw = RetryPolicyIn::deserialize(d)?;
        let defaults = RetryPolicy::default();
        if raw.delays.is_some() && raw.exponential.is_some() {
            return Err(D::Error::custom("give either `delays` or `exponential`, not both"));
        }
        if let Some(delays) = &raw.delays {
            if delays.is_empty() || delays.len() > MAX_ATTEMPTS_LIMIT as usize {
                return Err(D::Error::custom("delays must list 1 to 100 durations"));
            }
            if delays.iter().any(|d| d.get() > MAX_DELAY) {
                return Err(D::Error::custom("a delay may be at most 7d"));
            }
        }
        let max_attempts = match raw.max_attempts {
            Some(n) if n == 0 || n > MAX_ATTEMPTS_LIMIT => {
                return Err(D::Error::custom("maxAttempts must be between 1 and 100"));
            }
            Some(n) => n,
            None => match &raw.delays {
                Some(delays) => delays.len() as u32 + 1,
                None if raw.exponential.is_some() => 30,
                None => defaults.max_attempts,
            },
        };
        let ttl = raw.ttl.unwrap_or(defaults.ttl);
        if ttl.get().is_zero() || ttl.get() > MAX_TTL {
            return Err(D::Error::custom("ttl must be more than 0s and at most 30d"));
        }
        let jitter = raw.jitter.unwrap_or(defaults.jitter);
        if !(0.0..=1.0).contains(&jitter) {
            return Err(D::Error::custom("jitter must be between 0 and 1"));
        }
        let delays = match (&raw.delays, &raw.exponential) {
            (None, None) => defaults.delays,
            (delays, _) => delays.clone(),
        };
        Ok(Self { delays, exponential: raw.exponential, max_attempts, ttl, jitter })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn policy(v: serde_json::Value) -> RetryPolicy {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn default_schedule_is_the_spec_one() {
        let p = RetryPolicy::default();
        let secs: Vec<u64> = (2..=8).map(|n| p.base_delay(n).as_secs()).collect();
        assert_eq!(secs, DEFAULT_DELAYS_SECS);
        assert_eq!(p.max_attempts, 8);
        assert_eq!(p.ttl.get(), Duration::from_secs(86_400));
    }

    #[test]
    fn seed_003_schedule_is_expressible() {
        let p = policy(json!({"delays": ["1m", "5m", "30m", "2h"], "jitter": 0}));
        assert_eq!(p.max_attempts, 5);
        let secs: Vec<u64> = (2..=5).map(|n| p.delay(n, 0.9).as_secs()).collect();
        assert_eq!(secs, [60, 300, 1800, 7200]);
    }

    #[test]
    fn seed_002_event_grid_schedule_is_expressible() {
        let p = policy(json!({
            "delays": ["10s", "30s", "1m", "5m", "10m", "30m", "1h", "3h", "6h", "12h"],
            "maxAttempts": 30, "ttl": "24h"
        }));
        assert_eq!(p.base_delay(2).as_secs(), 10);
        assert_eq!(p.base_delay(11).as_secs(), 12 * 3600);
        assert_eq!(p.base_delay(25).as_secs(), 12 * 3600, "the last delay repeats");
        assert_eq!(p.max_attempts, 30);
    }

    #[test]
    fn exponential_grows_and_caps() {
        let p = policy(json!({"exponential": {"initial": "10s", "factor": 2.0, "max": "1m"}, "jitter": 0}));
        let secs: Vec<u64> = (2..=6).map(|n| p.base_delay(n).as_secs()).collect();
        assert_eq!(secs, [10, 20, 40, 60, 60]);
    }

    #[test]
    fn invalid_policies() {
        for bad in [
            json!({"delays": ["1m"], "exponential": {"initial": "1s", "factor": 2, "max": "1m"}}),
            json!({"delays": []}),
            json!({"maxAttempts": 0}),
            json!({"maxAttempts": 101}),
            json!({"ttl": "0s"}),
            json!({"jitter": 1.5}),
            json!({"delays": ["8d"]}),
            json!({"exponential": {"initial": "2m", "factor": 2, "max": "1m"}}),
            json!({"exponential": {"initial": "1s", "factor": 0.5, "max": "1m"}}),
            json!({"nonsense": 1}),
        ] {
            assert!(serde_json::from_value::<RetryPolicy>(bad.clone()).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn jitter_stays_within_bounds(n in 2u32..20, unit in 0.0f64..1.0) {
            let p = RetryPolicy::default();
            let base = p.base_delay(n).as_secs_f64();
            let d = p.delay(n, unit).as_secs_f64();
            prop_assert!(d >= base * 0.8 - 1e-6 && d <= base * 1.2 + 1e-6);
        }
    }
}
