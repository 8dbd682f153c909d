//! Rates: a token bucket ([`TokenBucket`]: at most `rate` events per second, with one second's
//! worth, at least one, of burst; endpoints' delivery rate limits) and a pacer ([`Pacer`]: the
//! same allowance, of which only a short burst goes at once and the rest is spread out; tenants'
//! publish quotas).

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

/// A quota of `rate` events per second that allows a second's worth (at least one) like
/// [`TokenBucket`], but lets only a short burst through at once — a tenth of a second's worth,
/// at least ten (never more than the second's worth) — and spreads the rest out at `rate`: an
/// event beyond the burst is told to wait for its turn, and one whose turn would come later than
/// the second's worth allows is refused. Callers publishing in bulk then load the service
/// evenly instead of in one burst a second, at the same accepted rate.
///
/// This is the generic cell rate algorithm: `due` is when the allowance would be empty again,
/// each accepted event moves it on by `1 / rate`.
#[derive(Debug, Clone, Default)]
pub struct Pacer {
    due: Option<Instant>,
}

impl Pacer {
    /// Events of `rate` that may go at once, from a full allowance.
    pub fn burst(rate: f64) -> f64 {
        let second = rate.max(1.0);
        (rate / 10.0).max(10.0).min(second).floor()
    }

    /// Counts one event at `now`: `Ok(wait)` when it is accepted and should start after `wait`
    /// (zero within the burst), `Err(wait)` when it is refused and the allowance has room again
    /// after `wait`. A refused event is not counted.
    pub fn take(&mut self, rate: f64, now: Instant) -> Result<Duration, Duration> {
        let interval = 1.0 / rate.max(f64::MIN_POSITIVE);
        let from = self.due.map_or(now, |due| due.max(now));
        let ahead = from.saturating_duration_since(now).as_secs_f64() + interval;
        let allowance = rate.max(1.0) * interval;
        if ahead > allowance + 1e-9 {
            return Err(Duration::from_secs_f64(ahead - allowance));
        }
        self.due = Some(from + Duration::from_secs_f64(interval));
        Ok(Duration::from_secs_f64((ahead - Self::burst(rate) * interval).max(0.0)))
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

    #[test]
    fn a_pacer_lets_a_burst_through_then_spreads_the_seconds_worth() {
        let t0 = Instant::now();
        let mut pacer = Pacer::default();
        assert_eq!(Pacer::burst(500.0), 50.0, "a tenth of a second's worth");
        for _ in 0..50 {
            assert_eq!(pacer.take(500.0, t0), Ok(Duration::ZERO));
        }
        let waits: Vec<Duration> = (0..450).map(|_| pacer.take(500.0, t0).unwrap()).collect();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        assert!(
            (ms(waits[0]) - 2.0).abs() < 0.01,
            "the first beyond the burst waits one interval: {:?}",
            waits[0]
        );
        assert!((ms(waits[449]) - 900.0).abs() < 0.01, "the second's last waits 900 ms: {:?}", waits[449]);
        assert!(waits.windows(2).all(|w| w[1] > w[0]), "each waits one interval longer");
        let refused = pacer.take(500.0, t0).unwrap_err();
        assert!(ms(refused) > 1.99 && ms(refused) < 2.01, "room again one interval later: {refused:?}");
        assert!(pacer.take(500.0, t0).is_err(), "a refused event is not counted");
        let later = t0 + Duration::from_millis(20);
        assert!(pacer.take(500.0, later).is_ok(), "ten intervals later there is room for ten");
        assert_eq!(pacer.take(500.0, t0 + Duration::from_secs(5)), Ok(Duration::ZERO), "idle: full again");
    }

    #[test]
    fn a_small_quota_goes_at_once_like_a_token_bucket() {
        let t0 = Instant::now();
        let mut pacer = Pacer::default();
        assert_eq!(Pacer::burst(3.0), 3.0);
        for _ in 0..3 {
            assert_eq!(pacer.take(3.0, t0), Ok(Duration::ZERO));
        }
        let refused = pacer.take(3.0, t0).unwrap_err();
        assert!(refused > Duration::from_millis(330) && refused <= Duration::from_millis(334), "{refused:?}");
        assert_eq!(Pacer::burst(50.0), 10.0, "at least ten at once");
        assert_eq!(Pacer::burst(0.5), 1.0, "at least one");
        let mut slow = Pacer::default();
        assert_eq!(slow.take(0.5, t0), Ok(Duration::ZERO));
        assert!(slow.take(0.5, t0 + Duration::from_secs(1)).is_err(), "one per two seconds");
        assert_eq!(slow.take(0.5, t0 + Duration::from_secs(2)), Ok(Duration::ZERO));
    }
}
