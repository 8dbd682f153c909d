use reqwest::Method;
use serde_json::json;

use crate::support::{Backend, TestApp, raw};
use herald_testkit::on_both_backends;

on_both_backends! {
    async fn malformed_json_is_400_and_changes_nothing(app) {
        let tenant = app.tenant("Acme").await;
        let before = raw::dump(&app).await;
        for body in ["{\"url\": ", "not json", "{\"url\": \"https://e.com/\"} trailing", ""] {
            let r = app.raw(Method::POST, &format!("/v1/tenants/{tenant}/endpoints"))
                .bearer_auth(&app.admin_key)
                .header("content-type", "application/json")
                .body(body)
                .send().await.unwrap();
            TestApp::read(r).await.assert_problem(400, "malformed_request");
        }
        assert_eq!(raw::dump(&app).await, before);
    }

    async fn a_body_that_is_not_json_is_415(app) {
        let r = app.raw(Method::POST, "/v1/tenants").bearer_auth(&app.admin_key)
            .header("content-type", "text/plain").body("{\"name\": \"x\"}").send().await.unwrap();
        TestApp::read(r).await.assert_problem(415, "unsupported_media_type");
        let r = app.raw(Method::POST, "/v1/tenants").bearer_auth(&app.admin_key).body("{\"name\": \"x\"}").send().await.unwrap();
        TestApp::read(r).await.assert_problem(415, "unsupported_media_type");
        let ok = app.raw(Method::POST, "/v1/tenants").bearer_auth(&app.admin_key)
            .header("content-type", "application/json; charset=utf-8").body("{\"name\": \"x\"}").send().await.unwrap();
        assert_eq!(ok.status(), 201);
    }

    async fn unknown_routes_and_methods_are_problems(app) {
        app.get("/v1/nothing-here").await.assert_problem(404, "not_found");
        app.call(Method::DELETE, "/v1/tenants", Some(&app.admin_key), None).await.assert_problem(405, "method_not_allowed");
    }

    async fn health_checks(app) {
        let live = app.call(Method::GET, "/health/live", None, None).await;
        assert_eq!((live.status, live.body["status"].as_str()), (200, Some("ok")));
        let ready = app.call(Method::GET, "/health/ready", None, None).await;
        assert_eq!((ready.status, ready.body["status"].as_str()), (200, Some("ok")));
    }
}

async fn oversized_body_is_413_and_changes_nothing(backend: Backend) {
    let app = TestApp::start_with(backend, |c| c.max_body_bytes = 4096).await;
    let tenant = app.tenant("Acme").await;
    let before = raw::dump(&app).await;
    let big = json!({"url": "https://e.com/", "description": "x".repeat(8000)});
    let r = app.post(&format!("/v1/tenants/{tenant}/endpoints"), big).await;
    r.assert_problem(413, "payload_too_large");
    assert_eq!(raw::dump(&app).await, before);
    let small = app.post(&format!("/v1/tenants/{tenant}/endpoints"), json!({"url": "https://e.com/"})).await;
    assert_eq!(small.status, 201, "bodies under the limit still pass");
}

#[tokio::test]
async fn oversized_body_sqlite() {
    oversized_body_is_413_and_changes_nothing(Backend::Sqlite).await;
}

#[tokio::test]
async fn oversized_body_postgres() {
    oversized_body_is_413_and_changes_nothing(Backend::Postgres).await;
}
