//! What can go wrong with a call: the server said no (a problem document), the server answered
//! something that is not Herald's API, or the server could not be reached.

use herald_api::Problem;

/// The error of every call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server refused the request with an RFC 9457 problem document (`status` ≥ 400).
    #[error("{} ({}): {}", problem.title, problem.code, problem.detail)]
    Api { status: u16, problem: Box<Problem> },
    /// The server answered an error that is not a problem document (a proxy in front of it, or
    /// not Herald at all).
    #[error("HTTP {status}: {body}")]
    Http { status: u16, body: String },
    /// The request did not get an answer: connection refused, reset, timed out, bad TLS.
    #[error("cannot reach the server: {0}")]
    Network(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A 2xx answer whose body is not what the operation returns.
    #[error("the server's answer to {operation} could not be read: {message}")]
    Decode { operation: &'static str, message: String },
    /// The server URL given to the client is not usable.
    #[error("not a server URL: {0}")]
    Url(String),
}

impl Error {
    /// The problem document, when the server sent one.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            Self::Api { problem, .. } => Some(problem),
            _ => None,
        }
    }

    /// The HTTP status of a refusal.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } | Self::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the server said the resource does not exist (or is not this key's to see).
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }
}

impl Error {
    pub(crate) fn network(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Network(Box::new(e))
    }
}

/// The result of every call.
pub type Result<T> = std::result::Result<T, Error>;
