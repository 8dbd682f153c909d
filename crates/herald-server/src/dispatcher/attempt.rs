//! One attempt of one delivery: build the signed request from the event and the endpoint, send
//! it, and turn what happened into an [`Attempt`] record and the delivery's next state.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use herald_core::Timestamp;
use herald_core::delivery::{
    Attempt, ErrorKind, FailureReason, Next, Outcome, SentRequest, Trigger, after_attempt, parse_retry_after,
    postpone,
};
use herald_core::endpoint::{
    Endpoint, EndpointAuth, EndpointCredentials, HttpMethod, PayloadFormat, is_sensitive_header,
};
use herald_core::event::Event;
use herald_core::handshake::{self, Handshake, HandshakeStatus};
use herald_core::id::AttemptId;
use herald_core::id::GeneratedEventId;
use herald_core::payload::{self, Envelope};
use herald_core::signing::{SignatureProfile, signature_header};
use herald_core::template::PayloadTemplate;
use herald_store::Job;
use reqwest::header::HeaderMap;

use super::sender::{Outbound, insert};
use super::{Context, oauth};

const REDACTED: &str = "********";

/// Runs the job: the attempt to record (none when no request was made) and what comes next.
pub async fn perform(ctx: &Context, job: &Job) -> (Option<Attempt>, Next) {
    let Some(endpoint) = &job.endpoint else {
        return (None, Next::Failed(FailureReason::EndpointDeleted));
    };
    if !endpoint.enabled && job.delivery.next_trigger != Trigger::Test {
        return (None, Next::Failed(FailureReason::EndpointDisabled));
    }
    if job.event.payload_removed_at.is_some() {
        // The retention removed what it would send: nothing to deliver any more.
        return (None, Next::Failed(FailureReason::PayloadRemoved));
    }
    let Some(credentials) = credentials(ctx, endpoint) else {
        // Not the receiver's fault, and perhaps mended soon (a restart with the right master
        // key): the delivery waits, uncharged, rather than becoming a dead letter.
        let policy = ctx.config.retry_policy_of(endpoint);
        let next = postpone(
            &policy,
            job.delivery.attempt_count,
            job.event.created_at,
            ctx.clock.now(),
            rand::random::<f64>(),
        );
        return (None, next);
    };
    let started_at = ctx.clock.now();
    let (outbound, mut shown) = build(ctx, job, endpoint, &credentials, started_at);
    let listen = crate::listen::is_listen_endpoint(endpoint);
    let refused = match needs_handshake(ctx, endpoint) && !listen {
        true => handshake(ctx, endpoint, &credentials, started_at).await.err(),
        false => None,
    };
    let (result, elapsed) = match (refused, outbound) {
        // No delivery before the receiver agrees: the attempt shows the validation request.
        (Some((failed, options, elapsed)), _) => {
            shown = options;
            (Err(failed), elapsed)
        }
        (None, Ok(outbound)) if listen => relay(ctx, job, endpoint, outbound).await,
        (None, Ok(outbound)) => send_authenticated(ctx, endpoint, &credentials, outbound).await,
        (None, Err(failed)) => (Err(failed), std::time::Duration::ZERO),
    };
    let now = ctx.clock.now();
    let attempt_no = job.delivery.attempt_count + 1;
    let mut attempt = Attempt {
        id: AttemptId::generate_at(started_at),
        delivery_id: job.delivery.id.clone(),
        tenant_id: job.delivery.tenant_id.clone(),
        endpoint_id: endpoint.id.clone(),
        attempt_no,
        trigger: job.delivery.next_trigger,
        started_at,
        duration_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        request: shown,
        response_status: None,
        response_headers: Vec::new(),
        response_body: None,
        error_kind: None,
        error_message: None,
    };
    let outcome = match result {
        Ok(received) if (200..300).contains(&received.status) => {
            attempt.response_status = Some(received.status);
            attempt.response_headers = received.headers;
            attempt.response_body = Some(received.body);
            Outcome::Success
        }
        Ok(received) => {
            let retry_after = matches!(received.status, 429 | 503)
                .then(|| {
                    received
                        .headers
                        .iter()
                        .find(|(name, _)| name.eq_ignore_ascii_case("retry-after"))
                        .and_then(|(_, value)| {
                            parse_retry_after(value, now, ctx.config.retry_after_max.get())
                        })
                })
                .flatten();
            attempt.error_kind = Some(ErrorKind::HttpStatus);
            attempt.error_message = Some(format!("the receiver answered {}", received.status));
            attempt.response_status = Some(received.status);
            attempt.response_headers = received.headers;
            attempt.response_body = Some(received.body);
            Outcome::Failure { retry_after }
        }
        Err(failed) => {
            attempt.error_kind = Some(failed.kind);
            attempt.error_message = Some(failed.message);
            Outcome::Failure { retry_after: None }
        }
    };
    crate::metrics::attempted(attempt.error_kind, elapsed);
    let policy = ctx.config.retry_policy_of(endpoint);
    if attempt.response_status == Some(410) {
        // 410 Gone: the receiver says this endpoint is no more (Standard Webhooks, CloudEvents).
        super::health::disable(ctx, endpoint, "the receiver answered 410 Gone").await;
        return (Some(attempt), Next::Failed(FailureReason::EndpointGone));
    }
    let next = after_attempt(&policy, attempt_no, outcome, job.event.created_at, now, rand::random::<f64>());
    (Some(attempt), next)
}

