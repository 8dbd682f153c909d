//! Flow control: per-endpoint in-flight caps and rate limits make deliveries wait — never fail,
//! never cost an attempt — and neither a hanging endpoint nor a tenant of hanging endpoints can
//! take every worker.

use std::time::Duration;

use herald_testkit::receiver::{Reply, TestReceiver};
use herald_testkit::{TestApp, on_both_backends};
use reqwest::Method;
use serde_json::{Value, json};

async fn publish_n(app: &TestApp, tenant: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let event = app.publish(tenant, json!({"type": "t.x", "data": {"i": i}})).await;
        ids.push(event["deliveries"][0]["deliveryId"].as_str().unwrap().to_owned());
    }
    ids
}

/// Tenant "Stuck" gets `endpoints` endpoints on one receiver that never answers and `events`
/// events (each owed to all of them); then tenant "Fine" publishes 10 events to a healthy
/// receiver, which must all be delivered, once each, within 8 s. Returns the most requests the
/// stuck tenant had in flight at once.
async fn stuck_next_to_fine(app: &TestApp, endpoints: usize, events: usize) -> usize {
    let hanging = TestReceiver::start().await;
    hanging.set_default(Reply::Hang);
    let healthy = TestReceiver::start().await;
    let stuck = app.tenant("Stuck").await;
    for _ in 0..endpoints {
        app.endpoint(&stuck, json!({"url": hanging.url()})).await;
    }
    publish_n(app, &stuck, events).await;
    let fine = app.tenant("Fine").await;
    app.endpoint(&fine, json!({"url": healthy.url()})).await;
    let ids = publish_n(app, &fine, 10).await;
    healthy.wait_for(10, Duration::from_secs(8)).await;
    all_delivered_once(app, &fine, &ids).await;
    hanging.peak_concurrency()
}

/// A request that never gets an answer stays in flight for the whole test (no timeout, and the
/// lease outlasts it), so in-flight counts hold still while a test looks at them.
fn requests_hang_through_the_test(c: &mut herald_server::config::Config) {
    c.delivery.timeout = Duration::from_secs(60).into();
    c.delivery.lease = Duration::from_secs(120).into();
}

async fn all_delivered_once(app: &TestApp, tenant: &str, ids: &[String]) {
    for id in ids {
        let d: Value = app.delivery_with_status(tenant, id, "delivered").await;
        assert_eq!(d["attemptCount"], 1, "waiting cost no attempt: {d}");
    }
}

on_both_backends! {
    async fn max_in_flight_caps_concurrent_requests(app) {
        let receiver = TestReceiver::start().await;
        receiver.set_default(Reply::Delay(Duration::from_millis(200), 204));
        let tenant = app.tenant("Acme").await;
        app.endpoint(&tenant, json!({"url": receiver.url(), "rateLimit": {"maxInFlight": 2}})).await;
        let ids = publish_n(&app, &tenant, 8).await;
        all_delivered_once(&app, &tenant, &ids).await;
        assert_eq!(receiver.requests().len(), 8);
        assert!(receiver.peak_concurrency() <= 2, "peak {}", receiver.peak_concurrency());
    }

    async fn per_second_spreads_deliveries_out(app) {
        let receiver = TestReceiver::start().await;
        let tenant = app.tenant("Acme").await;
        app.endpoint(&tenant, json!({"url": receiver.url(), "rateLimit": {"perSecond": 5}})).await;
        let ids = publish_n(&app, &tenant, 15).await;
        all_delivered_once(&app, &tenant, &ids).await;
        let requests = receiver.requests();
        assert_eq!(requests.len(), 15);
        // A full bucket lets 5 go at once; the other 10 need 2 s of refill at 5 per second.
        let span = requests.last().unwrap().at.duration_since(requests[0].at);
        assert!(span >= Duration::from_millis(1800), "15 deliveries at 5/s took only {span:?}");
    }
}

// With 8 workers and a cap of 4 per endpoint, an endpoint that never answers holds at most 4;
// a healthy endpoint keeps being served (without the cap, 100 hanging deliveries × 2 s timeouts
// over 8 workers would keep it waiting for about 25 s).
on_both_backends! {
    async fn a_hanging_endpoint_cannot_take_every_worker(backend: Backend) {
        let app = TestApp::start_with(backend, |c| {
            c.delivery.workers = 8;
            c.delivery.endpoint_max_in_flight = Some(4);
        })
        .await;
        let peak = stuck_next_to_fine(&app, 1, 100).await;
        assert!(peak <= 4, "the hanging endpoint held {peak} workers");
    }
}

