//! Retention with a real server: finished deliveries and their events go after the retention,
//! waiting ones stay, a tenant's own retention wins, and the purge is counted in the metrics.

use std::time::Duration;

use herald_core::duration::HumanDuration;
use herald_testkit::eventually;
use herald_testkit::receiver::{Reply, TestReceiver};
use serde_json::json;

use crate::support::{Backend, TestApp};

async fn purges_what_the_retention_no_longer_keeps(backend: Backend) {
    let app = TestApp::start_with(backend, |config| {
        config.retention.keep = HumanDuration::from(Duration::from_secs(2));
        config.retention.interval = HumanDuration::from(Duration::from_millis(200));
        config.retention.batch = 2;
    })
    .await;
    let ok = TestReceiver::start().await;
    let failing = TestReceiver::start().await;
    failing.set_default(Reply::Status(500));
    let short = app.tenant("short").await;
    let long =
        app.post("/v1/tenants", json!({"name": "long", "limits": {"retentionDays": 30}})).await.body["id"]
            .as_str()
            .unwrap()
            .to_owned();
    app.endpoint(&short, json!({"url": ok.url(), "events": ["done.*"]})).await;
    app.endpoint(&short, json!({"url": failing.url(), "events": ["waits.*"]})).await;
    app.endpoint(&long, json!({"url": ok.url()})).await;
    let mut finished = Vec::new();
    for n in 0..5 {
        let event = app.publish(&short, json!({"type": "done.x", "data": {"n": n}})).await;
        finished.push((
            event["id"].as_str().unwrap().to_owned(),
            event["deliveries"][0]["deliveryId"].as_str().unwrap().to_owned(),
        ));
    }
    let waiting = app.publish(&short, json!({"type": "waits.x", "data": {}})).await;
    let waiting_delivery = waiting["deliveries"][0]["deliveryId"].as_str().unwrap().to_owned();
    let kept = app.publish(&long, json!({"type": "done.x", "data": {}})).await;
    let kept_delivery = kept["deliveries"][0]["deliveryId"].as_str().unwrap().to_owned();
    ok.wait_for(6, Duration::from_secs(20)).await;
    let stats = app.get(&format!("/v1/tenants/{long}/stats")).await.body;
    assert_eq!(stats["limits"]["retentionDays"], 30);
    assert_eq!(
        app.get(&format!("/v1/tenants/{short}/stats")).await.body["limits"]["retentionDays"],
        1,
        "2 s, rounded up to a day"
    );

    for (event, delivery) in &finished {
        eventually("a finished delivery to be purged", Duration::from_secs(30), || async {
            (app.get(&format!("/v1/tenants/{short}/deliveries/{delivery}")).await.status == 404).then_some(())
        })
        .await;
        eventually("its event to follow", Duration::from_secs(30), || async {
            (app.get(&format!("/v1/tenants/{short}/events/{event}")).await.status == 404).then_some(())
        })
        .await;
    }
    assert_eq!(
        app.get(&format!("/v1/tenants/{short}/deliveries/{waiting_delivery}")).await.status,
        200,
        "a waiting delivery stays"
    );
    assert_eq!(
        app.get(&format!("/v1/tenants/{long}/deliveries/{kept_delivery}")).await.status,
        200,
        "its tenant keeps 30 days"
    );
    let metrics = app.call(reqwest::Method::GET, "/metrics", Some(&app.admin_key), None).await;
    let text = metrics.body.as_str().unwrap_or_default().to_owned();
    let purged: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("herald_purged_total{what=\"deliveries\"} "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0);
    assert!(purged >= 5.0, "counted: {text}");
}

#[tokio::test]
async fn retention_purges_sqlite() {
    purges_what_the_retention_no_longer_keeps(Backend::Sqlite).await;
}

#[tokio::test]
async fn retention_purges_postgres() {
    purges_what_the_retention_no_longer_keeps(Backend::Postgres).await;
}

#[tokio::test]
async fn payloads_go_before_the_event_and_a_stripped_delivery_cannot_be_retried() {
    let app = TestApp::start_with(Backend::Sqlite, |config| {
        config.retention.keep_payloads = HumanDuration::from(Duration::from_secs(1));
        config.retention.interval = HumanDuration::from(Duration::from_millis(200));
    })
    .await;
    let ok = TestReceiver::start().await;
    let tenant = app.tenant("acme").await;
    app.endpoint(&tenant, json!({"url": ok.url()})).await;
    let event = app.publish(&tenant, json!({"type": "a.b", "data": {"secret": "payload"}})).await;
    let id = event["id"].as_str().unwrap().to_owned();
    let delivery = event["deliveries"][0]["deliveryId"].as_str().unwrap().to_owned();
    app.delivery_with_status(&tenant, &delivery, "delivered").await;
    let stripped = eventually("the payload to be removed", Duration::from_secs(20), || async {
        let e = app.get(&format!("/v1/tenants/{tenant}/events/{id}")).await.body;
        e["payloadRemovedAt"].is_string().then_some(e)
    })
    .await;
    assert_eq!(stripped["data"], json!({}), "{stripped}");
    assert_eq!(stripped["type"], "a.b", "the rest of the event stays");
    // Gone from every row (the file's free pages are reused in time; the rows no longer hold it).
    assert!(
        !herald_testkit::raw::rows(&app).await.contains("\"payload\""),
        "gone from the database's rows too"
    );
    let retry = app.post(&format!("/v1/tenants/{tenant}/deliveries/{delivery}/retry"), json!({})).await;
    retry.assert_problem(409, "payload_removed");
    assert_eq!(
        app.get(&format!("/v1/tenants/{tenant}/deliveries/{delivery}")).await.status,
        200,
        "the delivery stays"
    );
}
