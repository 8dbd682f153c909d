//! OAuth2 client credentials against a local token server and a receiver that checks the token.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Form;
use axum::http::{HeaderMap, StatusCode};
use herald_testkit::on_both_backends;
use serde_json::{Value, json};

#[derive(Default)]
struct Auth {
    /// The token the receiver accepts now.
    valid: Mutex<String>,
    issued: Mutex<u32>,
    received: Mutex<Vec<String>>,
}

/// Starts a token server (`/token`) and a receiver (`/hook`) on one loopback port.
async fn start(auth: Arc<Auth>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let issue = auth.clone();
    let check = auth.clone();
    let app = axum::Router::new()
        .route(
            "/token",
            axum::routing::post(move |Form(form): Form<HashMap<String, String>>| {
                let auth = issue.clone();
                async move {
                    let ok = form.get("grant_type").map(String::as_str) == Some("client_credentials")
                        && form.get("client_id").map(String::as_str) == Some("herald")
                        && form.get("client_secret").map(String::as_str) == Some("s3cret")
                        && form.get("scope").map(String::as_str) == Some("webhooks:write");
                    if !ok {
                        return (StatusCode::UNAUTHORIZED, axum::Json(json!({"error": "invalid_client"})));
                    }
                    let mut issued = auth.issued.lock().unwrap();
                    *issued += 1;
                    let token = format!("tok-{issued}");
                    (
                        StatusCode::OK,
                        axum::Json(
                            json!({"access_token": token, "token_type": "Bearer", "expires_in": 3600}),
                        ),
                    )
                }
            }),
        )
        .route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap| {
                let auth = check.clone();
                async move {
                    let presented =
                        headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                    auth.received.lock().unwrap().push(presented.clone());
                    if presented == format!("Bearer {}", auth.valid.lock().unwrap()) {
                        StatusCode::NO_CONTENT
                    } else {
                        StatusCode::UNAUTHORIZED
                    }
                }
            }),
        );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    base
}

fn oauth(base: &str, secret: &str) -> Value {
    json!({"type": "oauth2ClientCredentials", "tokenUrl": format!("{base}/token"),
           "clientId": "herald", "clientSecret": secret, "scope": "webhooks:write"})
}

on_both_backends! {
    async fn oauth2_tokens_are_fetched_cached_and_refreshed_once_on_401(app) {
        let auth = Arc::new(Auth::default());
        *auth.valid.lock().unwrap() = "tok-1".into();
        let base = start(auth.clone()).await;
        let tenant = app.tenant("Acme").await;
        app.endpoint(&tenant, json!({"url": format!("{base}/hook"), "auth": oauth(&base, "s3cret")})).await;

        let first = app.publish(&tenant, json!({"type": "t.x", "data": {}})).await;
        let d1 = app.delivery_with_status(&tenant, first["deliveries"][0]["deliveryId"].as_str().unwrap(), "delivered").await;
        let second = app.publish(&tenant, json!({"type": "t.x", "data": {}})).await;
        app.delivery_with_status(&tenant, second["deliveries"][0]["deliveryId"].as_str().unwrap(), "delivered").await;
        assert_eq!(*auth.issued.lock().unwrap(), 1, "the token is cached");

        // The receiver stops accepting tok-1: the next attempt gets a 401, fetches a new token and
        // sends once more, all within one attempt.
        *auth.valid.lock().unwrap() = "tok-2".into();
        let third = app.publish(&tenant, json!({"type": "t.x", "data": {}})).await;
        let d3 = app.delivery_with_status(&tenant, third["deliveries"][0]["deliveryId"].as_str().unwrap(), "delivered").await;
        assert_eq!(d3["attemptCount"], 1);
        assert_eq!(*auth.issued.lock().unwrap(), 2);
        let presented = auth.received.lock().unwrap().clone();
        assert_eq!(presented, ["Bearer tok-1", "Bearer tok-1", "Bearer tok-1", "Bearer tok-2"]);

        let shown = d1["attempts"][0]["request"]["headers"].to_string();
        assert!(shown.contains("\"authorization\",\"********\""), "{shown}");
        assert!(!shown.contains("tok-1") && !shown.contains("s3cret"));
    }

    async fn a_refused_token_request_fails_the_attempt(app) {
        let auth = Arc::new(Auth::default());
        let base = start(auth.clone()).await;
        let tenant = app.tenant("Acme").await;
        app.endpoint(&tenant, json!({"url": format!("{base}/hook"), "auth": oauth(&base, "wrong"),
            "retryPolicy": {"maxAttempts": 1}})).await;
        let event = app.publish(&tenant, json!({"type": "t.x", "data": {}})).await;
        let d = app.delivery_with_status(&tenant, event["deliveries"][0]["deliveryId"].as_str().unwrap(), "failed").await;
        let attempt = &d["attempts"][0];
        assert_eq!(attempt["errorKind"], "http_status");
        assert!(attempt["errorMessage"].as_str().unwrap().contains("OAuth2 token request"), "{attempt}");
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(auth.received.lock().unwrap().is_empty(), "no request without a token");
    }
}
