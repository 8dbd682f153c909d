//! Herald's persistence: one [`Store`] trait, a SQLite backend (the embedded default) and a
//! PostgreSQL backend (several instances sharing one database), with migrations per dialect
//! embedded in the binary.
//!
//! Both backends run the same SQL text where the dialects agree, written once per aggregate:
//! `tenants.rs` (tenants and API keys), `event_types.rs`, `endpoints.rs` (configuration, health,
//! figures), `events.rs` (events, deliveries, attempts), `queue.rs` (leases, claims, settling,
//! holding and releasing), `settings.rs` (what the instance keeps about itself), `sessions.rs`
//! (web interface sessions and portal links) and `idempotency.rs`; `store.rs` assembles them into `impl Store`. What differs — connecting,
//! pragmas, the claim queries, wake-ups across processes — is the `Dialect` trait (`dialect.rs`),
//! implemented in `sqlite.rs` and `postgres.rs`. The group-commit writer and the application of
//! its batches live in `batch/`; row types and column lists in `rows.rs`.
//!
//! Stores hold no business rules: they persist and fetch domain values. They never make
//! network calls other than to their database, and never hold a transaction across one.

use std::sync::Arc;

use async_trait::async_trait;
use herald_core::Timestamp;
use herald_core::api_key::{ApiKey, KeyHash};
use herald_core::delivery::{Attempt, Delivery, DeliveryStatus, Next, Trigger};
use herald_core::endpoint::Endpoint;
use herald_core::event::{Event, EventId};
use herald_core::event_type::{EventType, EventTypeName};
use herald_core::id::{ApiKeyId, DeliveryId, EndpointId, GeneratedEventId, TenantId};
use herald_core::tenant::{Tenant, TenantRef};

mod batch;
mod bulk;
mod dialect;
mod endpoints;
mod event_types;
mod events;
mod idempotency;
mod instances;
mod listen;
mod postgres;
mod queue;
mod retention;
mod rows;
mod sessions;
mod settings;
mod sqlite;
mod store;
mod tenants;

pub use batch::Committing;
pub use idempotency::IdempotencyKey;
pub use postgres::PostgresStore;
pub use queue::{Lease, LeaseToken};
pub use retention::Tenants;
pub use sqlite::SqliteStore;
pub use sqlite::backup as backup_sqlite;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write; carries what collided, in words (`tenant uid`).
    #[error("conflict on {0}")]
    Conflict(String),
    /// A row that does not decode into a domain value (hand-edited database, bad migration).
    #[error("corrupt row in {table}: {detail}")]
    Corrupt { table: &'static str, detail: String },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A grouped write failed (the cause, as text: the error belonged to the whole batch).
    #[error("write failed: {0}")]
    Batch(String),
    #[error("unsupported database URL `{0}`: use sqlite://… or postgres://…")]
    UnsupportedUrl(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which database a store speaks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Backend {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "sqlite" => Ok(Self::Sqlite),
            "postgres" => Ok(Self::Postgres),
            _ => Err(format!("`{s}` is not a backend: sqlite or postgres")),
        }
    }
}

/// A page request: at most `limit` items after `cursor` (exclusive), newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: u32,
    pub cursor: Option<String>,
}

/// One page of a list and the cursor of the next page, if there is one.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from `limit + 1` fetched rows: the extra row only says that more exist.
    pub(crate) fn from_overfetch(mut items: Vec<T>, limit: u32, cursor_of: impl Fn(&T) -> String) -> Self {
        let more = items.len() > limit as usize;
        items.truncate(limit as usize);
        let next_cursor = if more { items.last().map(cursor_of) } else { None };
        Self { items, next_cursor }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page { items: self.items.into_iter().map(f).collect(), next_cursor: self.next_cursor }
    }
}

/// Options for opening a store.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Largest connection pool (PostgreSQL; SQLite readers).
    pub max_connections: u32,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self { max_connections: 10 }
    }
}

/// The result of publishing: a new event, or the one already stored under that id.
#[derive(Debug, Clone, PartialEq)]
pub enum Published {
    Created,
    Existing(Event),
}

/// Filters of the event log.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventFilter {
    pub event_type: Option<EventTypeName>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
}

/// Filters of the delivery log.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeliveryFilter {
    pub endpoint_id: Option<EndpointId>,
    pub event_id: Option<EventId>,
    pub status: Option<DeliveryStatus>,
    /// Only deliveries of events of this type.
    pub event_type: Option<EventTypeName>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
}

