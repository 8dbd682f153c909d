use std::time::Duration;

use herald_testkit::on_both_backends;
use herald_testkit::receiver::TestReceiver;
use serde_json::json;

fn verifies(secret: &str, request: &herald_testkit::receiver::Received) -> bool {
    standardwebhooks::Webhook::new(secret).unwrap().verify(&request.body, &request.headers).is_ok()
}

on_both_backends! {
    async fn rotation_signs_with_every_live_secret_during_the_grace_period(app) {
        let receiver = TestReceiver::start().await;
        let tenant = app.tenant("Acme").await;
        let endpoint = app.endpoint(&tenant, json!({"url": receiver.url()})).await;
        let ep = endpoint["id"].as_str().unwrap();
        let first = endpoint["secret"].as_str().unwrap().to_owned();
        let rotate = format!("/v1/tenants/{tenant}/endpoints/{ep}/secret/rotate");

        let r = app.post(&rotate, json!({"gracePeriod": "1h"})).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let second = r.body["secret"].as_str().unwrap().to_owned();
        assert!(second.starts_with("whsec_") && second != first);
        assert!(r.body["previousExpiresAt"].is_string());
        assert!(app.get(&format!("/v1/tenants/{tenant}/endpoints/{ep}")).await.body.get("secret").is_none());

        app.publish(&tenant, json!({"type": "t.x", "data": {}})).await;
        let requests = receiver.wait_for(1, Duration::from_secs(20)).await;
        let signatures = requests[0].header("webhook-signature").unwrap().to_owned();
        assert_eq!(signatures.split(' ').count(), 2, "{signatures}");
        assert!(verifies(&first, &requests[0]), "the old secret still verifies");
        assert!(verifies(&second, &requests[0]), "the new secret verifies");

        // A zero grace period retires the current secret at once; the one from the first rotation
        // is still within its hour.
        let third = app.post(&rotate, json!({"gracePeriod": "0s", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})).await;
        assert_eq!(third.body["secret"], "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        assert_eq!(third.body["previousExpiresAt"], serde_json::Value::Null);
        app.publish(&tenant, json!({"type": "t.x", "data": {}})).await;
        let requests = receiver.wait_for(2, Duration::from_secs(20)).await;
        assert!(verifies("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", &requests[1]));
        assert!(verifies(&first, &requests[1]), "still within its grace period");
        assert!(!verifies(&second, &requests[1]), "retired at once");

        let body_empty = app.call(reqwest::Method::POST, &rotate, Some(&app.admin_key), None).await;
        assert_eq!(body_empty.status, 200, "the body is optional: {}", body_empty.body);
        for (bad, path) in [(json!({"gracePeriod": "8d"}), "/gracePeriod"), (json!({"secret": "nope"}), "/secret")] {
            let r = app.post(&rotate, bad).await;
            r.assert_problem(422, "validation_failed");
            assert_eq!(r.error_paths(), [path]);
        }
    }
}
