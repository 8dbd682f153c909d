//! `herald listen`: receive a tenant's deliveries on this machine through a temporary endpoint,
//! and forward them to a local URL (or print them). Only an outbound connection is made: a
//! WebSocket to the server, which records each local answer as the attempt.

use std::time::{Duration, Instant};

use herald_api::listen::{ClientMessage, ListenParams, RelayedRequest};
use herald_client::{Error, Listener, Responder};
use herald_core::delivery::{ErrorKind, RESPONSE_BODY_LIMIT};
use herald_core::id::EndpointId;
use serde_json::json;

use super::{Connection, Failure, Output, Session, TenantArg};

#[derive(Debug, clap::Args)]
pub struct ListenArgs {
    /// Where to forward each delivery, e.g. http://localhost:3000/webhooks.
    #[arg(long, value_name = "URL", required_unless_present = "print")]
    forward_to: Option<String>,
    /// Print each request (headers and body) instead of forwarding it; it counts as delivered.
    #[arg(long, conflicts_with = "forward_to")]
    print: bool,
    /// Event-type patterns to receive, comma-separated (default: every type).
    #[arg(long, value_name = "PATTERNS")]
    events: Option<String>,
    /// Reconnect to an earlier session (the endpoint id it printed) instead of opening a new one.
    #[arg(long, value_name = "ENDPOINT")]
    resume: Option<String>,
    /// How long the local URL may take to answer.
    #[arg(long, default_value = "9s", value_parser = humantime_duration)]
    timeout: Duration,
    #[command(flatten)]
    tenant: TenantArg,
    #[command(flatten)]
    connection: Connection,
}

fn humantime_duration(text: &str) -> Result<Duration, String> {
    herald_core::duration::HumanDuration::parse(text).map(|d| d.get())
}

