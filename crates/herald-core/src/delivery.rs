//! Deliveries (one event to one endpoint) and attempts (one HTTP request of a delivery), and the
//! pure rule that decides what happens after an attempt.
//!
//! Status model: `pending` (awaiting its first attempt, or re-queued by hand),
//! `retrying` (failed, another attempt is scheduled), `delivered` (got a 2xx), `failed` (gave up:
//! attempts or TTL exhausted, or the endpoint is gone — the dead-letter set).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::event::EventId;
use crate::id::{AttemptId, DeliveryId, EndpointId, GeneratedEventId, TenantId};
use crate::retry::RetryPolicy;
use crate::time::add;

macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(format!("`{s}` is not one of: {}", [$($text),+].join(", "))),
                }
            }
        }
    };
}

text_enum!(
    /// Where a delivery stands.
    DeliveryStatus { Pending = "pending", Retrying = "retrying", Delivered = "delivered", Failed = "failed" }
);

text_enum!(
    /// What started an attempt.
    Trigger { Scheduled = "scheduled", Manual = "manual", Test = "test" }
);

text_enum!(
    /// Why an attempt failed.
    ErrorKind {
        Timeout = "timeout",
        Connect = "connect",
        Tls = "tls",
        Dns = "dns",
        Blocked = "blocked",
        HttpStatus = "http_status",
        Handshake = "handshake",
    }
);

text_enum!(
    /// Why a delivery gave up (is `failed`). `endpoint_gone`: the receiver answered 410 Gone
    /// and the endpoint was disabled at once. `credentials_unreadable` only appears on
    /// deliveries failed by earlier versions (unreadable credentials now postpone a delivery).
    FailureReason {
        AttemptsExhausted = "attempts_exhausted",
        TtlExpired = "ttl_expired",
        EndpointDeleted = "endpoint_deleted",
        EndpointDisabled = "endpoint_disabled",
        EndpointGone = "endpoint_gone",
        CredentialsUnreadable = "credentials_unreadable",
        PayloadRemoved = "payload_removed",
    }
);

