//! Operational events reach the operator tenant as ordinary events: the provider's endpoint
//! there receives `endpoint.created/updated/deleted`, `endpoint.disabled`, `endpoint.recovered`
//! and `delivery.failed`, signed and logged like any event, and nothing about the operator
//! tenant itself.

use std::time::Duration;

use herald_testkit::receiver::{Reply, TestReceiver};
use herald_testkit::{TestApp, eventually, on_both_backends};
use serde_json::{Value, json};

/// The operational events received so far, as (type, data).
fn received(receiver: &TestReceiver) -> Vec<(String, Value)> {
    receiver
        .requests()
        .iter()
        .map(|r| {
            let body = r.json();
            (body["type"].as_str().unwrap_or_default().to_owned(), body["data"].clone())
        })
        .collect()
}

async fn wait_for(receiver: &TestReceiver, what: &str, matches: impl Fn(&str, &Value) -> bool) -> Value {
    eventually(what, Duration::from_secs(20), || async {
        received(receiver).into_iter().find(|(t, d)| matches(t, d)).map(|(_, d)| d)
    })
    .await
}

on_both_backends! {
    async fn operational_events_reach_the_operator_tenant(backend: Backend) {
        let app = TestApp::start_with(backend, |c| {
            c.operator.tenant = Some("ops".into());
            c.delivery.timeout = herald_core::duration::HumanDuration::from_secs(1);
            c.delivery.circuit_failure_threshold = 2;
        })
        .await;
        // The operator tenant was created at start, with the event types in the catalog.
        let ops = app.get("/v1/tenants/ops").await;
        assert_eq!(ops.status, 200, "{}", ops.body);
        for name in ["endpoint.disabled", "endpoint.recovered", "delivery.failed", "endpoint.created"] {
            assert_eq!(app.get(&format!("/v1/event-types/{name}")).await.status, 200, "{name} in the catalog");
        }
        let operator = TestReceiver::start().await;
        let ops_endpoint = app
            .endpoint("ops", json!({"url": operator.url(), "events": ["endpoint.*", "delivery.failed"]}))
            .await;
        let ops_endpoint = ops_endpoint["id"].as_str().unwrap().to_owned();

        let tenant = app.tenant("Acme").await;
        let tenant_id = app.get(&format!("/v1/tenants/{tenant}")).await.body["id"].as_str().unwrap().to_owned();

        // Created, then gone (410): disabled at once, and the delivery is a dead letter.
        let gone = TestReceiver::start().await;
        gone.script([Reply::Status(410)]);
        let a = app.endpoint(&tenant, json!({"url": gone.url(), "description": "a"})).await;
        let a = a["id"].as_str().unwrap().to_owned();
        let created =
            wait_for(&operator, "endpoint.created", |t, d| t == "endpoint.created" && d["endpointId"] == a).await;
        assert_eq!(
            (created["tenantId"].as_str(), created["enabled"].as_bool()),
            (Some(tenant_id.as_str()), Some(true))
        );
        assert_eq!(created["url"], gone.url());
        let event = app.publish(&tenant, json!({"type": "t.x", "data": {}})).await;
        let delivery = event["deliveries"][0]["deliveryId"].as_str().unwrap().to_owned();
        let disabled =
            wait_for(&operator, "endpoint.disabled", |t, d| t == "endpoint.disabled" && d["endpointId"] == a)
                .await;
        assert!(disabled["reason"].as_str().unwrap().contains("410"), "{disabled}");
        let failed =
            wait_for(&operator, "delivery.failed", |t, d| t == "delivery.failed" && d["deliveryId"] == delivery)
                .await;
        assert_eq!(
            (failed["reason"].as_str(), failed["attempts"].as_u64(), failed["eventType"].as_str()),
            (Some("endpoint_gone"), Some(1), Some("t.x"))
        );
        assert_eq!(failed["eventId"], event["id"]);

        // Updated (re-enabled by hand), then deleted.
        app.patch(&format!("/v1/tenants/{tenant}/endpoints/{a}"), json!({"enabled": true})).await;
        wait_for(&operator, "endpoint.updated", |t, d| {
            t == "endpoint.updated" && d["endpointId"] == a && d["enabled"] == true
        })
        .await;
        assert_eq!(app.delete(&format!("/v1/tenants/{tenant}/endpoints/{a}")).await.status, 204);
        wait_for(&operator, "endpoint.deleted", |t, d| t == "endpoint.deleted" && d["endpointId"] == a).await;

        // Failing twice opens the circuit; the probe a second later succeeds: recovered.
        let flaky = TestReceiver::start().await;
        flaky.script([Reply::Status(500), Reply::Status(500)]);
        let policy = json!({"delays": ["1s"], "maxAttempts": 10, "jitter": 0.0});
        let b = app.endpoint(&tenant, json!({"url": flaky.url(), "retryPolicy": policy})).await;
        let b = b["id"].as_str().unwrap().to_owned();
        app.publish(&tenant, json!({"type": "t.x", "data": {}})).await;
        let recovered =
            wait_for(&operator, "endpoint.recovered", |t, d| t == "endpoint.recovered" && d["endpointId"] == b)
                .await;
        assert!(recovered["failingSince"].is_string(), "{recovered}");

        // Exhausted attempts are a dead letter too.
        let broken = TestReceiver::start().await;
        broken.set_default(Reply::Status(500));
        let c = app.endpoint(&tenant, json!({"url": broken.url(), "retryPolicy": {"maxAttempts": 1}})).await;
        let c = c["id"].as_str().unwrap().to_owned();
        app.publish(&tenant, json!({"type": "t.x", "data": {}})).await;
        let exhausted = wait_for(&operator, "delivery.failed (exhausted)", |t, d| {
            t == "delivery.failed" && d["endpointId"] == c
        })
        .await;
        assert_eq!(exhausted["reason"], "attempts_exhausted");

        // They are ordinary events of the operator tenant, and none is about the operator tenant.
        let log = app.get("/v1/tenants/ops/events?type=endpoint.disabled").await;
        assert_eq!(log.body["data"].as_array().unwrap().len(), 1, "{}", log.body);
        assert!(
            received(&operator).iter().all(|(_, d)| d["endpointId"] != ops_endpoint.as_str()),
            "no operational event about the operator tenant's own endpoint"
        );
        assert!(
            operator.requests().iter().all(|r| r.header("webhook-signature").is_some()),
            "signed like any event"
        );
    }
}
