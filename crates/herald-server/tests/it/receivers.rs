//! Receivers written for other conventions: signature profiles checked by the verifiers their
//! platforms document (run in Python), payload envelopes, per-event headers, and the same bytes
//! on every attempt.

use std::time::Duration;

use base64::Engine;
use herald_testkit::receiver::{Received, Reply, TestReceiver};
use herald_testkit::{TestApp, on_both_backends};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::io::AsyncBufReadExt;

const WAIT: Duration = Duration::from_secs(20);

/// A receiver in Python that verifies requests as its platform documents it (see
/// `tests/receivers/verify.py`): 200 when the signature verifies with `secret`, 401 otherwise.
struct PythonReceiver {
    _child: tokio::process::Child,
    url: String,
}

impl PythonReceiver {
    async fn start(convention: &str, secret: &str) -> Self {
        Self::start_with(convention, secret, "*").await
    }

    async fn start_with(convention: &str, secret: &str, rate: &str) -> Self {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/receivers/verify.py");
        let mut child = tokio::process::Command::new("python3")
            .args([script, convention, secret, rate])
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 runs the receivers that verify as their platforms document");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        tokio::io::BufReader::new(stdout).read_line(&mut line).await.unwrap();
        let port: u16 = line.trim().parse().unwrap_or_else(|_| panic!("the receiver printed {line:?}"));
        Self { _child: child, url: format!("http://127.0.0.1:{port}/webhook") }
    }

    /// The requests it got: method and headers (lower-case names).
    async fn log(&self) -> Vec<(String, Value)> {
        let log: Value = reqwest::get(&self.url).await.unwrap().json().await.unwrap();
        log.as_array()
            .unwrap()
            .iter()
            .map(|r| (r["method"].as_str().unwrap().to_owned(), r["headers"].clone()))
            .collect()
    }
}

fn delivery_id(event: &Value) -> String {
    event["deliveries"][0]["deliveryId"].as_str().unwrap().to_owned()
}

/// The status of the delivery's last attempt once it is finished (`delivered` or `failed`).
async fn outcome(app: &TestApp, tenant: &str, delivery: &str) -> (String, Vec<u64>) {
    let path = format!("/v1/tenants/{tenant}/deliveries/{delivery}");
    herald_testkit::eventually("the delivery to finish", WAIT, || async {
        let body = app.get(&path).await.body;
        let status = body["status"].as_str().unwrap_or_default().to_owned();
        let statuses = body["attempts"]
            .as_array()
            .map(|a| a.iter().filter_map(|x| x["response"]["status"].as_u64()).collect())
            .unwrap_or_default();
        (status == "delivered" || status == "failed").then_some((status, statuses))
    })
    .await
}

fn github_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn verify_standard(secret: &str, request: &Received) {
    let wh = standardwebhooks::Webhook::new(secret).unwrap();
    wh.verify(&request.body, &request.headers).unwrap_or_else(|e| panic!("signature refused: {e}"));
}

const ELENIK: &str = r#"{"type": "hmac", "header": "X-Elenik-Signature"}"#;
const GITHUB: &str = r#"{"type": "hmac", "header": "X-Hub-Signature-256", "prefix": "sha256="}"#;
const STRIPE: &str = r#"{"type": "hmac", "header": "Stripe-Signature", "signedContent": "timestampAndBody", "headerFormat": "timestamped"}"#;

