//! A real HTTP server that records every request it receives and answers as it is told:
//! a status, a status with headers, a delay, a hang (until the client gives up), or a scripted
//! sequence of those. It listens on 127.0.0.1 only.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// How the receiver answers one request.
#[derive(Debug, Clone)]
pub enum Reply {
    Status(u16),
    /// A status with extra headers and a body.
    Full {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// Waits, then answers with the status.
    Delay(Duration, u16),
    /// Never answers (until the client gives up).
    Hang,
}

/// One recorded request.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub at: Instant,
    /// The address the request's connection came from.
    pub peer: SocketAddr,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

#[derive(Debug)]
struct State {
    requests: Vec<Received>,
    script: VecDeque<Reply>,
    default: Reply,
    /// Requests being answered now, and the most there ever were at once.
    current: usize,
    peak: usize,
}

#[derive(Debug, Clone)]
pub struct TestReceiver {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl TestReceiver {
    /// Starts a receiver that answers 204 until told otherwise.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind receiver");
        let addr = listener.local_addr().expect("receiver address");
        let state = Arc::new(Mutex::new(State {
            requests: Vec::new(),
            script: VecDeque::new(),
            default: Reply::Status(204),
            current: 0,
            peak: 0,
        }));
        let shared = state.clone();
        let app = axum::Router::new().fallback(
            move |ConnectInfo(peer): ConnectInfo<SocketAddr>,
                  method: Method,
                  uri: Uri,
                  headers: HeaderMap,
                  body: Bytes| {
                let state = shared.clone();
                let request = Received { method, uri, headers, body, at: Instant::now(), peer };
                async move { answer(&state, request).await }
            },
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await;
        });
        Self { addr, state }
    }

    /// The URL to register as an endpoint (`http://127.0.0.1:<port>/hook`).
    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How to answer once the script is used up.
    pub fn set_default(&self, reply: Reply) {
        self.lock().default = reply;
    }

    /// Answers the next requests with these replies, in order.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.lock().script.extend(replies);
    }

    pub fn requests(&self) -> Vec<Received> {
        self.lock().requests.clone()
    }

    /// The most requests that were ever being answered at once.
    pub fn peak_concurrency(&self) -> usize {
        self.lock().peak
    }

    /// Waits (bounded) until at least `n` requests have arrived, and returns them all.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        crate::eventually(&format!("{n} requests at the receiver"), within, || async {
            let requests = self.requests();
            (requests.len() >= n).then_some(requests)
        })
        .await
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

async fn answer(state: &Mutex<State>, request: Received) -> Response {
    let reply = {
        let mut state = state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        state.requests.push(request);
        state.current += 1;
        state.peak = state.peak.max(state.current);
        let default = state.default.clone();
        state.script.pop_front().unwrap_or(default)
    };
    let response = reply_with(reply).await;
    state.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).current -= 1;
    response
}

async fn reply_with(reply: Reply) -> Response {
    match reply {
        Reply::Status(code) => status(code).into_response(),
        Reply::Full { status: code, headers, body } => {
            let mut response = (status(code), body).into_response();
            for (name, value) in headers {
                if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
                    response.headers_mut().insert(name, value);
                }
            }
            response
        }
        Reply::Delay(wait, code) => {
            tokio::time::sleep(wait).await;
            status(code).into_response()
        }
        Reply::Hang => {
            std::future::pending::<()>().await;
            status(500).into_response()
        }
    }
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}
