//! Stores to test against, and domain values to fill them with.

use std::sync::Arc;

use herald_core::Timestamp;
use herald_core::circuit::Health;
use herald_core::delivery::{Attempt, Delivery, SentRequest, Trigger};
use herald_core::endpoint::Endpoint;
use herald_core::event::{Event, EventId};
use herald_core::event_type::EventTypeName;
use herald_core::id::{AttemptId, EndpointId, GeneratedEventId, TenantId};
use herald_core::tenant::Tenant;
use herald_store::{ConnectOptions, Job, Published, Store};

/// Runs each scenario (`async fn name(store: Arc<dyn Store>) { … }`) on both backends, as the
/// tests `name::sqlite` and `name::postgres`, each on a fresh, migrated database.
macro_rules! on_both_backends {
    ($(async fn $name:ident($store:ident) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn scenario($store: std::sync::Arc<dyn herald_store::Store>) $body

            #[tokio::test]
            async fn sqlite() {
                let db = $crate::support::TestDb::open(herald_store::Backend::Sqlite).await;
                scenario(db.store.clone()).await
            }

            #[tokio::test]
            async fn postgres() {
                let db = $crate::support::TestDb::open(herald_store::Backend::Postgres).await;
                scenario(db.store.clone()).await
            }
        }
    )*};
}

pub(crate) use on_both_backends;

/// A fresh, migrated database and its store; removed again when dropped.
pub struct TestDb {
    pub store: Arc<dyn Store>,
    /// Holds the SQLite file.
    _dir: Option<tempfile::TempDir>,
    postgres_url: Option<String>,
}

impl TestDb {
    pub async fn open(backend: herald_store::Backend) -> Self {
        let (url, dir, postgres_url) = match backend {
            herald_store::Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("a temporary directory");
                (format!("sqlite://{}", dir.path().join("herald.db").display()), Some(dir), None)
            }
            herald_store::Backend::Postgres => {
                let url = herald_testkit::postgres::create_database().await;
                (url.clone(), None, Some(url))
            }
        };
        let store = herald_store::connect(&url, &ConnectOptions::default()).await.expect("the store opens");
        assert_eq!(store.backend(), backend);
        store.migrate().await.expect("the migrations apply");
        Self { store, _dir: dir, postgres_url }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(url) = &self.postgres_url {
            herald_testkit::postgres::drop_database(url);
        }
    }
}

/// A fixed instant plus `seconds`: tests pass every time explicitly.
pub fn t(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + seconds).expect("a valid time")
}

pub async fn add_tenant(store: &dyn Store) -> Tenant {
    let tenant = Tenant {
        id: TenantId::generate_at(t(0)),
        uid: None,
        name: "Acme".into(),
        metadata: Default::default(),
        limits: Default::default(),
        created_at: t(0),
        updated_at: t(0),
    };
    store.insert_tenant(&tenant).await.expect("the tenant is stored");
    tenant
}

/// An enabled endpoint of the tenant, subscribed to everything, with a closed circuit.
pub fn new_endpoint(tenant: &Tenant) -> Endpoint {
    Endpoint {
        id: EndpointId::generate_at(t(0)),
        tenant_id: tenant.id.clone(),
        spec: serde_json::from_value(serde_json::json!({
            "url": "https://receiver.example/hooks",
            "events": ["*"],
        }))
        .expect("a valid endpoint spec"),
        enabled: true,
        disabled_reason: None,
        sealed_credentials: vec![7; 48],
        created_at: t(0),
        updated_at: t(0),
        version: 1,
        health: Health::default(),
        handshake: None,
    }
}

pub async fn add_endpoint(store: &dyn Store, tenant: &Tenant) -> Endpoint {
    let endpoint = new_endpoint(tenant);
    store.insert_endpoint(&endpoint).await.expect("the endpoint is stored");
    endpoint
}

/// A new event of the tenant (not stored), with a generated id.
pub fn new_event(tenant_id: &TenantId) -> Event {
    let key = GeneratedEventId::generate_at(t(0));
    Event {
        id: EventId::generated(&key),
        key,
        tenant_id: tenant_id.clone(),
        event_type: EventTypeName::parse("order.created").expect("a valid name"),
        data: serde_json::Map::from_iter([("n".to_owned(), serde_json::json!(1))]),
        subject: None,
        source: None,
        traceparent: None,
        payload_removed_at: None,
        headers: Default::default(),
        created_at: t(0),
    }
}

/// A pending delivery of `event` to `endpoint`, due at `due`.
pub fn new_delivery(event: &Event, endpoint: &Endpoint, due: Timestamp) -> Delivery {
    Delivery { next_attempt_at: Some(due), ..Delivery::new(event, &endpoint.id, Trigger::Scheduled, t(0)) }
}

/// Publishes a new event with one delivery to `endpoint`, due at `due`; returns the delivery.
pub async fn waiting(store: &dyn Store, endpoint: &Endpoint, due: Timestamp) -> Delivery {
    let event = new_event(&endpoint.tenant_id);
    let delivery = new_delivery(&event, endpoint, due);
    let published = store.publish(&event, std::slice::from_ref(&delivery), None).await;
    assert_eq!(published.expect("the publish is stored"), Published::Created);
    delivery
}

/// The delivery as stored now.
pub async fn stored(store: &dyn Store, delivery: &Delivery) -> Delivery {
    store.delivery(&delivery.tenant_id, &delivery.id).await.expect("the delivery reads").expect("it exists")
}

/// A failed attempt of the delivery, started at `at`.
pub fn new_attempt(delivery: &Delivery, at: Timestamp) -> Attempt {
    Attempt {
        id: AttemptId::generate_at(at),
        delivery_id: delivery.id.clone(),
        tenant_id: delivery.tenant_id.clone(),
        endpoint_id: delivery.endpoint_id.clone(),
        attempt_no: delivery.attempt_count + 1,
        trigger: delivery.next_trigger,
        started_at: at,
        duration_ms: 12,
        request: SentRequest {
            url: "https://receiver.example/hooks".into(),
            method: "POST".into(),
            headers: vec![("content-type".into(), "application/json".into())],
        },
        response_status: Some(503),
        response_headers: vec![("retry-after".into(), "10".into())],
        response_body: Some("busy".into()),
        error_kind: Some(herald_core::delivery::ErrorKind::HttpStatus),
        error_message: Some("503 Service Unavailable".into()),
    }
}

/// The ids of claimed jobs, in the order returned.
pub fn ids(jobs: &[Job]) -> Vec<String> {
    jobs.iter().map(|job| job.delivery.id.to_string()).collect()
}

/// The ids of deliveries, sorted (for comparing sets).
pub fn sorted_ids<'a>(deliveries: impl IntoIterator<Item = &'a Delivery>) -> Vec<String> {
    let mut ids: Vec<String> = deliveries.into_iter().map(|d| d.id.to_string()).collect();
    ids.sort();
    ids
}
