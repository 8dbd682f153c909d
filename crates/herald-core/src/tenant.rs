//! Tenants: the provider's customers, and the isolation boundary of everything else.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use crate::Timestamp;
use crate::id::TenantId;
use crate::metadata::Metadata;

/// A caller-chosen name for a tenant, usable wherever a tenant id is: 1–128 characters of
/// `[A-Za-z0-9_.:-]`, not starting with `ten_` (which would be ambiguous with ids), and not `.` or
/// `..` (path segments that HTTP clients normalise away).
#[derive(Clone, PartialEq, Eq, Hash, Serialize)]
pub struct TenantUid(String);

impl TenantUid {
    pub fn parse(s: &str) -> Result<Self, String> {
        let ok_chars = s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-'));
        if s.is_empty() || s.len() > 128 || !ok_chars {
            return Err("a uid has 1 to 128 characters from A-Z, a-z, 0-9, `_`, `.`, `:`, `-`".into());
        }
        if s.starts_with("ten_") {
            return Err("a uid must not start with `ten_`, which is reserved for tenant ids".into());
        }
        if s == "." || s == ".." {
            return Err("a uid cannot be `.` or `..`: HTTP clients remove such path segments".into());
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TenantUid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for TenantUid {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

crate::schema::string_schema!(
    TenantUid,
    "Caller-chosen tenant uid: 1 to 128 characters of A-Z, a-z, 0-9, `_`, `.`, `:`, `-`; not `.` or `..`, and not starting with `ten_`.",
    example = "acme-corp",
    pattern = r"^(?!ten_)(?!\.\.?$)[A-Za-z0-9_.:\-]{1,128}$",
    length = 1..=128
);

/// How a path names a tenant: by id (`ten_…`) or by the caller's uid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantRef {
    Id(TenantId),
    Uid(TenantUid),
}

impl TenantRef {
    pub fn parse(s: &str) -> Option<Self> {
        if s.starts_with("ten_") {
            TenantId::parse(s).ok().map(Self::Id)
        } else {
            TenantUid::parse(s).ok().map(Self::Uid)
        }
    }
}

/// A name shown to people: 1–256 characters.
pub fn parse_name(s: &str) -> Result<String, String> {
    let trimmed = s.trim();
    if trimmed.is_empty() || trimmed.chars().count() > 256 {
        return Err("a name has 1 to 256 characters".into());
    }
    Ok(trimmed.to_owned())
}

/// A tenant's own limits, where it should not have the instance's defaults: requests in flight
/// at once for all its endpoints together (`delivery.tenant_max_in_flight` otherwise), and events
/// published per second (`tenant_publish_per_second` otherwise). Unset: the default applies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", try_from = "RawTenantLimits")]
pub struct TenantLimits {
    /// Requests in flight at once for all the tenant's endpoints together (1–100000); `null`:
    /// the instance's `delivery.tenant_max_in_flight`.
    #[schema(minimum = 1, maximum = 100_000)]
    pub max_in_flight: Option<u32>,
    /// Events the tenant may publish per second (1–1000000); `null`: the instance's
    /// `tenant_publish_per_second` (none when that is unset).
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub publish_per_second: Option<u32>,
    /// Days the tenant's finished (delivered or failed) deliveries, their attempts and their
    /// events are kept (1–3650); `null`: the instance's `retention.days`.
    #[schema(minimum = 1, maximum = 3650)]
    pub retention_days: Option<u32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawTenantLimits {
    #[serde(default)]
    max_in_flight: Option<u32>,
    #[serde(default)]
    publish_per_second: Option<u32>,
    #[serde(default)]
    retention_days: Option<u32>,
}

impl TryFrom<RawTenantLimits> for TenantLimits {
    type Error = String;
    fn try_from(raw: RawTenantLimits) -> Result<Self, String> {
        if raw.max_in_flight.is_some_and(|n| !(1..=100_000).contains(&n)) {
            return Err("maxInFlight must be between 1 and 100000".into());
        }
        if raw.publish_per_second.is_some_and(|n| !(1..=1_000_000).contains(&n)) {
            return Err("publishPerSecond must be between 1 and 1000000".into());
        }
        if raw.retention_days.is_some_and(|n| !(1..=3650).contains(&n)) {
            return Err("retentionDays must be between 1 and 3650".into());
        }
        Ok(Self {
            max_in_flight: raw.max_in_flight,
            publish_per_second: raw.publish_per_second,
            retention_days: raw.retention_days,
        })
    }
}

impl TenantLimits {
    /// Whether any limit of the tenant's own is set.
    pub fn is_set(&self) -> bool {
        self.max_in_flight.is_some() || self.publish_per_second.is_some() || self.retention_days.is_some()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tenant {
    pub id: TenantId,
    pub uid: Option<TenantUid>,
    pub name: String,
    pub metadata: Metadata,
    pub limits: TenantLimits,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_rules() {
        assert!(TenantUid::parse("acme-corp.eu:1_x").is_ok());
        assert!(TenantUid::parse("").is_err());
        assert!(TenantUid::parse("has space").is_err());
        assert!(TenantUid::parse("ten_abc").is_err());
        assert!(TenantUid::parse(&"a".repeat(129)).is_err());
        assert!(TenantUid::parse(".").is_err() && TenantUid::parse("..").is_err());
        assert!(TenantUid::parse("...").is_ok() && TenantUid::parse(".a").is_ok());
    }

    #[test]
    fn tenant_ref_chooses_by_prefix() {
        let id = TenantId::generate();
        assert_eq!(TenantRef::parse(id.as_str()), Some(TenantRef::Id(id)));
        assert!(matches!(TenantRef::parse("acme"), Some(TenantRef::Uid(_))));
        assert_eq!(TenantRef::parse("ten_garbage"), None);
    }

    #[test]
    fn limits_are_bounded_and_optional() {
        let parse = |v: serde_json::Value| serde_json::from_value::<TenantLimits>(v);
        assert_eq!(parse(serde_json::json!({})).unwrap(), TenantLimits::default());
        let both = parse(serde_json::json!({"maxInFlight": 8, "publishPerSecond": 100})).unwrap();
        assert_eq!(
            both,
            TenantLimits { max_in_flight: Some(8), publish_per_second: Some(100), retention_days: None }
        );
        assert!(both.is_set() && !TenantLimits::default().is_set());
        assert!(parse(serde_json::json!({"maxInFlight": null})).unwrap().max_in_flight.is_none());
        assert!(
            parse(serde_json::json!({"maxInFlight": 0})).unwrap_err().to_string().contains("maxInFlight")
        );
        assert!(parse(serde_json::json!({"publishPerSecond": 1_000_001})).is_err());
        assert!(parse(serde_json::json!({"maxInflight": 3})).is_err(), "unknown fields are refused");
    }
}
