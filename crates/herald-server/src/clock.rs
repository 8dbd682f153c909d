//! The clock seam: handlers and (later) the dispatcher ask it for the time, so tests can drive
//! time-dependent behaviour without sleeping.

use herald_core::Timestamp;

pub trait Clock: Send + Sync + std::fmt::Debug + 'static {
    /// The current time, at millisecond precision (what the store keeps).
    fn now(&self) -> Timestamp;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let ms = Timestamp::now().as_millisecond();
        Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH)
    }
}
