//! The client against a real Herald server: every operation of the API is called through the
//! client and its answer checked; the list of operations is checked against the server's OpenAPI
//! document; refusals arrive as typed problems.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::TryStreamExt;
use herald_client::api::PageParams;
use herald_client::api::bulk_retries::{BulkFilter, BulkRetryStatus};
use herald_client::api::deliveries::DeliveryListParams;
use herald_client::api::endpoints::{
    AuthOut, EndpointIn, EndpointPatch, RecoverIn, RotateIn, StatsParams, TestIn,
};
use herald_client::api::event_types::{CatalogFilter, EventTypeIn, EventTypePatch, EventTypeReplace};
use herald_client::api::events::{EventIn, EventListParams};
use herald_client::api::keys::ApiKeyIn;
use herald_client::api::listen::{ClientMessage, ListenParams};
use herald_client::api::portal::PortalSessionIn;
use herald_client::api::tenants::{TenantIn, TenantPatch};
use herald_client::{Client, Error, Exchange, operation};
use herald_core::delivery::{DeliveryStatus, Trigger};
use herald_testkit::receiver::{Reply, TestReceiver};
use herald_testkit::{Backend, TestApp, eventually};
use serde::de::DeserializeOwned;
use serde_json::json;

fn typed<T: DeserializeOwned>(value: serde_json::Value) -> T {
    serde_json::from_value(value).expect("a valid request")
}

/// The operations the client called, with the statuses the server answered.
type Seen = Arc<Mutex<HashMap<&'static str, Vec<Option<u16>>>>>;

fn observed_client(app: &TestApp, key: &str) -> (Client, Seen) {
    let seen: Seen = Arc::default();
    let record = Arc::clone(&seen);
    let client = Client::builder(&app.url(""), key)
        .observer(Arc::new(move |exchange: &Exchange| {
            record.lock().unwrap().entry(exchange.operation.id).or_default().push(exchange.status);
        }))
        .build()
        .unwrap();
    (client, seen)
}

