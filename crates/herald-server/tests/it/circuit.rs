//! Endpoint health: the circuit breaker holds a failing endpoint's queue and probes it with one
//! delivery at a time; a successful probe drains the backlog; an endpoint failing continuously
//! for `delivery.disable_after` is disabled, and re-enabling it resumes delivery.

use std::time::Duration;

use herald_testkit::receiver::{Reply, TestReceiver};
use herald_testkit::{Backend, TestApp, eventually, on_both_backends};
use serde_json::{Value, json};

async fn app_with(backend: Backend, threshold: u32, disable_after: &str) -> TestApp {
    let disable_after = herald_core::duration::HumanDuration::parse(disable_after).unwrap();
    TestApp::start_with(backend, |c| {
        c.delivery.timeout = herald_core::duration::HumanDuration::from_secs(1);
        c.delivery.circuit_failure_threshold = threshold;
        c.delivery.disable_after = disable_after;
    })
    .await
}

async fn circuit(app: &TestApp, tenant: &str, ep: &str) -> Value {
    app.get(&format!("/v1/tenants/{tenant}/endpoints/{ep}/stats")).await.body["circuit"].clone()
}

async fn deliveries(app: &TestApp, tenant: &str, ep: &str) -> Vec<Value> {
    let page = app.get(&format!("/v1/tenants/{tenant}/deliveries?endpointId={ep}&limit=100")).await;
    page.body["data"].as_array().unwrap().clone()
}

// Ten deliveries to an endpoint answering 500, retried every second. Without the breaker each
// would be retried once a second; with it (threshold 3) the endpoint gets one probe per second
// and the queue waits uncharged, until a probe succeeds and the backlog drains.
on_both_backends! {
    async fn an_open_circuit_holds_the_queue_and_probes_one_at_a_time(backend: Backend) {
        let app = app_with(backend, 3, "5d").await;
        let receiver = TestReceiver::start().await;
        receiver.set_default(Reply::Status(500));
        let tenant = app.tenant("Acme").await;
        let policy = json!({"delays": ["1s"], "maxAttempts": 50, "jitter": 0.0});
        let limit = json!({"perSecond": 4});
        let endpoint =
            app.endpoint(&tenant, json!({"url": receiver.url(), "retryPolicy": policy, "rateLimit": limit})).await;
        let ep = endpoint["id"].as_str().unwrap().to_owned();
        assert_eq!(circuit(&app, &tenant, &ep).await["state"], "closed");
        for i in 0..10 {
            app.publish(&tenant, json!({"type": "t.x", "data": {"i": i}})).await;
        }
        receiver.wait_for(3, Duration::from_secs(10)).await;
        let opened = eventually("the circuit to open", Duration::from_secs(10), || async {
            let c = circuit(&app, &tenant, &ep).await;
            (c["state"] != "closed").then_some(c)
        })
        .await;
        assert!(opened["failingSince"].is_string() && opened["nextProbeAt"].is_string(), "{opened}");

        // Open for four seconds: a probe a second at most, not ten retries a second.
        let before = receiver.requests().len();
        tokio::time::sleep(Duration::from_secs(4)).await;
        let during = receiver.requests().len() - before;
        assert!(during <= 5, "{during} requests while the circuit was open");
        let probed = circuit(&app, &tenant, &ep).await;
        assert!(probed["failedProbes"].as_u64().unwrap() >= 1, "probes were sent and failed: {probed}");

        // The endpoint comes back: the next probe succeeds and the backlog drains, within the
        // rate limit (4 per second: at least a second for the nine or so that waited).
        let closed_from = receiver.requests().len();
        receiver.set_default(Reply::Status(204));
        eventually("every delivery to arrive", Duration::from_secs(20), || async {
            let all = deliveries(&app, &tenant, &ep).await;
            all.iter().all(|d| d["status"] == "delivered").then_some(())
        })
        .await;
        assert_eq!(circuit(&app, &tenant, &ep).await["state"], "closed");
        let drained = receiver.requests()[closed_from..].to_vec();
        assert!(drained.len() >= 9, "{} requests after the endpoint came back", drained.len());
        let span = drained.last().unwrap().at.duration_since(drained[0].at);
        assert!(span >= Duration::from_millis(900), "{} deliveries drained in {span:?}", drained.len());
        let all = deliveries(&app, &tenant, &ep).await;
        let attempts: u64 = all.iter().map(|d| d["attemptCount"].as_u64().unwrap()).sum();
        assert_eq!(attempts as usize, receiver.requests().len(), "every request is an attempt on record");
        // Waiting cost nothing: a delivery was sent at most once before the circuit opened and once
        // after it closed, unless it carried probes (the earliest waiting delivery is the probe).
        let probed = all.iter().filter(|d| d["attemptCount"].as_u64().unwrap() > 2).count();
        assert!(probed <= during.max(1), "only probes add attempts: {all:?}");
    }
}

