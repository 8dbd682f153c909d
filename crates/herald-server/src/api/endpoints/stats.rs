//! Per-endpoint stats: deliveries by status, success rate, attempt latency (and whether the
//! endpoint is slow), backlog, circuit.

use super::*;

/// Counts by status, success rate and attempt latency percentiles of one endpoint over
/// `[since, until)` (default: the last 24 hours), with its current backlog and circuit state.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/endpoints/{endpoint}/stats", tag = "endpoints",
    params(TenantScope, InPath<EndpointId>, StatsParams),
    responses((status = 200, body = StatsOut)))]
pub async fn stats(
    State(state): State<AppState>,
    TenantScope(tenant): TenantScope,
    InPath(id): InPath<EndpointId>,
    QueryParams(params): QueryParams<StatsParams>,
) -> ApiResult<Json<StatsOut>> {
    let endpoint = find_endpoint(&state, &tenant.id, &id).await?;
    let now = state.clock.now();
    let until = params.until.unwrap_or(now);
    let since = match params.since {
        Some(since) => since,
        None => Timestamp::from_millisecond(until.as_millisecond() - 24 * 3600 * 1000).unwrap_or(until),
    };
    if since >= until {
        return Err(ApiError::invalid_field("/since", "since must be before until"));
    }
    let stats = state.store.endpoint_stats(&endpoint.id, since, until).await?;
    let count =
        |status: DeliveryStatus| stats.by_status.iter().find(|(s, _)| *s == status).map_or(0, |(_, n)| *n);
    let deliveries = DeliveryCounts {
        pending: count(DeliveryStatus::Pending),
        retrying: count(DeliveryStatus::Retrying),
        delivered: count(DeliveryStatus::Delivered),
        failed: count(DeliveryStatus::Failed),
    };
    let finished = deliveries.delivered + deliveries.failed;
    Ok(Json(StatsOut {
        since,
        until,
        success_rate: (finished > 0).then(|| deliveries.delivered as f64 / finished as f64),
        deliveries,
        attempts: stats.attempts,
        attempts_succeeded: stats.attempts_succeeded,
        slow: stats.duration_ms.is_some_and(|[_, p90, _, _]| {
            u128::from(p90) >= state.config.delivery.slow_threshold.get().as_millis()
        }),
        attempt_latency_ms: stats.duration_ms.map(|[p50, p90, p99, max]| LatencyOut { p50, p90, p99, max }),
        backlog: stats.backlog,
        circuit: CircuitOut {
            state: endpoint.health.state(now),
            failing_since: endpoint.health.failing_since,
            next_probe_at: endpoint.health.probe_at,
            failed_probes: endpoint.health.failed_probes,
        },
    }))
}
