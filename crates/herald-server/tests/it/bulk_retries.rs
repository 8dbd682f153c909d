//! Bulk retries through the API: the matching deliveries, and only those, get a manual attempt;
//! the status resource counts them and says when it is done; input and tenants are checked.

use std::time::Duration;

use herald_testkit::receiver::{Reply, TestReceiver};
use serde_json::{Value, json};

use crate::support::{TestApp, on_both_backends};

const WAIT: Duration = Duration::from_secs(20);

fn delivery_id(event: &Value) -> String {
    event["deliveries"][0]["deliveryId"].as_str().unwrap().to_owned()
}

async fn attempts(app: &TestApp, tenant: &str, id: &str) -> Vec<Value> {
    let d = app.get(&format!("/v1/tenants/{tenant}/deliveries/{id}")).await.body;
    d["attempts"].as_array().cloned().unwrap_or_default()
}

on_both_backends! {
    async fn a_bulk_retry_queues_the_matching_deliveries_again_and_reports_when_done(app) {
        let receiver = TestReceiver::start().await;
        receiver.set_default(Reply::Status(500));
        let tenant = app.tenant("Acme").await;
        let once = json!({"maxAttempts": 1});
        let a = app.endpoint(&tenant, json!({"url": format!("{}/a", receiver.url()), "retryPolicy": once, "events": ["order.*"]})).await;
        let b = app.endpoint(&tenant, json!({"url": format!("{}/b", receiver.url()), "retryPolicy": once, "events": ["other.*"]})).await;
        let mut failed_on_a = Vec::new();
        for n in 0..3 {
            let event = app.publish(&tenant, json!({"type": "order.paid", "data": {"n": n}})).await;
            failed_on_a.push(delivery_id(&event));
        }
        let on_b = app.publish(&tenant, json!({"type": "other.thing", "data": {}})).await;
        assert_eq!(on_b["deliveries"][0]["endpointId"], b["id"]);
        let on_b = delivery_id(&on_b);
        for id in failed_on_a.iter().chain([&on_b]) {
            app.delivery_with_status(&tenant, id, "failed").await;
        }
        receiver.wait_for(4, WAIT).await;

        let since = (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1)).to_string();
        let started = app.post(&format!("/v1/tenants/{tenant}/bulk-retries"), json!({
            "since": since, "status": "failed", "endpointId": a["id"],
        })).await;
        assert_eq!(started.status, 202, "{:?}", started.body);
        let location = started.headers["location"].to_str().unwrap().to_owned();
        assert_eq!(location, format!("/v1/tenants/{tenant}/bulk-retries/{}", started.body["id"].as_str().unwrap()));
        assert_eq!(started.body["filter"]["status"], "failed");
        let done = herald_testkit::eventually("the bulk retry finishes", WAIT, || async {
            let op = app.get(&location).await.body;
            (op["status"] == "done").then_some(op)
        })
        .await;
        assert_eq!(done["retried"], 3);
        assert!(done["finishedAt"].is_string());
        // Each of A's failed deliveries gets a manual attempt; B's and the rest are left alone.
        for id in &failed_on_a {
            let attempts = herald_testkit::eventually("the manual attempt", WAIT, || async {
                let attempts = attempts(&app, &tenant, id).await;
                (attempts.len() == 2).then_some(attempts)
            })
            .await;
            assert_eq!(attempts[1]["trigger"], "manual");
        }
        assert_eq!(attempts(&app, &tenant, &on_b).await.len(), 1);
        assert_eq!(receiver.requests().len(), 7);
    }

    async fn bulk_retries_check_their_input_and_their_tenant(app) {
        let acme = app.tenant("Acme").await;
        let globex = app.tenant("Globex").await;
        let base = format!("/v1/tenants/{acme}/bulk-retries");
        let r = app.post(&base, json!({"status": "failed"})).await;
        r.assert_problem(422, "validation_failed");
        assert_eq!(r.error_paths(), ["/since"], "the missing field itself");
        let r = app.post(&base, json!({"since": "2030-01-02T00:00:00Z", "until": "2030-01-01T00:00:00Z"})).await;
        assert_eq!(r.error_paths(), ["/since"]);
        for bad in [json!({"since": "yesterday"}), json!({"since": "2026-01-01T00:00:00Z", "status": "lost"}), json!({"since": "2026-01-01T00:00:00Z", "everything": true})] {
            app.post(&base, bad).await.assert_problem(422, "validation_failed");
        }
        let started = app.post(&base, json!({"since": "2026-01-01T00:00:00Z"})).await;
        assert_eq!(started.status, 202);
        let id = started.body["id"].as_str().unwrap();
        // Another tenant's key sees neither the route nor the operation.
        let key = app.tenant_key(&globex).await;
        let foreign = app.call(reqwest::Method::GET, &format!("{base}/{id}"), Some(&key), None).await;
        foreign.assert_problem(404, "not_found");
        let foreign = app.call(reqwest::Method::POST, &base, Some(&key), Some(&json!({"since": "2026-01-01T00:00:00Z"}))).await;
        foreign.assert_problem(404, "not_found");
        let theirs = app.call(reqwest::Method::GET, &format!("/v1/tenants/{globex}/bulk-retries/{id}"), Some(&key), None).await;
        theirs.assert_problem(404, "not_found");
        app.get(&format!("{base}/blk_01JD3Y3M5Q8W3N8K3V9W2X7Z4A")).await.assert_problem(404, "not_found");
        app.get(&format!("{base}/not-an-id")).await.assert_problem(404, "not_found");
    }
}