// Failing for longer than `disable_after` disables the endpoint, with the reason stored; its
// queue is kept as failed (`endpoint_disabled`), and re-enabling plus recover delivers it.
on_both_backends! {
    async fn failing_continuously_disables_and_reenabling_resumes(backend: Backend) {
        let app = app_with(backend, 2, "3s").await;
        let receiver = TestReceiver::start().await;
        receiver.set_default(Reply::Status(503));
        let tenant = app.tenant("Acme").await;
        let policy = json!({"delays": ["500ms"], "maxAttempts": 100, "jitter": 0.0});
        let endpoint = app.endpoint(&tenant, json!({"url": receiver.url(), "retryPolicy": policy})).await;
        let ep = endpoint["id"].as_str().unwrap().to_owned();
        for i in 0..3 {
            app.publish(&tenant, json!({"type": "t.x", "data": {"i": i}})).await;
        }
        let shown = eventually("the endpoint to be disabled", Duration::from_secs(20), || async {
            let e = app.get(&format!("/v1/tenants/{tenant}/endpoints/{ep}")).await.body;
            (e["enabled"] == false).then_some(e)
        })
        .await;
        let reason = shown["disabledReason"].as_str().unwrap();
        assert!(reason.contains("failing continuously since"), "{reason}");
        let all = eventually("the queue to be kept as failed", Duration::from_secs(10), || async {
            let all = deliveries(&app, &tenant, &ep).await;
            all.iter().all(|d| d["status"] == "failed").then_some(all)
        })
        .await;
        assert!(all.iter().all(|d| d["failureReason"] == "endpoint_disabled"), "{all:?}");
        let sent = receiver.requests().len();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(receiver.requests().len(), sent, "nothing is sent to a disabled endpoint");

        receiver.set_default(Reply::Status(204));
        let enabled = app.patch(&format!("/v1/tenants/{tenant}/endpoints/{ep}"), json!({"enabled": true})).await;
        assert_eq!((enabled.status, &enabled.body["disabledReason"]), (200, &Value::Null));
        assert_eq!(circuit(&app, &tenant, &ep).await["state"], "closed", "re-enabling starts afresh");
        let r = app
            .post(
                &format!("/v1/tenants/{tenant}/endpoints/{ep}/recover"),
                json!({"since": "2000-01-01T00:00:00Z"}),
            )
            .await;
        assert_eq!(r.body["recovered"], 3);
        eventually("the kept deliveries to arrive", Duration::from_secs(20), || async {
            let all = deliveries(&app, &tenant, &ep).await;
            all.iter().all(|d| d["status"] == "delivered").then_some(())
        })
        .await;
        // New events flow again by themselves.
        let fresh = app.publish(&tenant, json!({"type": "t.x", "data": {"after": true}})).await;
        app.delivery_with_status(&tenant, fresh["deliveries"][0]["deliveryId"].as_str().unwrap(), "delivered").await;
    }
}

// Attempts still in flight when the circuit opens are retried after its hold, like the
// deliveries that were waiting: not at their own retry time, which falls inside the hold and would
// only have them claimed to be held again. Six requests go out at once; three fail at once and
// open the circuit (threshold 3), the other three fail 700 ms later.
on_both_backends! {
    async fn attempts_failing_after_the_circuit_opened_retry_after_its_hold(backend: Backend) {
        let app = app_with(backend, 3, "5d").await;
        let receiver = TestReceiver::start().await;
        receiver.script([Reply::Status(500), Reply::Status(500), Reply::Status(500)]);
        receiver.set_default(Reply::Delay(Duration::from_millis(700), 500));
        let tenant = app.tenant("Acme").await;
        let policy = json!({"delays": ["2s"], "maxAttempts": 5, "jitter": 0.0});
        let endpoint = app.endpoint(&tenant, json!({"url": receiver.url(), "retryPolicy": policy})).await;
        let ep = endpoint["id"].as_str().unwrap().to_owned();
        let publishes = (0..6).map(|i| app.publish(&tenant, json!({"type": "t.x", "data": {"i": i}})));
        futures::future::join_all(publishes).await;
        let retrying = eventually("six failed attempts on record", Duration::from_secs(10), || async {
            let all = deliveries(&app, &tenant, &ep).await;
            let failed_once = all.iter().filter(|d| d["attemptCount"] == 1 && d["status"] == "retrying");
            (failed_once.count() == 6).then_some(all)
        })
        .await;
        let open = circuit(&app, &tenant, &ep).await;
        assert_eq!(open["state"], "open", "{open}");
        assert_eq!(receiver.requests().len(), 6, "no probe yet: the first is two seconds after the opening");
        let probe_at: jiff::Timestamp = open["nextProbeAt"].as_str().unwrap().parse().unwrap();
        // The hold runs to the probe plus the probe's own time (the 1 s timeout and 2 s).
        let held_until = probe_at + jiff::SignedDuration::from_secs(3);
        for delivery in &retrying {
            let next: jiff::Timestamp = delivery["nextAttemptAt"].as_str().unwrap().parse().unwrap();
            assert!(next >= held_until, "retry at {next}, inside the hold to {held_until}: {delivery}");
        }
    }
}