pub async fn run(args: ListenArgs) -> Result<(), Failure> {
    let session = Session::open(&args.connection)?;
    let tenant = session.tenant(&args.tenant)?;
    let out = session.out;
    let forward = match &args.forward_to {
        Some(url) => {
            Some(url::Url::parse(url).map_err(|e| Failure::usage(format!("--forward-to {url}: {e}")))?)
        }
        None => None,
    };
    let local = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(args.timeout)
        .build()
        .map_err(|e| Failure::other(e.to_string()))?;
    let mut resume: Option<EndpointId> = match &args.resume {
        Some(id) => Some(super::request("--resume", serde_json::Value::String(id.clone()))?),
        None => None,
    };
    let mut first = true;
    let mut backoff = Duration::from_millis(500);
    loop {
        let params = ListenParams {
            events: args.events.clone(),
            resume: resume.clone(),
            forward_to: args.forward_to.clone(),
        };
        let mut listener = match session.client.listen(&tenant, &params).await {
            Ok(listener) => listener,
            // Reconnecting: wait for the server to be back (a refusal ends it, though).
            Err(Error::Network(e)) if !first => {
                eprintln!(
                    "{}",
                    out.dim(&format!("cannot reconnect ({e}); trying again in {} ms", backoff.as_millis()))
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        backoff = Duration::from_millis(500);
        let ready = listener.session().clone();
        if first {
            announce(&out, &ready, forward.as_ref())?;
        } else {
            eprintln!("{}", out.dim("reconnected"));
        }
        first = false;
        resume = Some(ready.endpoint_id.clone());
        let stopped = tokio::select! {
            () = serve(&out, &mut listener, forward.as_ref(), &local) => false,
            _ = tokio::signal::ctrl_c() => true,
        };
        if stopped {
            listener.responder().close().await;
            eprintln!(
                "Stopped. The session's endpoint {} stays {} without a connection: resume it with `herald listen --resume {}`.",
                ready.endpoint_id,
                herald_core::duration::HumanDuration::from(ready.idle_timeout),
                ready.endpoint_id
            );
            return Ok(());
        }
        eprintln!("{}", out.dim("connection lost; reconnecting…"));
    }
}

fn announce(out: &Output, ready: &herald_client::Session, forward: Option<&url::Url>) -> Result<(), Failure> {
    let events = if ready.events.is_empty() {
        "every event type".to_owned()
    } else {
        ready.events.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    };
    if out.json {
        return out.json(&json!({
            "ready": {"endpointId": ready.endpoint_id, "secret": ready.secret.expose(), "events": ready.events, "resumed": ready.resumed}
        }));
    }
    let target = forward.map_or_else(|| "printed here".to_owned(), |url| format!("forwarded to {url}"));
    eprintln!("Ready: deliveries of {events} to endpoint {} are {target}.", ready.endpoint_id);
    eprintln!("Their signing secret is {} (verify what arrives with it).", ready.secret.expose());
    eprintln!("Ctrl-C stops; `--resume {}` reconnects to this session.", ready.endpoint_id);
    Ok(())
}

/// Answers the session's attempts until the connection ends.
async fn serve(out: &Output, listener: &mut Listener, forward: Option<&url::Url>, local: &reqwest::Client) {
    let responder = listener.responder();
    let mut tasks = tokio::task::JoinSet::new();
    while let Some(next) = listener.next_request().await {
        let Ok(request) = next else { break };
        let (out, responder, forward, local) = (*out, responder.clone(), forward.cloned(), local.clone());
        tasks.spawn(async move { answer(&out, &responder, request, forward.as_ref(), &local).await });
        while tasks.try_join_next().is_some() {}
    }
    tasks.abort_all();
}

/// Forwards (or prints) one attempt, answers the server, and prints a line about it.
async fn answer(
    out: &Output,
    responder: &Responder,
    request: RelayedRequest,
    forward: Option<&url::Url>,
    local: &reqwest::Client,
) {
    let started = Instant::now();
    let message = match forward {
        None => {
            print_request(out, &request);
            ClientMessage::Response {
                id: request.id,
                status: 200,
                headers: Vec::new(),
                body: String::new(),
                duration_ms: 0,
            }
        }
        Some(url) => forwarded(local, url, &request, started).await,
    };
    let outcome = match &message {
        ClientMessage::Response { status, duration_ms, .. } => (status.to_string(), *duration_ms),
        ClientMessage::Failed { message, duration_ms, .. } => (format!("failed: {message}"), *duration_ms),
    };
    let sent = responder.send(&message).await;
    if forward.is_some() || out.json {
        let time = super::output::time(&herald_core::Timestamp::now());
        let line = if out.json {
            json!({"time": time, "eventType": request.event_type, "eventId": request.event_id, "deliveryId": request.delivery_id,
                   "attempt": request.attempt_no, "status": outcome.0, "durationMs": outcome.1}).to_string()
        } else {
            let status = if outcome.0.starts_with('2') {
                out.tone("delivered").replace("delivered", &outcome.0)
            } else {
                out.tone("failed").replace("failed", &outcome.0)
            };
            format!("{time}  {}  {}  → {status}  {} ms", request.event_type, request.event_id, outcome.1)
        };
        let _ = out.line(&line);
    }
    if let Err(e) = sent {
        eprintln!(
            "{}",
            out.dim(&format!(
                "the answer to {} was not sent ({e}); the server retries it",
                request.delivery_id
            ))
        );
    }
}

async fn forwarded(
    local: &reqwest::Client,
    url: &url::Url,
    request: &RelayedRequest,
    started: Instant,
) -> ClientMessage {
    let method = reqwest::Method::from_bytes(request.method.as_bytes()).unwrap_or(reqwest::Method::POST);
    let mut outgoing = local.request(method, url.clone()).body(request.body.clone());
    for (name, value) in &request.headers {
        if !matches!(
            name.to_ascii_lowercase().as_str(),
            "host" | "content-length" | "connection" | "transfer-encoding"
        ) {
            outgoing = outgoing.header(name, value);
        }
    }
    let elapsed = |started: Instant| u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    match outgoing.send().await {
        Ok(mut response) => {
            let status = response.status().as_u16();
            let headers = response
                .headers()
                .iter()
                .map(|(name, value)| {
                    (name.as_str().to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned())
                })
                .collect();
            let mut body = Vec::new();
            while body.len() < RESPONSE_BODY_LIMIT {
                match response.chunk().await {
                    Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                    _ => break,
                }
            }
            body.truncate(RESPONSE_BODY_LIMIT);
            let body = String::from_utf8_lossy(&body).into_owned();
            ClientMessage::Response { id: request.id, status, headers, body, duration_ms: elapsed(started) }
        }
        Err(e) => {
            let kind = if e.is_timeout() { ErrorKind::Timeout } else { ErrorKind::Connect };
            let mut message = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                message = format!("{message}: {cause}");
                source = cause.source();
            }
            ClientMessage::Failed { id: request.id, kind, message, duration_ms: elapsed(started) }
        }
    }
}

fn print_request(out: &Output, request: &RelayedRequest) {
    if out.json {
        let _ = out.line(&serde_json::to_string(request).unwrap_or_default());
        return;
    }
    let body = serde_json::from_str::<serde_json::Value>(&request.body)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or_else(|_| request.body.clone());
    let mut text = format!(
        "{} {} (delivery {}, attempt {})\n",
        request.method, request.event_type, request.delivery_id, request.attempt_no
    );
    for (name, value) in &request.headers {
        text.push_str(&out.dim(&format!("{name}: {value}")));
        text.push('\n');
    }
    text.push('\n');
    text.push_str(&body);
    text.push('\n');
    let _ = out.line(&text);
}
