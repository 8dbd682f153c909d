//! Herald server integration tests: one binary, every API test run against SQLite and PostgreSQL.

use herald_testkit as support;

mod authorization;
mod browser;
mod bulk_retries;
mod circuit;
mod delivery;
mod endpoint_tls;
mod endpoints;
mod errors;
mod event_types;
mod events;
mod fanout;
mod flow;
mod idempotency;
mod keys;
mod metrics;
mod openapi;
mod operational;
mod outbound_auth;
mod portal;
mod proxy;
mod queue_plan;
mod reachability;
mod receivers;
mod retention;
mod secrets;
mod source_address;
mod startup;
mod tenants;
mod ui;
mod ui_manage;
mod versions;