fn profile(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

on_both_backends! {
    async fn the_elenik_receiver_verifies_its_hex_signature_and_reads_its_envelope(app) {
        let secret = "your_webhook_secret";
        let receiver = PythonReceiver::start("elenik", secret).await;
        let tenant = app.tenant("Elenik").await;
        // The guide's receiver holds its own secret, and reads `{"event": …, "data": …}`.
        app.endpoint(&tenant, json!({"url": receiver.url, "secret": secret, "signatureProfiles": [profile(ELENIK)],
            "events": ["payment.*"], "payloadFormat": "template", "payloadTemplate": {"event": "{{type}}", "data": "{{data}}"}})).await;
        let event = app.publish(&tenant, json!({"type": "payment.verified",
            "data": {"user_id": "u_123", "amount": 49.99, "currency": "USD"}})).await;
        assert_eq!(outcome(&app, &tenant, &delivery_id(&event)).await, ("delivered".into(), vec![200]));

        // The same receiver holding another secret refuses: the check can fail.
        let wrong = PythonReceiver::start("elenik", "another_secret").await;
        app.endpoint(&tenant, json!({"url": wrong.url, "secret": secret, "signatureProfiles": [profile(ELENIK)],
            "events": ["wrong.*"], "retryPolicy": {"maxAttempts": 1}})).await;
        let event = app.publish(&tenant, json!({"type": "wrong.secret", "data": {}})).await;
        assert_eq!(outcome(&app, &tenant, &delivery_id(&event)).await, ("failed".into(), vec![401]));
    }

    async fn github_and_stripe_style_receivers_verify_and_keep_working_through_a_rotation(app) {
        let tenant = app.tenant("Acme").await;
        let old = "whsec_receivers_old_secret_1";
        let github = PythonReceiver::start("github", old).await;
        let stripe_old = PythonReceiver::start("stripe", old).await;
        let gh = app.endpoint(&tenant, json!({"url": github.url, "secret": old, "signatureProfiles": [profile(GITHUB)],
            "events": ["gh.*"], "retryPolicy": {"maxAttempts": 1}})).await;
        let st = app.endpoint(&tenant, json!({"url": stripe_old.url, "secret": old,
            "signatureProfiles": [profile(STRIPE)], "events": ["st.*"], "retryPolicy": {"maxAttempts": 1}})).await;
        assert_eq!(gh["secret"], old, "the secret is kept as the receiver holds it");
        for ty in ["gh.one", "st.one"] {
            let event = app.publish(&tenant, json!({"type": ty, "data": {"n": 1}})).await;
            assert_eq!(outcome(&app, &tenant, &delivery_id(&event)).await, ("delivered".into(), vec![200]), "{ty}");
        }

        // Rotation to a secret the caller chose, with a grace period: receivers holding either
        // secret verify while both sign.
        let new = "a new secret the receivers get";
        for (endpoint, receiver_convention) in [(&gh, "github"), (&st, "stripe")] {
            let id = endpoint["id"].as_str().unwrap();
            let r = app.post(&format!("/v1/tenants/{tenant}/endpoints/{id}/secret/rotate"),
                json!({"secret": new, "gracePeriod": "1h"})).await;
            assert_eq!(r.status, 200, "{}", r.body);
            assert_eq!(r.body["secret"], new);
            let moved = PythonReceiver::start(receiver_convention, new).await;
            let prefix = if receiver_convention == "github" { "gh" } else { "st" };
            // The receiver that moved to the new secret, and the one still on the old.
            for url in [moved.url.as_str(), if prefix == "gh" { github.url.as_str() } else { stripe_old.url.as_str() }] {
                let r = app.patch(&format!("/v1/tenants/{tenant}/endpoints/{id}"), json!({"url": url})).await;
                assert_eq!(r.status, 200, "{}", r.body);
                let event = app.publish(&tenant, json!({"type": format!("{prefix}.rotated"), "data": {}})).await;
                assert_eq!(outcome(&app, &tenant, &delivery_id(&event)).await, ("delivered".into(), vec![200]),
                    "{receiver_convention} at {url}");
            }
            // Once the grace period ends, only the new secret signs.
            let r = app.post(&format!("/v1/tenants/{tenant}/endpoints/{id}/secret/retire-previous"), json!({})).await;
            assert_eq!(r.status, 204);
            let event = app.publish(&tenant, json!({"type": format!("{prefix}.after"), "data": {}})).await;
            let (status, statuses) = outcome(&app, &tenant, &delivery_id(&event)).await;
            assert_eq!(statuses.first(), Some(&401), "the old secret no longer verifies ({status})");
            let r = app.patch(&format!("/v1/tenants/{tenant}/endpoints/{id}"), json!({"url": moved.url})).await;
            assert_eq!(r.status, 200);
            let event = app.publish(&tenant, json!({"type": format!("{prefix}.moved"), "data": {}})).await;
            assert_eq!(outcome(&app, &tenant, &delivery_id(&event)).await, ("delivered".into(), vec![200]));
        }
    }

    async fn several_profiles_sign_one_request_and_the_official_library_verifies_the_standard_one(app) {
        let receiver = TestReceiver::start().await;
        let tenant = app.tenant("Acme").await;
        let endpoint = app.endpoint(&tenant, json!({"url": receiver.url(), "events": ["a.*"],
            "signatureProfiles": [{"type": "standard"}, profile(GITHUB),
                {"type": "hmac", "header": "X-Signature", "algorithm": "sha512", "encoding": "base64",
                 "signedContent": "timestampAndBody", "layout": "{id}:{timestamp}:{body}", "timestampHeader": "X-Signature-Timestamp"}]})).await;
        assert_eq!(endpoint["signatureProfiles"].as_array().unwrap().len(), 3);
        let secret = endpoint["secret"].as_str().unwrap();
        let event = app.publish(&tenant, json!({"type": "a.b", "data": {"x": [1, 2]}})).await;
        let request = receiver.wait_for(1, WAIT).await.remove(0);
        verify_standard(secret, &request);
        assert_eq!(request.header("x-hub-signature-256").unwrap(), github_signature(secret, &request.body));
        let ts = request.header("x-signature-timestamp").unwrap();
        assert_eq!(ts, request.header("webhook-timestamp").unwrap());
        let mut mac = Hmac::<sha2::Sha512>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{}:{ts}:", event["id"].as_str().unwrap()).as_bytes());
        mac.update(&request.body);
        let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        assert_eq!(request.header("x-signature"), Some(expected.as_str()));

        // Only the hmac profile: no Standard Webhooks signature, the id stays as an idempotency key.
        let only = app.endpoint(&tenant, json!({"url": receiver.url(), "events": ["only.*"],
            "signatureProfiles": [profile(GITHUB)]})).await;
        let id = only["id"].as_str().unwrap();
        app.publish(&tenant, json!({"type": "only.hmac", "data": {}})).await;
        let request = receiver.wait_for(2, WAIT).await.remove(1);
        assert!(request.header("webhook-signature").is_none() && request.header("webhook-timestamp").is_none());
        assert!(request.header("webhook-id").is_some());
        let shown = app.get(&format!("/v1/tenants/{tenant}/endpoints/{id}")).await.body;
        assert_eq!(shown["signatureProfiles"], json!([{"type": "hmac", "header": "X-Hub-Signature-256",
            "prefix": "sha256=", "algorithm": "sha256", "encoding": "hex", "signedContent": "body", "headerFormat": "signature"}]));
    }

    async fn signature_settings_that_cannot_work_are_refused_and_nothing_is_stored(app) {
        let tenant = app.tenant("Acme").await;
        let base = format!("/v1/tenants/{tenant}/endpoints");
        let url = "https://example.com/hook";
        let before = herald_testkit::raw::rows(&app).await;
        for (body, path) in [
            // A receiver's own secret cannot make a Standard Webhooks signature.
            (json!({"url": url, "secret": "plain receiver secret"}), "/secret"),
            (json!({"url": url, "signatureProfiles": []}), "/signatureProfiles"),
            (json!({"url": url, "signatureProfiles": [{"type": "standard"}, {"type": "standard"}]}), "/signatureProfiles"),
            (json!({"url": url, "signatureProfiles": [profile(GITHUB), profile(GITHUB)]}), "/signatureProfiles/1"),
            (json!({"url": url, "signatureScheme": "v1a", "signatureProfiles": [profile(GITHUB)]}), "/signatureProfiles/0"),
            (json!({"url": url, "signatureProfiles": [profile(GITHUB)], "headers": {"X-Hub-Signature-256": "x"}}), "/headers"),
            (json!({"url": url, "cloudeventsHandshake": true}), "/cloudeventsHandshake"),
        ] {
            let r = app.post(&base, body.clone()).await;
            r.assert_problem(422, "validation_failed");
            assert!(r.error_paths().contains(&path.to_owned()), "{body}: {:?}", r.error_paths());
        }
        for body in [
            json!({"url": url, "signatureProfiles": [{"type": "hmac", "header": "X-Sig", "signedContent": "timestampAndBody"}]}),
            json!({"url": url, "signatureProfiles": [{"type": "rsa"}]}),
            json!({"url": url, "signatureProfiles": [{"type": "hmac", "header": "X-Sig", "algorithm": "md5"}]}),
        ] {
            app.post(&base, body).await.assert_problem(422, "validation_failed");
        }
        assert_eq!(herald_testkit::raw::rows(&app).await, before, "nothing was written");

        // An endpoint signed by an hmac profile only keeps a plain secret; adding the standard
        // profile later is refused while its secret cannot serve it.
        let e = app.endpoint(&tenant, json!({"url": url, "secret": "plain receiver secret",
            "signatureProfiles": [profile(GITHUB)]})).await;
        let id = e["id"].as_str().unwrap();
        let r = app.patch(&format!("{base}/{id}"), json!({"signatureProfiles": [{"type": "standard"}, profile(GITHUB)]})).await;
        r.assert_problem(422, "validation_failed");
        assert_eq!(r.error_paths(), ["/signatureProfiles"]);
        // Rotating to a standard secret first makes it possible.
        let r = app.post(&format!("{base}/{id}/secret/rotate"), json!({"gracePeriod": "0s"})).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let r = app.patch(&format!("{base}/{id}"), json!({"signatureProfiles": [{"type": "standard"}, profile(GITHUB)]})).await;
        assert_eq!(r.status, 200, "{}", r.body);
        // …and from then on, a plain secret cannot be rotated in.
        let r = app.post(&format!("{base}/{id}/secret/rotate"), json!({"secret": "plain receiver secret"})).await;
        r.assert_problem(422, "validation_failed");
        assert_eq!(r.error_paths(), ["/secret"]);
    }

    async fn payload_envelopes_send_the_data_alone_or_a_template_with_json_types_kept(app) {
        let receiver = TestReceiver::start().await;
        let tenant = app.tenant("Acme").await;
        app.endpoint(&tenant, json!({"url": format!("{}/data", receiver.url()), "payloadFormat": "data"})).await;
        // The CloudEvents-shaped payload with the extra fields one platform's receivers expect.
        let template = json!({"id": "{{id}}", "entityId": "{{data.EntityId}}", "source": "DataFiles",
            "specVersion": "1.0", "type": "{{type}}", "subject": "{{subject}}", "time": "{{timestamp}}",
            "dataContentType": "application/json", "data": "{{data}}", "eventTypeId": 2,
            "summary": "file {{data.RecordHandle}} ({{data.Size}} bytes)", "size": "{{data.Size}}", "missing": "{{data.nope}}"});
        let e = app.endpoint(&tenant, json!({"url": format!("{}/template", receiver.url()), "payloadFormat": "template",
            "payloadTemplate": template})).await;
        assert_eq!(e["payloadTemplate"], template);
        let event = app.publish(&tenant, json!({"type": "DataFile_Processed", "subject": "DataFile_Processed",
            "data": {"EntityId": "479b6ff9", "RecordHandle": "letter-7", "Size": 2048}})).await;
        let requests = receiver.wait_for(2, WAIT).await;
        let at = |p: &str| requests.iter().find(|r| r.uri.path() == format!("/hook/{p}")).unwrap().clone();
        let data = at("data");
        assert_eq!(data.header("content-type"), Some("application/json"));
        assert_eq!(data.json(), json!({"EntityId": "479b6ff9", "RecordHandle": "letter-7", "Size": 2048}));
        let t = at("template");
        assert_eq!(t.header("content-type"), Some("application/json"));
        let body = t.json();
        assert_eq!(body["id"], event["id"]);
        assert_eq!(body["entityId"], "479b6ff9");
        assert_eq!(body["eventTypeId"], 2);
        assert_eq!(body["size"], 2048, "a whole reference keeps its JSON type");
        assert_eq!(body["summary"], "file letter-7 (2048 bytes)");
        assert_eq!(body["data"]["Size"], 2048);
        assert_eq!(body["time"], event["createdAt"]);
        assert_eq!(body["missing"], Value::Null);
    }

    async fn bad_templates_are_refused_with_a_pointer_into_the_template(app) {
        let tenant = app.tenant("Acme").await;
        let base = format!("/v1/tenants/{tenant}/endpoints");
        let url = "https://example.com/hook";
        for (body, path) in [
            (json!({"url": url, "payloadFormat": "template", "payloadTemplate": {"a": ["ok", "{{nope}}"]}}), "/payloadTemplate/a/1"),
            (json!({"url": url, "payloadFormat": "template", "payloadTemplate": {"x/y": {"z": "{{data.}}"}}}), "/payloadTemplate/x~1y/z"),
            (json!({"url": url, "payloadFormat": "template", "payloadTemplate": {"a": "{{type"}}), "/payloadTemplate/a"),
            (json!({"url": url, "payloadFormat": "template"}), "/payloadTemplate"),
            (json!({"url": url, "payloadTemplate": {"a": "{{type}}"}}), "/payloadTemplate"),
        ] {
            let r = app.post(&base, body.clone()).await;
            r.assert_problem(422, "validation_failed");
            assert_eq!(r.error_paths(), [path], "{body}");
        }
        // PATCH: a format change needs the template; a template alone is checked too.
        let e = app.endpoint(&tenant, json!({"url": url})).await;
        let at = format!("{base}/{}", e["id"].as_str().unwrap());
        app.patch(&at, json!({"payloadFormat": "template"})).await.assert_problem(422, "validation_failed");
        let r = app.patch(&at, json!({"payloadFormat": "template", "payloadTemplate": {"event": "{{type}}", "data": "{{data}}"}})).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let r = app.patch(&at, json!({"payloadTemplate": {"bad": "{{who}}"}})).await;
        assert_eq!(r.error_paths(), ["/payloadTemplate/bad"]);
        let r = app.patch(&at, json!({"payloadFormat": "json", "payloadTemplate": null})).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.body.get("payloadTemplate").is_none());
    }

    async fn every_format_sends_the_same_bytes_on_every_attempt_with_its_content_type(app) {
        let receiver = TestReceiver::start().await;
        let tenant = app.tenant("Acme").await;
        let formats = [("json", "application/json"), ("cloudevents", "application/cloudevents+json"),
            ("cloudevents-binary", "application/json"), ("data", "application/json"), ("template", "application/json")];
        let mut secrets = Vec::new();
        for (format, _) in formats {
            let mut body = json!({"url": format!("{}/{format}", receiver.url()), "payloadFormat": format,
                "retryPolicy": {"delays": ["1s"]}});
            if format == "template" {
                body["payloadTemplate"] = json!({"event": "{{type}}", "data": "{{data}}", "at": "{{timestamp}}"});
            }
            secrets.push(app.endpoint(&tenant, body).await["secret"].as_str().unwrap().to_owned());
        }
        // Every first attempt fails; the second succeeds.
        receiver.script((0..formats.len()).map(|_| Reply::Status(500)));
        app.publish(&tenant, json!({"type": "order.paid", "data": {"z": 1, "a": {"b": [1.5, "x", null]}, "m": "é"}})).await;
        let requests = receiver.wait_for(2 * formats.len(), WAIT).await;
        for ((format, content_type), secret) in formats.iter().zip(&secrets) {
            let sent: Vec<&Received> = requests.iter().filter(|r| r.uri.path() == format!("/hook/{format}")).collect();
            assert_eq!(sent.len(), 2, "{format}");
            assert_eq!(sent[0].body, sent[1].body, "{format}: the same bytes on both attempts");
            assert_ne!(sent[0].header("webhook-signature"), None);
            for request in &sent {
                assert_eq!(request.header("content-type"), Some(*content_type), "{format}");
                verify_standard(secret, request);
            }
        }
    }
}

