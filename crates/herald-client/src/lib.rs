//! A typed async client for Herald's REST API.
//!
//! ```no_run
//! # async fn example() -> herald_client::Result<()> {
//! use herald_client::Client;
//! use herald_client::api::events::EventIn;
//!
//! let herald = Client::new("http://127.0.0.1:8080", "hk_…")?;
//! let event: EventIn = serde_json::from_value(serde_json::json!({
//!     "type": "invoice.paid",
//!     "data": {"invoice": "in_42"}
//! }))
//! .expect("a valid event");
//! let published = herald.events("acme").publish(&event).await?;
//! println!("{} owed to {} endpoints", published.id, published.deliveries.unwrap_or_default().len());
//! # Ok(()) }
//! ```
//!
//! Requests and responses are the server's own types (`herald-api`, re-exported as [`api`]), so
//! the client cannot drift from the server. A refusal is [`Error::Api`] carrying the problem
//! document; lists come a page at a time (`list`) or as a stream of every item (`stream`), which
//! follows the cursors for you.

mod error;
mod listen;
pub mod operation;
mod resources;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use reqwest::header::{CONTENT_TYPE, ETAG, HeaderValue, IF_MATCH};
use serde::Serialize;
use serde::de::DeserializeOwned;
use url::Url;

pub use error::{Error, Result};
pub use herald_api as api;
use herald_api::{ListResponse, PageParams};
pub use listen::{Listener, Responder, Session};
pub use operation::Operation;
pub use resources::{
    BulkRetries, Deliveries, Endpoints, EventTypes, Events, Keys, PortalSessions, Tenants, Versioned,
};

/// What the client saw of one call, for an [`Observer`]: the operation, the status (`None` when
/// the server could not be reached) and how long it took.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub operation: Operation,
    pub url: Url,
    pub status: Option<u16>,
    pub elapsed: Duration,
}

/// Called after every call (for logging, or to see which operations a program uses).
pub type Observer = Arc<dyn Fn(&Exchange) + Send + Sync>;

/// A connection to one Herald server with one API key. Cheap to clone; clones share connections.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base: Url,
    key: String,
    observer: Option<Observer>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("Client").field("base", &self.inner.base.as_str()).finish_non_exhaustive()
    }
}

/// How a [`Client`] is built: the server, the key, and optional settings.
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    base: String,
    key: String,
    timeout: Duration,
    observer: Option<ObserverSlot>,
}

#[derive(Clone)]
struct ObserverSlot(Observer);

impl std::fmt::Debug for ObserverSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Observer")
    }
}

impl ClientBuilder {
    /// How long one call may take, from connecting to the last byte of the answer (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Calls `observer` after every call.
    pub fn observer(mut self, observer: Observer) -> Self {
        self.observer = Some(ObserverSlot(observer));
        self
    }

    pub fn build(self) -> Result<Client> {
        let mut base = Url::parse(&self.base).map_err(|e| Error::Url(format!("{}: {e}", self.base)))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() || base.host().is_none() {
            return Err(Error::Url(format!("{}: expected http:// or https:// and a host", self.base)));
        }
        if !base.username().is_empty() || base.password().is_some() || base.query().is_some() {
            return Err(Error::Url(format!("{}: no credentials or query in the server URL", self.base)));
        }
        base.set_fragment(None);
        if self.key.is_empty() || HeaderValue::from_str(&format!("Bearer {}", self.key)).is_err() {
            return Err(Error::Url("the API key is empty or not printable text".into()));
        }
        let http = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("herald-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(Error::network)?;
        Ok(Client {
            inner: Arc::new(Inner { http, base, key: self.key, observer: self.observer.map(|o| o.0) }),
        })
    }
}

/// The `If-Match` of a write, and what it answers with (`None`: no header).
type Expected = Option<u64>;

impl Client {
    /// A client of the server at `base` (`http://127.0.0.1:8080`, or a URL with a path prefix
    /// behind a proxy) that sends `key` as its bearer token.
    pub fn new(base: &str, key: &str) -> Result<Self> {
        Self::builder(base, key).build()
    }

    pub fn builder(base: &str, key: &str) -> ClientBuilder {
        ClientBuilder {
            base: base.to_owned(),
            key: key.to_owned(),
            timeout: Duration::from_secs(30),
            observer: None,
        }
    }

    /// The server's URL.
    pub fn base_url(&self) -> &Url {
        &self.inner.base
    }

    pub fn tenants(&self) -> Tenants {
        Tenants::new(self.clone())
    }
    pub fn keys(&self, tenant: impl ToString) -> Keys {
        Keys::new(self.clone(), tenant.to_string())
    }
    pub fn portal_sessions(&self, tenant: impl ToString) -> PortalSessions {
        PortalSessions::new(self.clone(), tenant.to_string())
    }
    pub fn event_types(&self) -> EventTypes {
        EventTypes::new(self.clone())
    }
    pub fn endpoints(&self, tenant: impl ToString) -> Endpoints {
        Endpoints::new(self.clone(), tenant.to_string())
    }
    pub fn events(&self, tenant: impl ToString) -> Events {
        Events::new(self.clone(), tenant.to_string())
    }
    pub fn deliveries(&self, tenant: impl ToString) -> Deliveries {
        Deliveries::new(self.clone(), tenant.to_string())
    }
    pub fn bulk_retries(&self, tenant: impl ToString) -> BulkRetries {
        BulkRetries::new(self.clone(), tenant.to_string())
    }

