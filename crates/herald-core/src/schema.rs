//! OpenAPI descriptions of the string-shaped domain types (ids, names, urls, durations).

/// Declares that `$ty` appears in JSON as a string, for the OpenAPI document.
macro_rules! string_schema {
    ($ty:ty, $description:literal $(, example = $example:literal)?) => {
        impl utoipa::PartialSchema for $ty {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .description(Some($description))
                    $(.examples([serde_json::json!($example)]))?
                    .build()
                    .into()
            }
        }
        impl utoipa::ToSchema for $ty {}
    };
}
pub(crate) use string_schema;
