//! `/v1/tenants/{tenant}/listen`: opens (or resumes) a `herald listen` session over a
//! WebSocket; see `crate::listen` for how its deliveries reach it.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::Response;
use herald_api::listen::{ClientMessage, LISTEN_HOST, ListenParams, ServerMessage};
use herald_core::delivery::ErrorKind;
use herald_core::endpoint::{Endpoint, EndpointCredentials, EndpointSpec, EndpointUrl};
use herald_core::pattern::EventPattern;
use herald_core::secret::SigningSecret;
use tokio::sync::oneshot;

use super::error::{ApiError, ApiResult, FieldError};
use super::extract::TenantScope;
use super::query::QueryParams;
use crate::listen::Outcome;
use crate::state::AppState;

/// How often the server pings a listening CLI (a dead connection is noticed within this).
const PING_EVERY: Duration = Duration::from_secs(15);
/// The largest message a CLI may send (an answer carries at most 4 KiB of body).
const MAX_MESSAGE: usize = 256 * 1024;
const MAX_PATTERNS: usize = 100;
const MAX_FORWARD_TO: usize = 512;

/// Open a `herald listen` session: a WebSocket over which this tenant's temporary endpoint's
/// deliveries are sent, signed like any delivery, and answered (see the `ServerMessage` and
/// `ClientMessage` schemas). A new session creates the endpoint (subscribed to `events`);
/// `resume` reconnects to an earlier one. Without a connection the endpoint's deliveries wait
/// and are retried like any endpoint's; after `listen_idle_timeout` (default 1h) with no
/// connection the endpoint is deleted.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/listen", tag = "endpoints", params(TenantScope, ListenParams),
    responses(
        (status = 101, description = "The WebSocket is open; the first message is `ready`."),
        (status = 426, description = "Not a WebSocket upgrade request.", body = crate::api::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn listen(
    State(state): State<AppState>,
    TenantScope(tenant): TenantScope,
    QueryParams(params): QueryParams<ListenParams>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let events = patterns(params.events.as_deref())?;
    let forward_to = params.forward_to.unwrap_or_default();
    if forward_to.chars().count() > MAX_FORWARD_TO {
        return Err(ApiError::invalid_field("/forwardTo", format!("at most {MAX_FORWARD_TO} characters")));
    }
    let upgrade = upgrade.map_err(|_| {
        ApiError::new(
            StatusCode::UPGRADE_REQUIRED,
            "upgrade_required",
            "this is a WebSocket: open it as one (as `herald listen` does)",
        )
    })?;
    let now = state.clock.now();
    let (endpoint, credentials, resumed) = match params.resume {
        Some(id) => {
            let endpoint = state.endpoints.find(&tenant.id, &id).await?;
            if !state.store.is_listen_session(&tenant.id, &id).await? {
                return Err(ApiError::not_found("listen session"));
            }
            state.store.touch_listen_sessions(std::slice::from_ref(&id), now).await?;
            let credentials = state.endpoints.credentials(&endpoint)?;
            (endpoint, credentials, true)
        }
        None => {
            let (endpoint, credentials) = open(&state, &tenant.id, events, &forward_to).await?;
            (endpoint, credentials, false)
        }
    };
    let ready = ServerMessage::Ready {
        endpoint_id: endpoint.id.clone(),
        secret: credentials.secret.clone(),
        events: endpoint.spec.events.clone(),
        idle_timeout_secs: state.config.listen_idle_timeout.get().as_secs(),
        resumed,
    };
    Ok(upgrade.max_message_size(MAX_MESSAGE).on_upgrade(move |socket| serve(state, endpoint, ready, socket)))
}

/// `events=a.*,b.c` as patterns; empty: every type.
fn patterns(events: Option<&str>) -> ApiResult<Vec<EventPattern>> {
    let patterns: Vec<EventPattern> = events
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| EventPattern::parse(p).map_err(|e| ApiError::invalid(vec![FieldError::new("/events", e)])))
        .collect::<ApiResult<_>>()?;
    if patterns.len() > MAX_PATTERNS {
        return Err(ApiError::invalid_field("/events", format!("at most {MAX_PATTERNS} patterns")));
    }
    Ok(patterns)
}

/// Creates the session's endpoint and records the session.
async fn open(
    state: &AppState,
    tenant: &herald_core::id::TenantId,
    events: Vec<EventPattern>,
    forward_to: &str,
) -> ApiResult<(Endpoint, EndpointCredentials)> {
    let url = EndpointUrl::parse(&format!("https://{LISTEN_HOST}/session"))
        .map_err(|e| ApiError::internal(&std::io::Error::other(e)))?;
    let description = if forward_to.is_empty() {
        "herald listen".to_owned()
    } else {
        format!("herald listen → {forward_to}")
    };
    let spec = EndpointSpec {
        url,
        description,
        events,
        filter: None,
        http_method: Default::default(),
        retry_policy: None,
        rate_limit: None,
        payload_format: Default::default(),
        payload_template: None,
        metadata: Default::default(),
        ca_cert_pem: None,
        client_cert_pem: None,
        signature_scheme: Default::default(),
        signature_profiles: herald_core::signing::SignatureProfile::defaults(),
        cloudevents_handshake: false,
    };
    let credentials = EndpointCredentials {
        secret: SigningSecret::generate(),
        retiring: Vec::new(),
        auth: Default::default(),
        headers: Default::default(),
        client_key_pem: None,
    };
    let endpoint = state.endpoints.create(tenant.clone(), spec, &credentials, true).await?;
    if let Err(e) = state.store.insert_listen_session(tenant, &endpoint.id, state.clock.now()).await {
        // Not a session without its row: the endpoint goes too.
        let _ = state.endpoints.delete(tenant, &endpoint.id).await;
        return Err(e.into());
    }
    Ok((endpoint, credentials))
}

/// Serves one connection: sends it the session's attempts, and passes its answers back.
async fn serve(state: AppState, endpoint: Endpoint, ready: ServerMessage, mut socket: WebSocket) {
    let (number, mut requests) = state.relays.attach(&endpoint.id);
    let mut pending: HashMap<u64, oneshot::Sender<Outcome>> = HashMap::new();
    let mut next_id = 1_u64;
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    if send(&mut socket, &ready).await {
        loop {
            tokio::select! {
                relayed = requests.recv() => {
                    let Some(relayed) = relayed else { break };
                    let mut request = relayed.request;
                    request.id = next_id;
                    next_id += 1;
                    let id = request.id;
                    pending.insert(id, relayed.outcome);
                    if !send(&mut socket, &ServerMessage::Request(request)).await {
                        break;
                    }
                }
                frame = socket.recv() => match frame {
                    Some(Ok(Message::Text(text))) => match serde_json::from_str::<ClientMessage>(text.as_str()) {
                        Ok(message) => {
                            let (id, outcome) = crate::listen::outcome(message);
                            if let Some(waiting) = pending.remove(&id) {
                                let _ = waiting.send(outcome);
                            }
                        }
                        Err(e) => {
                            tracing::debug!(endpoint.id = %endpoint.id, error = %e, "a listen session sent an unreadable message");
                            break;
                        }
                    },
                    Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                    Some(Ok(_)) => {}
                },
                _ = ping.tick() => {
                    if socket.send(Message::Ping(Default::default())).await.is_err() {
                        break;
                    }
                }
            }
        }
    }
    state.relays.detach(&endpoint.id, number);
    for (_, waiting) in pending {
        let failed = crate::dispatcher::sender::Failed {
            kind: ErrorKind::Connect,
            message: "the `herald listen` connection closed before answering".into(),
        };
        let _ = waiting.send((Err(failed), Duration::ZERO));
    }
    if let Err(e) =
        state.store.touch_listen_sessions(std::slice::from_ref(&endpoint.id), state.clock.now()).await
    {
        tracing::warn!(endpoint.id = %endpoint.id, error = %e, "marking a listen session as last seen failed");
    }
}

/// Sends a message; `false` when the connection is gone.
async fn send(socket: &mut WebSocket, message: &ServerMessage) -> bool {
    match serde_json::to_string(message) {
        Ok(text) => socket.send(Message::Text(text.into())).await.is_ok(),
        Err(_) => false,
    }
}
