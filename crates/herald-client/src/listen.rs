//! `herald listen`'s connection: a WebSocket on which the server sends a temporary endpoint's
//! attempts and the client answers each (see `herald_api::listen`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use herald_api::listen::{ClientMessage, ListenParams, RelayedRequest, ServerMessage};
use herald_core::id::EndpointId;
use herald_core::pattern::EventPattern;
use herald_core::secret::SigningSecret;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::operation as op;
use crate::{Client, Error, Exchange, Result};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The session the server opened.
#[derive(Debug, Clone)]
pub struct Session {
    /// The session's temporary endpoint (pass it as `resume` to reconnect to the session).
    pub endpoint_id: EndpointId,
    /// Its signing secret: what the forwarded requests verify with.
    pub secret: SigningSecret,
    pub events: Vec<EventPattern>,
    /// How long the session lives on without a connection.
    pub idle_timeout: Duration,
    pub resumed: bool,
}

/// An open session: read attempts with [`Listener::next_request`], answer them through a
/// [`Responder`] (from any task).
#[derive(Debug)]
pub struct Listener {
    session: Session,
    incoming: SplitStream<Socket>,
    responder: Responder,
}

/// Sends answers on a session's connection. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Responder(Arc<tokio::sync::Mutex<SplitSink<Socket, Message>>>);

impl Client {
    /// Opens a `herald listen` session of the tenant (or resumes `params.resume`).
    pub async fn listen(&self, tenant: &str, params: &ListenParams) -> Result<Listener> {
        let mut url = self.url(&op::LISTEN, &[tenant]);
        let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
        let _ = url.set_scheme(scheme);
        {
            let mut query = url.query_pairs_mut();
            if let Some(events) = &params.events {
                query.append_pair("events", events);
            }
            if let Some(resume) = &params.resume {
                query.append_pair("resume", resume.as_str());
            }
            if let Some(forward_to) = &params.forward_to {
                query.append_pair("forwardTo", forward_to);
            }
        }
        let mut request = url.as_str().into_client_request().map_err(|e| Error::Url(e.to_string()))?;
        let bearer = format!("Bearer {}", self.inner.key)
            .parse()
            .map_err(|_| Error::Url("the API key is not printable text".into()))?;
        request.headers_mut().insert("authorization", bearer);
        let started = Instant::now();
        let connected = tokio_tungstenite::connect_async(request).await;
        if let Some(observer) = &self.inner.observer {
            let status = match &connected {
                Ok((_, response)) => Some(response.status().as_u16()),
                Err(tungstenite::Error::Http(response)) => Some(response.status().as_u16()),
                Err(_) => None,
            };
            observer(&Exchange {
                operation: op::LISTEN,
                url: url.clone(),
                status,
                elapsed: started.elapsed(),
            });
        }
        let socket = match connected {
            Ok((socket, _)) => socket,
            Err(tungstenite::Error::Http(response)) => return Err(refusal(&response)),
            Err(e) => return Err(Error::network(e)),
        };
        let (sink, mut incoming) = socket.split();
        let session = loop {
            match incoming.next().await {
                Some(Ok(Message::Text(text))) => match serde_json::from_str(text.as_str()) {
                    Ok(ServerMessage::Ready { endpoint_id, secret, events, idle_timeout_secs, resumed }) => {
                        break Session {
                            endpoint_id,
                            secret,
                            events,
                            idle_timeout: Duration::from_secs(idle_timeout_secs),
                            resumed,
                        };
                    }
                    Ok(other) => return Err(unexpected(&format!("{other:?} before `ready`"))),
                    Err(e) => return Err(unexpected(&e.to_string())),
                },
                Some(Ok(Message::Close(_))) | None => {
                    return Err(unexpected("the connection closed before `ready`"));
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(Error::network(e)),
            }
        };
        Ok(Listener { session, incoming, responder: Responder(Arc::new(tokio::sync::Mutex::new(sink))) })
    }
}

impl Listener {
    pub fn session(&self) -> &Session {
        &self.session
    }

    pub fn responder(&self) -> Responder {
        self.responder.clone()
    }

    /// The next attempt to answer; `None` when the server closed the session.
    pub async fn next_request(&mut self) -> Option<Result<RelayedRequest>> {
        loop {
            match self.incoming.next().await? {
                Ok(Message::Text(text)) => {
                    return Some(match serde_json::from_str(text.as_str()) {
                        Ok(ServerMessage::Request(request)) => Ok(request),
                        Ok(other) => Err(unexpected(&format!("{other:?}"))),
                        Err(e) => Err(unexpected(&e.to_string())),
                    });
                }
                Ok(Message::Close(_)) => return None,
                // Pings are answered by the WebSocket itself.
                Ok(_) => {}
                Err(e) => return Some(Err(Error::network(e))),
            }
        }
    }
}

impl Responder {
    /// Sends the answer to an attempt.
    pub async fn send(&self, message: &ClientMessage) -> Result<()> {
        let text = serde_json::to_string(message)
            .map_err(|e| Error::Decode { operation: op::LISTEN.id, message: e.to_string() })?;
        self.0.lock().await.send(Message::Text(text.into())).await.map_err(Error::network)
    }

    /// Closes the connection (the session lives on until its idle time passes).
    pub async fn close(&self) {
        let _ = self.0.lock().await.close().await;
    }
}

/// The refusal of the upgrade, as the problem document the server sent.
fn refusal(response: &tungstenite::http::Response<Option<Vec<u8>>>) -> Error {
    let status = response.status().as_u16();
    let body = response.body().as_deref().unwrap_or_default();
    match serde_json::from_slice(body) {
        Ok(problem) => Error::Api { status, problem: Box::new(problem) },
        Err(_) => Error::Http { status, body: String::from_utf8_lossy(body).chars().take(500).collect() },
    }
}

fn unexpected(message: &str) -> Error {
    Error::Decode { operation: op::LISTEN.id, message: message.to_owned() }
}