/// A bulk retry whose runner died (its row left unfinished, not advanced for a while) is taken
/// up again (by an instance that starts, or by one noticing it was not advanced) and finished
/// from its cursor, without queueing again the page done before.
#[tokio::test]
async fn an_abandoned_bulk_retry_is_resumed_from_its_cursor() {
    let app = TestApp::start(crate::support::Backend::Postgres).await;
    let receiver = TestReceiver::start().await;
    receiver.set_default(Reply::Status(500));
    let tenant = app.tenant("Acme").await;
    app.endpoint(&tenant, json!({"url": receiver.url(), "retryPolicy": {"maxAttempts": 1}})).await;
    let mut ids = Vec::new();
    for n in 0..3 {
        let event = app.publish(&tenant, json!({"type": "order.paid", "data": {"n": n}})).await;
        ids.push(delivery_id(&event));
    }
    for id in &ids {
        app.delivery_with_status(&tenant, id, "failed").await;
    }
    ids.sort();
    // As a process that died after its first page: the newest delivery done, two to go.
    let tenant_id = app.get(&format!("/v1/tenants/{tenant}")).await.body["id"].as_str().unwrap().to_owned();
    let long_ago = jiff::Timestamp::now().as_millisecond() - 3_600_000;
    let inserted = herald_testkit::raw::execute(
        &app,
        &format!(
            "INSERT INTO bulk_retries (id, tenant_id, filter, cursor, retried, created_at, updated_at, finished_at)
             VALUES ('blk_01JD3Y3M5Q8W3N8K3V9W2X7Z4A', '{tenant_id}', '{{\"since\":\"2020-01-01T00:00:00Z\",\"status\":\"failed\"}}',
                     '{}', 1, {long_ago}, {long_ago}, NULL)",
            ids[2]
        ),
    )
    .await;
    assert_eq!(inserted, 1);
    let other = app.another_instance(|_| {}).await;
    let location = format!("/v1/tenants/{tenant}/bulk-retries/blk_01JD3Y3M5Q8W3N8K3V9W2X7Z4A");
    let done = herald_testkit::eventually("the resumed bulk retry finishes", WAIT, || async {
        let op = other.get(&location).await.body;
        (op["status"] == "done").then_some(op)
    })
    .await;
    assert_eq!(done["retried"], 3, "one before the restart, two after");
    for id in &ids[..2] {
        let attempts = herald_testkit::eventually("the manual attempt", WAIT, || async {
            let attempts = attempts(&other, &tenant, id).await;
            (attempts.len() == 2).then_some(attempts)
        })
        .await;
        assert_eq!(attempts[1]["trigger"], "manual");
    }
    assert_eq!(
        attempts(&app, &tenant, &ids[2]).await.len(),
        1,
        "the page before the restart is not queued twice"
    );
}
