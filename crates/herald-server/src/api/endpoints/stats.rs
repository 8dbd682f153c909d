//! Per-endpoint stats: deliveries by status, success rate, attempt latency (and whether the
//! endpoint is slow), backlog, circuit.

use super::*;

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryCounts {
    pub pending: u64,
    pub retrying: u64,
    pub delivered: u64,
    pub failed: u64,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LatencyOut {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatsOut {
    #[schema(value_type = String, format = DateTime)]
    pub since: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub until: Timestamp,
    /// Deliveries created in the range, by status.
    pub deliveries: DeliveryCounts,
    /// delivered / (delivered + failed) over the range; `null` when neither happened.
    pub success_rate: Option<f64>,
    /// Attempts started in the range.
    pub attempts: u64,
    pub attempts_succeeded: u64,
    /// Attempt durations in the range, in milliseconds.
    pub attempt_latency_ms: Option<LatencyOut>,
    /// Whether the endpoint is slow: a tenth or more of the range's attempts took
    /// `delivery.slow_threshold` (default 2 s) or longer. A slow endpoint is not failing — its
    /// circuit stays closed — but holds workers longer; its tenant's share of them bounds that.
    pub slow: bool,
    /// Deliveries waiting now (pending or retrying).
    pub backlog: u64,
    /// The endpoint's circuit breaker, now.
    pub circuit: CircuitOut,
}

/// An endpoint's circuit breaker (see docs/ARCHITECTURE.md, "Endpoint health").
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CircuitOut {
    /// `closed`: deliveries flow. `open`: they wait for the next probe. `half_open`: a probe is
    /// due or under way.
    #[schema(value_type = String, example = "closed")]
    pub state: herald_core::circuit::CircuitState,
    /// When the endpoint began failing without a success since (set while the circuit is open).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub failing_since: Option<Timestamp>,
    /// When the next probe may be sent (while open).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_probe_at: Option<Timestamp>,
    /// Probes that failed since the circuit opened.
    pub failed_probes: u32,
}

/// The range of an endpoint's stats.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsParams {
    /// Start of the range (RFC 3339); default 24 hours before `until`.
    #[param(value_type = Option<String>, format = DateTime)]
    #[serde(default, deserialize_with = "crate::api::query::text::timestamp")]
    since: Option<Timestamp>,
    /// End of the range (RFC 3339); default now.
    #[param(value_type = Option<String>, format = DateTime)]
    #[serde(default, deserialize_with = "crate::api::query::text::timestamp")]
    until: Option<Timestamp>,
}

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
