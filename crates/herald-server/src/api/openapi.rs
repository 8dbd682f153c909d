//! The OpenAPI 3.1 document, generated from the handlers and types. A copy is checked in at
//! `docs/openapi.json`; a test fails when the two differ (`HERALD_TEST_BLESS=1` rewrites the copy).

use axum::Json;
use utoipa::openapi::path::Operation;
use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, Required, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use super::error::{FieldError, Problem};

#[derive(OpenApi)]
#[openapi(
    info(title = "Herald", description = "Webhook delivery: tenants, event types, endpoints, events, deliveries."),
    paths(
        super::tenants::create, super::tenants::list, super::tenants::get, super::tenants::update, super::tenants::delete, super::tenants::stats,
        super::keys::create, super::keys::list, super::keys::revoke,
        super::portal::create,
        super::event_types::create, super::event_types::list, super::event_types::get,
        super::event_types::replace, super::event_types::update, super::event_types::delete,
        super::endpoints::crud::create, super::endpoints::crud::list, super::endpoints::crud::get,
        super::endpoints::crud::replace, super::endpoints::crud::update, super::endpoints::crud::delete,
        super::endpoints::test::test, super::endpoints::recover::recover, super::endpoints::secret::rotate, super::endpoints::secret::retire_previous, super::endpoints::stats::stats,
        super::events::publish, super::events::list, super::events::get,
        super::deliveries::list, super::deliveries::get, super::deliveries::retry,
        super::bulk_retries::create, super::bulk_retries::get,
        super::listen::listen,
    ),
    components(schemas(Problem, FieldError, herald_api::listen::ServerMessage, herald_api::listen::ClientMessage)),
    modifiers(&BearerAuth, &ProblemResponses),
    security(("bearer" = [])),
    tags(
        (name = "tenants", description = "The provider's customers (admin keys; a tenant key may read its own tenant)."),
        (name = "api keys", description = "Tenant-scoped API keys (admin keys only)."),
        (name = "portal", description = "One-time links into a tenant's pages of the web interface, to embed in your own site (admin keys only)."),
        (name = "event types", description = "The event catalog (read: any key; write: admin keys)."),
        (name = "endpoints", description = "A tenant's receivers."),
        (name = "events", description = "Publishing, and the event log."),
        (name = "deliveries", description = "The delivery log: every attempt, and manual retry."),
    )
)]
#[derive(Debug)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

/// Adds the problem responses every operation can give, so handlers list only their own.
struct ProblemResponses;

fn problem(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/problem+json",
            ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build(),
        )
        .build()
}

/// A name for the operation unique in the document (handlers' own names repeat: every resource
/// has a `list` and a `get`): the method, then the path's fixed segments, `ById` when it ends
/// with a parameter — `getTenantsEndpointsById` for `GET /v1/tenants/{tenant}/endpoints/{endpoint}`.
fn operation_id(method: &str, path: &str) -> String {
    let mut id = method.to_owned();
    let segments: Vec<&str> = path.trim_start_matches("/v1").split('/').filter(|s| !s.is_empty()).collect();
    for segment in &segments {
        if segment.starts_with('{') {
            continue;
        }
        for word in segment.split(['-', '.', '_']) {
            let mut chars = word.chars();
            if let Some(first) = chars.next() {
                id.extend(first.to_uppercase());
                id.push_str(chars.as_str());
            }
        }
    }
    if segments.last().is_some_and(|s| s.starts_with('{')) {
        id.push_str("ById");
    }
    id
}

impl Modify for ProblemResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let operations: [(&str, &mut Option<Operation>); 5] = [
                ("get", &mut item.get),
                ("post", &mut item.post),
                ("put", &mut item.put),
                ("patch", &mut item.patch),
                ("delete", &mut item.delete),
            ];
            for (method, operation) in operations {
                let Some(operation) = operation.as_mut() else { continue };
                operation.operation_id = Some(operation_id(method, path));
                let admin_only = path == "/v1/tenants"
                    || path == "/v1/tenants/{tenant}" && method != "get"
                    || path.contains("/keys")
                    || path.ends_with("/portal-sessions")
                    || path.starts_with("/v1/event-types") && method != "get";
                if method == "post" {
                    let header = ParameterBuilder::new()
                        .name("Idempotency-Key")
                        .parameter_in(ParameterIn::Header)
                        .required(Required::False)
                        .description(Some(
                            "Repeat-safe POST: the first successful response to this key (per caller and \
                             route) is replayed for 24 hours; a different body with the same key is refused \
                             (422). Error responses are not stored, so the key can be used again.",
                        ))
                        .schema(Some(
                            ObjectBuilder::new()
                                .schema_type(Type::String)
                                .min_length(Some(1))
                                .max_length(Some(herald_store::IdempotencyKey::MAX_LEN))
                                .pattern(Some(herald_store::IdempotencyKey::PATTERN)),
                        ))
                        .build();
                    operation.parameters.get_or_insert_with(Vec::new).push(header);
                }
                const IN_PROGRESS: &str = "A request with the same Idempotency-Key is still being processed.";
                if method == "post"
                    && let Some(utoipa::openapi::RefOr::T(own)) = operation.responses.responses.get_mut("409")
                {
                    own.description = format!("{} Or: {IN_PROGRESS}", own.description);
                }
                let mut add = |status: &str, description: &str| {
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| problem(description).into());
                };
                add("401", "No API key, or an unknown one.");
                if admin_only {
                    add("403", "A tenant key on an admin-only route.");
                }
                if path.contains('{') {
                    add("404", "Not found, or not visible to this key.");
                }
                if method == "post" {
                    add("409", IN_PROGRESS);
                }
                if operation.request_body.is_some() {
                    add("400", "The body is not valid JSON.");
                    add("413", "The body is too large.");
                    add("415", "The body is not JSON.");
                }
                add("422", "Invalid values; `errors` lists the failing fields.");
                add("500", "Internal error (logged).");
                // Every error, whoever declared it, is a problem document.
                for (status, response) in operation.responses.responses.iter_mut() {
                    let utoipa::openapi::RefOr::T(response) = response else { continue };
                    if status.starts_with(['4', '5'])
                        && let Some(content) = response.content.shift_remove("application/json")
                    {
                        response.content.insert("application/problem+json".to_owned(), content);
                    }
                }
            }
        }
    }
}

/// `GET /v1/openapi.json`
pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// The document as checked in: pretty JSON with a final newline.
pub fn document() -> String {
    let mut text = ApiDoc::openapi().to_pretty_json().unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_has_its_own_id() {
        let document: serde_json::Value = serde_json::from_str(&document()).unwrap();
        let mut ids = Vec::new();
        for item in document["paths"].as_object().unwrap().values() {
            for operation in item.as_object().unwrap().values() {
                ids.push(operation["operationId"].as_str().unwrap().to_owned());
            }
        }
        let count = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), count, "operation ids repeat: {ids:?}");
        assert_eq!(
            operation_id("get", "/v1/tenants/{tenant}/endpoints/{endpoint}"),
            "getTenantsEndpointsById"
        );
        assert_eq!(operation_id("post", "/v1/tenants/{tenant}/bulk-retries"), "postTenantsBulkRetries");
    }
}