on_both_backends! {
    async fn events_carry_their_publishers_allowed_headers(backend: Backend) {
        let app = TestApp::start_with(backend, |c| {
            c.event_headers = serde_json::from_value(json!(["x-request-id", "x-shop-*"])).unwrap();
        })
        .await;
        let receiver = TestReceiver::start().await;
        let tenant = app.tenant("Acme").await;
        app.endpoint(&tenant, json!({"url": receiver.url(), "headers": {"X-Shop-Domain": "endpoint.example"}})).await;
        let event = app.publish(&tenant, json!({"type": "a.b", "data": {},
            "headers": {"X-Request-Id": "req-1", "X-Shop-Domain": "event.example", "X-Shop-Token": "t0k"}})).await;
        assert_eq!(event["headers"]["X-Request-Id"], "req-1");
        let request = receiver.wait_for(1, WAIT).await.remove(0);
        assert_eq!(request.header("x-request-id"), Some("req-1"));
        assert_eq!(request.header("x-shop-domain"), Some("endpoint.example"), "the endpoint's own header wins");
        assert_eq!(request.header("x-shop-token"), Some("t0k"));
        let got = app.get(&format!("/v1/tenants/{tenant}/events/{}", event["id"].as_str().unwrap())).await.body;
        assert_eq!(got["headers"], event["headers"]);
        let delivery = app.delivery_with_status(&tenant, &delivery_id(&event), "delivered").await;
        let shown: Vec<(String, String)> =
            serde_json::from_value(delivery["attempts"][0]["request"]["headers"].clone()).unwrap();
        assert!(shown.contains(&("X-Shop-Token".into(), "********".into())), "{shown:?}");
        assert_eq!(shown.iter().filter(|(n, _)| n.eq_ignore_ascii_case("x-shop-domain")).count(), 1, "{shown:?}");

        let before = herald_testkit::raw::rows(&app).await;
        for (headers, path) in [
            (json!({"X-Other": "1"}), "/headers/X-Other"),
            (json!({"Authorization": "Bearer x"}), "/headers/Authorization"),
            (json!({"X-Request-Id": "line\nbreak"}), "/headers/X-Request-Id"),
            (json!({"X-Request-Id": 5}), "/headers/X-Request-Id"),
        ] {
            let r = app.post(&format!("/v1/tenants/{tenant}/events"), json!({"type": "a.b", "data": {}, "headers": headers})).await;
            r.assert_problem(422, "validation_failed");
            assert_eq!(r.error_paths(), [path]);
        }
        assert_eq!(herald_testkit::raw::rows(&app).await, before, "nothing was written");
    }
}

