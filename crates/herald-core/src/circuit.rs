//! Endpoint health: the circuit breaker that backs off an endpoint as a whole while it fails, and
//! the clock that disables it once it has failed continuously for long enough.
//!
//! ```text
//!            N consecutive failed attempts
//!   Closed ─────────────────────────────────▶ Open (next probe at now + backoff(0))
//!     ▲                                        │  probe time reached
//!     │ any attempt succeeds                   ▼
//!     └──────────────────────────────────── HalfOpen: one delivery is sent as the probe,
//!                                              │        the rest keep waiting
//!                                              │ the probe fails
//!                                              ▼
//!                                            Open (next probe at now + backoff(k), k = failed probes)
//!
//!   In any state, a failure when the endpoint has failed continuously for `disable_after` → the
//!   endpoint is disabled (its circuit is closed again, so re-enabling starts afresh).
//! ```
//!
//! While the circuit is open, queued deliveries are held — they wait without being attempted and
//! are never charged an attempt. When a probe succeeds the held backlog becomes due at once and
//! drains within the endpoint's rate limit. The backoff between probes follows the endpoint's
//! retry schedule (by default 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, …).
//!
//! [`Health`] is what is stored on the endpoint, shared by every instance; [`Breaker`] is one
//! process's live view, which counts the failure streak and remembers whether its probe is out.
//! Everything here is pure: times are passed in.

use std::time::Duration;

use crate::Timestamp;
use crate::time::add;

/// The breaker's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CircuitPolicy {
    /// Consecutive failed attempts that open the circuit (0: never open it).
    pub failure_threshold: u32,
    /// Disable the endpoint once it has failed continuously this long (`None`: never).
    pub disable_after: Option<Duration>,
}

impl Default for CircuitPolicy {
    fn default() -> Self {
        Self { failure_threshold: 5, disable_after: Some(Duration::from_secs(5 * 24 * 3600)) }
    }
}

/// An endpoint's health as stored with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Health {
    /// When the current run of failures began; `None` while the endpoint is healthy. Stored when
    /// the circuit opens (a short streak below the threshold lives in memory only).
    pub failing_since: Option<Timestamp>,
    /// `Some` while the circuit is open: when the next probe may go.
    pub probe_at: Option<Timestamp>,
    /// Probes that failed since the circuit opened.
    pub failed_probes: u32,
    /// When the circuit last changed state: the newer of two views wins.
    pub changed_at: Option<Timestamp>,
}

/// The state of an endpoint's circuit, as shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CircuitState {
    /// Deliveries flow.
    Closed,
    /// Deliveries are held until the next probe.
    Open,
    /// A probe is due or under way; the rest is held until it succeeds.
    HalfOpen,
}

impl Health {
    pub fn state(&self, now: Timestamp) -> CircuitState {
        match self.probe_at {
            None => CircuitState::Closed,
            Some(at) if at > now => CircuitState::Open,
            Some(_) => CircuitState::HalfOpen,
        }
    }

    /// Whether this view is newer than `other`.
    fn newer_than(&self, other: &Health) -> bool {
        self.changed_at > other.changed_at
    }
}

/// What to do with a delivery about to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Send it (the circuit is closed).
    Pass,
    /// Send it as the probe of an open circuit.
    Probe,
    /// Do not send it: hold it until this time (no attempt is charged).
    Hold(Timestamp),
}

/// A change of health that must be stored (and may be announced).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The circuit opened after a failure streak, or a probe failed; deliveries are held until
    /// `probe_at` plus the probe's own time.
    Opened(Health),
    /// An attempt succeeded while the circuit was open or half-open: release what was held.
    /// `failing_since`: when the failures began.
    Closed { held_until: Option<Timestamp>, health: Health, failing_since: Option<Timestamp> },
    /// Failing continuously for the policy's `disable_after`, since `failing_since`.
    Disable { failing_since: Timestamp, health: Health },
}

/// One process's view of one endpoint's circuit.
#[derive(Debug, Clone, Default)]
pub struct Breaker {
    health: Health,
    /// Failed attempts in a row (since the last success), as seen by this process.
    streak: u32,
    /// When this process saw the streak begin (before the circuit opened and stored it).
    streak_since: Option<Timestamp>,
    /// This process has a probe out (or has claimed one).
    probing: bool,
}

impl Breaker {
    pub fn new(stored: Health) -> Self {
        Self { health: stored, ..Self::default() }
    }

    pub fn health(&self) -> &Health {
        &self.health
    }

    /// Adopts the stored view when it is newer (another instance, or the API, changed it).
    pub fn observe(&mut self, stored: &Health) {
        if stored.newer_than(&self.health) {
            self.health = *stored;
            self.probing = false;
            if stored.probe_at.is_none() {
                self.streak = 0;
                self.streak_since = None;
            }
        }
    }

