//! Test sends: one event to one endpoint, whatever it subscribes to.

use super::*;

/// Send a test event to this endpoint only (even when disabled): the event type's example, or a
/// `herald.ping`. It is a real event in the log, attempted with trigger `test`.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/endpoints/{endpoint}/test", tag = "endpoints",
    params(TenantScope, InPath<EndpointId>), request_body(content = Option<TestIn>),
    responses((status = 202, description = "queued", body = TestOut)))]
pub async fn test(
    State(state): State<AppState>,
    TenantScope(tenant): TenantScope,
    InPath(id): InPath<EndpointId>,
    body: OptionalJsonBody<TestIn>,
) -> ApiResult<(StatusCode, Json<TestOut>)> {
    let endpoint = find_endpoint(&state, &tenant.id, &id).await?;
    let input = body.0.unwrap_or_default();
    let (event_type, data) = match input.event_type {
        Some(name) => {
            let known = state.store.event_type(&name).await?;
            match known.and_then(|t| t.example) {
                Some(Value::Object(example)) => (name, example),
                _ => {
                    return Err(ApiError::invalid_field(
                        "/eventType",
                        format!("event type `{name}` has no example in the catalog"),
                    ));
                }
            }
        }
        None => {
            let mut data = Map::new();
            data.insert("message".into(), Value::String("A test event from Herald.".into()));
            data.insert("endpointId".into(), Value::String(endpoint.id.to_string()));
            (EventTypeName::ping(), data)
        }
    };
    let (event, delivery) =
        state.publisher.test_send(std::sync::Arc::new(endpoint), event_type, data).await?;
    Ok((StatusCode::ACCEPTED, Json(TestOut { event_id: event.id, delivery_id: delivery.id })))
}