#[tokio::test]
async fn every_operation_works_against_a_real_server() {
    let app = TestApp::start(Backend::Sqlite).await;
    let receiver = TestReceiver::start().await;
    let (herald, seen) = observed_client(&app, &app.admin_key);

    // Tenants.
    let tenant = herald
        .tenants()
        .create(&typed(json!({"uid": "acme", "name": "Acme", "metadata": {"plan": "pro"}})))
        .await
        .unwrap();
    assert_eq!(tenant.name, "Acme");
    let other: TenantIn = typed(json!({"name": "Globex"}));
    let globex = herald.tenants().create(&other).await.unwrap();
    let page = herald.tenants().list(&PageParams { limit: Some(1), cursor: None }).await.unwrap();
    assert_eq!(page.data.len(), 1);
    assert_eq!(page.data[0].id, globex.id, "newest first");
    let all: Vec<_> = herald.tenants().stream().try_collect().await.unwrap();
    assert_eq!(all.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["Globex", "Acme"]);
    assert_eq!(herald.tenants().get("acme").await.unwrap().id, tenant.id, "a uid in the path");
    let renamed = herald
        .tenants()
        .update("acme", &TenantPatch { name: Some("Acme Corp".into()), ..TenantPatch::default() })
        .await
        .unwrap();
    assert_eq!(renamed.name, "Acme Corp");
    assert_eq!(renamed.metadata, tenant.metadata, "fields left out stay");
    let stats = herald.tenants().stats("acme").await.unwrap();
    assert_eq!(stats.backlog, 0);
    herald.tenants().delete(globex.id.as_str()).await.unwrap();
    assert!(herald.tenants().get(globex.id.as_str()).await.unwrap_err().is_not_found());

    // Keys.
    let key = herald.keys("acme").create(&ApiKeyIn { name: Some("ci".into()) }).await.unwrap();
    assert!(key.key.starts_with(&key.api_key.prefix));
    let keys: Vec<_> = herald.keys("acme").stream().try_collect().await.unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(herald.keys("acme").list(&PageParams::default()).await.unwrap().data[0].name, "ci");
    let tenant_client = Client::new(&app.url(""), &key.key).unwrap();
    assert_eq!(tenant_client.tenants().get("acme").await.unwrap().id, tenant.id);
    herald.keys("acme").revoke(key.api_key.id.as_str()).await.unwrap();
    let revoked = eventually("the revoked key to stop working", Duration::from_secs(5), || async {
        tenant_client.tenants().get("acme").await.err()
    })
    .await;
    assert_eq!(revoked.status(), Some(401), "{revoked}");

    // Portal.
    let link = herald.portal_sessions("acme").create(&PortalSessionIn::default()).await.unwrap();
    assert!(link.url.contains("/ui/portal/hp_"), "{}", link.url);

    // Event types.
    let created = herald
        .event_types()
        .create(&typed::<EventTypeIn>(json!({
            "name": "invoice.paid",
            "schema": {"type": "object", "required": ["invoice"]},
            "example": {"invoice": "in_example"}
        })))
        .await
        .unwrap();
    assert_eq!(created.label, "invoice.paid");
    herald.event_types().create(&typed(json!({"name": "invoice.voided"}))).await.unwrap();
    let replaced = herald
        .event_types()
        .replace(
            "invoice.voided",
            &EventTypeReplace { description: "An invoice was voided".into(), ..EventTypeReplace::default() },
        )
        .await
        .unwrap();
    assert_eq!(replaced.description, "An invoice was voided");
    let deprecated = herald
        .event_types()
        .update("invoice.voided", &EventTypePatch { deprecated: Some(true), ..EventTypePatch::default() })
        .await
        .unwrap();
    assert!(deprecated.deprecated);
    let current = herald.event_types().list(&CatalogFilter::default(), &PageParams::default()).await.unwrap();
    assert_eq!(current.data.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["invoice.paid"]);
    let with_deprecated: Vec<_> = herald
        .event_types()
        .stream(CatalogFilter { include_deprecated: Some(true) })
        .try_collect()
        .await
        .unwrap();
    assert_eq!(with_deprecated.len(), 2);
    assert_eq!(
        herald.event_types().get("invoice.paid").await.unwrap().example,
        Some(json!({"invoice": "in_example"}))
    );
    herald.event_types().delete("invoice.voided").await.unwrap();
    assert!(herald.event_types().get("invoice.voided").await.unwrap_err().is_not_found());

    // Endpoints.
    let endpoints = herald.endpoints("acme");
    let mut spec: EndpointIn = typed(json!({"url": receiver.url(), "events": ["invoice.*"]}));
    spec.auth = typed(json!({"type": "bearer", "token": "s3cret-token"}));
    let endpoint = endpoints.create(&spec).await.unwrap();
    assert!(endpoint.secret.expose().starts_with("whsec_"));
    assert_eq!(endpoint.endpoint.auth, AuthOut::Bearer { token_set: true });
    let id = endpoint.endpoint.id.to_string();
    let listed: Vec<_> = endpoints.stream().try_collect().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(endpoints.list(&PageParams::default()).await.unwrap().data[0].id, endpoint.endpoint.id);
    let fetched = endpoints.get_versioned(&id).await.unwrap();
    let version = fetched.version.expect("an ETag");
    let described = endpoints
        .clone()
        .if_match(version)
        .update(&id, &EndpointPatch { description: Some("billing".into()), ..EndpointPatch::default() })
        .await
        .unwrap();
    assert_eq!(described.value.description, "billing");
    let stale = endpoints
        .clone()
        .if_match(version)
        .update(&id, &EndpointPatch { description: Some("late".into()), ..EndpointPatch::default() })
        .await
        .unwrap_err();
    assert_eq!(stale.status(), Some(412), "{stale}");
    let disabled = endpoints.set_enabled(&id, false).await.unwrap();
    assert!(!disabled.value.enabled);
    spec.description = "replaced".into();
    let replaced = endpoints.replace(&id, &spec).await.unwrap();
    assert_eq!((replaced.value.description.as_str(), replaced.value.enabled), ("replaced", true));
    let rotated = endpoints.rotate_secret(&id, &RotateIn::default()).await.unwrap();
    assert_ne!(rotated.value.secret, endpoint.secret);
    assert!(rotated.value.previous_expires_at.is_some());
    endpoints.retire_previous_secrets(&id).await.unwrap();

    // Test send, publish, the logs, retry, recover, bulk retry.
    let test = endpoints.test(&id, &TestIn { event_type: Some(typed(json!("invoice.paid"))) }).await.unwrap();
    let test_delivery = app.delivery_with_status("acme", test.delivery_id.as_str(), "delivered").await;
    assert_eq!(test_delivery["attempts"][0]["trigger"], "test");
    receiver.set_default(Reply::Status(500));
    let event = herald
        .events("acme")
        .publish(&typed::<EventIn>(
            json!({"id": "evt_client_1", "type": "invoice.paid", "data": {"invoice": "in_1"}}),
        ))
        .await
        .unwrap();
    let owed = event.deliveries.clone().unwrap();
    assert_eq!(owed.len(), 1);
    let again = herald
        .events("acme")
        .publish(&typed::<EventIn>(
            json!({"id": "evt_client_1", "type": "invoice.paid", "data": {"invoice": "in_1"}}),
        ))
        .await
        .unwrap();
    assert_eq!(again.created_at, event.created_at, "the same id returns the first event");
    assert_eq!(herald.events("acme").get("evt_client_1").await.unwrap().deliveries.unwrap().len(), 1);
    let events = herald
        .events("acme")
        .list(
            &EventListParams { event_type: Some(typed(json!("invoice.paid"))), ..EventListParams::default() },
            &PageParams::default(),
        )
        .await
        .unwrap();
    assert_eq!(events.data.len(), 2, "the test event and the published one");
    let streamed: Vec<_> =
        herald.events("acme").stream(EventListParams::default()).try_collect().await.unwrap();
    assert_eq!(streamed.len(), 2);

    let delivery = owed[0].delivery_id.to_string();
    let failing = eventually("an attempt that failed", Duration::from_secs(20), || async {
        let d = herald.deliveries("acme").get(&delivery).await.unwrap();
        (d.attempts.as_ref().is_some_and(|a| !a.is_empty())).then_some(d)
    })
    .await;
    let attempt = &failing.attempts.unwrap()[0];
    assert_eq!(attempt.response.as_ref().map(|r| r.status), Some(500));
    assert!(
        attempt.request.headers.iter().any(|(name, value)| name == "authorization" && value == "********"),
        "credentials are shown masked: {:?}",
        attempt.request.headers
    );
    receiver.set_default(Reply::Status(204));
    let retried = herald.deliveries("acme").retry(&delivery).await.unwrap();
    assert_eq!(retried.id.to_string(), delivery);
    let delivered = eventually("the retried delivery to arrive", Duration::from_secs(20), || async {
        let d = herald.deliveries("acme").get(&delivery).await.unwrap();
        (d.status == DeliveryStatus::Delivered).then_some(d)
    })
    .await;
    assert!(delivered.attempts.unwrap().iter().any(|a| a.trigger == Trigger::Manual));
    let log = herald
        .deliveries("acme")
        .list(
            &DeliveryListParams { status: Some(DeliveryStatus::Delivered), ..DeliveryListParams::default() },
            &PageParams::default(),
        )
        .await
        .unwrap();
    assert_eq!(log.data.len(), 2);
    let by_endpoint: Vec<_> = herald
        .deliveries("acme")
        .stream(DeliveryListParams {
            endpoint_id: Some(endpoint.endpoint.id.clone()),
            ..DeliveryListParams::default()
        })
        .try_collect()
        .await
        .unwrap();
    assert_eq!(by_endpoint.len(), 2);

    let an_hour_ago = herald_core::time::sub(event.created_at, Duration::from_secs(3600));
    let recovered = endpoints.recover(&id, &RecoverIn { since: an_hour_ago, until: None }).await.unwrap();
    assert_eq!(recovered.recovered, 0, "nothing failed for good");
    let bulk = herald
        .bulk_retries("acme")
        .create(&BulkFilter {
            since: an_hour_ago,
            until: None,
            status: None,
            endpoint_id: None,
            event_type: None,
        })
        .await
        .unwrap();
    let done = eventually("the bulk retry to finish", Duration::from_secs(20), || async {
        let op = herald.bulk_retries("acme").get(bulk.id.as_str()).await.unwrap();
        (op.status == BulkRetryStatus::Done).then_some(op)
    })
    .await;
    assert_eq!(done.retried, 2, "both deliveries queued again");
    assert_eq!((bulk.total, done.total), (Some(2), Some(2)), "counted when it began");

    let stats = endpoints.stats(&id, &StatsParams::default()).await.unwrap();
    assert!(stats.attempts >= 3, "{stats:?}");
    assert_eq!(stats.deliveries.delivered + stats.deliveries.pending + stats.deliveries.retrying, 2);

    endpoints.delete(&id).await.unwrap();
    assert!(endpoints.get(&id).await.unwrap_err().is_not_found());

    // Listen: the session's endpoint gets its attempts over the connection, signed as any
    // delivery, and the answer sent back is the attempt recorded.
    let params = ListenParams {
        events: Some("invoice.*".into()),
        forward_to: Some("http://localhost:3000/hook".into()),
        resume: None,
    };
    let mut listener = herald.listen("acme", &params).await.unwrap();
    let session = listener.session().clone();
    assert!(!session.resumed);
    let listened = herald.endpoints("acme").get(session.endpoint_id.as_str()).await.unwrap();
    assert_eq!(listened.description, "herald listen → http://localhost:3000/hook");
    let published = herald
        .events("acme")
        .publish(&typed::<EventIn>(json!({"type": "invoice.paid", "data": {"invoice": "in_listen"}})))
        .await
        .unwrap();
    let request = listener.next_request().await.unwrap().unwrap();
    assert_eq!((request.event_id.clone(), request.attempt_no), (published.id.clone(), 1));
    let mut headers = reqwest::header::HeaderMap::new();
    for (name, value) in &request.headers {
        headers.insert(
            reqwest::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    standardwebhooks::Webhook::new(&session.secret.expose())
        .unwrap()
        .verify(request.body.as_bytes(), &headers)
        .expect("signed like any delivery");
    listener
        .responder()
        .send(&ClientMessage::Response {
            id: request.id,
            status: 202,
            headers: vec![("x-local".into(), "yes".into())],
            body: "thanks".into(),
            duration_ms: 7,
        })
        .await
        .unwrap();
    let recorded = eventually("the listened delivery to be recorded", Duration::from_secs(20), || async {
        let d = herald.deliveries("acme").get(request.delivery_id.as_str()).await.unwrap();
        (d.status == DeliveryStatus::Delivered).then_some(d)
    })
    .await;
    let attempt = &recorded.attempts.unwrap()[0];
    let response = attempt.response.as_ref().unwrap();
    assert_eq!((response.status, response.body.as_deref()), (202, Some("thanks")));
    assert_eq!(response.headers, [("x-local".to_owned(), "yes".to_owned())]);
    assert_eq!(attempt.duration_ms, 7, "the local receiver's time");
    listener.responder().close().await;

    // Every operation was called, and each answered with success at least once.
    let seen = seen.lock().unwrap().clone();
    let missing: Vec<_> = operation::ALL
        .iter()
        .filter(|op| {
            !seen.get(op.id).is_some_and(|statuses| statuses.iter().any(|s| s.is_some_and(|s| s < 300)))
        })
        .map(|op| op.id)
        .collect();
    assert!(missing.is_empty(), "operations never called successfully: {missing:?}");
}

#[test]
fn the_client_knows_every_operation_of_the_api_document() {
    let document: serde_json::Value =
        serde_json::from_str(include_str!("../../../docs/openapi.json")).expect("the checked-in document");
    let documented: BTreeSet<(String, String, String)> = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object().unwrap().iter().map(move |(method, op)| {
                (method.to_uppercase(), path.clone(), op["operationId"].as_str().unwrap().to_owned())
            })
        })
        .collect();
    let known: BTreeSet<(String, String, String)> = operation::ALL
        .iter()
        .map(|op| (op.method.to_owned(), op.path.to_owned(), op.id.to_owned()))
        .collect();
    assert_eq!(known.len(), operation::ALL.len(), "an operation is listed twice");
    assert_eq!(known, documented);
}

