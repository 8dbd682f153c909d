//! The REST API's request and response types (`/v1`), one module per resource.
//!
//! The server reads requests into these types and answers with them; `herald-client` sends and
//! reads the same types, so the two cannot drift apart. Every type serializes and deserializes
//! both ways; request types refuse unknown fields, response types accept them (a newer server
//! may add fields). Conversions from the domain's types (`TenantOut::from(tenant)`) live here too.

pub mod bulk_retries;
pub mod deliveries;
pub mod endpoints;
pub mod event_types;
pub mod events;
pub mod keys;
pub mod listen;
pub mod page;
pub mod portal;
pub mod problem;
pub mod tenants;
pub mod text;

pub use page::{ListResponse, PageParams};
pub use problem::{FieldError, Problem};

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`) in PATCH bodies.
/// Serialize such fields with `skip_serializing_if = "Option::is_none"` so that `None` stays
/// absent and `Some(None)` is sent as `null`.
pub fn double_option<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    serde::Deserialize::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use herald_core::tenant::TenantUid;

    use crate::tenants::TenantPatch;

    #[test]
    fn a_patch_sends_absent_fields_as_absent_and_cleared_ones_as_null() {
        let untouched = TenantPatch { name: Some("Acme".into()), ..TenantPatch::default() };
        assert_eq!(serde_json::to_value(&untouched).unwrap(), serde_json::json!({"name": "Acme"}));
        let cleared = TenantPatch { uid: Some(None), ..TenantPatch::default() };
        let sent = serde_json::to_value(&cleared).unwrap();
        assert_eq!(sent, serde_json::json!({"uid": null}));
        let read: TenantPatch = serde_json::from_value(sent).unwrap();
        assert_eq!(read.uid, Some(None));
        let set: TenantPatch = serde_json::from_value(serde_json::json!({"uid": "acme"})).unwrap();
        assert_eq!(set.uid, Some(Some(serde_json::from_value::<TenantUid>("acme".into()).unwrap())));
    }
}
