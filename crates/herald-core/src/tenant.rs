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

#[derive(Debug, Clone, PartialEq)]
pub struct Tenant {
    pub id: TenantId,
    pub uid: Option<TenantUid>,
    pub name: String,
    pub metadata: Metadata,
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
}