/// Sends the request, adding an OAuth2 bearer token when the endpoint uses client credentials;
/// a 401 makes it fetch a fresh token and send once more. The duration covers it all.
async fn send_authenticated(
    ctx: &Context,
    endpoint: &Endpoint,
    credentials: &EndpointCredentials,
    outbound: Outbound,
) -> (Result<super::sender::Received, super::sender::Failed>, std::time::Duration) {
    let EndpointAuth::Oauth2ClientCredentials { token_url, client_id, client_secret, scope, audience } =
        &credentials.auth
    else {
        return ctx.sender.send(outbound).await;
    };
    let client = oauth::Client {
        token_url,
        client_id,
        client_secret,
        scope: scope.as_deref(),
        audience: audience.as_deref(),
    };
    let started = std::time::Instant::now();
    let timeout = ctx.config.timeout.get();
    let mut refreshed = false;
    loop {
        let token = match ctx.tokens.token(&ctx.sender, &endpoint.id, &client, timeout).await {
            Ok(token) => token,
            Err(failed) => return (Err(failed), started.elapsed()),
        };
        let mut request = outbound.clone();
        insert(&mut request.headers, "authorization", &format!("Bearer {token}"));
        let (result, _) = ctx.sender.send(request).await;
        if matches!(&result, Ok(received) if received.status == 401) && !refreshed {
            ctx.tokens.forget(&endpoint.id);
            refreshed = true;
            continue;
        }
        return (result, started.elapsed());
    }
}

/// The `WebHook-Request-Origin` when `delivery.handshake_origin` is unset.
const DEFAULT_ORIGIN: &str = "herald";

/// Whether the endpoint asks for the validation handshake and has not passed it for its URL.
fn needs_handshake(ctx: &Context, endpoint: &Endpoint) -> bool {
    if endpoint.handshake_status().is_none_or(|status| status == HandshakeStatus::Validated) {
        return false;
    }
    let seen = ctx.handshakes.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    seen.get(&endpoint.id).is_none_or(|url| url != endpoint.spec.url.as_str())
}