on_both_backends! {
    async fn a_disabled_endpoint_loses_nothing_and_recover_sends_it_later(app) {
        let receiver = TestReceiver::start().await;
        let tenant = app.tenant("Acme").await;
        let endpoint = app.endpoint(&tenant, json!({"url": receiver.url(), "enabled": false})).await;
        let ep = endpoint["id"].as_str().unwrap();
        let event = app.publish(&tenant, json!({"type": "t.x", "data": {}})).await;
        let id = event["deliveries"][0]["deliveryId"].as_str().unwrap();
        let d = app.get(&format!("/v1/tenants/{tenant}/deliveries/{id}")).await.body;
        assert_eq!((d["status"].as_str(), d["failureReason"].as_str()), (Some("failed"), Some("endpoint_disabled")));
        assert_eq!(d["attempts"], json!([]), "no attempt");
        let failed = app.get(&format!("/v1/tenants/{tenant}/deliveries?status=failed&endpointId={ep}")).await;
        assert_eq!(failed.body["data"].as_array().unwrap().len(), 1, "it shows in the delivery log");

        assert_eq!(app.patch(&format!("/v1/tenants/{tenant}/endpoints/{ep}"), json!({"enabled": true})).await.status, 200);
        let r = app.post(&format!("/v1/tenants/{tenant}/endpoints/{ep}/recover"), json!({"since": "2000-01-01T00:00:00Z"})).await;
        assert_eq!(r.body["recovered"], 1);
        let delivered = app.delivery_with_status(&tenant, id, "delivered").await;
        assert_eq!(delivered["attemptCount"], 1);
        assert_eq!(receiver.requests().len(), 1);
    }
}

on_both_backends! {
    async fn gone_disables_the_endpoint_at_once(app) {
        let receiver = TestReceiver::start().await;
        receiver.script([Reply::Status(410)]);
        let tenant = app.tenant("Acme").await;
        let endpoint = app.endpoint(&tenant, json!({"url": receiver.url(), "retryPolicy": {"maxAttempts": 5}})).await;
        let ep = endpoint["id"].as_str().unwrap();
        let first = app.publish(&tenant, json!({"type": "t.x", "data": {}})).await;
        let d = app.delivery_with_status(&tenant, first["deliveries"][0]["deliveryId"].as_str().unwrap(), "failed").await;
        assert_eq!((d["failureReason"].as_str(), d["attemptCount"].as_u64()), (Some("endpoint_gone"), Some(1)), "no retries after 410");
        let shown = app.get(&format!("/v1/tenants/{tenant}/endpoints/{ep}")).await.body;
        assert_eq!(shown["enabled"], false);
        assert!(shown["disabledReason"].as_str().unwrap().contains("410"), "{shown}");

        // Published while disabled: kept as failed, not sent.
        let second = app.publish(&tenant, json!({"type": "t.x", "data": {}})).await;
        assert_eq!(second["deliveries"][0]["failureReason"], "endpoint_disabled");
        // Re-enabling clears the reason; recover sends what was kept.
        let enabled = app.patch(&format!("/v1/tenants/{tenant}/endpoints/{ep}"), json!({"enabled": true})).await;
        assert_eq!(enabled.body["disabledReason"], Value::Null);
        app.post(&format!("/v1/tenants/{tenant}/endpoints/{ep}/recover"), json!({"since": "2000-01-01T00:00:00Z"})).await;
        app.delivery_with_status(&tenant, second["deliveries"][0]["deliveryId"].as_str().unwrap(), "delivered").await;
    }
}