/// What `/metrics` reads from the database at each scrape.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Gauges {
    /// Deliveries waiting (pending or retrying) and due now.
    pub due: u64,
    /// Deliveries waiting and due later.
    pub scheduled: u64,
    /// Waiting deliveries of endpoints whose circuit is open.
    pub held: u64,
    /// Due deliveries still marked leased: their holder's lease ran out (it died or stalled)
    /// and no one has taken them again yet.
    pub expired_leases: u64,
    /// When the longest-waiting due delivery became due.
    pub oldest_due_at: Option<Timestamp>,
    pub circuits_open: u64,
    pub endpoints_disabled: u64,
    /// Each connection pool: its name, connections open, and idle ones.
    pub pools: Vec<(&'static str, u32, u32)>,
}

/// A bulk retry: every delivery of a tenant matching `filter` queued again, newest first, a page
/// at a time.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkRetry {
    pub id: herald_core::id::BulkRetryId,
    pub tenant_id: TenantId,
    /// The filter, as JSON (the API's own form; the store only keeps it).
    pub filter: String,
    /// The last delivery id handled: the next page starts below it.
    pub cursor: String,
    /// Deliveries queued again so far.
    pub retried: u64,
    /// How many deliveries the filter matched when the operation began (`None` for operations
    /// stored before Herald counted them).
    pub total: Option<u64>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub finished_at: Option<Timestamp>,
}

/// An endpoint's attempts in one bucket of time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineBucket {
    pub start: Timestamp,
    pub attempts: u64,
    /// Attempts answered with a 2xx.
    pub succeeded: u64,
    /// Mean and longest attempt duration, in milliseconds.
    pub mean_ms: u64,
    pub max_ms: u64,
}

/// An endpoint's figures over a time range.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EndpointStats {
    /// Deliveries created in the range, by status.
    pub by_status: Vec<(DeliveryStatus, u64)>,
    /// Attempts started in the range, and how many got a 2xx.
    pub attempts: u64,
    pub attempts_succeeded: u64,
    /// Attempt durations in milliseconds at the 50th, 90th and 99th percentile, and the longest.
    pub duration_ms: Option<[u64; 4]>,
    /// Deliveries waiting now (pending or retrying), whenever created.
    pub backlog: u64,
}

/// A tenant's undecided deliveries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TenantBacklog {
    /// Pending or retrying, whenever due (leased ones included).
    pub backlog: u64,
    /// Of those, due now and not leased to anyone.
    pub due: u64,
}

/// A claimed delivery with what an attempt needs. `endpoint` is `None` when it was deleted.
#[derive(Debug, Clone)]
pub struct Job {
    pub delivery: Delivery,
    pub event: Arc<Event>,
    pub endpoint: Option<Arc<Endpoint>>,
    /// The lease this job was claimed under; settling it requires the same token.
    pub lease: LeaseToken,
    /// When the lease ends (and another process may take the delivery).
    pub lease_until: Timestamp,
}

/// How storing an endpoint's health moves its waiting deliveries (those no one holds a lease on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shift {
    None,
    /// The circuit opened: deliveries due before this time wait until it (no attempt is charged).
    Hold(Timestamp),
    /// The circuit closed (or the endpoint was disabled): deliveries held until at most `up_to`
    /// are due now.
    Release {
        up_to: Timestamp,
    },
}

/// What a conditional endpoint update came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointUpdate {
    /// Stored as this version.
    Updated { version: u64 },
    /// The endpoint changed since it was read: nothing was written.
    Stale,
    /// There is no such endpoint.
    Missing,
}

/// What a repeated `Idempotency-Key` finds.
#[derive(Debug, Clone, PartialEq)]
pub enum IdempotencyState {
    /// First use: the caller proceeds, then completes or releases the key.
    New,
    /// The same request was answered before: replay this response.
    Replay { status: u16, content_type: Option<String>, body: Vec<u8> },
    /// The first request with this key is still being processed.
    InProgress,
    /// The key was used with a different request.
    Mismatch,
}

