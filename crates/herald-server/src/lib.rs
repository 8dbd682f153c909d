//! Herald's server: configuration, start-up, and the REST API over the store.
//!
//! [`Application::build`] opens the store, applies migrations, loads the master key and makes
//! sure an admin key exists; [`Application::run_until`] serves until the given future resolves.
//! Tests build an application on port 0 exactly as `herald serve` does.
//!
//! The API never makes outbound HTTP calls: delivering is the dispatcher's job.

pub mod access;
pub mod api;
pub mod app;
pub mod bulk;
pub mod cache;
pub mod catalog;
pub mod clock;
pub mod config;
pub mod dispatcher;
pub mod endpoints;
pub mod failover;
pub mod listen;
pub mod metrics;
pub mod operational;
pub mod publish;
pub mod quota;
pub mod retention;
pub mod state;
pub mod trace;
pub mod ui;

pub use app::Application;
pub use config::Config;