impl FailureReason {
    /// A dead letter: the delivery itself ran out (attempts, TTL, or its receiver said it is
    /// gone), as opposed to its endpoint having been deleted or disabled.
    pub fn is_dead_letter(self) -> bool {
        matches!(self, Self::AttemptsExhausted | Self::TtlExpired | Self::EndpointGone)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub id: DeliveryId,
    pub tenant_id: TenantId,
    pub event_key: GeneratedEventId,
    pub event_id: EventId,
    pub endpoint_id: EndpointId,
    pub status: DeliveryStatus,
    pub attempt_count: u32,
    pub next_attempt_at: Option<Timestamp>,
    /// What the next attempt will be recorded as.
    pub next_trigger: Trigger,
    pub last_attempt_at: Option<Timestamp>,
    pub failure_reason: Option<FailureReason>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Delivery {
    /// A new delivery of `event` to `endpoint`, due now.
    pub fn new(event: &crate::event::Event, endpoint: &EndpointId, trigger: Trigger, now: Timestamp) -> Self {
        Self::with_id(DeliveryId::generate_at(now), event, endpoint, trigger, now)
    }

    fn with_id(
        id: DeliveryId,
        event: &crate::event::Event,
        endpoint: &EndpointId,
        trigger: Trigger,
        now: Timestamp,
    ) -> Self {
        Self {
            id,
            tenant_id: event.tenant_id.clone(),
            event_key: event.key.clone(),
            event_id: event.id.clone(),
            endpoint_id: endpoint.clone(),
            status: DeliveryStatus::Pending,
            attempt_count: 0,
            next_attempt_at: Some(now),
            next_trigger: trigger,
            last_attempt_at: None,
            failure_reason: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// The delivery of `event` to a subscribed endpoint: pending when it is enabled; when it is
    /// disabled, recorded but never attempted — failed with reason `endpoint_disabled`, so it
    /// shows in the log and `recover` can send it after re-enabling. Its id is derived from the
    /// event and the endpoint ([`DeliveryId::of`]): fanning the event out again names it the same.
    /// It is created with its event: a fan-out's rows, written a moment later (or after a
    /// restart, by another instance), still carry the event's `created_at`, the time the event's
    /// 2xx made them owed. So its id's time and its `created_at` agree, as for every delivery,
    /// and time windows over an endpoint's deliveries are ranges of ids.
    pub fn for_subscriber(
        event: &crate::event::Event,
        endpoint: &crate::endpoint::Endpoint,
        now: Timestamp,
    ) -> Self {
        let id = DeliveryId::of(&event.key, &endpoint.id);
        let delivery = Self {
            created_at: event.created_at,
            ..Self::with_id(id, event, &endpoint.id, Trigger::Scheduled, now)
        };
        if endpoint.enabled {
            return delivery;
        }
        Self {
            status: DeliveryStatus::Failed,
            next_attempt_at: None,
            failure_reason: Some(FailureReason::EndpointDisabled),
            ..delivery
        }
    }

    /// The delivery, waiting until the endpoint's next probe when its circuit is open (so it is
    /// not handed to a dispatcher only to be held there).
    pub fn held_by(mut self, health: &crate::circuit::Health, now: Timestamp, probe_time: Duration) -> Self {
        if let (DeliveryStatus::Pending, Some(probe_at)) = (self.status, health.probe_at)
            && probe_at > now
        {
            self.next_attempt_at = Some(add(probe_at, probe_time));
        }
        self
    }
}

/// The request as sent (secrets redacted in headers).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SentRequest {
    pub url: String,
    pub method: String,
    pub headers: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    pub id: AttemptId,
    pub delivery_id: DeliveryId,
    pub tenant_id: TenantId,
    pub endpoint_id: EndpointId,
    pub attempt_no: u32,
    pub trigger: Trigger,
    pub started_at: Timestamp,
    pub duration_ms: u64,
    pub request: SentRequest,
    pub response_status: Option<u16>,
    pub response_headers: Vec<(String, String)>,
    /// At most [`RESPONSE_BODY_LIMIT`] bytes of the response body (lossy UTF-8).
    pub response_body: Option<String>,
    pub error_kind: Option<ErrorKind>,
    pub error_message: Option<String>,
}

/// How much of a response body is kept with the attempt.
pub const RESPONSE_BODY_LIMIT: usize = 4096;

/// What an attempt came to, as far as scheduling is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// Failed; `retry_after` is the receiver's `Retry-After` (429/503 only), already bounded.
    Failure {
        retry_after: Option<Duration>,
    },
}

/// The delivery's next state after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    Delivered,
    RetryAt(Timestamp),
    Failed(FailureReason),
}

/// Decides what follows attempt number `attempt_no` (1 = first) of a delivery of an event
/// published at `published_at`. `unit` is a random number in [0, 1) for jitter.
pub fn after_attempt(
    policy: &RetryPolicy,
    attempt_no: u32,
    outcome: Outcome,
    published_at: Timestamp,
    now: Timestamp,
    unit: f64,
) -> Next {
    let retry_after = match outcome {
        Outcome::Success => return Next::Delivered,
        Outcome::Failure { retry_after } => retry_after,
    };
    if attempt_no >= policy.max_attempts {
        return Next::Failed(FailureReason::AttemptsExhausted);
    }
    let delay = retry_after.unwrap_or_else(|| policy.delay(attempt_no + 1, unit));
    let deadline = add(published_at, policy.ttl.get());
    let at = add(now, delay);
    if at > deadline {
        return Next::Failed(FailureReason::TtlExpired);
    }
    Next::RetryAt(at)
}

/// The shortest wait of a delivery postponed by [`postpone`].
pub const MIN_POSTPONE: Duration = Duration::from_secs(60);

/// What follows when a delivery could not be attempted for a reason on Herald's side, not the
/// receiver's (its endpoint's credentials cannot be opened): it waits as after a failed attempt,
/// at least [`MIN_POSTPONE`], without being charged one, until its time to live runs out.
pub fn postpone(
    policy: &RetryPolicy,
    attempts_made: u32,
    published_at: Timestamp,
    now: Timestamp,
    unit: f64,
) -> Next {
    let delay = policy.delay(attempts_made + 1, unit).max(MIN_POSTPONE);
    let at = add(now, delay);
    if at > add(published_at, policy.ttl.get()) {
        return Next::Failed(FailureReason::TtlExpired);
    }
    Next::RetryAt(at)
}

/// Parses `Retry-After` (delta-seconds or an HTTP date) relative to `now`, bounded by `max`.
pub fn parse_retry_after(value: &str, now: Timestamp, max: Duration) -> Option<Duration> {
    let value = value.trim();
    let wait = if let Ok(secs) = value.parse::<u64>() {
        Duration::from_secs(secs)
    } else {
        let date = httpdate::parse_http_date(value).ok()?;
        let at_ms = date.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis() as i64;
        Duration::from_millis(at_ms.saturating_sub(now.as_millisecond()).max(0) as u64)
    };
    Some(wait.min(max))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_postponed_delivery_waits_without_being_charged_until_its_ttl() {
        let p = RetryPolicy::default();
        let t0 = Timestamp::from_second(1_700_000_000).unwrap();
        // Never a dead letter at once, even with every attempt already used: it waits at least
        // a minute, or the schedule's next delay when that is longer.
        assert_eq!(postpone(&p, 0, t0, t0, 0.5), Next::RetryAt(add(t0, MIN_POSTPONE)));
        assert_eq!(
            postpone(&p, p.max_attempts, t0, t0, 0.5),
            Next::RetryAt(add(t0, p.delay(p.max_attempts + 1, 0.5).max(MIN_POSTPONE)))
        );
        let late = add(t0, p.ttl.get());
        assert_eq!(postpone(&p, 0, t0, late, 0.5), Next::Failed(FailureReason::TtlExpired));
    }

    #[test]
    fn a_delivery_to_an_open_circuit_waits_for_the_probe() {
        let now = Timestamp::from_second(1_700_000_000).unwrap();
        let probe_time = Duration::from_secs(12);
        let event = crate::event::Event {
            key: GeneratedEventId::generate(),
            id: EventId::parse("e1").unwrap(),
            tenant_id: TenantId::generate(),
            event_type: crate::event_type::EventTypeName::parse("t.x").unwrap(),
            data: Default::default(),
            subject: None,
            source: None,
            traceparent: None,
            payload_removed_at: None,
            headers: Default::default(),
            created_at: now,
        };
        let fresh = Delivery::new(&event, &EndpointId::generate(), Trigger::Scheduled, now);
        let closed = crate::circuit::Health::default();
        assert_eq!(fresh.clone().held_by(&closed, now, probe_time).next_attempt_at, Some(now));
        let probe_at = add(now, Duration::from_secs(300));
        let open = crate::circuit::Health { probe_at: Some(probe_at), ..closed };
        assert_eq!(
            fresh.clone().held_by(&open, now, probe_time).next_attempt_at,
            Some(add(probe_at, probe_time))
        );
        let half_open = crate::circuit::Health { probe_at: Some(now), ..closed };
        assert_eq!(fresh.held_by(&half_open, now, probe_time).next_attempt_at, Some(now), "may be the probe");
    }
    use serde_json::json;

    fn ts(ms: i64) -> Timestamp {
        Timestamp::from_millisecond(ms).unwrap()
    }

    fn policy(v: serde_json::Value) -> RetryPolicy {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn success_delivers_and_failures_follow_the_schedule() {
        let p = policy(json!({"delays": ["1m", "5m"], "jitter": 0}));
        let t0 = ts(1_000_000);
        assert_eq!(after_attempt(&p, 1, Outcome::Success, t0, t0, 0.5), Next::Delivered);
        let fail = Outcome::Failure { retry_after: None };
        assert_eq!(after_attempt(&p, 1, fail, t0, t0, 0.5), Next::RetryAt(ts(1_000_000 + 60_000)));
        assert_eq!(after_attempt(&p, 2, fail, t0, t0, 0.5), Next::RetryAt(ts(1_000_000 + 300_000)));
        assert_eq!(after_attempt(&p, 3, fail, t0, t0, 0.5), Next::Failed(FailureReason::AttemptsExhausted));
    }

    #[test]
    fn ttl_ends_retries_before_max_attempts() {
        let p = policy(json!({"delays": ["10m"], "maxAttempts": 30, "ttl": "30m", "jitter": 0}));
        let t0 = ts(0);
        let fail = Outcome::Failure { retry_after: None };
        assert_eq!(after_attempt(&p, 1, fail, t0, ts(0), 0.0), Next::RetryAt(ts(600_000)));
        assert_eq!(after_attempt(&p, 3, fail, t0, ts(1_200_000), 0.0), Next::RetryAt(ts(1_800_000)));
        assert_eq!(
            after_attempt(&p, 4, fail, t0, ts(1_800_000), 0.0),
            Next::Failed(FailureReason::TtlExpired)
        );
    }

    #[test]
    fn retry_after_replaces_the_scheduled_delay() {
        let p = policy(json!({"delays": ["1h"], "maxAttempts": 5, "jitter": 0}));
        let fail = Outcome::Failure { retry_after: Some(Duration::from_secs(7)) };
        assert_eq!(after_attempt(&p, 1, fail, ts(0), ts(0), 0.0), Next::RetryAt(ts(7000)));
    }

    #[test]
    fn retry_after_parsing() {
        let now = ts(1_700_000_000_000);
        let max = Duration::from_secs(3600);
        assert_eq!(parse_retry_after("120", now, max), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after("999999", now, max), Some(max), "bounded");
        let date = httpdate::fmt_http_date(std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_030));
        assert_eq!(parse_retry_after(&date, now, max), Some(Duration::from_secs(30)));
        let past = httpdate::fmt_http_date(std::time::UNIX_EPOCH + Duration::from_secs(1_600_000_000));
        assert_eq!(parse_retry_after(&past, now, max), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now, max), None);
        assert_eq!(parse_retry_after("-5", now, max), None);
    }

    #[test]
    fn text_forms_round_trip() {
        for s in DeliveryStatus::ALL {
            assert_eq!(s.as_str().parse::<DeliveryStatus>().unwrap(), *s);
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str(), "serde and as_str agree");
        }
        for k in ErrorKind::ALL {
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
        for t in Trigger::ALL {
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
        assert!("done".parse::<DeliveryStatus>().is_err());
        assert_eq!(ErrorKind::HttpStatus.to_string(), "http_status");
    }
}
