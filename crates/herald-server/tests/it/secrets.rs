use std::time::Duration;

use herald_testkit::receiver::TestReceiver;
use herald_testkit::{TestApp, on_both_backends, raw};
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

        // A zero grace period retires every old secret at once, even the one from the first
        // rotation that is still within its hour.
        let third = app.post(&rotate, json!({"gracePeriod": "0s", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})).await;
        assert_eq!(third.body["secret"], "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        assert_eq!(third.body["previousExpiresAt"], serde_json::Value::Null);
        app.publish(&tenant, json!({"type": "t.x", "data": {}})).await;
        let requests = receiver.wait_for(2, Duration::from_secs(20)).await;
        assert!(verifies("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", &requests[1]));
        assert!(!verifies(&first, &requests[1]), "retired at once, though within its grace period");
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

/// Verifies every `v1a` signature of a request against a `whpk_` public key.
fn verifies_v1a(public_key: &str, request: &herald_testkit::receiver::Received) -> bool {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use ed25519_dalek::{Signature, Verifier, VerifyingKey};
    let key_bytes: [u8; 32] =
        STANDARD.decode(public_key.strip_prefix("whpk_").unwrap()).unwrap().try_into().unwrap();
    let key = VerifyingKey::from_bytes(&key_bytes).unwrap();
    let message = [
        request.header("webhook-id").unwrap().as_bytes(),
        b".",
        request.header("webhook-timestamp").unwrap().as_bytes(),
        b".",
        &request.body,
    ]
    .concat();
    request.header("webhook-signature").unwrap().split(' ').filter_map(|s| s.strip_prefix("v1a,")).any(
        |sig| {
            let bytes = STANDARD.decode(sig).unwrap();
            Signature::from_slice(&bytes).is_ok_and(|sig| key.verify(&message, &sig).is_ok())
        },
    )
}

on_both_backends! {
    async fn asymmetric_v1a_signatures_verify_with_the_published_key(app) {
        let receiver = TestReceiver::start().await;
        let tenant = app.tenant("Acme").await;
        let endpoint = app.endpoint(&tenant, json!({"url": receiver.url(), "signatureScheme": "v1a"})).await;
        let ep = endpoint["id"].as_str().unwrap();
        assert!(endpoint["secret"].as_str().unwrap().starts_with("whsk_"));
        assert_eq!(endpoint["signatureScheme"], "v1a");
        let first_key = endpoint["publicKey"].as_str().unwrap().to_owned();
        assert!(first_key.starts_with("whpk_"));
        let shown = app.get(&format!("/v1/tenants/{tenant}/endpoints/{ep}")).await.body;
        assert_eq!(shown["publicKey"], first_key.as_str(), "the public key stays retrievable");
        assert!(shown.get("secret").is_none());

        app.publish(&tenant, json!({"type": "t.x", "data": {"n": 1}})).await;
        let requests = receiver.wait_for(1, Duration::from_secs(20)).await;
        let header = requests[0].header("webhook-signature").unwrap();
        assert!(header.starts_with("v1a,") && !header.contains("v1,"), "{header}");
        assert!(verifies_v1a(&first_key, &requests[0]));
        // Another v1a endpoint, in a tenant that never publishes: nothing is ever sent to it.
        let quiet = app.tenant("Quiet").await;
        let stranger = app.endpoint(&quiet, json!({"url": receiver.url(), "signatureScheme": "v1a"})).await;
        assert!(!verifies_v1a(stranger["publicKey"].as_str().unwrap(), &requests[0]), "another key does not verify");

        let rotated = app.post(&format!("/v1/tenants/{tenant}/endpoints/{ep}/secret/rotate"), json!({"gracePeriod": "1h"})).await;
        assert!(rotated.body["secret"].as_str().unwrap().starts_with("whsk_"), "rotation keeps the scheme");
        let second_key = app.get(&format!("/v1/tenants/{tenant}/endpoints/{ep}")).await.body["publicKey"].as_str().unwrap().to_owned();
        assert_eq!(rotated.body["publicKey"], second_key.as_str(), "the rotation shows the new public key");
        assert_ne!(second_key, first_key);
        app.publish(&tenant, json!({"type": "t.x", "data": {"n": 2}})).await;
        let requests = receiver.wait_for(2, Duration::from_secs(20)).await;
        assert_eq!(requests.len(), 2);
        let latest = &requests[1];
        assert_eq!(latest.json()["data"]["n"], 2);
        assert!(verifies_v1a(&first_key, latest) && verifies_v1a(&second_key, latest), "both keys during the grace period");

        let mismatched = app.post(&format!("/v1/tenants/{tenant}/endpoints"),
            json!({"url": "https://x.example.com/", "signatureScheme": "v1a", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})).await;
        mismatched.assert_problem(422, "validation_failed");
        assert_eq!(mismatched.error_paths(), ["/secret"]);
    }
}

/// POSTs `body` with the admin key, with an `Idempotency-Key` when given; a replay of a keyed
/// request must give the very same response.
async fn post_maybe_keyed(
    app: &TestApp,
    path: &str,
    body: serde_json::Value,
    idem: Option<&str>,
) -> serde_json::Value {
    let send = || {
        let mut request = app.raw(reqwest::Method::POST, path).bearer_auth(&app.admin_key).json(&body);
        if let Some(key) = idem {
            request = request.header("Idempotency-Key", key);
        }
        request.send()
    };
    let first = TestApp::read(send().await.unwrap()).await;
    assert!((200..300).contains(&first.status), "{path}: {} {}", first.status, first.body);
    if idem.is_some() {
        let again = TestApp::read(send().await.unwrap()).await;
        assert_eq!(again.headers.get("idempotent-replayed").map(|v| v.to_str().unwrap()), Some("true"));
        assert_eq!(
            again.body, first.body,
            "the replay shows the secret again, exactly as the first answer did"
        );
    }
    first.body
}

on_both_backends! {
    async fn no_secret_rests_in_clear_after_any_secret_bearing_operation(backend: Backend) {
        // Operational events on too: what they carry about endpoints is stored as events.
        let app = TestApp::start_with(backend, |c| c.operator.tenant = Some("ops".into())).await;
        let tenant = app.tenant("Acme").await;
        let (full, _, client_key) = crate::endpoints::full_body();
        let mut secrets = vec![
            app.admin_key.clone(),
            "oauth-CLIENT-secret".to_owned(),
            "header-TOKEN-value".to_owned(),
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned(),
            client_key.lines().nth(1).unwrap().to_owned(),
        ];
        for idem in [None, Some("op")] {
            let keyed = |n: &str| idem.map(|k| format!("{k}-{n}"));
            let endpoints = format!("/v1/tenants/{tenant}/endpoints");
            let created = post_maybe_keyed(&app, &endpoints, full.clone(), keyed("full").as_deref()).await;
            let v1a = post_maybe_keyed(&app, &endpoints, json!({"url": "https://b.example.com/", "signatureScheme": "v1a",
                "auth": {"type": "basic", "username": "alice", "password": "basic-PASSWORD"}}), keyed("v1a").as_deref()).await;
            let key = post_maybe_keyed(&app, &format!("/v1/tenants/{tenant}/keys"), json!({"name": "portal"}), keyed("key").as_deref()).await;
            let mut shown = vec![created["secret"].clone(), v1a["secret"].clone(), key["key"].clone()];
            for endpoint in [&created, &v1a] {
                let rotate = format!("{endpoints}/{}/secret/rotate", endpoint["id"].as_str().unwrap());
                let rotated = post_maybe_keyed(&app, &rotate, json!({"gracePeriod": "1h"}), keyed("rotate").as_deref()).await;
                shown.push(rotated["secret"].clone());
            }
            let patched = app.patch(&format!("{endpoints}/{}", v1a["id"].as_str().unwrap()),
                json!({"auth": {"type": "bearer", "token": "bearer-TOKEN-patched"}})).await;
            assert_eq!(patched.status, 200, "{}", patched.body);
            secrets.push("basic-PASSWORD".to_owned());
            secrets.push("bearer-TOKEN-patched".to_owned());
            for secret in shown {
                let secret = secret.as_str().expect("every operation showed its secret").to_owned();
                assert!(secret.len() > 20);
                // The random end of it.
                secrets.push(secret[secret.len() - 20..].to_owned());
            }
        }
        let dump = raw::dump(&app).await;
        assert!(dump.contains("b.example.com"), "the dump reads the data");
        for secret in &secrets {
            assert!(!dump.contains(secret.as_str()), "{secret} is stored in clear");
        }
    }
}

on_both_backends! {
    async fn rotation_can_retire_every_old_secret_and_caps_live_secrets(app) {
        let receiver = TestReceiver::start().await;
        let tenant = app.tenant("Acme").await;
        let endpoint = app.endpoint(&tenant, json!({"url": receiver.url()})).await;
        let ep = endpoint["id"].as_str().unwrap();
        let rotate = format!("/v1/tenants/{tenant}/endpoints/{ep}/secret/rotate");
        let mut secrets = vec![endpoint["secret"].as_str().unwrap().to_owned()];
        for _ in 0..7 {
            let r = app.post(&rotate, json!({"gracePeriod": "1h"})).await;
            assert_eq!(r.status, 200, "{}", r.body);
            secrets.push(r.body["secret"].as_str().unwrap().to_owned());
        }
        app.publish(&tenant, json!({"type": "t.x", "data": {}})).await;
        let requests = receiver.wait_for(1, Duration::from_secs(20)).await;
        let header = requests[0].header("webhook-signature").unwrap().to_owned();
        assert_eq!(header.split(' ').count(), 5, "at most five live secrets: {header}");
        assert!(verifies(&secrets[7], &requests[0]) && verifies(&secrets[3], &requests[0]));
        assert!(!verifies(&secrets[2], &requests[0]), "the oldest were retired early");

        // A zero grace period leaves exactly one live secret, however many were in grace.
        let r = app.post(&rotate, json!({"gracePeriod": "0s"})).await;
        let only = r.body["secret"].as_str().unwrap().to_owned();
        app.publish(&tenant, json!({"type": "t.x", "data": {}})).await;
        let requests = receiver.wait_for(2, Duration::from_secs(20)).await;
        assert_eq!(requests[1].header("webhook-signature").unwrap().split(' ').count(), 1);
        assert!(verifies(&only, &requests[1]) && !verifies(&secrets[7], &requests[1]));

        // Ending the grace periods without rotating.
        let r = app.post(&rotate, json!({"gracePeriod": "1h"})).await;
        let newest = r.body["secret"].as_str().unwrap().to_owned();
        let retire = format!("/v1/tenants/{tenant}/endpoints/{ep}/secret/retire-previous");
        let r = app.call(reqwest::Method::POST, &retire, Some(&app.admin_key), None).await;
        assert_eq!(r.status, 204, "{}", r.body);
        app.publish(&tenant, json!({"type": "t.x", "data": {}})).await;
        let requests = receiver.wait_for(3, Duration::from_secs(20)).await;
        assert_eq!(requests[2].header("webhook-signature").unwrap().split(' ').count(), 1);
        assert!(verifies(&newest, &requests[2]) && !verifies(&only, &requests[2]));
        let other = app.tenant("Other").await;
        let r = app.call(reqwest::Method::POST, &format!("/v1/tenants/{other}/endpoints/{ep}/secret/retire-previous"), Some(&app.admin_key), None).await;
        r.assert_problem(404, "not_found");
    }
}