on_both_backends! {
    async fn endpoint_stats_count_statuses_success_rate_latency_and_backlog(app) {
        let receiver = TestReceiver::start().await;
        receiver.script([Reply::Status(500), Reply::Status(500)]);
        let tenant = app.tenant("Acme").await;
        let endpoint = app.endpoint(&tenant, json!({"url": receiver.url(), "retryPolicy": {"maxAttempts": 1}})).await;
        let ep = endpoint["id"].as_str().unwrap();
        for _ in 0..4 {
            let event = app.publish(&tenant, json!({"type": "t.x", "data": {}})).await;
            let id = event["deliveries"][0]["deliveryId"].as_str().unwrap().to_owned();
            herald_testkit::eventually("the delivery to finish", Duration::from_secs(20), || async {
                let d = app.get(&format!("/v1/tenants/{tenant}/deliveries/{id}")).await.body;
                (d["status"] == "delivered" || d["status"] == "failed").then_some(())
            })
            .await;
        }
        let stats = app.get(&format!("/v1/tenants/{tenant}/endpoints/{ep}/stats")).await;
        assert_eq!(stats.status, 200, "{}", stats.body);
        let s = stats.body;
        assert_eq!(s["deliveries"], json!({"pending": 0, "retrying": 0, "delivered": 2, "failed": 2}));
        assert_eq!(s["successRate"], 0.5);
        assert_eq!((s["attempts"].as_u64(), s["attemptsSucceeded"].as_u64()), (Some(4), Some(2)));
        let latency = &s["attemptLatencyMs"];
        assert!(latency["p50"].as_u64().unwrap() <= latency["max"].as_u64().unwrap());
        assert_eq!(s["backlog"], 0);
        assert_eq!(s["slow"], false, "fast answers: not slow");

        let empty = app.get(&format!("/v1/tenants/{tenant}/endpoints/{ep}/stats?since=2999-01-01T00:00:00Z&until=2999-01-02T00:00:00Z")).await;
        assert_eq!(empty.body["successRate"], Value::Null);
        assert_eq!(empty.body["attemptLatencyMs"], Value::Null);
        assert_eq!(empty.body["deliveries"]["delivered"], 0);
        app.get(&format!("/v1/tenants/{tenant}/endpoints/{ep}/stats?since=2999-01-02T00:00:00Z&until=2999-01-01T00:00:00Z")).await
            .assert_problem(422, "validation_failed");
    }
}

// With 8 workers, a cap of 4 per endpoint and 3 per tenant, a tenant with four endpoints that
// never answer holds at most 3 workers in all (its endpoints' caps alone would let it take all
// 8), and another tenant keeps being served; the waiting deliveries are not charged an attempt.
on_both_backends! {
    async fn a_tenant_of_hanging_endpoints_holds_only_its_share(backend: Backend) {
        let app = TestApp::start_with(backend, |c| {
            c.delivery.workers = 8;
            c.delivery.endpoint_max_in_flight = Some(4);
            c.delivery.tenant_max_in_flight = Some(3);
        })
        .await;
        let peak = stuck_next_to_fine(&app, 4, 20).await;
        assert!((1..=3).contains(&peak), "the hanging tenant held {peak} workers (at most its share, and some)");
    }
}

// A tenant publishing beyond `tenant_publish_per_second` gets 429 with `Retry-After` and nothing
// is stored; another tenant is not held back, and the quota refills.
on_both_backends! {
    async fn a_tenant_beyond_its_publish_quota_is_answered_429(backend: Backend) {
        let app = TestApp::start_with(backend, |c| c.tenant_publish_per_second = Some(3)).await;
        let (busy, quiet) = (app.tenant("Busy").await, app.tenant("Quiet").await);
        let path = format!("/v1/tenants/{busy}/events");
        let mut refused = None;
        for i in 0..10 {
            let r = app.post(&path, json!({"id": format!("e{i}"), "type": "t.x", "data": {"i": i}})).await;
            if r.status == 429 {
                refused = Some((i, r));
                break;
            }
            assert_eq!(r.status, 201, "{}", r.body);
        }
        let (i, r) = refused.expect("the fourth publish within a second is refused");
        assert!(i >= 3, "a second's worth (3) goes through first, refused at {i}");
        r.assert_problem(429, "rate_limited");
        let wait: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=2).contains(&wait), "Retry-After: {wait}");
        let stored = app.get(&format!("/v1/tenants/{busy}/events/e{i}")).await;
        assert_eq!(stored.status, 404, "nothing of the refused publish is stored");
        app.publish(&quiet, json!({"type": "t.x", "data": {}})).await;
        tokio::time::sleep(Duration::from_secs(wait)).await;
        let again = app.post(&path, json!({"id": format!("e{i}"), "type": "t.x", "data": {"i": i}})).await;
        assert_eq!(again.status, 201, "after Retry-After the quota has refilled: {}", again.body);
    }
}