/// Everything Herald persists.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    fn backend(&self) -> Backend;

    /// Applies the embedded migrations not yet applied.
    async fn migrate(&self) -> Result<()>;

    /// Whether the group-commit writer still takes writes (for readiness).
    fn writer_running(&self) -> bool;

    /// Deletes up to `limit` delivered or failed deliveries of `tenants` created before `before`,
    /// with their attempts; returns how many.
    async fn purge_deliveries(&self, tenants: Tenants<'_>, before: Timestamp, limit: u32) -> Result<u64>;
    /// Deletes up to `limit` events of `tenants` created before `before` that nothing refers to.
    async fn purge_events(&self, tenants: Tenants<'_>, before: Timestamp, limit: u32) -> Result<u64>;
    /// Removes the payload of up to `limit` events created before `before` and after the event
    /// key `after` whose deliveries are all finished; how many, and the last key changed.
    async fn purge_payloads(
        &self,
        before: Timestamp,
        after: &str,
        limit: u32,
        now: Timestamp,
    ) -> Result<(u64, Option<String>)>;
    /// Deletes up to `limit` idempotency keys stored before `before`.
    async fn purge_idempotency_keys(&self, before: Timestamp, limit: u32) -> Result<u64>;

    /// The queue and endpoint figures `/metrics` reports, as they are at `now`.
    async fn gauges(&self, now: Timestamp) -> Result<Gauges>;

    /// The versions of this build's migrations that the database has not applied (for
    /// readiness: empty once `migrate` ran; migrations of a newer build do not count).
    async fn migrations_pending(&self) -> Result<Vec<i64>>;

    // Tenants.
    async fn insert_tenant(&self, tenant: &Tenant) -> Result<()>;
    async fn tenant(&self, by: &TenantRef) -> Result<Option<Tenant>>;
    async fn list_tenants(&self, page: &PageRequest) -> Result<Page<Tenant>>;
    /// The tenant's deliveries not yet delivered or failed, and how many are due at `now`.
    async fn tenant_backlog(&self, tenant: &TenantId, now: Timestamp) -> Result<TenantBacklog>;
    /// Every tenant with limits of its own, with them.
    async fn tenant_limits(&self) -> Result<Vec<(TenantId, herald_core::tenant::TenantLimits)>>;
    /// Replaces the tenant's fields; false when it does not exist.
    async fn update_tenant(&self, tenant: &Tenant) -> Result<bool>;
    /// Deletes the tenant with everything it owns; false when it does not exist.
    async fn delete_tenant(&self, id: &TenantId) -> Result<bool>;

    // API keys.
    async fn insert_api_key(&self, key: &ApiKey) -> Result<()>;
    async fn api_key_by_hash(&self, hash: &KeyHash) -> Result<Option<ApiKey>>;
    async fn list_api_keys(&self, tenant: &TenantId, page: &PageRequest) -> Result<Page<ApiKey>>;
    async fn delete_api_key(&self, tenant: &TenantId, id: &ApiKeyId) -> Result<bool>;
    async fn count_admin_keys(&self) -> Result<u64>;

    // Event types (ordered by name, not by age: it is a catalog).
    async fn insert_event_type(&self, event_type: &EventType) -> Result<()>;
    async fn event_type(&self, name: &EventTypeName) -> Result<Option<EventType>>;
    async fn list_event_types(&self, page: &PageRequest, include_deprecated: bool)
    -> Result<Page<EventType>>;
    async fn update_event_type(&self, event_type: &EventType) -> Result<bool>;
    async fn delete_event_type(&self, name: &EventTypeName) -> Result<bool>;

    // Endpoints.
    async fn insert_endpoint(&self, endpoint: &Endpoint) -> Result<()>;
    async fn endpoint(&self, tenant: &TenantId, id: &EndpointId) -> Result<Option<Endpoint>>;
    async fn list_endpoints(&self, tenant: &TenantId, page: &PageRequest) -> Result<Page<Endpoint>>;
    /// Replaces the endpoint's configuration if it is still at `endpoint.version` (the version
    /// it was read at), making it the next version.
    async fn update_endpoint(&self, endpoint: &Endpoint) -> Result<EndpointUpdate>;
    async fn delete_endpoint(&self, tenant: &TenantId, id: &EndpointId) -> Result<bool>;
    /// Disables an enabled endpoint, recording why; false when it was not enabled (or is gone).
    async fn disable_endpoint(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
        reason: &str,
        now: Timestamp,
    ) -> Result<bool>;
    async fn endpoint_stats(
        &self,
        endpoint: &EndpointId,
        since: Timestamp,
        until: Timestamp,
    ) -> Result<EndpointStats>;
    async fn insert_bulk_retry(&self, op: &BulkRetry) -> Result<()>;
    async fn bulk_retry(
        &self,
        tenant: &TenantId,
        id: &herald_core::id::BulkRetryId,
    ) -> Result<Option<BulkRetry>>;
    async fn running_bulk_retries(&self) -> Result<Vec<BulkRetry>>;
    /// Records that `endpoint` is a `herald listen` session's endpoint, connected now.
    async fn insert_listen_session(
        &self,
        tenant: &TenantId,
        endpoint: &EndpointId,
        now: Timestamp,
    ) -> Result<()>;
    /// Whether `endpoint` is one of the tenant's listen sessions.
    async fn is_listen_session(&self, tenant: &TenantId, endpoint: &EndpointId) -> Result<bool>;
    /// Marks the listen sessions of these endpoints as connected at `now`.
    async fn touch_listen_sessions(&self, endpoints: &[EndpointId], now: Timestamp) -> Result<()>;
    /// The listen sessions last connected before `before`.
    async fn idle_listen_sessions(&self, before: Timestamp) -> Result<Vec<(TenantId, EndpointId)>>;
    /// Queues `page` again and moves the operation's cursor (or finishes it) in one
    /// transaction; the operation as it now stands, none when it is gone.
    async fn advance_bulk_retry(
        &self,
        op: &BulkRetry,
        page: &[DeliveryId],
        cursor: &str,
        finished: bool,
        now: Timestamp,
    ) -> Result<Option<BulkRetry>>;
    /// An endpoint's attempts over `[since, until)` in buckets of `bucket` (oldest first; buckets
    /// without attempts are left out).
    async fn endpoint_timeline(
        &self,
        endpoint: &EndpointId,
        since: Timestamp,
        until: Timestamp,
        bucket: std::time::Duration,
    ) -> Result<Vec<TimelineBucket>>;
    /// Stores the endpoint's circuit state unless a newer one is stored (by `changed_at`), and in
    /// the same transaction moves its waiting deliveries as `shift` says — a hold moves them in
    /// chunks, the first with the state and each further one in a transaction of its own, so a
    /// deep backlog never holds the writer long; returns how many moved (0 when the stored state
    /// was newer).
    async fn set_endpoint_health(
        &self,
        endpoint: &EndpointId,
        health: &herald_core::circuit::Health,
        shift: Shift,
        now: Timestamp,
    ) -> Result<u64>;
    /// Stores the last CloudEvents validation handshake with the endpoint (no new version).
    async fn set_endpoint_handshake(
        &self,
        endpoint: &EndpointId,
        handshake: &herald_core::handshake::Handshake,
    ) -> Result<()>;
    /// Every endpoint of the tenant (for matching a published event).
    async fn tenant_endpoints(&self, tenant: &TenantId) -> Result<Vec<Endpoint>>;

    // Events and deliveries.
    /// Stores the event and its deliveries in one transaction — or, when the tenant already has an
    /// event with this id, stores nothing and returns that event. With a `lease`, the deliveries
    /// due at once are created already leased (to the publishing process's dispatcher). Concurrent calls share
    /// a transaction (group commit); each returns after the commit.
    async fn publish(
        &self,
        event: &Event,
        deliveries: &[Delivery],
        lease: Option<&Lease>,
    ) -> Result<Published>;
    /// Stores the event with a fan-out marker leased under `marker` — or, when the tenant already
    /// has an event with this id, nothing (that event is returned). Its deliveries are created
    /// afterwards by `expand_fanout`; if the marker's holder dies first, its lease runs out and
    /// `claim_fanouts` hands the event to another. Returns after the commit.
    async fn publish_fanout(&self, event: &Event, marker: &Lease) -> Result<Published>;
    /// Creates a fan-out's deliveries (due ones leased under `lease`, when given) and removes its
    /// marker, in one transaction — only while `marker` still holds it (else nothing is written
    /// and `false` comes back). Returns once the write is queued, before it commits: any write
    /// made after that (a settle of one of these deliveries) is applied after it.
    async fn expand_fanout(
        &self,
        event_key: &GeneratedEventId,
        marker: &LeaseToken,
        deliveries: Vec<Delivery>,
        lease: Option<&Lease>,
    ) -> Result<Committing<bool>>;
    /// Leases up to `limit` fan-outs whose lease ran out to `marker` and returns their events.
    async fn claim_fanouts(&self, marker: &Lease, now: Timestamp, limit: u32) -> Result<Vec<Event>>;
    async fn event(&self, tenant: &TenantId, id: &EventId) -> Result<Option<Event>>;
    async fn list_events(
        &self,
        tenant: &TenantId,
        filter: &EventFilter,
        page: &PageRequest,
    ) -> Result<Page<Event>>;
    async fn deliveries_of_event(&self, event_key: &GeneratedEventId) -> Result<Vec<Delivery>>;
    async fn delivery(&self, tenant: &TenantId, id: &DeliveryId) -> Result<Option<Delivery>>;
    async fn list_deliveries(
        &self,
        tenant: &TenantId,
        filter: &DeliveryFilter,
        page: &PageRequest,
    ) -> Result<Page<Delivery>>;
    /// How many deliveries `filter` selects (what a bulk retry will go through).
    async fn count_deliveries(&self, tenant: &TenantId, filter: &DeliveryFilter) -> Result<u64>;
    /// A delivery's attempts, oldest first.
    async fn attempts(&self, delivery: &DeliveryId) -> Result<Vec<Attempt>>;
    /// Queues the delivery for an attempt now, whatever its status (manual retry).
    async fn requeue_delivery(
        &self,
        tenant: &TenantId,
        id: &DeliveryId,
        trigger: Trigger,
        now: Timestamp,
    ) -> Result<Option<Delivery>>;
    /// Queues again the endpoint's failed deliveries created in `[since, until)`; returns how many.
    async fn recover_endpoint(
        &self,
        tenant: &TenantId,
        endpoint: &EndpointId,
        since: Timestamp,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<u64>;

    // The queue.
    /// Leases up to `limit` due deliveries to `owner` until `lease_until`, earliest first,
    /// leaving those of the `skip` tenants (which the caller has enough of in hand) for later. A
    /// delivery whose lease expires without being settled becomes due again.
    async fn claim_due(
        &self,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
        skip: &[TenantId],
    ) -> Result<Vec<Job>>;
    /// Leases the endpoint's earliest waiting delivery that no one holds, whether due or held
    /// (the probe of an open circuit).
    async fn claim_probe(
        &self,
        owner: &str,
        endpoint: &EndpointId,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Option<Job>>;
    /// When the earliest unfinished delivery is due, those of the `skip` tenants aside.
    async fn next_due_at(&self, skip: &[TenantId]) -> Result<Option<Timestamp>>;
    /// Records an attempt (if one was made) and moves the delivery on, in one transaction. The
    /// delivery is only moved while `lease` still holds it. The attempt is taken, not copied:
    /// it travels to the group commit as it is.
    async fn settle(
        &self,
        lease: &LeaseToken,
        delivery: &DeliveryId,
        attempt: Option<Attempt>,
        next: &Next,
        now: Timestamp,
    ) -> Result<()>;
    /// Gives a leased delivery back, due at `until`, without an attempt and without changing its
    /// status (flow control: it may not start yet). Only while `lease` still holds it.
    async fn defer(&self, lease: &LeaseToken, delivery: &DeliveryId, until: Timestamp) -> Result<()>;
    /// Calls `wakeup.notify_one()` whenever another process sharing the database announces due
    /// work; runs until the connection fails for good. Returns at once where wake-ups cannot
    /// cross processes (SQLite: one process owns the file).
    async fn forward_wakeups(&self, wakeup: Arc<tokio::sync::Notify>) -> Result<()>;
    /// Gives back every lease taken with this owner prefix (deliveries and fan-out markers): the
    /// deliveries are due at once, the fan-outs free to be claimed.
    async fn release_leases(&self, owner: &str, now: Timestamp) -> Result<u64>;
    /// Gives back every lease, whoever took it: for a start on SQLite, where only one process can
    /// use the database, so any lease left belongs to a process that is gone.
    async fn release_every_lease(&self, now: Timestamp) -> Result<u64>;
    /// Records that the instance whose leases carry `owner` is alive at `now`.
    async fn heartbeat(&self, owner: &str, now: Timestamp) -> Result<()>;
    /// The instances not heard from since `before`.
    async fn silent_instances(&self, before: Timestamp) -> Result<Vec<String>>;
    /// Forgets an instance (it stopped, or its leases were given back).
    async fn forget_instance(&self, owner: &str) -> Result<()>;

    // What the instance keeps about itself.
    async fn instance_setting(&self, name: &str) -> Result<Option<Vec<u8>>>;
    /// Stores `value` under `name` unless a value is there already; returns the stored value.
    async fn init_instance_setting(&self, name: &str, value: &[u8]) -> Result<Vec<u8>>;
    /// Some endpoint's id and sealed credentials (to check the master key of a database that has
    /// no canary yet); `None` without endpoints.
    async fn any_sealed_credentials(&self) -> Result<Option<(EndpointId, Vec<u8>)>>;

    // Web interface sessions.
    /// Stores a new session, and forgets those expired by `now`.
    async fn insert_ui_session(&self, session: &herald_core::session::Session, now: Timestamp) -> Result<()>;
    /// The session whose token hashes to `hash`, unless it has expired by `now` (or its key
    /// or tenant was deleted).
    async fn ui_session(
        &self,
        hash: &KeyHash,
        now: Timestamp,
    ) -> Result<Option<herald_core::session::Session>>;
    /// Ends a session (sign-out); whether there was one.
    async fn delete_ui_session(&self, hash: &KeyHash) -> Result<bool>;
    /// Stores a new portal link, and forgets links that expired before `expired_before` (used
    /// or not).
    async fn insert_portal_link(
        &self,
        link: &herald_core::portal::PortalLink,
        expired_before: Timestamp,
    ) -> Result<()>;
    /// Uses up the portal link whose token hashes to `link`, if it is unused and unexpired by
    /// `now`, and opens from it — in the same transaction — the session whose token hashes to
    /// `session`: its link's tenant without a key, its branding, until `session_expires_at`.
    /// Of two concurrent openings of one link, one opens it and the other finds it used.
    async fn open_portal_link(
        &self,
        link: &KeyHash,
        session: &KeyHash,
        session_expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<PortalOpening>;

    // Idempotency keys.
    /// Registers the first use of `key` by `scope`, or says what an earlier use left. Keys older
    /// than `expired_before` are forgotten.
    async fn idempotency_begin(
        &self,
        scope: &str,
        key: &IdempotencyKey,
        request_hash: &str,
        now: Timestamp,
        expired_before: Timestamp,
    ) -> Result<IdempotencyState>;
    async fn idempotency_complete(
        &self,
        scope: &str,
        key: &IdempotencyKey,
        status: u16,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<()>;
    async fn idempotency_release(&self, scope: &str, key: &IdempotencyKey) -> Result<()>;
}

/// What opening a portal link came to.
#[derive(Debug, Clone, PartialEq)]
pub enum PortalOpening {
    /// The link was unused and unexpired: this session is open now, and the link used up.
    Opened(herald_core::session::Session),
    /// The link was opened before.
    Used,
    /// The link's time ran out before it was opened.
    Expired,
    /// No such link (never made, or forgotten since it expired).
    Unknown,
}

/// Opens the store a database URL names: `sqlite://path` (created when missing) or
/// `postgres://…` / `postgresql://…`. Does not migrate.
pub async fn connect(url: &str, options: &ConnectOptions) -> Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(url, options).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PostgresStore::connect(url, options).await?))
    } else {
        Err(StoreError::UnsupportedUrl(url.to_owned()))
    }
}

/// Maps a unique-constraint violation in a group commit's statement to [`StoreError::Conflict`]
/// naming what collided, by its table (PostgreSQL reports it; SQLite names it in its message,
/// "UNIQUE constraint failed: table.column"); any other error stays as it is.
pub(crate) fn batch_conflict(error: sqlx::Error) -> StoreError {
    let what = match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            let table = db.table().unwrap_or_else(|| {
                db.message().rsplit(": ").next().and_then(|column| column.split('.').next()).unwrap_or("")
            });
            match table {
                "events" => "event key",
                "attempts" => "attempt id",
                _ => "delivery id",
            }
        }
        _ => return StoreError::Database(error),
    };
    StoreError::Conflict(what.to_owned())
}

/// Maps a unique-constraint violation to [`StoreError::Conflict`] naming `what`.
pub(crate) fn conflict_as(what: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |e| match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(what.to_owned()),
        _ => StoreError::Database(e),
    }
}