// A manual retry goes out even while the circuit is open, and its success closes the circuit and
// releases what the circuit held (here, an event published while it was open).
on_both_backends! {
    async fn a_manual_retry_bypasses_an_open_circuit_and_closes_it(backend: Backend) {
        let app = app_with(backend, 1, "5d").await;
        let receiver = TestReceiver::start().await;
        receiver.set_default(Reply::Status(500));
        let tenant = app.tenant("Acme").await;
        let policy = json!({"delays": ["1h"], "maxAttempts": 5});
        let endpoint = app.endpoint(&tenant, json!({"url": receiver.url(), "retryPolicy": policy})).await;
        let ep = endpoint["id"].as_str().unwrap().to_owned();
        let event = app.publish(&tenant, json!({"type": "t.x", "data": {}})).await;
        let id = event["deliveries"][0]["deliveryId"].as_str().unwrap().to_owned();
        app.delivery_with_status(&tenant, &id, "retrying").await;
        eventually("the circuit to open", Duration::from_secs(10), || async {
            (circuit(&app, &tenant, &ep).await["state"] == "open").then_some(())
        })
        .await;
        // Published while the circuit is open: stored, held until the probe (an hour away).
        let probe_at = circuit(&app, &tenant, &ep).await["nextProbeAt"].as_str().unwrap().to_owned();
        let later = app.publish(&tenant, json!({"type": "t.x", "data": {"later": true}})).await;
        let held = &later["deliveries"][0];
        assert_eq!(held["status"], "pending");
        let held_until = held["nextAttemptAt"].as_str().unwrap();
        assert!(held_until > probe_at.as_str(), "held past the probe: {held_until} vs {probe_at}");
        let later_id = held["deliveryId"].as_str().unwrap().to_owned();
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(receiver.requests().len(), 1, "nothing but the first attempt was sent");

        receiver.set_default(Reply::Status(204));
        let retried = app.post(&format!("/v1/tenants/{tenant}/deliveries/{id}/retry"), json!({})).await;
        assert!(retried.status < 300, "{}", retried.body);
        app.delivery_with_status(&tenant, &id, "delivered").await;
        eventually("the circuit to close", Duration::from_secs(10), || async {
            (circuit(&app, &tenant, &ep).await["state"] == "closed").then_some(())
        })
        .await;
        // Closing released what was held.
        let released = app.delivery_with_status(&tenant, &later_id, "delivered").await;
        assert_eq!(released["attemptCount"], 1);
    }
}

/// Two instances on one PostgreSQL database share the circuit: one opens it, the other publishes
/// into it (held, not sent), and closing it — whichever instance does — releases what was held.
#[tokio::test]
async fn instances_share_an_open_circuit_postgres() {
    let configure = |c: &mut herald_server::Config| {
        c.delivery.circuit_failure_threshold = 1;
    };
    let a = TestApp::start_with(Backend::Postgres, configure).await;
    let b = a.another_instance(configure).await;
    let receiver = TestReceiver::start().await;
    receiver.set_default(Reply::Status(500));
    let tenant = a.tenant("Acme").await;
    let policy = json!({"delays": ["1h"], "maxAttempts": 5});
    let endpoint = a.endpoint(&tenant, json!({"url": receiver.url(), "retryPolicy": policy})).await;
    let ep = endpoint["id"].as_str().unwrap().to_owned();
    let first = a.publish(&tenant, json!({"type": "t.x", "data": {}})).await;
    let first = first["deliveries"][0]["deliveryId"].as_str().unwrap().to_owned();
    a.delivery_with_status(&tenant, &first, "retrying").await;
    let open = eventually("the circuit to open", Duration::from_secs(10), || async {
        let c = circuit(&b, &tenant, &ep).await;
        (c["state"] == "open").then_some(c)
    })
    .await;

    // Published through the other instance: held behind the shared circuit.
    let second = b.publish(&tenant, json!({"type": "t.x", "data": {"via": "b"}})).await;
    let held = &second["deliveries"][0];
    assert!(held["nextAttemptAt"].as_str().unwrap() > open["nextProbeAt"].as_str().unwrap(), "{held}");
    let second = held["deliveryId"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.requests().len(), 1, "only the first attempt was sent");

    receiver.set_default(Reply::Status(204));
    let retried = b.post(&format!("/v1/tenants/{tenant}/deliveries/{first}/retry"), json!({})).await;
    assert!(retried.status < 300, "{}", retried.body);
    a.delivery_with_status(&tenant, &first, "delivered").await;
    let released = b.delivery_with_status(&tenant, &second, "delivered").await;
    assert_eq!(released["attemptCount"], 1);
    assert_eq!(circuit(&a, &tenant, &ep).await["state"], "closed");
}