// An endpoint whose receiver takes longer than `delivery.slow_threshold` is flagged slow in its
// stats (it succeeds: its circuit stays closed); a fast one of the same tenant is not.
on_both_backends! {
    async fn an_endpoint_slower_than_the_threshold_is_flagged_slow(backend: Backend) {
        let app = TestApp::start_with(backend, |c| {
            c.delivery.slow_threshold = Duration::from_millis(150).into();
        })
        .await;
        let (slow, fast) = (TestReceiver::start().await, TestReceiver::start().await);
        slow.set_default(Reply::Delay(Duration::from_millis(300), 204));
        let tenant = app.tenant("Acme").await;
        let slow_ep = app.endpoint(&tenant, json!({"url": slow.url(), "events": ["t.slow"]})).await;
        let fast_ep = app.endpoint(&tenant, json!({"url": fast.url(), "events": ["t.fast"]})).await;
        for kind in ["t.slow", "t.fast"] {
            let mut ids = Vec::new();
            for _ in 0..3 {
                let event = app.publish(&tenant, json!({"type": kind, "data": {}})).await;
                ids.push(event["deliveries"][0]["deliveryId"].as_str().unwrap().to_owned());
            }
            all_delivered_once(&app, &tenant, &ids).await;
        }
        for (endpoint, expected) in [(&slow_ep, true), (&fast_ep, false)] {
            let ep = endpoint["id"].as_str().unwrap();
            let stats = app.get(&format!("/v1/tenants/{tenant}/endpoints/{ep}/stats")).await.body;
            assert_eq!(stats["slow"], expected, "{stats}");
            assert_eq!(stats["circuit"]["state"], "closed", "slow is not failing: {stats}");
        }
    }
}

// A tenant's own in-flight limit (set by an admin, not by the tenant) replaces the instance's
// default at once — raising it lets waiting deliveries go without any request finishing — and the
// tenant's stats show its requests in flight, its waiting deliveries and its backlog.
on_both_backends! {
    async fn a_tenant_limit_of_its_own_applies_at_once_and_shows_in_its_stats(backend: Backend) {
        let app = TestApp::start_with(backend, |c| {
            c.delivery.workers = 16;
            c.delivery.endpoint_max_in_flight = Some(8);
            c.delivery.tenant_max_in_flight = Some(6);
            requests_hang_through_the_test(c);
        })
        .await;
        let hanging = TestReceiver::start().await;
        hanging.set_default(Reply::Hang);
        let created = app.post("/v1/tenants", json!({"name": "Limited", "limits": {"maxInFlight": 2}})).await;
        assert_eq!(created.status, 201, "{}", created.body);
        assert_eq!(created.body["limits"], json!({"maxInFlight": 2, "publishPerSecond": null, "retentionDays": null}));
        let tenant = created.body["id"].as_str().unwrap().to_owned();
        let key = app.tenant_key(&tenant).await;
        let own_patch = app
            .call(Method::PATCH, &format!("/v1/tenants/{tenant}"), Some(&key), Some(&json!({"limits": {"maxInFlight": 100}})))
            .await;
        own_patch.assert_problem(403, "forbidden");
        for _ in 0..3 {
            app.endpoint(&tenant, json!({"url": hanging.url()})).await;
        }
        publish_n(&app, &tenant, 4).await; // 12 deliveries
        let stats_path = format!("/v1/tenants/{tenant}/stats");
        let settled_at = |in_flight: u64, waiting: u64| {
            let (app, path, key) = (&app, &stats_path, &key);
            herald_testkit::eventually("the tenant's stats to settle", Duration::from_secs(10), move || async move {
                let r = app.call(Method::GET, path, Some(key), None).await;
                assert_eq!(r.status, 200, "the tenant's own key reads its stats: {}", r.body);
                (r.body["inFlight"] == in_flight && r.body["waiting"] == waiting).then_some(r.body)
            })
        };
        let stats = settled_at(2, 10).await;
        assert_eq!(stats["backlog"], 12, "{stats}");
        assert_eq!(stats["limits"], json!({"maxInFlight": 2, "publishPerSecond": null, "retentionDays": 90}));
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(hanging.requests().len(), 2, "its own limit of 2, not the default 6");

        let raised = app.patch(&format!("/v1/tenants/{tenant}"), json!({"limits": {"maxInFlight": 5}})).await;
        assert_eq!(raised.status, 200, "{}", raised.body);
        settled_at(5, 7).await;
        assert_eq!(hanging.requests().len(), 5, "three more went as soon as the limit was raised");

        let cleared = app.patch(&format!("/v1/tenants/{tenant}"), json!({"limits": {}})).await;
        assert_eq!(cleared.body["limits"], json!({"maxInFlight": null, "publishPerSecond": null, "retentionDays": null}));
        let stats = settled_at(6, 6).await;
        assert_eq!(stats["limits"]["maxInFlight"], 6, "back to the instance's default");
        let other = app.tenant("Default").await;
        let stats = app.get(&format!("/v1/tenants/{other}/stats")).await.body;
        assert_eq!(stats, json!({"inFlight": 0, "waiting": 0, "backlog": 0, "limits": {"maxInFlight": 6, "publishPerSecond": null, "retentionDays": 90}}));
        let bad = app.patch(&format!("/v1/tenants/{tenant}"), json!({"limits": {"maxInFlight": 0}})).await;
        bad.assert_problem(422, "validation_failed");
    }
}

