//! W3C Trace Context: the `traceparent` a publish may carry, passed on to the event's
//! deliveries so that a trace follows the event from the platform through Herald to receivers.

use std::fmt;

/// A valid `traceparent` value (`00-<trace-id>-<parent-id>-<flags>`, lowercase hex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceParent(String);

impl TraceParent {
    /// Parses a `traceparent` header as W3C Trace Context level 1 reads it: version `00` with
    /// exactly four fields (a later version may append fields), a trace id of 32 and a parent
    /// id of 16 lowercase hex digits, neither all zeros, and 2 hex digits of flags. `None`
    /// otherwise — a receiver of an invalid `traceparent` starts a trace of its own.
    pub fn parse(text: &str) -> Option<Self> {
        let fields: Vec<&str> = text.trim().split('-').collect();
        let hex = |s: &str, len: usize| {
            s.len() == len && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        let [version, trace, parent, flags, rest @ ..] = fields.as_slice() else { return None };
        let known = *version == "00" && rest.is_empty();
        let later = hex(version, 2) && *version != "00" && *version != "ff";
        let valid = (known || later)
            && hex(trace, 32)
            && hex(parent, 16)
            && hex(flags, 2)
            && trace.bytes().any(|b| b != b'0')
            && parent.bytes().any(|b| b != b'0');
        // Passed on as version 00, the only version this reads.
        valid.then(|| Self(format!("00-{trace}-{parent}-{flags}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 32 hex digits of the trace id.
    pub fn trace_id(&self) -> &str {
        &self.0[3..35]
    }

    /// The 16 hex digits of the parent (span) id.
    pub fn parent_id(&self) -> &str {
        &self.0[36..52]
    }

    /// The trace flags (bit 0: sampled).
    pub fn flags(&self) -> u8 {
        u8::from_str_radix(&self.0[53..55], 16).unwrap_or(0)
    }

    /// A `traceparent` from its parts, when they make a valid one.
    pub fn from_parts(trace_id: &str, parent_id: &str, flags: u8) -> Option<Self> {
        Self::parse(&format!("00-{trace_id}-{parent_id}-{flags:02x}"))
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::TraceParent;

    #[test]
    fn valid_traceparents_are_kept_and_others_refused() {
        let good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let parsed = TraceParent::parse(good).unwrap();
        assert_eq!(parsed.as_str(), good);
        assert_eq!(
            (parsed.trace_id(), parsed.parent_id(), parsed.flags()),
            ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", 1)
        );
        assert_eq!(TraceParent::from_parts(parsed.trace_id(), parsed.parent_id(), 1), Some(parsed));
        let later = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra";
        assert_eq!(TraceParent::parse(later).unwrap().as_str(), good.to_owned(), "passed on as version 00");
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceParent::parse(bad), None, "{bad:?}");
        }
    }
}
