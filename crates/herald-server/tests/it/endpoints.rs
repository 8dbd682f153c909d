use herald_core::endpoint::EndpointCredentials;
use herald_core::seal::MasterKey;
use serde_json::{Value, json};

use crate::support::{TestApp, raw};
use herald_testkit::on_both_backends;

fn certificate() -> (String, String) {
    let generated = rcgen::generate_simple_self_signed(vec!["receiver.test".to_owned()]).unwrap();
    (generated.cert.pem(), generated.signing_key.serialize_pem())
}

/// Everything an endpoint can carry.
pub(crate) fn full_body() -> (Value, String, String) {
    let (cert, key) = certificate();
    let body = json!({
        "url": "https://receiver.example.com/hooks?src=herald",
        "description": "Billing system",
        "events": ["contract.*", "kyc.verified"],
        "filter": {"keyToFilter": "customer_request.request_items.product_category", "supportedValues": ["solar", "electricity"]},
        "httpMethod": "PUT",
        "enabled": false,
        "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "auth": {"type": "oauth2ClientCredentials", "tokenUrl": "https://auth.example.com/token",
                 "clientId": "herald", "clientSecret": "oauth-CLIENT-secret", "scope": "webhooks"},
        "headers": {"X-Tenant": "acme", "X-Api-Token": "header-TOKEN-value"},
        "tls": {"caCertPem": cert, "clientCertPem": cert, "clientKeyPem": key},
        "retryPolicy": {"delays": ["10s", "30s", "1m", "5m", "10m", "30m", "1h", "3h", "6h", "12h"], "maxAttempts": 30, "ttl": "24h"},
        "rateLimit": {"perSecond": 50, "maxInFlight": 5},
        "payloadFormat": "cloudevents",
        "metadata": {"team": "billing"},
    });
    (body, cert, key)
}

async fn sealed_credentials(app: &TestApp, id: &str, key: &MasterKey) -> EndpointCredentials {
    let (_, sealed) = raw::endpoint_row(app, id).await;
    let plaintext = key.open(id, &sealed).expect("sealed with the configured master key, bound to its id");
    serde_json::from_slice(&plaintext).unwrap()
}