/// The CloudEvents validation handshake: `OPTIONS` with the origin (and the rate the endpoint
/// is limited to), judged and stored on the endpoint. A refusal is the attempt's failure, with
/// the validation request as what was sent.
async fn handshake(
    ctx: &Context,
    endpoint: &Endpoint,
    credentials: &EndpointCredentials,
    now: Timestamp,
) -> Result<(), (super::sender::Failed, SentRequest, std::time::Duration)> {
    let origin = ctx.config.handshake_origin.as_deref().unwrap_or(DEFAULT_ORIGIN);
    let mut headers = Headers::default();
    headers.add("webhook-request-origin", origin, false);
    if let Some(per_second) = endpoint.spec.rate_limit.as_ref().and_then(|l| l.per_second) {
        headers.add("webhook-request-rate", &(u64::from(per_second) * 60).to_string(), false);
    }
    headers.add_credentials(credentials);
    let url = endpoint.spec.url.as_str();
    let Headers { sent: headers, shown } = headers;
    let sent = SentRequest { url: url.to_owned(), method: "OPTIONS".to_owned(), headers: shown };
    let (result, elapsed) = match ctx.sender.client_for(endpoint, credentials) {
        Ok(client) => {
            let outbound = Outbound {
                client,
                method: reqwest::Method::OPTIONS,
                url: endpoint.spec.url.as_url().clone(),
                headers,
                body: bytes::Bytes::new(),
                timeout: ctx.config.timeout.get(),
            };
            send_authenticated(ctx, endpoint, credentials, outbound).await
        }
        Err(failed) => (Err(failed), std::time::Duration::ZERO),
    };
    let judged = match &result {
        Ok(answer) => {
            let header = |name: &str| {
                answer.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
            };
            handshake::judge(
                answer.status,
                header("webhook-allowed-origin"),
                header("webhook-allowed-rate"),
                origin,
            )
        }
        Err(failed) => Err(format!("the validation request failed: {}", failed.message)),
    };
    let outcome = Handshake {
        url: url.to_owned(),
        status: if judged.is_ok() { HandshakeStatus::Validated } else { HandshakeStatus::Refused },
        checked_at: now,
        allowed_rate: judged.as_ref().ok().copied().flatten(),
        detail: judged.as_ref().err().cloned(),
    };
    if let Err(e) = ctx.store.set_endpoint_handshake(&endpoint.id, &outcome).await {
        tracing::warn!(endpoint.id = %endpoint.id, error = %e, "could not store the validation handshake");
    }
    ctx.caches.endpoints_changed(&endpoint.tenant_id);
    match judged {
        Ok(_) => {
            let mut seen = ctx.handshakes.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            seen.insert(endpoint.id.clone(), url.to_owned());
            Ok(())
        }
        Err(detail) => {
            tracing::info!(endpoint.id = %endpoint.id, %detail, "validation handshake refused");
            Err((super::sender::Failed { kind: ErrorKind::Handshake, message: detail }, sent, elapsed))
        }
    }
}

/// A request's headers as they are sent, and as the attempt log shows them (credentials
/// redacted).
#[derive(Default)]
struct Headers {
    sent: HeaderMap,
    shown: Vec<(String, String)>,
}

impl Headers {
    /// Sets a header; set again (an event's header by the endpoint's own), the log shows the
    /// value sent, once.
    fn add(&mut self, name: &str, value: &str, secret: bool) {
        if self.sent.contains_key(name) {
            self.shown.retain(|(shown, _)| !shown.eq_ignore_ascii_case(name));
        }
        insert(&mut self.sent, name, value);
        self.shown.push((name.to_owned(), if secret { REDACTED.to_owned() } else { value.to_owned() }));
    }

    /// The endpoint's custom headers and authentication.
    fn add_credentials(&mut self, credentials: &EndpointCredentials) {
        for (name, value) in credentials.headers.iter() {
            self.add(name, value, is_sensitive_header(name));
        }
        match &credentials.auth {
            EndpointAuth::None => {}
            EndpointAuth::Basic { username, password } => {
                let token = STANDARD.encode(format!("{username}:{password}"));
                self.add("authorization", &format!("Basic {token}"), true);
            }
            EndpointAuth::Bearer { token } => self.add("authorization", &format!("Bearer {token}"), true),
            EndpointAuth::ApiKey { key_name, key_value, .. } => self.add(key_name, key_value, true),
            // The token is added when sending (it may have to be fetched, or refreshed on a
            // 401); the log shows that one was.
            EndpointAuth::Oauth2ClientCredentials { .. } => {
                self.shown.push(("authorization".into(), REDACTED.into()));
            }
        }
    }
}

