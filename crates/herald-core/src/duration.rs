//! Human-readable durations in the API (`"10s"`, `"5m"`, `"2h"`, `"7d"`).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration written the way people write them: `"30s"`, `"1m"`, `"1h 30m"`, `"7d"`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HumanDuration(Duration);

impl HumanDuration {
    pub const fn from_secs(secs: u64) -> Self {
        Self(Duration::from_secs(secs))
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        let trimmed = s.trim();
        if trimmed == "0" || trimmed == "0s" {
            return Ok(Self(Duration::ZERO));
        }
        humantime::parse_duration(trimmed)
            .map(Self)
            .map_err(|e| format!("`{s}` is not a duration like \"30s\", \"5m\" or \"2h\": {e}"))
    }

    pub const fn get(self) -> Duration {
        self.0
    }
}

impl From<Duration> for HumanDuration {
    fn from(d: Duration) -> Self {
        Self(d)
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One number and the largest unit that divides it: `24h`, `7d`, `90m`, `1500ms` — as
        // the docs write durations (days from two on, so a day reads `24h`).
        if self.0.is_zero() {
            return f.write_str("0s");
        }
        if !self.0.subsec_nanos().is_multiple_of(1_000_000) {
            return write!(f, "{}", humantime::format_duration(self.0));
        }
        let ms = self.0.as_millis();
        const UNITS: [(&str, u128); 5] =
            [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)];
        for (unit, size) in UNITS {
            if ms.is_multiple_of(size) && (unit != "d" || ms / size >= 2) {
                return write!(f, "{}{unit}", ms / size);
            }
        }
        write!(f, "{ms}ms")
    }
}

impl fmt::Debug for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

crate::schema::string_schema!(
    HumanDuration,
    "A duration: a number and a unit (ms, s, m, h, d), possibly several: \"30s\", \"1h 30m\".",
    example = "5m"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_round_trip() {
        for (text, secs) in [("10s", 10), ("5m", 300), ("2h", 7200), ("7d", 604_800), ("0s", 0)] {
            let d = HumanDuration::parse(text).unwrap();
            assert_eq!(d.get(), Duration::from_secs(secs));
            assert_eq!(HumanDuration::parse(&d.to_string()).unwrap(), d);
        }
        for (secs, shown) in
            [(86_400, "24h"), (172_800, "2d"), (604_800, "7d"), (5400, "90m"), (5415, "5415s"), (30, "30s")]
        {
            assert_eq!(HumanDuration::from_secs(secs).to_string(), shown);
        }
        assert_eq!(HumanDuration::from(Duration::from_millis(1500)).to_string(), "1500ms");
        assert!(HumanDuration::parse("soon").is_err());
        assert!(HumanDuration::parse("-5s").is_err());
    }
}