// Within a quota, a burst beyond a tenth of a second's worth (at least ten) is paced, not refused:
// of thirty publishes at once under a quota of 20 per second, the second's worth (20) is stored —
// the ten beyond the burst answered a quota interval (50 ms) apart — and the other ten are refused
// at once with nothing stored.
on_both_backends! {
    async fn a_burst_within_the_quota_is_paced_not_refused(backend: Backend) {
        let app = TestApp::start_with(backend, |c| c.tenant_publish_per_second = Some(20)).await;
        let bulk = app.tenant("Bulk").await;
        let path = format!("/v1/tenants/{bulk}/events");
        let started = std::time::Instant::now();
        let publishes = (0..30).map(|i| {
            let (app, path) = (&app, &path);
            async move {
                let r = app.post(path, json!({"type": "t.x", "data": {"i": i}})).await;
                (r.status, started.elapsed())
            }
        });
        let answered = futures::future::join_all(publishes).await;
        let at = |status: u16| answered.iter().filter(move |(s, _)| *s == status).map(|(_, at)| *at);
        // Thirty requests take a moment to arrive: on a loaded machine, when they arrive spread
        // over more than one quota interval (50 ms), each interval earns one more turn.
        let (stored_n, refused_n) = (at(201).count(), at(429).count());
        assert!((20..=22).contains(&stored_n) && stored_n + refused_n == 30, "{answered:?}");
        let last_stored = at(201).max().unwrap();
        assert!(last_stored >= Duration::from_millis(480), "the tenth beyond the burst waited its turn: {last_stored:?}");
        assert!(at(429).all(|refused| refused < last_stored), "the refused were not kept waiting: {answered:?}");
        let stored = app.get(&format!("{path}?limit=100")).await;
        assert_eq!(stored.body["data"].as_array().unwrap().len(), stored_n, "the refused stored nothing");
    }
}

// A tenant's own publish quota replaces the instance's (here: none) and shows in its stats.
on_both_backends! {
    async fn a_publish_quota_of_its_own_applies_to_that_tenant_only(app) {
        let created = app.post("/v1/tenants", json!({"name": "Metered", "limits": {"publishPerSecond": 2}})).await;
        let metered = created.body["id"].as_str().unwrap().to_owned();
        let free = app.tenant("Free").await;
        let app = &app;
        let publish = |tenant: &str| {
            let path = format!("/v1/tenants/{tenant}/events");
            async move { app.post(&path, json!({"type": "t.x", "data": {}})).await }
        };
        assert_eq!(publish(&metered).await.status, 201);
        assert_eq!(publish(&metered).await.status, 201);
        let refused = publish(&metered).await;
        refused.assert_problem(429, "rate_limited");
        assert!(refused.body["detail"].as_str().unwrap().contains("2 events per second"), "{}", refused.body);
        for _ in 0..5 {
            assert_eq!(publish(&free).await.status, 201, "no default quota for the others");
        }
        let stats = app.get(&format!("/v1/tenants/{metered}/stats")).await.body;
        assert_eq!(stats["limits"]["publishPerSecond"], 2, "{stats}");
    }
}

