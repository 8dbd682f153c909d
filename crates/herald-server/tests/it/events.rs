use std::time::Duration;

use herald_testkit::on_both_backends;
use herald_testkit::receiver::TestReceiver;
use serde_json::{Value, json};

fn endpoint_ids(event: &Value) -> Vec<String> {
    let mut ids: Vec<String> = event["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["endpointId"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

on_both_backends! {
    async fn publishing_creates_one_delivery_per_matching_enabled_endpoint(app) {
        let receiver = TestReceiver::start().await;
        let tenant = app.tenant("Acme").await;
        let make = |events: Value, extra: Value| {
            let mut body = json!({"url": format!("{}/x", receiver.url()), "events": events});
            body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            body
        };
        let prefix = app.endpoint(&tenant, make(json!(["contract.*"]), json!({}))).await;
        let exact = app.endpoint(&tenant, make(json!(["contract.created"]), json!({}))).await;
        let all = app.endpoint(&tenant, make(json!([]), json!({}))).await;
        let star = app.endpoint(&tenant, make(json!(["*"]), json!({}))).await;
        let other = app.endpoint(&tenant, make(json!(["kyc.verified", "contract.closed"]), json!({}))).await;
        let disabled = app.endpoint(&tenant, make(json!(["contract.*"]), json!({"enabled": false}))).await;
        let filtered = app.endpoint(&tenant, make(json!(["contract.*"]), json!({"filter":
            {"keyToFilter": "customer_request.request_items.product_category", "supportedValues": ["solar", "electricity"]}}))).await;
        let other_tenant = app.tenant("Other").await;
        let foreign = app.endpoint(&other_tenant, make(json!([]), json!({}))).await;

        let id = |e: &Value| e["id"].as_str().unwrap().to_owned();
        let mut expected = vec![id(&prefix), id(&exact), id(&all), id(&star), id(&disabled)];
        expected.sort();
        let gas = app.publish(&tenant, json!({"type": "contract.created", "data":
            {"customer_request": {"request_items": [{"product_category": "gas"}]}}})).await;
        assert_eq!(endpoint_ids(&gas), expected, "not: other patterns, unmatched filter, other tenant");
        let kept = gas["deliveries"].as_array().unwrap().iter().find(|d| d["endpointId"] == disabled["id"]).unwrap();
        assert_eq!((kept["status"].as_str(), kept["failureReason"].as_str()), (Some("failed"), Some("endpoint_disabled")),
            "a disabled endpoint's delivery is kept, failed, never attempted");

        let solar = app.publish(&tenant, json!({"type": "contract.created", "data":
            {"customer_request": {"request_items": [{"product_category": "gas"}, {"product_category": "solar"}]}}})).await;
        let mut with_filtered = expected.clone();
        with_filtered.push(id(&filtered));
        with_filtered.sort();
        assert_eq!(endpoint_ids(&solar), with_filtered, "an array element on the path matched");

        let closed = app.publish(&tenant, json!({"type": "contract.closed", "data": {}})).await;
        assert!(endpoint_ids(&closed).contains(&id(&other)));
        assert!(!endpoint_ids(&closed).contains(&id(&exact)));
        assert!(!endpoint_ids(&closed).contains(&id(&foreign)));

        let nobody = app.tenant("Nobody").await;
        let lonely = app.publish(&nobody, json!({"type": "a.b", "data": {}})).await;
        assert_eq!(lonely["deliveries"], json!([]), "an event with no subscriber is still stored");
        assert_eq!(app.get(&format!("/v1/tenants/{nobody}/events")).await.body["data"].as_array().unwrap().len(), 1);
        receiver.wait_for(4 + 5 + 4, Duration::from_secs(20)).await;
        assert!(receiver.requests().iter().all(|r| r.uri.path() == "/hook/x"));
        assert_eq!(receiver.requests().len(), 13, "nothing for the disabled endpoint");
    }

    async fn publishing_an_existing_id_returns_the_original_and_creates_nothing_or_conflicts(app) {
        let receiver = TestReceiver::start().await;
        let tenant = app.tenant("Acme").await;
        app.endpoint(&tenant, json!({"url": receiver.url()})).await;
        let first = app.post(&format!("/v1/tenants/{tenant}/events"), json!({"id": "order-1", "type": "order.paid", "data": {"n": 1}})).await;
        assert_eq!(first.status, 201, "{}", first.body);
        // The same id with another payload is a conflict, not silently the old event.
        for different in [json!({"id": "order-1", "type": "order.paid", "data": {"n": 2}}),
                          json!({"id": "order-1", "type": "order.refunded", "data": {"n": 1}}),
                          json!({"id": "order-1", "type": "order.paid", "data": {"n": 1}, "subject": "s"})] {
            let r = app.post(&format!("/v1/tenants/{tenant}/events"), different).await;
            r.assert_problem(409, "event_id_conflict");
            assert!(r.body["detail"].as_str().unwrap().contains("`order-1`"), "{}", r.body);
        }
        let again = app.post(&format!("/v1/tenants/{tenant}/events"), json!({"id": "order-1", "type": "order.paid", "data": {"n": 1}})).await;
        assert_eq!(again.status, 200, "{}", again.body);
        assert_eq!(again.body["data"], json!({"n": 1}), "the original event");
        assert_eq!(again.body["createdAt"], first.body["createdAt"]);
        assert_eq!(again.body["deliveries"][0]["deliveryId"], first.body["deliveries"][0]["deliveryId"]);
        let deliveries = app.get(&format!("/v1/tenants/{tenant}/deliveries")).await;
        assert_eq!(deliveries.body["data"].as_array().unwrap().len(), 1);
        let events = app.get(&format!("/v1/tenants/{tenant}/events")).await;
        assert_eq!(events.body["data"].as_array().unwrap().len(), 1);
        receiver.wait_for(1, Duration::from_secs(20)).await;

        // Ids are per tenant: another tenant may use the same id.
        let other = app.tenant("Other").await;
        let r = app.post(&format!("/v1/tenants/{other}/events"), json!({"id": "order-1", "type": "order.paid", "data": {}})).await;
        assert_eq!(r.status, 201);
    }

    async fn data_is_validated_against_the_event_type_schema(app) {
        app.post("/v1/event-types", json!({"name": "invoice.paid", "schema": {
            "type": "object", "required": ["amount"],
            "properties": {"amount": {"type": "number"}, "lines": {"type": "array", "items": {"type": "string"}}}}})).await;
        let tenant = app.tenant("Acme").await;
        let path = format!("/v1/tenants/{tenant}/events");
        let r = app.post(&path, json!({"type": "invoice.paid", "data": {"amount": "12", "lines": ["a", 3]}})).await;
        r.assert_problem(422, "validation_failed");
        let mut paths = r.error_paths();
        paths.sort();
        assert_eq!(paths, ["/data/amount", "/data/lines/1"]);
        let r = app.post(&path, json!({"type": "invoice.paid", "data": {}})).await;
        r.assert_problem(422, "validation_failed");
        assert_eq!(app.get(&path).await.body["data"], json!([]), "nothing stored");
        assert_eq!(app.post(&path, json!({"type": "invoice.paid", "data": {"amount": 12}})).await.status, 201);
        assert_eq!(app.post(&path, json!({"type": "not.in.catalog", "data": {"x": 1}})).await.status, 201,
            "types outside the catalog carry no schema");
    }

    async fn invalid_events_are_refused(app) {
        let tenant = app.tenant("Acme").await;
        let path = format!("/v1/tenants/{tenant}/events");
        for (body, field) in [
            (json!({"data": {}}), "/type"),
            (json!({"type": "a b", "data": {}}), "/type"),
            (json!({"type": "a", "data": [1]}), "/data"),
            (json!({"type": "a"}), "/data"),
            (json!({"type": "a", "data": {}, "id": "has space"}), "/id"),
            (json!({"type": "a", "data": {}, "subject": ""}), "/subject"),
            (json!({"type": "a", "data": {}, "extra": 1}), "/extra"),
        ] {
            let r = app.post(&path, body.clone()).await;
            r.assert_problem(422, "validation_failed");
            let paths = r.error_paths();
            assert!(paths == [field] || (field == "/type" && paths == [""]) || (field == "/data" && paths == [""]),
                "{body}: {}", r.body);
        }
        assert_eq!(app.get(&path).await.body["data"], json!([]));
    }

    async fn the_event_log_is_filtered_paginated_and_shows_delivery_statuses(app) {
        let receiver = TestReceiver::start().await;
        let tenant = app.tenant("Acme").await;
        let endpoint = app.endpoint(&tenant, json!({"url": receiver.url()})).await;
        let mut ids = Vec::new();
        for n in 0..4 {
            let t = if n % 2 == 0 { "a.even" } else { "a.odd" };
            ids.push(app.publish(&tenant, json!({"type": t, "data": {"n": n}, "subject": "s"})).await["id"].as_str().unwrap().to_owned());
        }
        let base = format!("/v1/tenants/{tenant}/events");
        let even = app.get(&format!("{base}?type=a.even")).await;
        let got: Vec<&str> = even.body["data"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap()).collect();
        assert_eq!(got, [ids[2].as_str(), ids[0].as_str()], "newest first");
        assert!(even.body["data"][0].get("deliveries").is_none());

        let page = app.get(&format!("{base}?limit=3")).await;
        assert_eq!(page.body["data"].as_array().unwrap().len(), 3);
        let next = page.body["nextCursor"].as_str().unwrap();
        let rest = app.get(&format!("{base}?limit=3&cursor={next}")).await;
        assert_eq!(rest.body["data"][0]["id"], ids[0].as_str());

        let future = app.get(&format!("{base}?since=2999-01-01T00:00:00Z")).await;
        assert_eq!(future.body["data"], json!([]));
        let past = app.get(&format!("{base}?until=2000-01-01T00:00:00Z")).await;
        assert_eq!(past.body["data"], json!([]));
        app.get(&format!("{base}?since=yesterday")).await.assert_problem(422, "validation_failed");

        receiver.wait_for(4, Duration::from_secs(20)).await;
        let one = app.get(&format!("{base}/{}", ids[1])).await;
        assert_eq!(one.status, 200);
        assert_eq!(one.body["data"], json!({"n": 1}));
        assert_eq!(one.body["subject"], "s");
        let deliveries = one.body["deliveries"].as_array().unwrap();
        assert_eq!(deliveries.len(), 1);
        assert_eq!(deliveries[0]["endpointId"], endpoint["id"]);
        let status = herald_testkit::eventually("the event's delivery to be delivered", Duration::from_secs(20), || async {
            let r = app.get(&format!("{base}/{}", ids[1])).await;
            (r.body["deliveries"][0]["status"] == "delivered").then_some(r.body)
        }).await;
        assert_eq!(status["deliveries"][0]["attemptCount"], 1);
        app.get(&format!("{base}/nope")).await.assert_problem(404, "not_found");
    }
}
