use reqwest::Method;
use serde_json::json;

use crate::support::{Backend, TestApp, raw};
use herald_testkit::on_both_backends;

on_both_backends! {
    async fn malformed_json_is_400_and_changes_nothing(app) {
        let tenant = app.tenant("Acme").await;
        let before = raw::rows(&app).await;
        for body in ["{\"url\": ", "not json", "{\"url\": \"https://e.com/\"} trailing", ""] {
            let r = app.raw(Method::POST, &format!("/v1/tenants/{tenant}/endpoints"))
                .bearer_auth(&app.admin_key)
                .header("content-type", "application/json")
                .body(body)
                .send().await.unwrap();
            TestApp::read(r).await.assert_problem(400, "malformed_request");
        }
        assert_eq!(raw::rows(&app).await, before);
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
    let before = raw::rows(&app).await;
    let big = json!({"url": "https://e.com/", "description": "x".repeat(8000)});
    let r = app.post(&format!("/v1/tenants/{tenant}/endpoints"), big).await;
    r.assert_problem(413, "payload_too_large");
    assert_eq!(raw::rows(&app).await, before);
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

/// Whether `text` names a Rust type or number type instead of speaking JSON.
fn speaks_rust(text: &str) -> bool {
    let camel = text.split(|c: char| !c.is_ascii_alphanumeric()).any(|word| {
        let mut chars = word.chars();
        chars.next().is_some_and(|c| c.is_ascii_uppercase())
            && word.chars().skip(1).any(|c| c.is_ascii_lowercase())
            && word.chars().skip(1).any(|c| c.is_ascii_uppercase())
    });
    let words = ["struct", "enum", "sequence", "u32", "u64", "i64", "usize", "unit value", "map"];
    camel
        || text.split(|c: char| !c.is_ascii_alphanumeric() && c != ' ').any(|w| words.contains(&w))
        || words.iter().any(|w| text.contains(&format!(" {w} ")) || text.contains(&format!("expected {w}")))
}

on_both_backends! {
    async fn arrays_are_not_objects_and_messages_speak_json(app) {
        let tenant = app.tenant("Acme").await;
        let endpoint = app.endpoint(&tenant, json!({"url": "https://e.example.com/"})).await;
        let ep = endpoint["id"].as_str().unwrap();
        let before = raw::rows(&app).await;
        let endpoints = format!("/v1/tenants/{tenant}/endpoints");
        let cases: Vec<(Method, String, serde_json::Value)> = vec![
            (Method::POST, "/v1/tenants".into(), json!(["Acme"])),
            (Method::POST, "/v1/tenants".into(), json!({"name": ["Acme"]})),
            (Method::POST, "/v1/event-types".into(), json!(["a.b"])),
            (Method::POST, endpoints.clone(), json!(["https://e.example.com/"])),
            (Method::POST, endpoints.clone(), json!({"url": "https://e.example.com/", "auth": ["bearer", "t"]})),
            (Method::POST, endpoints.clone(), json!({"url": "https://e.example.com/", "retryPolicy": [["1m"]]})),
            (Method::POST, endpoints.clone(), json!({"url": "https://e.example.com/", "rateLimit": [5]})),
            (Method::POST, endpoints.clone(), json!({"url": "https://e.example.com/", "rateLimit": {"perSecond": -1}})),
            (Method::POST, endpoints.clone(), json!({"url": "https://e.example.com/", "httpMethod": 5})),
            (Method::POST, endpoints.clone(), json!({"url": 5})),
            (Method::PATCH, format!("{endpoints}/{ep}"), json!([true])),
            (Method::POST, format!("/v1/tenants/{tenant}/events"), json!(["t.x", {}])),
            (Method::POST, format!("/v1/tenants/{tenant}/events"), json!({"type": "t.x", "data": []})),
            (Method::POST, format!("{endpoints}/{ep}/secret/rotate"), json!(["1h"])),
        ];
        for (method, path, body) in cases {
            let r = app.call(method.clone(), &path, Some(&app.admin_key), Some(&body)).await;
            r.assert_problem(422, "validation_failed");
            let detail = r.body["detail"].as_str().unwrap();
            assert!(!speaks_rust(detail), "{method} {path} {body}: {detail}");
            assert!(!speaks_rust(&r.body["errors"].to_string()), "{method} {path} {body}: {}", r.body);
        }
        assert_eq!(raw::rows(&app).await, before, "nothing was written");
    }

    async fn nul_characters_are_refused_everywhere(app) {
        let tenant = app.tenant("Acme").await;
        let before = raw::rows(&app).await;
        let cases = [
            ("/v1/tenants".to_owned(), json!({"name": "Ac\u{0}me"})),
            ("/v1/tenants".to_owned(), json!({"name": "Acme", "metadata": {"k": "v\u{0}"}})),
            ("/v1/event-types".to_owned(), json!({"name": "a.b", "description": "x\u{0}y"})),
            (format!("/v1/tenants/{tenant}/endpoints"), json!({"url": "https://e.example.com/", "description": "\u{0}"})),
            (format!("/v1/tenants/{tenant}/keys"), json!({"name": "k\u{0}"})),
            (format!("/v1/tenants/{tenant}/events"), json!({"type": "t.x", "data": {"k": "\u{0}"}})),
            (format!("/v1/tenants/{tenant}/events"), json!({"id": "e\u{0}1", "type": "t.x", "data": {}})),
            (format!("/v1/tenants/{tenant}/events"), json!({"type": "t.x", "subject": "s\u{0}", "data": {}})),
        ];
        for (path, body) in cases {
            let r = app.post(&path, body.clone()).await;
            r.assert_problem(422, "validation_failed");
            assert!(r.body["detail"].as_str().unwrap().contains("NUL"), "{path} {body}: {}", r.body);
        }
        assert_eq!(raw::rows(&app).await, before, "nothing was written");
        for path in [format!("/v1/tenants/{tenant}/events?type=a%00b"), "/v1/tenants/a%00b".to_owned(),
                     format!("/v1/tenants/{tenant}/events/e%001")] {
            let r = app.get(&path).await;
            assert!(r.status == 404 || r.status == 422, "{path}: {} {}", r.status, r.body);
        }
    }

    async fn dot_uids_and_bad_cursors_are_refused(app) {
        for uid in [".", ".."] {
            let r = app.post("/v1/tenants", json!({"name": "Dots", "uid": uid})).await;
            r.assert_problem(422, "validation_failed");
            assert_eq!(r.error_paths(), ["/uid"]);
        }
        app.post("/v1/tenants", json!({"name": "A"})).await;
        app.post("/v1/tenants", json!({"name": "B"})).await;
        let first = app.get("/v1/tenants?limit=1").await;
        let cursor = first.body["nextCursor"].as_str().unwrap();
        assert_eq!(app.get(&format!("/v1/tenants?limit=1&cursor={cursor}")).await.status, 200);
        for bad in ["not*a*cursor", "%FF%FE", "a%20b", &"a".repeat(257)] {
            let r = app.get(&format!("/v1/tenants?cursor={bad}")).await;
            r.assert_problem(422, "validation_failed");
            assert_eq!(r.error_paths(), ["/cursor"]);
        }
    }
}
