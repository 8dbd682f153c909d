//! Event-type patterns an endpoint subscribes with: an exact name, `prefix.*`, or `*`.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::event_type::{EventTypeName, is_segment};

#[derive(Clone, PartialEq, Eq, Hash)]
pub enum EventPattern {
    /// `*`: every event type.
    All,
    /// `contract.*`: every type below `contract.` (one or more further segments).
    Prefix(String),
    /// `contract.created`: that type only.
    Exact(EventTypeName),
}

impl EventPattern {
    pub fn parse(s: &str) -> Result<Self, String> {
        if s == "*" {
            return Ok(Self::All);
        }
        if s.len() > EventTypeName::MAX_LEN {
            return Err(format!("a pattern has at most {} characters", EventTypeName::MAX_LEN));
        }
        if let Some(prefix) = s.strip_suffix(".*") {
            if !prefix.is_empty() && prefix.split('.').all(is_segment) {
                return Ok(Self::Prefix(prefix.to_owned()));
            }
            return Err(format!(
                "`{s}` is not a pattern: `*` may only follow a dotted prefix, as in `contract.*`"
            ));
        }
        EventTypeName::parse(s)
            .map(Self::Exact)
            .map_err(|_| format!("`{s}` is not an event-type name or pattern (`name`, `prefix.*`, `*`)"))
    }

    pub fn matches(&self, name: &EventTypeName) -> bool {
        match self {
            Self::All => true,
            Self::Exact(exact) => exact == name,
            Self::Prefix(prefix) => name
                .as_str()
                .strip_prefix(prefix.as_str())
                .is_some_and(|rest| rest.len() > 1 && rest.starts_with('.')),
        }
    }
}

/// Whether an endpoint subscribed with `patterns` receives `name` (no patterns: everything).
pub fn subscribed(patterns: &[EventPattern], name: &EventTypeName) -> bool {
    patterns.is_empty() || patterns.iter().any(|p| p.matches(name))
}

impl fmt::Display for EventPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::All => f.write_str("*"),
            Self::Prefix(p) => write!(f, "{p}.*"),
            Self::Exact(n) => f.write_str(n.as_str()),
        }
    }
}

impl fmt::Debug for EventPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for EventPattern {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EventPattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

crate::schema::string_schema!(
    EventPattern,
    "An event-type name, a prefix pattern (`contract.*`) or `*`.",
    example = "contract.*",
    pattern = r"^(\*|[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*(\.\*)?)$",
    length = 1..=128
);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn name(s: &str) -> EventTypeName {
        EventTypeName::parse(s).unwrap()
    }

    #[test]
    fn matching() {
        let p = EventPattern::parse("contract.*").unwrap();
        assert!(p.matches(&name("contract.created")));
        assert!(p.matches(&name("contract.a.b")));
        assert!(!p.matches(&name("contract")));
        assert!(!p.matches(&name("contractor.created")));
        assert!(EventPattern::parse("*").unwrap().matches(&name("x")));
        assert!(EventPattern::parse("kyc.verified").unwrap().matches(&name("kyc.verified")));
        assert!(!EventPattern::parse("kyc.verified").unwrap().matches(&name("kyc.verified.x")));
        assert!(subscribed(&[], &name("any.thing")));
    }

    #[test]
    fn bad_patterns() {
        for bad in ["", "*.x", "a.*.b", ".*", "a*", "a.**", "a..*"] {
            assert!(EventPattern::parse(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn prefix_pattern_matches_exactly_the_names_below_it(
            prefix in "[a-z]{1,5}(\\.[a-z]{1,5}){0,2}",
            other in "[a-z]{1,5}(\\.[a-z]{1,5}){0,3}",
        ) {
            let pattern = EventPattern::parse(&format!("{prefix}.*")).unwrap();
            let candidate = name(&other);
            let expected = other.starts_with(&format!("{prefix}."));
            prop_assert_eq!(pattern.matches(&candidate), expected);
            prop_assert_eq!(EventPattern::parse(&pattern.to_string()).unwrap(), pattern);
        }
    }
}
