//! The REST API (`/v1`): routes, the OpenAPI document, and the health checks.
//!
//! One file per resource holds its handlers beside its request and response types
//! (`EndpointIn`, `EndpointOut`, …). Handlers parse input into domain values, call the store, and
//! answer with JSON or a problem document; they never call out to receivers.

pub mod bulk_retries;
pub mod deliveries;
pub mod endpoints;
pub mod error;
pub mod event_types;
pub mod events;
pub mod extract;
pub mod health;
pub mod idempotency;
pub mod keys;
pub mod listen;
pub mod metrics;
pub mod openapi;
pub mod portal;
pub mod query;
pub mod strict_json;
pub mod tenants;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{get, post};
use herald_store::Page;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use crate::state::AppState;
use error::ApiError;

pub use herald_api::{ListResponse, PageParams, double_option};

/// A page of the store as the API shows it.
pub(crate) fn listed<T>(page: Page<T>) -> ListResponse<T> {
    ListResponse { data: page.items, next_cursor: page.next_cursor }
}

pub fn router(state: AppState) -> Router {
    let body_limit = state.config.max_body_bytes;
    let v1 = Router::new()
        .route("/tenants", get(tenants::list).post(tenants::create))
        .route("/tenants/{tenant}", get(tenants::get).patch(tenants::update).delete(tenants::delete))
        .route("/tenants/{tenant}/stats", get(tenants::stats))
        .route("/tenants/{tenant}/keys", get(keys::list).post(keys::create))
        .route("/tenants/{tenant}/keys/{key}", axum::routing::delete(keys::revoke))
        .route("/tenants/{tenant}/portal-sessions", post(portal::create))
        .route("/event-types", get(event_types::list).post(event_types::create))
        .route(
            "/event-types/{name}",
            get(event_types::get)
                .put(event_types::replace)
                .patch(event_types::update)
                .delete(event_types::delete),
        )
        .route("/tenants/{tenant}/endpoints", get(endpoints::crud::list).post(endpoints::crud::create))
        .route(
            "/tenants/{tenant}/endpoints/{endpoint}",
            get(endpoints::crud::get)
                .put(endpoints::crud::replace)
                .patch(endpoints::crud::update)
                .delete(endpoints::crud::delete),
        )
        .route("/tenants/{tenant}/endpoints/{endpoint}/test", post(endpoints::test::test))
        .route("/tenants/{tenant}/endpoints/{endpoint}/recover", post(endpoints::recover::recover))
        .route("/tenants/{tenant}/endpoints/{endpoint}/secret/rotate", post(endpoints::secret::rotate))
        .route(
            "/tenants/{tenant}/endpoints/{endpoint}/secret/retire-previous",
            post(endpoints::secret::retire_previous),
        )
        .route("/tenants/{tenant}/endpoints/{endpoint}/stats", get(endpoints::stats::stats))
        .route("/tenants/{tenant}/events", get(events::list).post(events::publish))
        .route("/tenants/{tenant}/events/{event}", get(events::get))
        .route("/tenants/{tenant}/deliveries", get(deliveries::list))
        .route("/tenants/{tenant}/deliveries/{delivery}", get(deliveries::get))
        .route("/tenants/{tenant}/deliveries/{delivery}/retry", post(deliveries::retry))
        .route("/tenants/{tenant}/bulk-retries", post(bulk_retries::create))
        .route("/tenants/{tenant}/bulk-retries/{bulkRetry}", get(bulk_retries::get))
        .route("/tenants/{tenant}/listen", get(listen::listen))
        .route("/openapi.json", get(openapi::serve));
    Router::new()
        .nest("/v1", v1)
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
        .route("/metrics", get(metrics::metrics))
        .merge(crate::ui::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("a request handler panicked");
            axum::response::IntoResponse::into_response(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "an internal error occurred; it has been logged",
            ))
        }))
        .layer(axum::middleware::from_fn_with_state(state.clone(), idempotency::layer))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .with_state(state)
}

/// The span of each request, as tower-http's default one but with a portal link's token left
/// out of the logged URI.
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let uri = crate::ui::loggable_uri(request.uri());
    tracing::debug_span!("request", method = %request.method(), uri = %uri, version = ?request.version())
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method",
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_documented_cursor_is_the_parsed_cursor() {
        let document: serde_json::Value = serde_json::from_str(&super::openapi::document()).unwrap();
        let parameters = document["paths"]["/v1/tenants"]["get"]["parameters"].as_array().unwrap().clone();
        let cursor = parameters.iter().find(|p| p["name"] == "cursor").unwrap();
        assert_eq!(cursor["schema"]["pattern"], herald_api::page::CURSOR_PATTERN);
    }
}
