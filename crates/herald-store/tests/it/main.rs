//! herald-store's own tests, one binary: the queue's guarantees (leases, holding and releasing,
//! claim order) and the group-commit writer, each scenario run on SQLite (a temporary file) and
//! on PostgreSQL (a fresh database from `herald_testkit::postgres`, which fails loudly when no
//! PostgreSQL can be had: never a silent skip).

mod support;

mod batch;
mod claims;
mod fanouts;
mod hold_release;
mod leases;
mod round_trip;
mod sqlite_file;