// Claims leave a tenant's deliveries in the database while this process already holds enough of
// them (its in-flight limit's worth, and at least the worker count, 8 here): a tenant whose 40
// retries are due while its endpoint hangs has its 2 requests in flight and a batch or two more
// waiting in memory — not all 40 leased and parked, which (in a deep enough backlog) would stop
// the dispatcher taking anyone else's work.
on_both_backends! {
    async fn claims_leave_a_saturated_tenants_backlog_in_the_database(backend: Backend) {
        let app = TestApp::start_with(backend, |c| {
            c.delivery.workers = 8;
            c.delivery.endpoint_max_in_flight = Some(8);
            c.delivery.tenant_max_in_flight = Some(2);
            c.delivery.circuit_failure_threshold = 0;
            requests_hang_through_the_test(c);
        })
        .await;
        let receiver = TestReceiver::start().await;
        receiver.script((0..40).map(|_| Reply::Status(500)));
        receiver.set_default(Reply::Hang);
        let deep = app.tenant("Deep").await;
        let policy = json!({"delays": ["300ms"], "maxAttempts": 5, "jitter": 0});
        app.endpoint(&deep, json!({"url": receiver.url(), "retryPolicy": policy})).await;
        publish_n(&app, &deep, 40).await;
        // The 40 first attempts fail; their retries come due together and go through claims.
        receiver.wait_for(42, Duration::from_secs(10)).await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let sql = format!(
            "SELECT id FROM deliveries WHERE tenant_id = '{deep}' AND status IN ('pending', 'retrying') AND lease_owner IS NOT NULL"
        );
        let leased = herald_testkit::raw::strings(&app, &sql).await.len();
        assert!((2..=20).contains(&leased), "{leased} of the tenant's 40 deliveries were taken out of the database");
        assert_eq!(receiver.requests().len(), 42, "its limit of 2 in flight");
        let stats = app.get(&format!("/v1/tenants/{deep}/stats")).await.body;
        assert_eq!((stats["inFlight"].as_u64(), stats["waiting"].as_u64()), (Some(2), Some(38)), "{stats}");
    }
}

// A tenant publishing far more than its endpoints take stops having its deliveries handed over
// once this process holds 2,048 of them (a quarter of what it keeps in memory at most): the rest
// wait in the database, for claims, and another tenant's deliveries are still handed over.
on_both_backends! {
    async fn a_tenant_beyond_its_hand_over_share_waits_in_the_database(backend: Backend) {
        let app = TestApp::start_with(backend, |c| {
            c.delivery.tenant_max_in_flight = Some(2);
            requests_hang_through_the_test(c);
        })
        .await;
        let hanging = TestReceiver::start().await;
        hanging.set_default(Reply::Hang);
        let bulk = app.tenant("Bulk").await;
        for _ in 0..50 {
            app.endpoint(&bulk, json!({"url": hanging.url()})).await;
        }
        publish_n(&app, &bulk, 45).await; // 2,250 deliveries
        let leased = format!("SELECT id FROM deliveries WHERE tenant_id = '{bulk}' AND lease_owner IS NOT NULL");
        let unleased = format!("SELECT id FROM deliveries WHERE tenant_id = '{bulk}' AND lease_owner IS NULL");
        let (leased, unleased) = (
            herald_testkit::raw::strings(&app, &leased).await.len(),
            herald_testkit::raw::strings(&app, &unleased).await.len(),
        );
        assert!((2048..=2100).contains(&leased), "{leased} handed over (and so leased)");
        assert_eq!(leased + unleased, 2250, "the rest waits in the database");

        let healthy = TestReceiver::start().await;
        let quiet = app.tenant("Quiet").await;
        app.endpoint(&quiet, json!({"url": healthy.url()})).await;
        let ids = publish_n(&app, &quiet, 3).await;
        healthy.wait_for(3, Duration::from_secs(5)).await;
        all_delivered_once(&app, &quiet, &ids).await;
    }
}
