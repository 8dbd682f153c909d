//! Free-form string labels a caller attaches to tenants and endpoints.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

/// At most 50 keys of at most 64 characters, values of at most 512 characters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Metadata(BTreeMap<String, String>);

impl utoipa::PartialSchema for Metadata {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        let value = ObjectBuilder::new().schema_type(Type::String).max_length(Some(Self::MAX_VALUE_LEN));
        let name = ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(Self::MAX_KEY_LEN));
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "Your own labels: at most 50 keys of 1 to 64 characters, values of at most 512.",
            ))
            .additional_properties(Some(value))
            .property_names(Some(name))
            .max_properties(Some(Self::MAX_KEYS))
            .build()
            .into()
    }
}

impl utoipa::ToSchema for Metadata {}

impl Metadata {
    pub const MAX_KEYS: usize = 50;
    pub const MAX_KEY_LEN: usize = 64;
    pub const MAX_VALUE_LEN: usize = 512;

    pub fn parse(map: BTreeMap<String, String>) -> Result<Self, String> {
        if map.len() > Self::MAX_KEYS {
            return Err(format!("at most {} metadata keys are allowed", Self::MAX_KEYS));
        }
        for (k, v) in &map {
            if k.is_empty() || k.chars().count() > Self::MAX_KEY_LEN {
                return Err(format!("metadata keys must have 1 to {} characters", Self::MAX_KEY_LEN));
            }
            if v.chars().count() > Self::MAX_VALUE_LEN {
                return Err(format!(
                    "metadata value of `{k}` is longer than {} characters",
                    Self::MAX_VALUE_LEN
                ));
            }
        }
        Ok(Self(map))
    }

    pub fn as_map(&self) -> &BTreeMap<String, String> {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Metadata {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::parse(BTreeMap::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}