/// Hands the attempt to the endpoint's `herald listen` connection (see `crate::listen`); the
/// duration is the CLI's local receiver's.
async fn relay(
    ctx: &Context,
    job: &Job,
    endpoint: &Endpoint,
    outbound: Outbound,
) -> (Result<super::sender::Received, super::sender::Failed>, std::time::Duration) {
    let request = herald_api::listen::RelayedRequest {
        id: 0,
        delivery_id: job.delivery.id.clone(),
        event_id: job.event.id.clone(),
        event_type: job.event.event_type.clone(),
        attempt_no: job.delivery.attempt_count + 1,
        method: outbound.method.to_string(),
        headers: outbound
            .headers
            .iter()
            .map(|(name, value)| {
                (name.as_str().to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned())
            })
            .collect(),
        body: String::from_utf8_lossy(&outbound.body).into_owned(),
    };
    ctx.relays.relay(&endpoint.id, request, outbound.timeout).await
}

/// The endpoint's credentials, opened once per endpoint version.
fn credentials(ctx: &Context, endpoint: &Endpoint) -> Option<Arc<EndpointCredentials>> {
    let mut cache = ctx.credentials.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((version, credentials)) = cache.get(&endpoint.id)
        && *version == endpoint.updated_at
    {
        return Some(credentials.clone());
    }
    match endpoint.open_credentials(&ctx.master_key) {
        Ok(credentials) => {
            let credentials = Arc::new(credentials);
            cache.insert(endpoint.id.clone(), (endpoint.updated_at, credentials.clone()));
            Some(credentials)
        }
        Err(e) => {
            tracing::error!(endpoint.id = %endpoint.id, error = %e, "cannot open endpoint credentials; is the master key right?");
            None
        }
    }
}

/// An event rendered in one payload format: the body every attempt of it sends.
#[derive(Debug)]
pub struct Rendered {
    body: bytes::Bytes,
    content_type: &'static str,
    headers: Vec<(&'static str, String)>,
}

/// One rendering kept: the event, the format and its template, and the result.
type Kept = (GeneratedEventId, PayloadFormat, Option<PayloadTemplate>, Arc<Rendered>);

/// The last few events rendered, by event and envelope (format, and template). The deliveries
/// of one fan-out are sent together, so one event's body serves all its endpoints instead of
/// being rendered for each; every attempt of a delivery sends those same bytes.
#[derive(Debug, Default)]
pub struct Payloads(Mutex<VecDeque<Kept>>);

impl Payloads {
    /// Events kept: enough for the fan-outs in flight at once.
    const KEPT: usize = 16;

