//! Time arithmetic on [`Timestamp`]s, shared by every module that schedules (deliveries,
//! circuits, rotations) so that none of them has to import another for it.

use std::time::Duration;

use crate::Timestamp;

/// `t + d`, saturating at the largest timestamp.
pub fn add(t: Timestamp, d: Duration) -> Timestamp {
    let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    Timestamp::from_millisecond(t.as_millisecond().saturating_add(ms)).unwrap_or(Timestamp::MAX)
}

/// `t - d`, saturating at the smallest timestamp.
pub fn sub(t: Timestamp, d: Duration) -> Timestamp {
    let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    Timestamp::from_millisecond(t.as_millisecond().saturating_sub(ms)).unwrap_or(Timestamp::MIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_and_saturates() {
        let t = Timestamp::from_second(1_700_000_000).unwrap();
        assert_eq!(add(t, Duration::from_millis(1500)).as_millisecond(), 1_700_000_001_500);
        assert_eq!(add(Timestamp::MAX, Duration::from_secs(1)), Timestamp::MAX);
    }

    #[test]
    fn subtracts_and_saturates() {
        let t = Timestamp::from_second(1_700_000_000).unwrap();
        assert_eq!(sub(t, Duration::from_millis(1500)).as_millisecond(), 1_699_999_998_500);
        assert_eq!(sub(Timestamp::MIN, Duration::from_secs(1)), Timestamp::MIN);
    }
}
