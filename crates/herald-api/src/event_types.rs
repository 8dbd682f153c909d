//! `/v1/event-types`: the catalog of what the provider publishes.

use herald_core::Timestamp;
use herald_core::event_type::{EventSchema, EventType, EventTypeName};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventTypeIn {
    pub name: EventTypeName,
    /// A friendly name (1 to 256 characters, not only spaces); defaults to `name`.
    #[schema(min_length = 1, max_length = 256, pattern = r"\S")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// At most 4096 characters.
    #[schema(max_length = 4096)]
    #[serde(default)]
    pub description: String,
    /// JSON Schema that published `data` must satisfy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<EventSchema>,
    /// An example `data` (sent by an endpoint's test call).
    #[schema(value_type = Option<Object>)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub example: Option<Value>,
    #[serde(default)]
    pub deprecated: bool,
}

/// The fields of an event type besides its name (which is in the path), for PUT.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventTypeReplace {
    /// A friendly name (1 to 256 characters, not only spaces); defaults to `name`.
    #[schema(min_length = 1, max_length = 256, pattern = r"\S")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// At most 4096 characters.
    #[schema(max_length = 4096)]
    #[serde(default)]
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<EventSchema>,
    #[schema(value_type = Option<Object>)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub example: Option<Value>,
    #[serde(default)]
    pub deprecated: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventTypePatch {
    /// A friendly name (1 to 256 characters, not only spaces); defaults to `name`.
    #[schema(min_length = 1, max_length = 256, pattern = r"\S")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// At most 4096 characters.
    #[schema(max_length = 4096)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A new schema, or `null` to remove it.
    #[serde(default, deserialize_with = "crate::double_option", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub schema: Option<Option<EventSchema>>,
    /// A new example, or `null` to remove it.
    #[serde(default, deserialize_with = "crate::double_option", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub example: Option<Option<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecated: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventTypeOut {
    pub name: EventTypeName,
    pub label: String,
    pub description: String,
    #[schema(value_type = Option<Object>)]
    pub schema: Option<EventSchema>,
    #[schema(value_type = Option<Object>)]
    pub example: Option<Value>,
    pub deprecated: bool,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl From<EventType> for EventTypeOut {
    fn from(e: EventType) -> Self {
        Self {
            name: e.name,
            label: e.label,
            description: e.description,
            schema: e.schema,
            example: e.example,
            deprecated: e.deprecated,
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

/// The catalog list's filter.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct CatalogFilter {
    /// Include deprecated types (default false).
    #[param(value_type = Option<bool>)]
    #[serde(default, deserialize_with = "crate::text::flag", skip_serializing_if = "Option::is_none")]
    pub include_deprecated: Option<bool>,
}