    fn of(&self, event: &Event, envelope: Envelope<'_>) -> Arc<Rendered> {
        let lock = || self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let format = envelope.format();
        let template = match envelope {
            Envelope::Template(template) => Some(template),
            _ => None,
        };
        let found = lock()
            .iter()
            .find(|(key, f, t, _)| *f == format && *key == event.key && t.as_ref() == template)
            .map(|(_, _, _, rendered)| rendered.clone());
        if let Some(rendered) = found {
            return rendered;
        }
        let payload = payload::render(event, envelope);
        let rendered = Arc::new(Rendered {
            body: bytes::Bytes::from(payload.body),
            content_type: payload.content_type,
            headers: payload.headers,
        });
        let mut kept = lock();
        if kept.len() == Self::KEPT {
            kept.pop_front();
        }
        kept.push_back((event.key.clone(), format, template.cloned(), rendered.clone()));
        rendered
    }
}

/// The request to send, and how it is shown in the attempt log (credentials redacted).
fn build(
    ctx: &Context,
    job: &Job,
    endpoint: &Endpoint,
    credentials: &EndpointCredentials,
    now: Timestamp,
) -> (Result<Outbound, super::sender::Failed>, SentRequest) {
    let spec = &endpoint.spec;
    let rendered = ctx.payloads.of(&job.event, spec.envelope());
    let timestamp = now.as_second();
    let msg_id = job.event.id.as_str();

    let mut headers = Headers::default();
    // The publisher's headers first: nothing Herald or the endpoint sets can be overridden by them.
    for (name, value) in job.event.headers.iter() {
        headers.add(name, value, is_sensitive_header(name));
    }
    headers.add("content-type", rendered.content_type, false);
    // The delivery's idempotency key, whatever the signature profiles.
    headers.add("webhook-id", msg_id, false);
    for profile in &spec.signature_profiles {
        match profile {
            SignatureProfile::Standard => {
                let signature =
                    signature_header(credentials.live_secrets(now), msg_id, timestamp, &rendered.body);
                headers.add("webhook-timestamp", &timestamp.to_string(), false);
                headers.add("webhook-signature", &signature, false);
            }
            SignatureProfile::Hmac(hmac) => {
                for (name, value) in
                    hmac.headers(credentials.live_secrets(now), msg_id, timestamp, &rendered.body)
                {
                    headers.add(&name, &value, false);
                }
            }
        }
    }
    for (name, value) in &rendered.headers {
        headers.add(name, value, false);
    }
    if let Some(traceparent) =
        crate::trace::traceparent(&tracing::Span::current(), job.event.traceparent.as_ref())
    {
        headers.add("traceparent", traceparent.as_str(), false);
    }
    headers.add_credentials(credentials);
    let Headers { sent: headers, shown } = headers;
    let method = match spec.http_method {
        HttpMethod::Post => reqwest::Method::POST,
        HttpMethod::Put => reqwest::Method::PUT,
    };
    let shown = SentRequest { url: spec.url.as_str().to_owned(), method: method.to_string(), headers: shown };
    let client = match ctx.sender.client_for(endpoint, credentials) {
        Ok(client) => client,
        Err(failed) => return (Err(failed), shown),
    };
    let outbound = Outbound {
        client,
        method,
        url: spec.url.as_url().clone(),
        headers,
        body: rendered.body.clone(),
        timeout: ctx.config.timeout.get(),
    };
    (Ok(outbound), shown)
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_core::event::EventId;
    use herald_core::event_type::EventTypeName;
    use herald_core::id::TenantId;

    fn event(n: i64) -> Event {
        let key = GeneratedEventId::generate();
        Event {
            id: EventId::generated(&key),
            key,
            tenant_id: TenantId::generate(),
            event_type: EventTypeName::parse("order.paid").unwrap(),
            data: serde_json::Map::from_iter([("n".to_owned(), serde_json::json!(n))]),
            subject: None,
            source: None,
            traceparent: None,
            payload_removed_at: None,
            headers: Default::default(),
            created_at: Timestamp::from_second(1_800_000_000).unwrap(),
        }
    }

    #[test]
    fn an_event_is_rendered_once_per_format_and_as_the_payload_module_renders_it() {
        let payloads = Payloads::default();
        let first = event(1);
        let json = payloads.of(&first, Envelope::Json);
        assert!(Arc::ptr_eq(&json, &payloads.of(&first, Envelope::Json)), "rendered once");
        assert_eq!(json.body.as_ref(), payload::render(&first, Envelope::Json).body.as_slice());
        let binary = payloads.of(&first, Envelope::CloudeventsBinary);
        assert!(!Arc::ptr_eq(&json, &binary));
        assert_eq!(binary.headers, payload::render(&first, Envelope::CloudeventsBinary).headers);
        let second = event(2);
        assert_ne!(payloads.of(&second, Envelope::Json).body, json.body, "another event, its own body");
        // Only the last few are kept: the first is rendered again after many others.
        for n in 0..Payloads::KEPT as i64 {
            payloads.of(&event(n + 10), Envelope::Json);
        }
        assert!(!Arc::ptr_eq(&json, &payloads.of(&first, Envelope::Json)));

        // Templates: one rendering per template, another template its own.
        let a = PayloadTemplate::parse(serde_json::json!({"event": "{{type}}"})).unwrap();
        let b = PayloadTemplate::parse(serde_json::json!({"kind": "{{type}}"})).unwrap();
        let with_a = payloads.of(&first, Envelope::Template(&a));
        assert!(Arc::ptr_eq(&with_a, &payloads.of(&first, Envelope::Template(&a.clone()))));
        let with_b = payloads.of(&first, Envelope::Template(&b));
        assert_eq!(with_b.body.as_ref(), br#"{"kind":"order.paid"}"#);
        assert_ne!(with_a.body, with_b.body);
    }
}