#[tokio::test]
async fn refusals_arrive_as_typed_problems_and_other_failures_apart() {
    let app = TestApp::start(Backend::Sqlite).await;
    let herald = Client::new(&app.url(""), &app.admin_key).unwrap();

    let invalid = herald.tenants().create(&typed(json!({"name": "   "}))).await.unwrap_err();
    let Error::Api { status, problem } = &invalid else { panic!("{invalid:?}") };
    assert_eq!((*status, problem.code.as_str()), (422, "validation_failed"));
    assert_eq!(problem.errors[0].path, "/name");

    let unknown = herald.endpoints("nobody").get("ep_01JBX5M3S7K2W8R9T4V6Y0Z1A2").await.unwrap_err();
    assert!(unknown.is_not_found(), "{unknown}");
    assert_eq!(unknown.problem().unwrap().code, "not_found");

    let wrong_key = Client::new(&app.url(""), "hk_not_a_key").unwrap();
    assert_eq!(wrong_key.tenants().stream().try_collect::<Vec<_>>().await.unwrap_err().status(), Some(401));

    // Not Herald: an answer that is no problem document.
    let receiver = TestReceiver::start().await;
    receiver.set_default(Reply::Full { status: 502, headers: vec![], body: "bad gateway".into() });
    let proxy = Client::new(&receiver.url(), "hk_x").unwrap();
    let err = proxy.tenants().get("acme").await.unwrap_err();
    assert!(matches!(&err, Error::Http { status: 502, body } if body == "bad gateway"), "{err:?}");

    // Nobody listening.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let nobody = Client::new(&format!("http://127.0.0.1:{port}"), "hk_x").unwrap();
    assert!(matches!(nobody.tenants().get("acme").await.unwrap_err(), Error::Network(_)));

    for bad in ["ftp://herald.example", "not a url", "http://user:pw@127.0.0.1:1"] {
        assert!(matches!(Client::new(bad, "hk_x"), Err(Error::Url(_))), "{bad}");
    }
}