on_both_backends! {
    async fn minimal_endpoint_gets_defaults_and_a_generated_secret(app) {
        let tenant = app.tenant("Acme").await;
        let created = app.endpoint(&tenant, json!({"url": "https://example.com/webhooks"})).await;
        let id = created["id"].as_str().unwrap();
        assert!(id.starts_with("ep_"));
        let secret = created["secret"].as_str().unwrap();
        assert!(secret.starts_with("whsec_"));
        assert_eq!(herald_core::secret::SigningSecret::parse(secret).unwrap().hmac_key().unwrap().len(), 32);
        assert_eq!(created["httpMethod"], "POST");
        assert_eq!(created["enabled"], true);
        assert_eq!(created["events"], json!([]));
        assert_eq!(created["payloadFormat"], "json");
        assert_eq!(created["auth"], json!({"type": "none"}));
        assert_eq!(created["tenantId"], tenant.as_str());

        let got = app.get(&format!("/v1/tenants/{tenant}/endpoints/{id}")).await;
        assert_eq!(got.status, 200);
        assert!(got.body.get("secret").is_none(), "the secret is shown only on create");
        let mut without_secret = created.clone();
        without_secret.as_object_mut().unwrap().remove("secret");
        assert_eq!(got.body, without_secret);
        let listed = app.get(&format!("/v1/tenants/{tenant}/endpoints")).await;
        assert_eq!(listed.body["data"], json!([without_secret]));
        assert!(!listed.body.to_string().contains(secret));
    }

    async fn every_field_is_validated_stored_and_returned_without_credentials(app) {
        let tenant = app.tenant("Acme").await;
        let (body, cert, client_key) = full_body();
        let created = app.endpoint(&tenant, body.clone()).await;
        let id = created["id"].as_str().unwrap().to_owned();
        assert_eq!(created["secret"], body["secret"], "a caller-supplied secret is kept");

        let got = app.get(&format!("/v1/tenants/{tenant}/endpoints/{id}")).await.body;
        for field in ["url", "description", "events", "filter", "httpMethod", "enabled", "rateLimit", "payloadFormat", "metadata"] {
            assert_eq!(got[field], body[field], "{field}");
        }
        assert_eq!(got["retryPolicy"]["delays"][9], "12h");
        assert_eq!(got["retryPolicy"]["maxAttempts"], 30);
        assert_eq!(got["auth"], json!({"type": "oauth2ClientCredentials", "tokenUrl": "https://auth.example.com/token",
            "clientId": "herald", "scope": "webhooks", "clientSecretSet": true}));
        assert_eq!(got["headers"], json!({"X-Tenant": "acme", "X-Api-Token": "********"}));
        assert_eq!(got["tls"], json!({"caCertPem": cert, "clientCertPem": cert, "clientKeySet": true}));
        let shown = got.to_string();
        for secret in ["oauth-CLIENT-secret", "header-TOKEN-value", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "PRIVATE KEY"] {
            assert!(!shown.contains(secret), "{secret} is write-only");
        }

        let credentials = sealed_credentials(&app, &id, &app.master_key).await;
        assert_eq!(credentials.secret.expose(), body["secret"].as_str().unwrap());
        assert_eq!(credentials.client_key_pem.as_deref(), Some(client_key.as_str()));
    }

    async fn credentials_are_encrypted_at_rest(app) {
        let tenant = app.tenant("Acme").await;
        let (body, _, client_key) = full_body();
        let created = app.endpoint(&tenant, body).await;
        let basic = app.endpoint(&tenant, json!({"url": "https://b.example.com/",
            "auth": {"type": "basic", "username": "alice", "password": "basic-PASSWORD"}})).await;
        let dump = raw::dump(&app).await;
        let key_body = client_key.lines().nth(1).unwrap().to_owned();
        for secret in ["oauth-CLIENT-secret", "header-TOKEN-value", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "basic-PASSWORD", key_body.as_str(),
                       created["secret"].as_str().unwrap(), basic["secret"].as_str().unwrap()] {
            assert!(!dump.contains(secret), "{secret} is stored in clear");
        }
        let (spec, _) = raw::endpoint_row(&app, created["id"].as_str().unwrap()).await;
        assert!(spec.contains("receiver.example.com"), "the shown part is in clear, as expected");
        let wrong_key = MasterKey::generate();
        let (_, sealed) = raw::endpoint_row(&app, created["id"].as_str().unwrap()).await;
        assert!(wrong_key.open(created["id"].as_str().unwrap(), &sealed).is_err());
    }

    async fn invalid_endpoints_are_refused_with_the_failing_path_and_nothing_is_stored(app) {
        let tenant = app.tenant("Acme").await;
        let (cert, _) = certificate();
        let cases = [
            (json!({}), "/url"),
            (json!({"url": "ftp://example.com/"}), "/url"),
            (json!({"url": "not a url"}), "/url"),
            (json!({"url": "https://user:pw@example.com/"}), "/url"),
            (json!({"url": "https://e.com/", "events": ["a.*.b"]}), "/events/0"),
            (json!({"url": "https://e.com/", "events": ["ok", "bad name"]}), "/events/1"),
            (json!({"url": "https://e.com/", "filter": {"keyToFilter": "", "supportedValues": ["x"]}}), "/filter"),
            (json!({"url": "https://e.com/", "httpMethod": "GET"}), "/httpMethod"),
            (json!({"url": "https://e.com/", "enabled": "yes"}), "/enabled"),
            (json!({"url": "https://e.com/", "secret": "not-a-secret"}), "/secret"),
            (json!({"url": "https://e.com/", "auth": {"type": "basic", "username": "u"}}), "/auth/password"),
            (json!({"url": "https://e.com/", "auth": {"type": "kerberos"}}), "/auth/type"),
            (json!({"url": "https://e.com/", "headers": {"Transfer-Encoding": "chunked"}}), "/headers"),
            (json!({"url": "https://e.com/", "headers": {"webhook-signature": "v1,x"}}), "/headers"),
            (json!({"url": "https://e.com/", "tls": {"caCertPem": "garbage"}}), "/tls/caCertPem"),
            (json!({"url": "https://e.com/", "tls": {"clientCertPem": cert}}), "/tls"),
            (json!({"url": "https://e.com/", "retryPolicy": {"delays": ["1m"], "maxAttempts": 0}}), "/retryPolicy"),
            (json!({"url": "https://e.com/", "retryPolicy": {"delays": ["soon"]}}), "/retryPolicy/delays/0"),
            (json!({"url": "https://e.com/", "rateLimit": {"perSecond": 0}}), "/rateLimit"),
            (json!({"url": "https://e.com/", "payloadFormat": "xml"}), "/payloadFormat"),
            (json!({"url": "https://e.com/", "metadata": {"k": ["v"]}}), "/metadata/k"),
            (json!({"url": "https://e.com/", "description": "d".repeat(1025)}), "/description"),
            (json!({"url": "https://e.com/", "colour": "red"}), "/colour"),
        ];
        for (body, path) in cases {
            let r = app.post(&format!("/v1/tenants/{tenant}/endpoints"), body.clone()).await;
            r.assert_problem(422, "validation_failed");
            assert_eq!(r.error_paths(), [path], "{body}: {}", r.body);
        }
        assert_eq!(app.get(&format!("/v1/tenants/{tenant}/endpoints")).await.body["data"], json!([]));
        let dump = raw::dump(&app).await;
        assert!(!dump.contains("e.com/"), "no partial write");
    }

    async fn put_replaces_the_configuration_but_keeps_the_secret(app) {
        let tenant = app.tenant("Acme").await;
        let (body, _, _) = full_body();
        let created = app.endpoint(&tenant, body).await;
        let id = created["id"].as_str().unwrap();
        let path = format!("/v1/tenants/{tenant}/endpoints/{id}");

        let replaced = app.put(&path, json!({"url": "https://new.example.com/", "events": ["kyc.*"]})).await;
        assert_eq!(replaced.status, 200, "{}", replaced.body);
        assert_eq!(replaced.body["url"], "https://new.example.com/");
        assert_eq!(replaced.body["events"], json!(["kyc.*"]));
        assert_eq!(replaced.body["filter"], Value::Null, "absent fields are reset by PUT");
        assert_eq!(replaced.body["tls"], Value::Null);
        assert_eq!(replaced.body["auth"], json!({"type": "none"}));
        assert_eq!(replaced.body["httpMethod"], "POST");
        assert_eq!(replaced.body["enabled"], true);
        assert_eq!(replaced.body["createdAt"], created["createdAt"]);
        assert!(replaced.body.get("secret").is_none());
        let credentials = sealed_credentials(&app, id, &app.master_key).await;
        assert_eq!(credentials.secret.expose(), created["secret"].as_str().unwrap());

        let refused = app.put(&path, json!({"url": "https://x.example.com/", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})).await;
        refused.assert_problem(422, "validation_failed");
        assert_eq!(refused.error_paths(), ["/secret"]);
        assert_eq!(app.get(&path).await.body, replaced.body, "the refused PUT changed nothing");
    }

    async fn patch_changes_only_what_is_sent(app) {
        let tenant = app.tenant("Acme").await;
        let (body, _, _) = full_body();
        let created = app.endpoint(&tenant, body).await;
        let id = created["id"].as_str().unwrap();
        let path = format!("/v1/tenants/{tenant}/endpoints/{id}");
        let before = app.get(&path).await.body;

        let patched = app.patch(&path, json!({"description": "renamed", "filter": null, "enabled": true})).await;
        assert_eq!(patched.status, 200, "{}", patched.body);
        assert_eq!(patched.body["description"], "renamed");
        assert_eq!(patched.body["filter"], Value::Null);
        assert_eq!(patched.body["enabled"], true);
        for kept in ["url", "events", "auth", "headers", "tls", "retryPolicy", "rateLimit", "payloadFormat", "metadata", "httpMethod"] {
            assert_eq!(patched.body[kept], before[kept], "{kept}");
        }
        let credentials = sealed_credentials(&app, id, &app.master_key).await;
        assert_eq!(credentials.secret.expose(), created["secret"].as_str().unwrap());

        let auth = app.patch(&path, json!({"auth": {"type": "bearer", "token": "new-BEARER"}})).await;
        assert_eq!(auth.body["auth"], json!({"type": "bearer", "tokenSet": true}));

        let current = app.get(&path).await.body;
        for bad in [json!({"url": "nope"}), json!({"events": ["*", "a..b"]}), json!({"tls": {"clientKeyPem": "x"}}), json!({"secret": "whsec_x"})] {
            app.patch(&path, bad).await.assert_problem(422, "validation_failed");
        }
        assert_eq!(app.get(&path).await.body, current, "refused patches changed nothing");
    }

    async fn delete_removes_the_endpoint(app) {
        let tenant = app.tenant("Acme").await;
        let created = app.endpoint(&tenant, json!({"url": "https://e.example.com/"})).await;
        let path = format!("/v1/tenants/{tenant}/endpoints/{}", created["id"].as_str().unwrap());
        assert_eq!(app.delete(&path).await.status, 204);
        app.get(&path).await.assert_problem(404, "not_found");
        app.delete(&path).await.assert_problem(404, "not_found");
        app.get(&format!("/v1/tenants/{tenant}/endpoints/not-an-id")).await.assert_problem(404, "not_found");
    }

    async fn endpoints_are_reachable_by_tenant_uid_and_paginated(app) {
        app.post("/v1/tenants", json!({"uid": "acme", "name": "Acme"})).await;
        let mut ids = Vec::new();
        for n in 0..5 {
            ids.push(app.endpoint("acme", json!({"url": format!("https://e{n}.example.com/")})).await["id"].as_str().unwrap().to_owned());
        }
        let first = app.get("/v1/tenants/acme/endpoints?limit=2").await;
        let page: Vec<&str> = first.body["data"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap()).collect();
        assert_eq!(page, [ids[4].as_str(), ids[3].as_str()]);
        let cursor = first.body["nextCursor"].as_str().unwrap();
        let second = app.get(&format!("/v1/tenants/acme/endpoints?limit=10&cursor={cursor}")).await;
        assert_eq!(second.body["data"].as_array().unwrap().len(), 3);
        assert_eq!(second.body["nextCursor"], Value::Null);
    }
}
