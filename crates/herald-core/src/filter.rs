//! Payload filters: an endpoint receives an event only when its `data` matches.
//!
//! The seed-004 form `{ "keyToFilter": "a.b.c", "supportedValues": [..] }` is a dot path into the
//! event's `data`; where the path meets an array, each element is followed and one match is
//! enough; the value found is compared with `supportedValues` exactly (strings case-sensitively).

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PayloadFilter {
    /// Dot path into the event `data`, e.g. `customer_request.request_items.product_category`.
    key_to_filter: String,
    /// Values that let the event through (strings, numbers or booleans; exact comparison).
    #[schema(value_type = Vec<Object>)]
    supported_values: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawFilter {
    key_to_filter: String,
    supported_values: Vec<Value>,
}

impl PayloadFilter {
    pub const MAX_VALUES: usize = 100;

    pub fn new(key_to_filter: String, supported_values: Vec<Value>) -> Result<Self, String> {
        if key_to_filter.is_empty() || key_to_filter.split('.').any(str::is_empty) {
            return Err("keyToFilter must be a dot path such as `a.b.c` with no empty segments".into());
        }
        if supported_values.is_empty() || supported_values.len() > Self::MAX_VALUES {
            return Err(format!("supportedValues must list 1 to {} values", Self::MAX_VALUES));
        }
        if supported_values.iter().any(|v| v.is_object() || v.is_array() || v.is_null()) {
            return Err("supportedValues may hold only strings, numbers and booleans".into());
        }
        Ok(Self { key_to_filter, supported_values })
    }

    pub fn key_to_filter(&self) -> &str {
        &self.key_to_filter
    }

    pub fn supported_values(&self) -> &[Value] {
        &self.supported_values
    }

    /// Whether an event whose payload is `data` passes this filter.
    pub fn matches(&self, data: &Value) -> bool {
        let path: Vec<&str> = self.key_to_filter.split('.').collect();
        self.matches_at(data, &path)
    }

    fn matches_at(&self, value: &Value, path: &[&str]) -> bool {
        match (value, path.split_first()) {
            (Value::Array(items), _) => items.iter().any(|item| self.matches_at(item, path)),
            (Value::Object(map), Some((key, rest))) => {
                map.get(*key).is_some_and(|next| self.matches_at(next, rest))
            }
            (_, Some(_)) => false,
            (leaf, None) => self.supported_values.iter().any(|v| v == leaf),
        }
    }
}

impl<'de> Deserialize<'de> for PayloadFilter {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawFilter::deserialize(d)?;
        Self::new(raw.key_to_filter, raw.supported_values).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn filter(key: &str, values: Value) -> PayloadFilter {
        serde_json::from_value(json!({"keyToFilter": key, "supportedValues": values})).unwrap()
    }

    #[test]
    fn seed_004_product_category_example() {
        let f = filter("customer_request.request_items.product_category", json!(["solar", "electricity"]));
        let yes = json!({"customer_request": {"request_items": [
            {"product_category": "gas"}, {"product_category": "solar"}]}});
        let no = json!({"customer_request": {"request_items": [{"product_category": "gas"}]}});
        let case = json!({"customer_request": {"request_items": [{"product_category": "Solar"}]}});
        assert!(f.matches(&yes));
        assert!(!f.matches(&no));
        assert!(!f.matches(&case), "values are compared case-sensitively");
        assert!(!f.matches(&json!({})));
    }

    #[test]
    fn leaf_arrays_numbers_and_booleans() {
        assert!(filter("tags", json!(["b"])).matches(&json!({"tags": ["a", "b"]})));
        assert!(filter("n", json!([3])).matches(&json!({"n": 3})));
        assert!(!filter("n", json!([3])).matches(&json!({"n": "3"})));
        assert!(filter("ok", json!([true])).matches(&json!({"ok": true})));
        assert!(!filter("a.b", json!(["x"])).matches(&json!({"a": "x"})));
    }

    #[test]
    fn invalid_filters() {
        for bad in [
            json!({"keyToFilter": "", "supportedValues": ["a"]}),
            json!({"keyToFilter": "a..b", "supportedValues": ["a"]}),
            json!({"keyToFilter": "a", "supportedValues": []}),
            json!({"keyToFilter": "a", "supportedValues": [{"x": 1}]}),
            json!({"keyToFilter": "a"}),
        ] {
            assert!(serde_json::from_value::<PayloadFilter>(bad.clone()).is_err(), "{bad}");
        }
    }
}