#[tokio::test]
async fn a_server_behind_a_path_prefix_is_reached_under_it() {
    let receiver = TestReceiver::start().await;
    receiver.set_default(Reply::Full {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body: r#"{"inFlight":0,"waiting":0,"backlog":3,"limits":{}}"#.into(),
    });
    let herald = Client::new(&format!("http://{}/herald/", receiver.addr()), "hk_x").unwrap();
    let stats = herald.tenants().stats("a b/c").await.unwrap();
    assert_eq!(stats.backlog, 3);
    let request = &receiver.requests()[0];
    assert_eq!(request.uri.path(), "/herald/v1/tenants/a%20b%2Fc/stats", "one escaped segment per parameter");
    assert_eq!(request.header("authorization"), Some("Bearer hk_x"));
}

#[tokio::test]
async fn a_listen_session_lives_while_connected_and_goes_when_idle_too_long() {
    let app = TestApp::start_with(Backend::Sqlite, |config| {
        config.listen_idle_timeout = Duration::from_secs(1).into();
    })
    .await;
    let herald = Client::new(&app.url(""), &app.admin_key).unwrap();
    herald.tenants().create(&typed(json!({"uid": "acme", "name": "Acme"}))).await.unwrap();
    let listener = herald.listen("acme", &ListenParams::default()).await.unwrap();
    let endpoint = listener.session().endpoint_id.to_string();

    // Connected for three idle times: kept.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(herald.endpoints("acme").get(&endpoint).await.is_ok(), "a connected session is kept");
    let event = herald.events("acme").publish(&typed(json!({"type": "a.b", "data": {}}))).await.unwrap();
    let delivery = event.deliveries.unwrap()[0].delivery_id.to_string();

    // Resuming names the same endpoint; another tenant's key cannot.
    drop(listener);
    let resumed = ListenParams { resume: Some(typed(json!(endpoint))), ..ListenParams::default() };
    let again = herald.listen("acme", &resumed).await.unwrap();
    assert!(again.session().resumed);
    assert_eq!(again.session().endpoint_id.to_string(), endpoint);
    herald.tenants().create(&typed(json!({"uid": "globex", "name": "Globex"}))).await.unwrap();
    let elsewhere = herald.listen("globex", &resumed).await.unwrap_err();
    assert!(elsewhere.is_not_found(), "{elsewhere}");
    again.responder().close().await;
    drop(again);

    // Disconnected past the idle time: the endpoint is deleted, its waiting delivery failed.
    eventually("the idle session to be removed", Duration::from_secs(20), || async {
        herald.endpoints("acme").get(&endpoint).await.err().filter(Error::is_not_found)
    })
    .await;
    let failed = eventually("the waiting delivery to fail", Duration::from_secs(20), || async {
        let d = herald.deliveries("acme").get(&delivery).await.unwrap();
        (d.status == DeliveryStatus::Failed).then_some(d)
    })
    .await;
    assert_eq!(failed.failure_reason.map(|r| r.as_str()), Some("endpoint_deleted"));

    // The host of listen sessions is not for ordinary endpoints.
    let refused = herald
        .endpoints("acme")
        .create(&typed(json!({"url": "https://listen.herald.invalid/mine"})))
        .await
        .unwrap_err();
    assert_eq!(refused.problem().unwrap().errors[0].path, "/url");
    // And what is not a WebSocket upgrade is told so.
    let plain = reqwest::Client::new()
        .get(app.url("/v1/tenants/acme/listen"))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status().as_u16(), 426);
}
