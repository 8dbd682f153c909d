use std::time::Duration;

use herald_testkit::receiver::{Reply, TestReceiver};
use herald_testkit::{Backend, TestApp, on_both_backends};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);

/// Verifies a received request with the official Standard Webhooks library.
fn verify(secret: &str, request: &herald_testkit::receiver::Received) {
    let wh = standardwebhooks::Webhook::new(secret).unwrap();
    wh.verify(&request.body, &request.headers).unwrap_or_else(|e| panic!("signature refused: {e}"));
}

fn delivery_id(event: &Value) -> String {
    event["deliveries"][0]["deliveryId"].as_str().unwrap().to_owned()
}

on_both_backends! {
    async fn a_published_event_arrives_signed_with_the_envelope(app) {
        let receiver = TestReceiver::start().await;
        let tenant = app.tenant("Acme").await;
        let endpoint = app.endpoint(&tenant, json!({"url": format!("{}/in", receiver.url()), "httpMethod": "PUT",
            "headers": {"X-Tenant": "acme"}})).await;
        let secret = endpoint["secret"].as_str().unwrap();
        let event = app.publish(&tenant, json!({"type": "contract.created", "data": {"contractId": "c_1"},
            "subject": "c_1", "source": "billing"})).await;

        let requests = receiver.wait_for(1, WAIT).await;
        let request = &requests[0];
        assert_eq!(request.method, "PUT");
        assert_eq!(request.uri.path(), "/hook/in");
        assert_eq!(request.header("content-type"), Some("application/json"));
        assert_eq!(request.header("x-tenant"), Some("acme"));
        assert_eq!(request.header("webhook-id"), event["id"].as_str());
        assert!(request.header("webhook-signature").unwrap().starts_with("v1,"));
        // Herald names itself, takes any answer, and says how long the body is.
        assert_eq!(request.header("user-agent"), Some(concat!("Herald/", env!("CARGO_PKG_VERSION"))));
        assert_eq!(request.header("accept"), Some("*/*"));
        assert_eq!(request.header("content-length"), Some(request.body.len().to_string().as_str()));
        verify(secret, request);
        let body = request.json();
        assert_eq!(body["id"], event["id"]);
        assert_eq!(body["type"], "contract.created");
        assert_eq!(body["tenant"], tenant.as_str());
        assert_eq!(body["timestamp"], event["createdAt"]);
        assert_eq!(body["subject"], "c_1");
        assert_eq!(body["source"], "billing");
        assert_eq!(body["data"], json!({"contractId": "c_1"}));

        let delivery = app.delivery_with_status(&tenant, &delivery_id(&event), "delivered").await;
        assert_eq!(delivery["attemptCount"], 1);
        assert_eq!(delivery["nextAttemptAt"], Value::Null);
        let attempt = &delivery["attempts"][0];
        assert_eq!(attempt["attemptNo"], 1);
        assert_eq!(attempt["trigger"], "scheduled");
        assert_eq!(attempt["response"]["status"], 204);
        assert_eq!(attempt["errorKind"], Value::Null);
        assert_eq!(attempt["request"]["method"], "PUT");
        assert_eq!(attempt["request"]["url"], format!("{}/in", receiver.url()).as_str());
        let sent: Vec<&str> = attempt["request"]["headers"].as_array().unwrap().iter().map(|h| h[0].as_str().unwrap()).collect();
        for header in ["webhook-id", "webhook-timestamp", "webhook-signature", "content-type", "X-Tenant"] {
            assert!(sent.contains(&header), "{header} in {sent:?}");
        }
    }

    async fn webhook_id_is_the_event_id_across_attempts_and_endpoints(app) {
        let first = TestReceiver::start().await;
        let second = TestReceiver::start().await;
        first.script([Reply::Status(500)]);
        let tenant = app.tenant("Acme").await;
        let policy = json!({"delays": ["10ms"], "jitter": 0});
        let a = app.endpoint(&tenant, json!({"url": first.url(), "retryPolicy": policy})).await;
        let b = app.endpoint(&tenant, json!({"url": second.url()})).await;
        let event = app.publish(&tenant, json!({"id": "evt-same", "type": "t.x", "data": {}})).await;
        let to_first = first.wait_for(2, WAIT).await;
        let to_second = second.wait_for(1, WAIT).await;
        for request in to_first.iter().chain(&to_second) {
            assert_eq!(request.header("webhook-id"), Some("evt-same"));
        }
        assert_eq!(to_first[0].body, to_first[1].body, "the body is the same on every attempt");
        verify(a["secret"].as_str().unwrap(), &to_first[1]);
        verify(b["secret"].as_str().unwrap(), &to_second[0]);
        assert!(standardwebhooks::Webhook::new(b["secret"].as_str().unwrap()).unwrap().verify(&to_first[1].body, &to_first[1].headers).is_err(),
            "each endpoint signs with its own secret");
        let deliveries = event["deliveries"].as_array().unwrap();
        assert_eq!(deliveries.len(), 2);
    }

    async fn failures_are_retried_on_the_policy_then_dead_lettered(app) {
        let receiver = TestReceiver::start().await;
        receiver.set_default(Reply::Full { status: 500, headers: vec![], body: "x".repeat(10_000) });
        let tenant = app.tenant("Acme").await;
        app.endpoint(&tenant, json!({"url": receiver.url(), "retryPolicy": {"delays": ["10ms", "30ms"], "maxAttempts": 3, "jitter": 0}})).await;
        let event = app.publish(&tenant, json!({"type": "t.x", "data": {}})).await;
        let delivery = app.delivery_with_status(&tenant, &delivery_id(&event), "failed").await;
        assert_eq!(delivery["failureReason"], "attempts_exhausted");
        assert_eq!(delivery["attemptCount"], 3);
        let attempts = delivery["attempts"].as_array().unwrap();
        assert_eq!(attempts.len(), 3);
        for (n, attempt) in attempts.iter().enumerate() {
            assert_eq!(attempt["attemptNo"], n + 1);
            assert_eq!(attempt["errorKind"], "http_status");
            assert_eq!(attempt["response"]["status"], 500);
            assert_eq!(attempt["response"]["body"].as_str().unwrap().len(), 4096, "bodies are truncated");
        }
        assert_eq!(receiver.requests().len(), 3);
        let failed = app.get(&format!("/v1/tenants/{tenant}/deliveries?status=failed")).await;
        assert_eq!(failed.body["data"].as_array().unwrap().len(), 1, "the dead-letter set");
    }

    async fn the_ttl_ends_retries_before_max_attempts(app) {
        let receiver = TestReceiver::start().await;
        receiver.set_default(Reply::Status(503));
        let tenant = app.tenant("Acme").await;
        app.endpoint(&tenant, json!({"url": receiver.url(),
            "retryPolicy": {"delays": ["300ms"], "maxAttempts": 50, "ttl": "500ms", "jitter": 0}})).await;
        let event = app.publish(&tenant, json!({"type": "t.x", "data": {}})).await;
        let delivery = app.delivery_with_status(&tenant, &delivery_id(&event), "failed").await;
        assert_eq!(delivery["failureReason"], "ttl_expired");
        let n = delivery["attemptCount"].as_u64().unwrap();
        assert!((1..=2).contains(&n), "{n} attempts within a 500ms TTL at 300ms apart");
    }

    async fn retry_after_on_429_overrides_the_schedule(app) {
        let receiver = TestReceiver::start().await;
        receiver.script([Reply::Full { status: 429, headers: vec![("Retry-After".into(), "1".into())], body: String::new() }]);
        let tenant = app.tenant("Acme").await;
        app.endpoint(&tenant, json!({"url": receiver.url(), "retryPolicy": {"delays": ["1h"], "jitter": 0}})).await;
        let event = app.publish(&tenant, json!({"type": "t.x", "data": {}})).await;
        let delivery = app.delivery_with_status(&tenant, &delivery_id(&event), "delivered").await;
        assert_eq!(delivery["attemptCount"], 2, "retried after 1 s, not after the scheduled hour");
        let requests = receiver.requests();
        let gap = requests[1].at.duration_since(requests[0].at);
        assert!(gap >= Duration::from_millis(900), "Retry-After respected: {gap:?}");
    }

    async fn timeouts_connection_failures_and_redirects_are_failed_attempts(app) {
        let hanging = TestReceiver::start().await;
        hanging.set_default(Reply::Hang);
        let elsewhere = TestReceiver::start().await;
        let redirecting = TestReceiver::start().await;
        redirecting.set_default(Reply::Full { status: 302, headers: vec![("Location".into(), elsewhere.url())], body: String::new() });
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let closed_url = format!("http://{}/hook", closed.local_addr().unwrap());
        drop(closed);

        let once = json!({"maxAttempts": 1});
        let mut kinds = Vec::new();
        for url in [hanging.url(), closed_url, redirecting.url()] {
            let tenant = app.tenant("Acme").await;
            let endpoint = app.endpoint(&tenant, json!({"url": url, "retryPolicy": once})).await;
            let event = app.publish(&tenant, json!({"type": "t.x", "data": {}})).await;
            let delivery = app.delivery_with_status(&tenant, &delivery_id(&event), "failed").await;
            assert_eq!(delivery["endpointId"], endpoint["id"]);
            kinds.push(delivery["attempts"][0]["errorKind"].as_str().unwrap().to_owned());
        }
        assert_eq!(kinds, ["timeout", "connect", "http_status"]);
        assert!(elsewhere.requests().is_empty(), "the redirect was not followed");
    }

    async fn a_failed_delivery_can_be_retried_by_hand(app) {
        let receiver = TestReceiver::start().await;
        receiver.script([Reply::Status(500)]);
        let tenant = app.tenant("Acme").await;
        app.endpoint(&tenant, json!({"url": receiver.url(), "retryPolicy": {"maxAttempts": 1}})).await;
        let event = app.publish(&tenant, json!({"type": "t.x", "data": {}})).await;
        let id = delivery_id(&event);
        app.delivery_with_status(&tenant, &id, "failed").await;
        let queued = app.post(&format!("/v1/tenants/{tenant}/deliveries/{id}/retry"), json!({})).await;
        assert_eq!(queued.status, 202, "{}", queued.body);
        assert_eq!(queued.body["status"], "pending");
        let delivered = app.delivery_with_status(&tenant, &id, "delivered").await;
        assert_eq!(delivered["attempts"][1]["trigger"], "manual");
        assert_eq!(delivered["failureReason"], Value::Null);
        app.post(&format!("/v1/tenants/{tenant}/deliveries/dlv_01ARZ3NDEKTSV4RRFFQ69G5FAV/retry"), json!({})).await
            .assert_problem(404, "not_found");
    }

    async fn recover_requeues_an_endpoints_failed_deliveries(app) {
        let receiver = TestReceiver::start().await;
        receiver.set_default(Reply::Status(500));
        let tenant = app.tenant("Acme").await;
        let endpoint = app.endpoint(&tenant, json!({"url": receiver.url(), "retryPolicy": {"maxAttempts": 1}})).await;
        let ep = endpoint["id"].as_str().unwrap();
        let mut ids = Vec::new();
        for _ in 0..3 {
            ids.push(delivery_id(&app.publish(&tenant, json!({"type": "t.x", "data": {}})).await));
        }
        for id in &ids {
            app.delivery_with_status(&tenant, id, "failed").await;
        }
        receiver.set_default(Reply::Status(200));
        let r = app.post(&format!("/v1/tenants/{tenant}/endpoints/{ep}/recover"), json!({"since": "2000-01-01T00:00:00Z"})).await;
        assert_eq!(r.status, 202, "{}", r.body);
        assert_eq!(r.body["recovered"], 3);
        for id in &ids {
            let d = app.delivery_with_status(&tenant, id, "delivered").await;
            assert_eq!(d["attempts"][1]["trigger"], "manual");
        }
        let none = app.post(&format!("/v1/tenants/{tenant}/endpoints/{ep}/recover"), json!({"since": "2000-01-01T00:00:00Z"})).await;
        assert_eq!(none.body["recovered"], 0, "nothing failed any more");
        app.post(&format!("/v1/tenants/{tenant}/endpoints/{ep}/recover"), json!({"since": "2999-01-01T00:00:00Z"})).await
            .assert_problem(422, "validation_failed");
    }

    async fn a_test_event_goes_to_that_endpoint_only(app) {
        let receiver = TestReceiver::start().await;
        app.post("/v1/event-types", json!({"name": "contract.created", "example": {"contractId": "c_example"}})).await;
        app.post("/v1/event-types", json!({"name": "kyc.verified"})).await;
        let tenant = app.tenant("Acme").await;
        let target = app.endpoint(&tenant, json!({"url": format!("{}/target", receiver.url()), "events": ["kyc.*"], "enabled": false})).await;
        app.endpoint(&tenant, json!({"url": format!("{}/bystander", receiver.url())})).await;
        let ep = target["id"].as_str().unwrap();

        let ping = app.call(reqwest::Method::POST, &format!("/v1/tenants/{tenant}/endpoints/{ep}/test"), Some(&app.admin_key), None).await;
        assert_eq!(ping.status, 202, "{}", ping.body);
        let example = app.post(&format!("/v1/tenants/{tenant}/endpoints/{ep}/test"), json!({"eventType": "contract.created"})).await;
        assert_eq!(example.status, 202, "{}", example.body);
        let requests = receiver.wait_for(2, WAIT).await;
        assert!(requests.iter().all(|r| r.uri.path() == "/hook/target"), "only the tested endpoint, even when disabled");
        let mut types: Vec<String> = requests.iter().map(|r| r.json()["type"].as_str().unwrap().to_owned()).collect();
        types.sort();
        assert_eq!(types, ["contract.created", "herald.ping"]);
        let example_request = requests.iter().find(|r| r.json()["type"] == "contract.created").unwrap();
        assert_eq!(example_request.json()["data"], json!({"contractId": "c_example"}));
        verify(target["secret"].as_str().unwrap(), example_request);
        let delivery = app.delivery_with_status(&tenant, example.body["deliveryId"].as_str().unwrap(), "delivered").await;
        assert_eq!(delivery["attempts"][0]["trigger"], "test");

        let r = app.post(&format!("/v1/tenants/{tenant}/endpoints/{ep}/test"), json!({"eventType": "kyc.verified"})).await;
        r.assert_problem(422, "validation_failed");
        assert_eq!(r.error_paths(), ["/eventType"]);
    }

    async fn the_delivery_log_outlives_a_deleted_endpoint(app) {
        let receiver = TestReceiver::start().await;
        receiver.set_default(Reply::Status(500));
        let tenant = app.tenant("Acme").await;
        let endpoint = app.endpoint(&tenant, json!({"url": receiver.url(), "retryPolicy": {"delays": ["1s"], "jitter": 0}})).await;
        let ep = endpoint["id"].as_str().unwrap();
        let event = app.publish(&tenant, json!({"type": "t.x", "data": {}})).await;
        let id = delivery_id(&event);
        receiver.wait_for(1, WAIT).await;
        assert_eq!(app.delete(&format!("/v1/tenants/{tenant}/endpoints/{ep}")).await.status, 204);
        let delivery = app.delivery_with_status(&tenant, &id, "failed").await;
        assert_eq!(delivery["failureReason"], "endpoint_deleted");
        assert_eq!(delivery["attemptCount"], 1, "no attempt is made for a deleted endpoint");
        let listed = app.get(&format!("/v1/tenants/{tenant}/deliveries?endpointId={ep}")).await;
        assert_eq!(listed.body["data"][0]["id"], id.as_str());
    }

    async fn the_delivery_log_filters(app) {
        let receiver = TestReceiver::start().await;
        receiver.script([Reply::Status(500)]);
        let tenant = app.tenant("Acme").await;
        let a = app.endpoint(&tenant, json!({"url": receiver.url(), "retryPolicy": {"maxAttempts": 1}})).await;
        let b = app.endpoint(&tenant, json!({"url": receiver.url(), "events": ["only.b"]})).await;
        let first = app.publish(&tenant, json!({"id": "first", "type": "x.y", "data": {}})).await;
        app.delivery_with_status(&tenant, &delivery_id(&first), "failed").await;
        let second = app.publish(&tenant, json!({"id": "second", "type": "only.b", "data": {}})).await;
        assert_eq!(second["deliveries"].as_array().unwrap().len(), 2);
        receiver.wait_for(3, WAIT).await;
        let base = format!("/v1/tenants/{tenant}/deliveries");
        let count = |body: &Value| body["data"].as_array().unwrap().len();
        assert_eq!(count(&app.get(&base).await.body), 3);
        assert_eq!(count(&app.get(&format!("{base}?endpointId={}", b["id"].as_str().unwrap())).await.body), 1);
        assert_eq!(count(&app.get(&format!("{base}?endpointId={}", a["id"].as_str().unwrap())).await.body), 2);
        assert_eq!(count(&app.get(&format!("{base}?eventId=second")).await.body), 2);
        assert_eq!(count(&app.get(&format!("{base}?status=failed")).await.body), 1);
        assert_eq!(count(&app.get(&format!("{base}?eventType=only.b")).await.body), 2);
        assert_eq!(count(&app.get(&format!("{base}?eventType=x.y&status=failed")).await.body), 1);
        assert_eq!(count(&app.get(&format!("{base}?eventType=x.z")).await.body), 0);
        assert_eq!(count(&app.get(&format!("{base}?since=2999-01-01T00:00:00Z")).await.body), 0);
        let limited = app.get(&format!("{base}?limit=2")).await;
        assert_eq!(count(&limited.body), 2);
        assert!(limited.body["nextCursor"].is_string());
        for bad in ["status=done", "endpointId=nope", "eventId=has%20space", "until=later", "eventType=Not%20A%20Type"] {
            app.get(&format!("{base}?{bad}")).await.assert_problem(422, "validation_failed");
        }
    }

    async fn cloudevents_formats_and_outbound_auth(app) {
        let receiver = TestReceiver::start().await;
        let tenant = app.tenant("Acme").await;
        let structured = app.endpoint(&tenant, json!({"url": format!("{}/structured", receiver.url()),
            "payloadFormat": "cloudevents", "auth": {"type": "basic", "username": "u", "password": "p"}})).await;
        let binary = app.endpoint(&tenant, json!({"url": format!("{}/binary", receiver.url()),
            "payloadFormat": "cloudevents-binary", "auth": {"type": "apiKey", "keyName": "X-Api-Key", "keyValue": "k-123"}})).await;
        app.endpoint(&tenant, json!({"url": format!("{}/bearer", receiver.url()), "auth": {"type": "bearer", "token": "tok"}})).await;
        let event = app.publish(&tenant, json!({"type": "DataFile_Processed", "data": {"EntityId": "e1"}, "subject": "DataFile_Processed"})).await;
        let requests = receiver.wait_for(3, WAIT).await;
        let by_path = |p: &str| requests.iter().find(|r| r.uri.path() == format!("/hook/{p}")).unwrap().clone();

        let s = by_path("structured");
        assert_eq!(s.header("content-type"), Some("application/cloudevents+json"));
        let ce = s.json();
        assert_eq!((ce["specversion"].as_str(), ce["type"].as_str()), (Some("1.0"), Some("DataFile_Processed")));
        assert_eq!(ce["id"], event["id"]);
        assert_eq!(ce["data"], json!({"EntityId": "e1"}));
        assert_eq!(s.header("authorization"), Some("Basic dTpw"));
        verify(structured["secret"].as_str().unwrap(), &s);

        let b = by_path("binary");
        assert_eq!(b.header("ce-specversion"), Some("1.0"));
        assert_eq!(b.header("ce-id"), event["id"].as_str());
        assert_eq!(b.header("ce-type"), Some("DataFile_Processed"));
        assert_eq!(b.json(), json!({"EntityId": "e1"}));
        assert_eq!(b.header("x-api-key"), Some("k-123"));
        verify(binary["secret"].as_str().unwrap(), &b);

        assert_eq!(by_path("bearer").header("authorization"), Some("Bearer tok"));

        let deliveries = app.get(&format!("/v1/tenants/{tenant}/deliveries")).await;
        for d in deliveries.body["data"].as_array().unwrap() {
            let full = app.delivery_with_status(&tenant, d["id"].as_str().unwrap(), "delivered").await;
            let shown = full["attempts"][0]["request"].to_string();
            for secret in ["dTpw", "k-123", "Bearer tok"] {
                assert!(!shown.contains(secret), "{secret} is redacted in the attempt log");
            }
        }
    }
}