    /// Decides whether a delivery may start now. `probe_time` is how long a probe may take
    /// (the request timeout): deliveries held behind a probe wait that much past it.
    pub fn gate(&mut self, now: Timestamp, probe_time: Duration) -> Gate {
        match self.health.probe_at {
            None => Gate::Pass,
            Some(at) if at > now => Gate::Hold(add(at, probe_time)),
            Some(_) if self.probing => Gate::Hold(add(now, probe_time)),
            Some(_) => {
                self.probing = true;
                Gate::Probe
            }
        }
    }

    /// The probe ended without a request: the next delivery may be the probe.
    pub fn probe_abandoned(&mut self) {
        self.probing = false;
    }

    /// When held deliveries are due while the circuit is open, if it is.
    pub fn held_until(&self, probe_time: Duration) -> Option<Timestamp> {
        self.health.probe_at.map(|at| add(at, probe_time))
    }

    /// Records a finished attempt. `probe` says whether it was this process's probe; `backoff`
    /// gives the wait before probe number `k + 1` after `k` failed probes.
    pub fn record(
        &mut self,
        succeeded: bool,
        probe: bool,
        now: Timestamp,
        policy: &CircuitPolicy,
        backoff: impl Fn(u32) -> Duration,
        probe_time: Duration,
    ) -> Option<Change> {
        if probe {
            self.probing = false;
        }
        if succeeded {
            self.streak = 0;
            self.streak_since = None;
            // Closed already: nothing to store.
            self.health.probe_at?;
            let held_until = self.held_until(probe_time);
            let failing_since = self.health.failing_since;
            self.health = Health { changed_at: Some(now), ..Health::default() };
            return Some(Change::Closed { held_until, health: self.health, failing_since });
        }
        self.streak = self.streak.saturating_add(1);
        let since = *self.streak_since.get_or_insert(now);
        let failing_since = self.health.failing_since.map_or(since, |stored| stored.min(since));
        if let Some(after) = policy.disable_after
            && add(failing_since, after) <= now
        {
            self.streak = 0;
            self.streak_since = None;
            self.probing = false;
            self.health = Health { changed_at: Some(now), ..Health::default() };
            return Some(Change::Disable { failing_since, health: self.health });
        }
        match self.health.probe_at {
            // Closed: open once the streak reaches the threshold.
            None if policy.failure_threshold > 0 && self.streak >= policy.failure_threshold => {
                self.health = Health {
                    failing_since: Some(failing_since),
                    probe_at: Some(add(now, backoff(0))),
                    failed_probes: 0,
                    changed_at: Some(now),
                };
                Some(Change::Opened(self.health))
            }
            None => None,
            // Open: only the probe's failure moves it on; requests that started before the
            // circuit opened and fail late change nothing.
            Some(_) if probe => {
                let failed_probes = self.health.failed_probes.saturating_add(1);
                self.health = Health {
                    failing_since: Some(failing_since),
                    probe_at: Some(add(now, backoff(failed_probes))),
                    failed_probes,
                    changed_at: Some(now),
                };
                Some(Change::Opened(self.health))
            }
            Some(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + s).unwrap()
    }
    const PROBE: Duration = Duration::from_secs(10);
    fn backoff(k: u32) -> Duration {
        Duration::from_secs(5 * 60u64.pow(k.min(2)))
    }
    fn policy() -> CircuitPolicy {
        CircuitPolicy { failure_threshold: 3, disable_after: Some(Duration::from_secs(3600)) }
    }

    fn fail(b: &mut Breaker, probe: bool, now: Timestamp) -> Option<Change> {
        b.record(false, probe, now, &policy(), backoff, PROBE)
    }

    #[test]
    fn opens_after_the_threshold_and_holds_until_the_probe() {
        let mut b = Breaker::default();
        assert_eq!(b.gate(at(0), PROBE), Gate::Pass);
        assert_eq!(fail(&mut b, false, at(0)), None);
        assert_eq!(fail(&mut b, false, at(1)), None);
        let Some(Change::Opened(h)) = fail(&mut b, false, at(2)) else { panic!("should open") };
        assert_eq!(h.probe_at, Some(at(7)), "first probe after backoff(0) = 5 s");
        assert_eq!(h.failing_since, Some(at(0)), "failing since the streak began");
        assert_eq!(h.state(at(3)), CircuitState::Open);
        assert_eq!(b.gate(at(3), PROBE), Gate::Hold(at(17)), "held past the probe's own time");
        // A request that started before the circuit opened and fails late changes nothing.
        assert_eq!(fail(&mut b, false, at(4)), None);
        assert_eq!(b.health().probe_at, Some(at(7)));
    }

    #[test]
    fn one_probe_at_a_time_and_backoff_grows() {
        let mut b = Breaker::default();
        for s in 0..3 {
            fail(&mut b, false, at(s));
        }
        assert_eq!(b.gate(at(7), PROBE), Gate::Probe);
        assert_eq!(b.health().state(at(7)), CircuitState::HalfOpen);
        assert_eq!(b.gate(at(8), PROBE), Gate::Hold(at(18)), "only one probe out");
        b.probe_abandoned();
        assert_eq!(b.gate(at(8), PROBE), Gate::Probe, "a probe that sent nothing gives its turn back");
        let Some(Change::Opened(h)) = fail(&mut b, true, at(9)) else { panic!("the probe failed") };
        assert_eq!((h.failed_probes, h.probe_at), (1, Some(at(9 + 300))));
        assert_eq!(b.gate(at(309), PROBE), Gate::Probe);
        let Some(Change::Opened(h)) = fail(&mut b, true, at(310)) else { panic!() };
        assert_eq!((h.failed_probes, h.probe_at), (2, Some(at(310 + 18_000))));
    }

    #[test]
    fn a_successful_probe_closes_and_releases_the_backlog() {
        let mut b = Breaker::default();
        for s in 0..3 {
            fail(&mut b, false, at(s));
        }
        assert_eq!(b.gate(at(7), PROBE), Gate::Probe);
        let change = b.record(true, true, at(8), &policy(), backoff, PROBE);
        assert_eq!(
            change,
            Some(Change::Closed {
                held_until: Some(at(17)),
                health: Health { changed_at: Some(at(8)), ..Health::default() },
                failing_since: Some(at(0)),
            })
        );
        assert_eq!(b.gate(at(8), PROBE), Gate::Pass);
        // The streak starts over.
        assert_eq!(fail(&mut b, false, at(9)), None);
        assert_eq!(fail(&mut b, false, at(10)), None);
        assert!(matches!(fail(&mut b, false, at(11)), Some(Change::Opened(_))));
    }

    #[test]
    fn success_while_closed_is_free() {
        let mut b = Breaker::default();
        fail(&mut b, false, at(0));
        fail(&mut b, false, at(1));
        assert_eq!(b.record(true, false, at(2), &policy(), backoff, PROBE), None, "nothing to store");
        assert_eq!(fail(&mut b, false, at(3)), None, "streak reset by the success");
        assert_eq!(fail(&mut b, false, at(4)), None);
    }

    #[test]
    fn failing_continuously_for_the_period_disables() {
        let mut b = Breaker::default();
        for s in 0..3 {
            fail(&mut b, false, at(s));
        }
        b.gate(at(7), PROBE);
        assert!(matches!(fail(&mut b, true, at(8)), Some(Change::Opened(_))));
        b.gate(at(400), PROBE);
        let change = fail(&mut b, true, at(3600));
        assert_eq!(
            change,
            Some(Change::Disable {
                failing_since: at(0),
                health: Health { changed_at: Some(at(3600)), ..Health::default() }
            })
        );
        assert_eq!(b.gate(at(3601), PROBE), Gate::Pass, "closed again for when it is re-enabled");
    }

    #[test]
    fn a_stored_failing_since_counts_after_a_restart() {
        let stored = Health {
            failing_since: Some(at(-3000)),
            probe_at: Some(at(0)),
            failed_probes: 4,
            changed_at: Some(at(-10)),
        };
        let mut b = Breaker::new(stored);
        assert_eq!(b.gate(at(1), PROBE), Gate::Probe);
        assert!(
            matches!(fail(&mut b, true, at(700)), Some(Change::Disable { failing_since, .. }) if failing_since == at(-3000))
        );
    }

    #[test]
    fn the_newer_view_wins() {
        let mut b = Breaker::default();
        for s in 0..3 {
            fail(&mut b, false, at(s));
        }
        // Another instance closed it later.
        let closed = Health { changed_at: Some(at(5)), ..Health::default() };
        b.observe(&closed);
        assert_eq!(b.gate(at(6), PROBE), Gate::Pass);
        // An older view is ignored.
        b.observe(&Health { probe_at: Some(at(100)), changed_at: Some(at(4)), ..Health::default() });
        assert_eq!(b.gate(at(6), PROBE), Gate::Pass);
    }

    #[test]
    fn a_zero_threshold_never_opens() {
        let mut b = Breaker::default();
        let never = CircuitPolicy { failure_threshold: 0, disable_after: None };
        for s in 0..100 {
            assert_eq!(b.record(false, false, at(s), &never, backoff, PROBE), None);
        }
    }
}