    /// The URL of an operation with its path parameters filled in, in order (each is one path
    /// segment, escaped as needed).
    fn url(&self, operation: &Operation, args: &[&str]) -> Url {
        let mut url = self.inner.base.clone();
        {
            // `build` checked the base can be a base.
            let Ok(mut segments) = url.path_segments_mut() else { return url };
            segments.pop_if_empty();
            let mut args = args.iter();
            for part in operation.path.trim_start_matches('/').split('/') {
                if part.starts_with('{') {
                    segments.push(args.next().copied().unwrap_or_default());
                } else {
                    segments.push(part);
                }
            }
        }
        url
    }

    /// Sends one call and returns its 2xx response (any other answer is an error).
    async fn send(
        &self,
        operation: &Operation,
        args: &[&str],
        query: &[&dyn ErasedQuery],
        body: Option<Vec<u8>>,
        expected: Expected,
    ) -> Result<reqwest::Response> {
        let url = self.url(operation, args);
        let method = reqwest::Method::from_bytes(operation.method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let mut request = self.inner.http.request(method, url.clone()).bearer_auth(&self.inner.key);
        for part in query {
            request = part.add_to(request);
        }
        if let Some(body) = body {
            request = request.header(CONTENT_TYPE, "application/json").body(body);
        }
        if let Some(version) = expected {
            request = request.header(IF_MATCH, format!("\"{version}\""));
        }
        let started = Instant::now();
        let outcome = request.send().await;
        if let Some(observer) = &self.inner.observer {
            observer(&Exchange {
                operation: *operation,
                url,
                status: outcome.as_ref().ok().map(|r| r.status().as_u16()),
                elapsed: started.elapsed(),
            });
        }
        let response = outcome.map_err(Error::network)?;
        let status = response.status().as_u16();
        if response.status().is_success() {
            return Ok(response);
        }
        let is_problem = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/problem+json"));
        let text = response.text().await.map_err(Error::network)?;
        if is_problem && let Ok(problem) = serde_json::from_str(&text) {
            return Err(Error::Api { status, problem: Box::new(problem) });
        }
        let body = text.chars().take(500).collect();
        Err(Error::Http { status, body })
    }

    /// A call whose answer is JSON of type `T`.
    async fn call<T: DeserializeOwned>(
        &self,
        operation: &Operation,
        args: &[&str],
        query: &[&dyn ErasedQuery],
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<T> {
        self.versioned(operation, args, query, body, None).await.map(|v| v.value)
    }

    /// A call whose answer is JSON of type `T`, with the version its `ETag` names.
    async fn versioned<T: DeserializeOwned>(
        &self,
        operation: &Operation,
        args: &[&str],
        query: &[&dyn ErasedQuery],
        body: Option<&(impl Serialize + ?Sized)>,
        expected: Expected,
    ) -> Result<Versioned<T>> {
        let body = body.map(|b| encode(operation, b)).transpose()?;
        let response = self.send(operation, args, query, body, expected).await?;
        let version = response
            .headers()
            .get(ETAG)
            .and_then(|v| v.to_str().ok())
            .and_then(|tag| tag.strip_prefix('"')?.strip_suffix('"')?.parse().ok());
        let bytes = response.bytes().await.map_err(Error::network)?;
        let value = serde_json::from_slice(&bytes)
            .map_err(|e| Error::Decode { operation: operation.id, message: e.to_string() })?;
        Ok(Versioned { value, version })
    }

    /// A call answered with no body (204).
    async fn call_empty(
        &self,
        operation: &Operation,
        args: &[&str],
        body: Option<&(impl Serialize + ?Sized)>,
        expected: Expected,
    ) -> Result<()> {
        let body = body.map(|b| encode(operation, b)).transpose()?;
        self.send(operation, args, &[], body, expected).await.map(drop)
    }

    /// One page of a list.
    async fn page<T: DeserializeOwned>(
        &self,
        operation: &Operation,
        args: &[&str],
        filter: &dyn ErasedQuery,
        page: &PageParams,
    ) -> Result<ListResponse<T>> {
        self.call(operation, args, &[filter, page], None::<&()>).await
    }

    /// Every item of a list, newest first, fetched a page at a time as the stream is read.
    fn stream<T, Q>(
        &self,
        operation: &'static Operation,
        args: Vec<String>,
        filter: Q,
    ) -> BoxStream<'static, Result<T>>
    where
        T: DeserializeOwned + Send + 'static,
        Q: Serialize + Send + Sync + 'static,
    {
        let client = self.clone();
        let filter = Arc::new(filter);
        // The state: the cursor of the next page, or `None` after the last page.
        stream::try_unfold(Some(None::<String>), move |cursor| {
            let client = client.clone();
            let args = args.clone();
            let filter = Arc::clone(&filter);
            async move {
                let Some(cursor) = cursor else { return Ok(None) };
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let page = PageParams { limit: Some(herald_api::page::MAX_LIMIT), cursor };
                let list: ListResponse<T> = client.page(operation, &args, &*filter, &page).await?;
                let next = list.next_cursor.map(Some);
                Ok(Some((stream::iter(list.data.into_iter().map(Ok)), next)))
            }
        })
        .try_flatten()
        .boxed()
    }
}

/// The JSON of a request body.
fn encode(operation: &Operation, body: &(impl Serialize + ?Sized)) -> Result<Vec<u8>> {
    serde_json::to_vec(body).map_err(|e| Error::Decode { operation: operation.id, message: e.to_string() })
}

/// A part of a query string (a filter, the page), whatever its type.
trait ErasedQuery: Send + Sync {
    fn add_to(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder;
}

impl<T: Serialize + Send + Sync> ErasedQuery for T {
    fn add_to(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        request.query(self)
    }
}
