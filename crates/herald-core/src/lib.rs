//! Herald's domain: the types every other crate speaks in, and the pure logic over them.
//!
//! Everything here is a pure function over values: no database, no clock (timestamps are passed
//! in), no network. Values are parsed at the boundary ("parse, don't validate"): once an
//! [`endpoint::EndpointUrl`] or an [`event_type::EventTypeName`] exists, it is valid.
//!
//! This crate must never perform I/O; effects live in `herald-store` and `herald-server`.

pub mod api_key;
pub mod circuit;
pub mod delivery;
pub mod duration;
pub mod endpoint;
pub mod event;
pub mod event_type;
pub mod filter;
pub mod handshake;
pub mod id;
pub mod metadata;
pub mod pattern;
pub mod payload;
pub mod portal;
pub mod rate;
pub mod reachability;
pub mod retry;
mod schema;
pub mod seal;
pub mod secret;
pub mod session;
pub mod signing;
pub mod template;
pub mod tenant;
pub mod time;
pub mod trace;

pub use jiff::Timestamp;

/// `key` as one reference token of a JSON pointer (RFC 6901): `~` as `~0`, `/` as `~1`.
pub fn json_pointer_token(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}
