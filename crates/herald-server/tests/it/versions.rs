//! Endpoint versions: every change applies to the version it was computed from, so concurrent
//! writers (the API, rotations, Herald's own disable) never undo each other; the API shows the
//! version as the `ETag` and honours `If-Match` with 412.

use std::time::Duration;

use herald_testkit::receiver::{Reply, TestReceiver};
use herald_testkit::{TestApp, eventually, on_both_backends};
use reqwest::Method;
use serde_json::{Value, json};

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    if_match: Option<&str>,
    body: Value,
) -> herald_testkit::Resp {
    let mut request = app.raw(method, path).bearer_auth(&app.admin_key).json(&body);
    if let Some(tag) = if_match {
        request = request.header("If-Match", tag);
    }
    TestApp::read(request.send().await.unwrap()).await
}

fn etag(r: &herald_testkit::Resp) -> String {
    r.headers.get("etag").expect("an ETag").to_str().unwrap().to_owned()
}

fn verifies(secret: &str, request: &herald_testkit::receiver::Received) -> bool {
    standardwebhooks::Webhook::new(secret).unwrap().verify(&request.body, &request.headers).is_ok()
}

on_both_backends! {
    async fn if_match_guards_writes_and_etags_follow_versions(app) {
        let receiver = TestReceiver::start().await;
        let tenant = app.tenant("Acme").await;
        let created = app.post(&format!("/v1/tenants/{tenant}/endpoints"), json!({"url": receiver.url()})).await;
        assert_eq!(etag(&created), "\"1\"");
        let path = format!("/v1/tenants/{tenant}/endpoints/{}", created.body["id"].as_str().unwrap());
        assert_eq!(etag(&app.get(&path).await), "\"1\"");

        let stale = send(&app, Method::PATCH, &path, Some("\"7\""), json!({"description": "stale"})).await;
        stale.assert_problem(412, "precondition_failed");
        assert_eq!(app.get(&path).await.body["description"], "", "nothing changed");
        let weak = send(&app, Method::PATCH, &path, Some("W/\"1\""), json!({"description": "weak"})).await;
        weak.assert_problem(412, "precondition_failed");

        let fresh = send(&app, Method::PATCH, &path, Some("\"1\""), json!({"description": "fresh"})).await;
        assert_eq!((fresh.status, etag(&fresh)), (200, "\"2\"".to_owned()), "{}", fresh.body);
        // A change that changes nothing stores nothing: same version, no announcement.
        let same = send(&app, Method::PATCH, &path, None, json!({"description": "fresh"})).await;
        assert_eq!((same.status, etag(&same)), (200, "\"2\"".to_owned()), "{}", same.body);
        let retired = send(&app, Method::POST, &format!("{path}/secret/retire-previous"), None, json!({})).await;
        assert_eq!(retired.status, 204, "{}", retired.body);
        assert_eq!(etag(&app.get(&path).await), "\"2\"", "no old secret was live: nothing to retire");
        let any = send(&app, Method::PATCH, &path, None, json!({"description": "any"})).await;
        assert_eq!(etag(&any), "\"3\"");
        let star = send(&app, Method::PUT, &path, Some("*"), json!({"url": receiver.url(), "description": "put"})).await;
        assert_eq!((star.status, etag(&star)), (200, "\"4\"".to_owned()), "{}", star.body);
        let rotated = send(&app, Method::POST, &format!("{path}/secret/rotate"), Some("\"3\""), json!({})).await;
        rotated.assert_problem(412, "precondition_failed");
        let rotated = send(&app, Method::POST, &format!("{path}/secret/rotate"), Some("\"4\""), json!({})).await;
        assert_eq!((rotated.status, etag(&rotated)), (200, "\"5\"".to_owned()));

        // Herald's own change counts too: a receiver answering 410 Gone disables the endpoint,
        // and a write computed before that is refused instead of re-enabling it unseen.
        receiver.set_default(Reply::Status(410));
        app.publish(&tenant, json!({"type": "t.x", "data": {}})).await;
        eventually("the endpoint to be disabled", Duration::from_secs(20), || async {
            (app.get(&path).await.body["enabled"] == false).then_some(())
        })
        .await;
        assert_eq!(etag(&app.get(&path).await), "\"6\"");
        let blind = send(&app, Method::PATCH, &path, Some("\"5\""), json!({"description": "unseen"})).await;
        blind.assert_problem(412, "precondition_failed");
        assert_eq!(app.get(&path).await.body["enabled"], false);
    }

    async fn concurrent_writers_never_undo_each_other(app) {
        let receiver = TestReceiver::start().await;
        let tenant = app.tenant("Acme").await;
        let endpoint = app.endpoint(&tenant, json!({"url": receiver.url()})).await;
        let path = format!("/v1/tenants/{tenant}/endpoints/{}", endpoint["id"].as_str().unwrap());
        let rotate = format!("{path}/secret/rotate");
        let rotations = (0..4).map(|_| send(&app, Method::POST, &rotate, None, json!({"gracePeriod": "1h"})));
        let patches = (0..4).map(|n| send(&app, Method::PATCH, &path, None,
            json!({"auth": {"type": "bearer", "token": format!("token-{n}")}})));
        let (rotated, patched) = tokio::join!(futures::future::join_all(rotations), futures::future::join_all(patches));
        let mut secrets = vec![endpoint["secret"].as_str().unwrap().to_owned()];
        for r in rotated.iter().chain(&patched) {
            assert_eq!(r.status, 200, "{}", r.body);
        }
        secrets.extend(rotated.iter().map(|r| r.body["secret"].as_str().unwrap().to_owned()));

        // Every change applied, each once: 1 + 4 rotations + 4 updates.
        assert_eq!(etag(&app.get(&path).await), "\"9\"");
        app.publish(&tenant, json!({"type": "t.x", "data": {}})).await;
        let requests = receiver.wait_for(1, Duration::from_secs(20)).await;
        let signatures = requests[0].header("webhook-signature").unwrap();
        assert_eq!(signatures.split(' ').count(), 5, "{signatures}");
        for secret in &secrets {
            assert!(verifies(secret, &requests[0]), "no rotation was undone: {secret} signs");
        }
        let auth = requests[0].header("authorization").unwrap();
        assert!((0..4).any(|n| auth == format!("Bearer token-{n}")), "{auth}");
    }
}
