//! Herald server integration tests: one binary, every API test run against SQLite and PostgreSQL.

mod support;

mod authorization;
mod endpoints;
mod errors;
mod event_types;
mod keys;
mod openapi;
mod startup;
mod tenants;
