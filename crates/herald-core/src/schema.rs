//! OpenAPI descriptions of the string-shaped domain types (ids, names, urls, durations).

/// Declares that `$ty` appears in JSON as a string, for the OpenAPI document: its description,
/// an example, and the pattern and length bounds its `parse` enforces (a unit test per type
/// checks that the pattern agrees with `parse`).
macro_rules! string_schema {
    ($ty:ty, $description:literal $(, example = $example:literal)? $(, pattern = $pattern:literal)?
     $(, length = $min:literal ..= $max:literal)?) => {
        impl utoipa::PartialSchema for $ty {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .description(Some($description))
                    $(.examples([serde_json::json!($example)]))?
                    $(.pattern(Some($pattern)))?
                    $(.min_length(Some($min)).max_length(Some($max)))?
                    .build()
                    .into()
            }
        }
        impl utoipa::ToSchema for $ty {}
    };
}
pub(crate) use string_schema;

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    /// Whether the documented schema of `T` accepts `text`.
    fn documented<T: utoipa::PartialSchema>(text: &str) -> bool {
        let schema = serde_json::to_value(T::schema()).expect("a schema serializes");
        jsonschema::validator_for(&schema).expect("a valid JSON Schema").is_valid(&json!(text))
    }

    fn agree(text: &str) {
        use crate::id::EndpointId;
        use crate::{event::EventId, event_type::EventTypeName, pattern::EventPattern, tenant::TenantUid};
        assert_eq!(documented::<TenantUid>(text), TenantUid::parse(text).is_ok(), "uid {text:?}");
        assert_eq!(documented::<EventTypeName>(text), EventTypeName::parse(text).is_ok(), "type {text:?}");
        assert_eq!(documented::<EventPattern>(text), EventPattern::parse(text).is_ok(), "pattern {text:?}");
        assert_eq!(documented::<EventId>(text), EventId::parse(text).is_ok(), "event id {text:?}");
        let endpoint = format!("ep_{text}");
        assert_eq!(documented::<EndpointId>(&endpoint), EndpointId::parse(&endpoint).is_ok(), "{endpoint:?}");
    }

    #[test]
    fn documented_patterns_agree_with_parsing_at_the_edges() {
        for text in [
            "", ".", "..", "...", "ten_x", "ten", "a.b", "a..b", "a.*", "*", "a.b.*", ".*", "a*", "é", "a b",
            "a:b", "-", "_", "a\u{0}",
        ] {
            agree(text);
        }
        agree(&"a".repeat(128));
        agree(&"a".repeat(129));
        agree(&"a".repeat(257));
        for ulid in [
            "01ARZ3NDEKTSV4RRFFQ69G5FAV",
            "01arz3ndektsv4rrffq69g5fav",
            "81ARZ3NDEKTSV4RRFFQ69G5FAV",
            "01ARZ3NDEKTSV4RRFFQ69G5FAI",
            "01ARZ3NDEKTSV4RRFFQ69G5FAL",
            "01ARZ3NDEKTSV4RRFFQ69G5FAO",
            "01ARZ3NDEKTSV4RRFFQ69G5FAU",
            "01ARZ3NDEKTSV4RRFFQ69G5FA",
        ] {
            agree(ulid);
        }
    }

    proptest! {
        #[test]
        fn documented_patterns_agree_with_parsing(text in "(ten_|\\.|\\*|[aZ09_:\\- é.])*") {
            agree(&text);
        }

        #[test]
        fn documented_id_patterns_agree_with_parsing(text in "[0-9A-Za-z]{24,27}") {
            agree(&text);
        }
    }
}
