//! A token bucket: at most `rate` events per second, with one second's worth (at least one) of
//! burst. Used for endpoints' delivery rate limits and tenants' publish quotas.

use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct TokenBucket {
    tokens: f64,
    refilled: Instant,
}

impl TokenBucket {
    /// A full bucket for `rate` events per second.
    pub fn full(rate: f64, now: Instant) -> Self {
        Self { tokens: rate.max(1.0), refilled: now }
    }

    /// Takes one token if there is one; otherwise how long until there is.
    pub fn take(&mut self, rate: f64, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(rate.max(1.0));
        self.refilled = now;
        if self.tokens < 1.0 {
            return Err(Duration::from_secs_f64((1.0 - self.tokens) / rate));
        }
        self.tokens -= 1.0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_bucket_allows_one_seconds_worth_then_refills() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::full(4.0, t0);
        for _ in 0..4 {
            assert_eq!(bucket.take(4.0, t0), Ok(()));
        }
        let wait = bucket.take(4.0, t0).unwrap_err();
        assert!(wait > Duration::from_millis(240) && wait <= Duration::from_millis(250), "{wait:?}");
        assert_eq!(bucket.take(4.0, t0 + Duration::from_millis(250)), Ok(()), "one token per 250 ms");
        assert!(bucket.take(4.0, t0 + Duration::from_millis(250)).is_err());
        assert_eq!(bucket.take(4.0, t0 + Duration::from_secs(60)), Ok(()));
        for _ in 0..3 {
            assert_eq!(bucket.take(4.0, t0 + Duration::from_secs(60)), Ok(()));
        }
        assert!(bucket.take(4.0, t0 + Duration::from_secs(60)).is_err(), "never more than a second's worth");
    }
}