on_both_backends! {
    async fn the_cloudevents_handshake_gates_deliveries_and_its_allowed_rate_is_shown(backend: Backend) {
        let app = TestApp::start_with(backend, |c| c.delivery.handshake_origin = Some("herald.test".into())).await;
        let tenant = app.tenant("Acme").await;
        let accepting = PythonReceiver::start_with("cloudevents", "herald.test", "120").await;
        let e = app.endpoint(&tenant, json!({"url": accepting.url, "payloadFormat": "cloudevents",
            "cloudeventsHandshake": true, "rateLimit": {"perSecond": 10}, "events": ["ok.*"]})).await;
        assert_eq!(e["handshake"], json!({"status": "pending"}));
        let event = app.publish(&tenant, json!({"type": "ok.one", "data": {}})).await;
        assert_eq!(outcome(&app, &tenant, &delivery_id(&event)).await, ("delivered".into(), vec![200]));
        app.publish(&tenant, json!({"type": "ok.two", "data": {}})).await;
        let log = herald_testkit::eventually("both deliveries", WAIT, || async {
            let log = accepting.log().await;
            (log.len() >= 3).then_some(log)
        })
        .await;
        let methods: Vec<&str> = log.iter().map(|(m, _)| m.as_str()).collect();
        assert_eq!(methods, ["OPTIONS", "POST", "POST"], "asked once, before the first delivery");
        assert_eq!(log[0].1["webhook-request-origin"], "herald.test");
        assert_eq!(log[0].1["webhook-request-rate"], "600", "10 per second, asked per minute");
        let id = e["id"].as_str().unwrap();
        let shown = app.get(&format!("/v1/tenants/{tenant}/endpoints/{id}")).await.body;
        assert_eq!(shown["handshake"]["status"], "validated");
        assert_eq!(shown["handshake"]["allowedRate"], 120);
        assert!(shown["handshake"]["checkedAt"].is_string());

        // A receiver that does not trust this origin: nothing is delivered, the attempt says why.
        let refusing = PythonReceiver::start_with("cloudevents", "someone-else.example", "*").await;
        let e = app.endpoint(&tenant, json!({"url": refusing.url, "payloadFormat": "cloudevents-binary",
            "cloudeventsHandshake": true, "events": ["no.*"], "retryPolicy": {"delays": ["1s"], "maxAttempts": 3, "jitter": 0.0}})).await;
        let id = e["id"].as_str().unwrap();
        let event = app.publish(&tenant, json!({"type": "no.one", "data": {}})).await;
        let delivery = herald_testkit::eventually("a refused handshake", WAIT, || async {
            let d = app.get(&format!("/v1/tenants/{tenant}/deliveries/{}", delivery_id(&event))).await.body;
            (d["attempts"].as_array().is_some_and(|a| !a.is_empty())).then_some(d)
        })
        .await;
        let attempt = &delivery["attempts"][0];
        assert_eq!(attempt["errorKind"], "handshake");
        assert_eq!(attempt["request"]["method"], "OPTIONS");
        assert!(attempt["errorMessage"].as_str().unwrap().contains("403"), "{attempt}");
        assert!(refusing.log().await.iter().all(|(m, _)| m == "OPTIONS"), "no notification before it agrees");
        let shown = app.get(&format!("/v1/tenants/{tenant}/endpoints/{id}")).await.body;
        assert_eq!(shown["handshake"]["status"], "refused");
        assert!(shown["handshake"]["detail"].as_str().unwrap().contains("403"));

        // Moved to a receiver that agrees: asked again, and the waiting delivery goes out.
        let r = app.patch(&format!("/v1/tenants/{tenant}/endpoints/{id}"), json!({"url": accepting.url})).await;
        assert_eq!(r.body["handshake"], json!({"status": "pending"}));
        let done = app.delivery_with_status(&tenant, &delivery_id(&event), "delivered").await;
        let last = done["attempts"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["request"]["method"], "POST");
        let methods: Vec<String> = accepting.log().await.into_iter().map(|(m, _)| m).collect();
        assert_eq!(methods.iter().filter(|m| *m == "OPTIONS").count(), 2, "{methods:?}");
    }
}
