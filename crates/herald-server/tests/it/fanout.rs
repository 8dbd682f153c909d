//! Fan-out: an event owed to more endpoints than a publish stores inline is acknowledged with a
//! durable marker and its deliveries follow; every subscriber gets it once, under the delivery ids
//! the publish answered, and a fan-out left half done by a dead process is finished by another.

use std::collections::HashSet;
use std::time::Duration;

use herald_core::event::{Event, EventId};
use herald_core::event_type::EventTypeName;
use herald_core::id::{GeneratedEventId, TenantId};
use herald_server::publish::FANOUT_INLINE;
use herald_store::{ConnectOptions, Lease, LeaseToken, Published};
use herald_testkit::receiver::TestReceiver;
use herald_testkit::{TestApp, eventually, on_both_backends};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);
/// Just past what a publish stores in its own transaction.
const ENDPOINTS: usize = FANOUT_INLINE + 6;

/// `n` endpoints of the tenant at `/e<i>` of the receiver; returns their secrets by path.
async fn endpoints(app: &TestApp, tenant: &str, receiver: &TestReceiver, n: usize) -> Vec<(String, String)> {
    let mut made = Vec::new();
    for i in 0..n {
        let path = format!("/e{i}");
        let endpoint = app.endpoint(tenant, json!({"url": format!("{}{path}", receiver.url())})).await;
        made.push((format!("/hook{path}"), endpoint["secret"].as_str().unwrap().to_owned()));
    }
    made
}

/// The paths the receiver got `event_id` on, each once (panics on a second copy).
fn paths_of(receiver: &TestReceiver, event_id: &str) -> HashSet<String> {
    let mut paths = HashSet::new();
    for request in receiver.requests().iter().filter(|r| r.header("webhook-id") == Some(event_id)) {
        assert!(paths.insert(request.uri.path().to_owned()), "{} twice", request.uri.path());
    }
    paths
}

fn delivery_ids(list: &Value) -> HashSet<String> {
    list.as_array().unwrap().iter().map(|d| d["deliveryId"].as_str().unwrap().to_owned()).collect()
}

on_both_backends! {
    async fn an_event_owed_to_many_endpoints_reaches_each_once(app) {
        let receiver = TestReceiver::start().await;
        let tenant = app.tenant("Many").await;
        let made = endpoints(&app, &tenant, &receiver, ENDPOINTS).await;
        let event = app.publish(&tenant, json!({"type": "order.paid", "data": {"n": 1}})).await;
        let answered = delivery_ids(&event["deliveries"]);
        assert_eq!(answered.len(), ENDPOINTS, "the publish answers every delivery it owes");
        let id = event["id"].as_str().unwrap();

        receiver.wait_for(ENDPOINTS, WAIT).await;
        let expected: HashSet<String> = made.iter().map(|(path, _)| path.clone()).collect();
        assert_eq!(paths_of(&receiver, id), expected, "every endpoint once");
        for request in receiver.requests() {
            let secret = &made.iter().find(|(path, _)| path == request.uri.path()).unwrap().1;
            standardwebhooks::Webhook::new(secret).unwrap().verify(&request.body, &request.headers)
                .unwrap_or_else(|e| panic!("signature refused: {e}"));
        }
        // The deliveries the publish named are the ones stored and delivered.
        let path = format!("/v1/tenants/{tenant}/events/{id}");
        let stored = eventually("every delivery to be recorded as delivered", WAIT, || async {
            let r = app.get(&path).await;
            let list = r.body["deliveries"].as_array().cloned().unwrap_or_default();
            (list.len() == ENDPOINTS && list.iter().all(|d| d["status"] == "delivered")).then_some(r.body)
        })
        .await;
        assert_eq!(delivery_ids(&stored["deliveries"]), answered);

        // Publishing the same id again answers the same deliveries and sends nothing more.
        let again = app.post(&format!("/v1/tenants/{tenant}/events"), json!({"id": id, "type": "order.paid", "data": {"n": 1}})).await;
        assert_eq!(again.status, 200, "{}", again.body);
        assert_eq!(delivery_ids(&again.body["deliveries"]), answered);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(receiver.requests().len(), ENDPOINTS);
    }

    async fn a_fanout_left_by_a_dead_process_is_finished(app) {
        let receiver = TestReceiver::start().await;
        let tenant = app.tenant("Orphan").await;
        let made = endpoints(&app, &tenant, &receiver, ENDPOINTS).await;
        // What a process killed right after acknowledging a fan-out leaves: the event and a marker
        // whose lease has run out, no deliveries.
        let store = herald_store::connect(&app.database_url, &ConnectOptions::default()).await.unwrap();
        let now = herald_core::Timestamp::now();
        let key = GeneratedEventId::generate_at(now);
        let event = Event {
            id: EventId::parse("orphaned-1").unwrap(),
            key,
            tenant_id: TenantId::parse(&tenant).unwrap(),
            event_type: EventTypeName::parse("order.paid").unwrap(),
            data: serde_json::Map::from_iter([("n".to_owned(), json!(2))]),
            subject: None,
            source: None,
            traceparent: None,
            payload_removed_at: None,
            headers: Default::default(),
            created_at: now,
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        // An endpoint made after the event was published is not owed it.
        let late = app.endpoint(&tenant, json!({"url": format!("{}/late", receiver.url())})).await;
        assert!(late["id"].is_string());
        let dead = Lease {
            token: LeaseToken::new("worker_dead", "fanout"),
            until: now.checked_sub(jiff::SignedDuration::from_secs(1)).unwrap(),
        };
        assert_eq!(store.publish_fanout(&event, &dead).await.unwrap(), Published::Created);

        receiver.wait_for(ENDPOINTS, WAIT).await;
        let expected: HashSet<String> = made.iter().map(|(path, _)| path.clone()).collect();
        eventually("the orphaned fan-out to reach every endpoint", WAIT, || async {
            (paths_of(&receiver, "orphaned-1") == expected).then_some(())
        })
        .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(paths_of(&receiver, "orphaned-1"), expected, "once each, and not the late endpoint");
        let deliveries = store.deliveries_of_event(&event.key).await.unwrap();
        assert_eq!(deliveries.len(), ENDPOINTS);
    }
}
