//! Per-endpoint TLS against local HTTPS receivers with certificates generated at test time.

use herald_testkit::on_both_backends;
use herald_testkit::tls::{TlsReceiver, issue};
use serde_json::{Value, json};

async fn attempt_of(app: &herald_testkit::TestApp, tls: Value, url: &str, expect: &str) -> Value {
    let tenant = app.tenant("Acme").await;
    let mut body = json!({"url": url, "retryPolicy": {"maxAttempts": 1}});
    if !tls.is_null() {
        body["tls"] = tls;
    }
    app.endpoint(&tenant, body).await;
    let event = app.publish(&tenant, json!({"type": "t.x", "data": {}})).await;
    let delivery = app
        .delivery_with_status(&tenant, event["deliveries"][0]["deliveryId"].as_str().unwrap(), expect)
        .await;
    delivery["attempts"][0].clone()
}

on_both_backends! {
    async fn endpoint_ca_and_client_certificates(app) {
        let server = issue("Receiver CA", &["localhost", "127.0.0.1"]);
        let client = issue("Client CA", &["herald-client"]);
        let receiver = TlsReceiver::start(&server, Some(&client.ca_pem)).await;

        // The endpoint's CA and client certificate: delivered over mutual TLS.
        let mtls = json!({"caCertPem": server.ca_pem, "clientCertPem": client.cert_pem, "clientKeyPem": client.key_pem});
        let ok = attempt_of(&app, mtls, &receiver.url(), "delivered").await;
        assert_eq!(ok["response"]["status"], 204);
        assert_eq!(receiver.served(), 1);

        // The right CA but no client certificate: the receiver refuses the handshake.
        let refused = attempt_of(&app, json!({"caCertPem": server.ca_pem}), &receiver.url(), "failed").await;
        assert_eq!(refused["errorKind"], "tls", "{refused}");

        // No CA of its own: the receiver's certificate is from an unknown CA.
        let unknown = attempt_of(&app, Value::Null, &receiver.url(), "failed").await;
        assert_eq!(unknown["errorKind"], "tls", "{unknown}");

        // Another CA than the one that signed the receiver's certificate.
        let stranger = issue("Some other CA", &["localhost"]);
        let wrong = json!({"caCertPem": stranger.ca_pem, "clientCertPem": client.cert_pem, "clientKeyPem": client.key_pem});
        let wrong = attempt_of(&app, wrong, &receiver.url(), "failed").await;
        assert_eq!(wrong["errorKind"], "tls", "{wrong}");

        assert_eq!(receiver.served(), 1, "only the mutual-TLS attempt got through");
    }
}