/// With polling effectively off, delivery still starts at once: the publish wakes the dispatcher.
async fn first_attempt_is_started_by_the_publish(backend: Backend) {
    let app =
        TestApp::start_with(backend, |c| c.delivery.poll_interval = Duration::from_secs(3600).into()).await;
    // Let the dispatcher's first claim happen and go to sleep.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let receiver = TestReceiver::start().await;
    let tenant = app.tenant("Acme").await;
    app.endpoint(&tenant, json!({"url": receiver.url()})).await;
    app.publish(&tenant, json!({"type": "t.x", "data": {}})).await;
    receiver.wait_for(1, WAIT).await;
}

#[tokio::test]
async fn first_attempt_is_started_by_the_publish_sqlite() {
    first_attempt_is_started_by_the_publish(Backend::Sqlite).await;
}

#[tokio::test]
async fn first_attempt_is_started_by_the_publish_postgres() {
    first_attempt_is_started_by_the_publish(Backend::Postgres).await;
}

on_both_backends! {
    async fn unreadable_credentials_postpone_a_delivery_instead_of_dead_lettering_it(app) {
        let receiver = TestReceiver::start().await;
        let tenant = app.tenant("Acme").await;
        let endpoint = app.endpoint(&tenant, json!({"url": receiver.url()})).await;
        let ep = endpoint["id"].as_str().unwrap();
        let (_, good) = herald_testkit::raw::endpoint_row(&app, ep).await;
        let mut damaged = good.clone();
        *damaged.last_mut().unwrap() ^= 1;
        herald_testkit::raw::set_sealed_credentials(&app, ep, &damaged).await;

        let event = app.publish(&tenant, json!({"type": "t.x", "data": {}})).await;
        let delivery = app.delivery_with_status(&tenant, &delivery_id(&event), "retrying").await;
        assert_eq!(delivery["attemptCount"], 0, "no attempt is charged: {delivery}");
        assert_eq!(delivery["attempts"], json!([]));
        assert!(delivery["nextAttemptAt"].is_string(), "{delivery}");
        assert!(receiver.requests().is_empty(), "nothing was sent");

        // Once the credentials open again, the delivery goes out.
        herald_testkit::raw::set_sealed_credentials(&app, ep, &good).await;
        let r = app.post(&format!("/v1/tenants/{tenant}/deliveries/{}/retry", delivery_id(&event)), json!({})).await;
        assert!(r.status < 300, "{}", r.body);
        let requests = receiver.wait_for(1, WAIT).await;
        verify(endpoint["secret"].as_str().unwrap(), &requests[0]);
        app.delivery_with_status(&tenant, &delivery_id(&event), "delivered").await;
    }
}

on_both_backends! {
    async fn a_publishs_traceparent_goes_with_its_deliveries(app) {
        let receiver = herald_testkit::receiver::TestReceiver::start().await;
        let tenant = app.tenant("acme").await;
        app.endpoint(&tenant, serde_json::json!({"url": receiver.url()})).await;
        let traced = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        for traceparent in [Some(traced), Some("00-not-a-trace-01"), None] {
            let mut request = app
                .raw(reqwest::Method::POST, &format!("/v1/tenants/{tenant}/events"))
                .bearer_auth(&app.admin_key)
                .json(&serde_json::json!({"type": "a.b", "data": {"traceparent": traceparent}}));
            if let Some(traceparent) = traceparent {
                request = request.header("traceparent", traceparent);
            }
            assert_eq!(request.send().await.unwrap().status(), 201);
        }
        let received = receiver.wait_for(3, std::time::Duration::from_secs(20)).await;
        for request in &received {
            let sent = request.json()["data"]["traceparent"].clone();
            let expected = if sent == traced { Some(traced) } else { None };
            assert_eq!(request.header("traceparent"), expected, "published with {sent}");
        }
        assert_eq!(received.iter().filter(|r| r.header("traceparent").is_some()).count(), 1);
    }
}
