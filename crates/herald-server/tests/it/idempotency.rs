use reqwest::Method;
use serde_json::json;

use herald_testkit::{TestApp, on_both_backends};

async fn post_with_key(
    app: &TestApp,
    path: &str,
    api_key: &str,
    idem: &str,
    body: serde_json::Value,
) -> (u16, Option<String>, serde_json::Value) {
    let r = app
        .raw(Method::POST, path)
        .bearer_auth(api_key)
        .header("Idempotency-Key", idem)
        .json(&body)
        .send()
        .await
        .unwrap();
    let replayed = r.headers().get("idempotent-replayed").map(|v| v.to_str().unwrap().to_owned());
    let resp = TestApp::read(r).await;
    (resp.status, replayed, resp.body)
}

on_both_backends! {
    async fn a_repeated_post_with_the_same_key_is_replayed_not_redone(app) {
        let (status, replayed, first) = post_with_key(&app, "/v1/tenants", &app.admin_key, "k-1", json!({"name": "Acme"})).await;
        assert_eq!((status, replayed), (201, None));
        let (status, replayed, again) = post_with_key(&app, "/v1/tenants", &app.admin_key, "k-1", json!({"name": "Acme"})).await;
        assert_eq!((status, replayed.as_deref()), (201, Some("true")));
        assert_eq!(again, first, "the same response, byte for byte");
        assert_eq!(app.get("/v1/tenants").await.body["data"].as_array().unwrap().len(), 1, "created once");

        let (status, _, body) = post_with_key(&app, "/v1/tenants", &app.admin_key, "k-1", json!({"name": "Other"})).await;
        assert_eq!(status, 422);
        assert_eq!(body["code"], "idempotency_key_reused");

        let (status, replayed, _) = post_with_key(&app, "/v1/tenants", &app.admin_key, "k-2", json!({"name": "Acme"})).await;
        assert_eq!((status, replayed), (201, None), "a new key is a new request");
        assert_eq!(app.get("/v1/tenants").await.body["data"].as_array().unwrap().len(), 2);
    }

    async fn keys_are_scoped_to_the_caller_and_route_and_errors_do_not_use_them_up(app) {
        let tenant = app.tenant("Acme").await;
        let tenant_key = app.tenant_key(&tenant).await;
        let path = format!("/v1/tenants/{tenant}/events");
        let (a, _, _) = post_with_key(&app, &path, &app.admin_key, "same", json!({"type": "a.b", "data": {}})).await;
        let (b, replayed, _) = post_with_key(&app, &path, &tenant_key, "same", json!({"type": "a.b", "data": {}})).await;
        assert_eq!((a, b, replayed), (201, 201, None), "another caller's key space");
        assert_eq!(app.get(&path).await.body["data"].as_array().unwrap().len(), 2);

        // A request refused by validation leaves its key free: the corrected request may use it.
        let (status, _, first) = post_with_key(&app, &path, &app.admin_key, "bad", json!({"type": "a b", "data": {}})).await;
        assert_eq!((status, first["code"].as_str()), (422, Some("validation_failed")));
        let (status, replayed, _) = post_with_key(&app, &path, &app.admin_key, "bad", json!({"type": "a b", "data": {}})).await;
        assert_eq!((status, replayed), (422, None), "validated again, not replayed");
        let (status, replayed, fixed) = post_with_key(&app, &path, &app.admin_key, "bad", json!({"type": "a.b", "data": {"n": 1}})).await;
        assert_eq!((status, replayed), (201, None), "{fixed}");
        let (status, replayed, again) = post_with_key(&app, &path, &app.admin_key, "bad", json!({"type": "a.b", "data": {"n": 1}})).await;
        assert_eq!((status, replayed.as_deref(), again), (201, Some("true"), fixed));

        // Credentials come first: without them, even a malformed key is a 401.
        let r = app.raw(Method::POST, &path).header("Idempotency-Key", "has space").json(&json!({})).send().await.unwrap();
        TestApp::read(r).await.assert_problem(401, "unauthorized");
        let r = app.raw(Method::POST, &path).bearer_auth("hk_wrong").header("Idempotency-Key", "k").json(&json!({})).send().await.unwrap();
        TestApp::read(r).await.assert_problem(401, "unauthorized");
        let (status, _, body) = post_with_key(&app, &path, &app.admin_key, "has space", json!({"type": "a.b", "data": {}})).await;
        assert_eq!((status, body["code"].as_str()), (422, Some("validation_failed")));

        let long = "k".repeat(300);
        let (status, _, body) = post_with_key(&app, &path, &app.admin_key, &long, json!({"type": "a.b", "data": {}})).await;
        assert_eq!((status, body["code"].as_str()), (422, Some("validation_failed")));
    }
}
