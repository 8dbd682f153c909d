use reqwest::Method;
use serde_json::{Value, json};

use crate::support::raw;
use herald_testkit::on_both_backends;

/// Every route, with a body where it takes one.
fn routes(tenant: &str, endpoint: &str, key_id: &str) -> Vec<(Method, String, Option<Value>)> {
    // Every endpoint here points at a closed loopback port: what gets published goes nowhere else.
    let ep = json!({"url": "http://127.0.0.1:9/"});
    let delivery = "dlv_01ARZ3NDEKTSV4RRFFQ69G5FAV";
    vec![
        (Method::GET, "/v1/tenants".into(), None),
        (Method::POST, "/v1/tenants".into(), Some(json!({"name": "x"}))),
        (Method::GET, format!("/v1/tenants/{tenant}"), None),
        (Method::PATCH, format!("/v1/tenants/{tenant}"), Some(json!({"name": "y"}))),
        (Method::DELETE, format!("/v1/tenants/{tenant}"), None),
        (Method::GET, format!("/v1/tenants/{tenant}/keys"), None),
        (Method::POST, format!("/v1/tenants/{tenant}/keys"), Some(json!({}))),
        (Method::DELETE, format!("/v1/tenants/{tenant}/keys/{key_id}"), None),
        (Method::GET, "/v1/event-types".into(), None),
        (Method::POST, "/v1/event-types".into(), Some(json!({"name": "n.x"}))),
        (Method::GET, "/v1/event-types/kyc.verified".into(), None),
        (Method::PUT, "/v1/event-types/kyc.verified".into(), Some(json!({}))),
        (Method::PATCH, "/v1/event-types/kyc.verified".into(), Some(json!({"deprecated": true}))),
        (Method::DELETE, "/v1/event-types/kyc.verified".into(), None),
        (Method::GET, format!("/v1/tenants/{tenant}/endpoints"), None),
        (Method::POST, format!("/v1/tenants/{tenant}/endpoints"), Some(ep.clone())),
        (Method::GET, format!("/v1/tenants/{tenant}/endpoints/{endpoint}"), None),
        (Method::PUT, format!("/v1/tenants/{tenant}/endpoints/{endpoint}"), Some(ep)),
        (
            Method::PATCH,
            format!("/v1/tenants/{tenant}/endpoints/{endpoint}"),
            Some(json!({"enabled": false})),
        ),
        (Method::POST, format!("/v1/tenants/{tenant}/endpoints/{endpoint}/test"), Some(json!({}))),
        (
            Method::POST,
            format!("/v1/tenants/{tenant}/endpoints/{endpoint}/recover"),
            Some(json!({"since": "2000-01-01T00:00:00Z"})),
        ),
        (Method::GET, format!("/v1/tenants/{tenant}/events"), None),
        (Method::POST, format!("/v1/tenants/{tenant}/events"), Some(json!({"type": "a.b", "data": {}}))),
        (Method::GET, format!("/v1/tenants/{tenant}/events/evt-1"), None),
        (Method::GET, format!("/v1/tenants/{tenant}/deliveries"), None),
        (Method::GET, format!("/v1/tenants/{tenant}/deliveries/{delivery}"), None),
        (Method::POST, format!("/v1/tenants/{tenant}/deliveries/{delivery}/retry"), Some(json!({}))),
        (Method::DELETE, format!("/v1/tenants/{tenant}/endpoints/{endpoint}"), None),
    ]
}

fn is_admin_only(method: &Method, path: &str) -> bool {
    path == "/v1/tenants"
        || (path.starts_with("/v1/tenants/") && path.matches('/').count() == 3 && method != Method::GET)
        || path.contains("/keys")
        || (path.starts_with("/v1/event-types") && method != Method::GET)
}

on_both_backends! {
    async fn no_key_or_an_unknown_key_is_401_everywhere(app) {
        app.post("/v1/event-types", json!({"name": "kyc.verified"})).await;
        let tenant = app.tenant("Acme").await;
        let endpoint = app.endpoint(&tenant, json!({"url": "http://127.0.0.1:9/"})).await;
        let before = raw::rows(&app).await;
        for key in [None, Some("hk_unknown"), Some("")] {
            for (method, path, body) in routes(&tenant, endpoint["id"].as_str().unwrap(), "key_01ARZ3NDEKTSV4RRFFQ69G5FAV") {
                let r = app.call(method.clone(), &path, key, body.as_ref()).await;
                r.assert_problem(401, "unauthorized");
                assert_eq!(r.headers.get("www-authenticate").unwrap(), "Bearer", "{method} {path}");
            }
        }
        let basic = app.raw(Method::GET, "/v1/tenants").header("authorization", format!("Basic {}", app.admin_key)).send().await.unwrap();
        assert_eq!(basic.status(), 401);
        assert_eq!(raw::rows(&app).await, before, "nothing changed");
    }

    async fn a_tenant_key_sees_other_tenants_as_missing_and_admin_routes_as_forbidden(app) {
        app.post("/v1/event-types", json!({"name": "kyc.verified"})).await;
        let mine = app.tenant("Mine").await;
        let theirs = app.tenant("Theirs").await;
        let my_key = app.tenant_key(&mine).await;
        let their_key_id = app.post(&format!("/v1/tenants/{theirs}/keys"), json!({})).await.body["id"].as_str().unwrap().to_owned();
        let my_endpoint = app.endpoint(&mine, json!({"url": "http://127.0.0.1:9/mine"})).await["id"].as_str().unwrap().to_owned();
        let their_endpoint = app.endpoint(&theirs, json!({"url": "http://127.0.0.1:9/theirs"})).await["id"].as_str().unwrap().to_owned();
        let before = raw::rows(&app).await;

        // Another tenant's resources, by its id and its endpoint's id: 404, or 403 on admin routes.
        for (method, path, body) in routes(&theirs, &their_endpoint, &their_key_id) {
            let r = app.call(method.clone(), &path, Some(&my_key), body.as_ref()).await;
            if is_admin_only(&method, &path) {
                r.assert_problem(403, "forbidden");
            } else if path.contains("/tenants/") {
                r.assert_problem(404, "not_found");
                assert!(!r.body.to_string().contains(&theirs), "{method} {path}");
            }
        }
        // Their endpoint under my tenant's path: just as missing.
        for (method, path, body) in routes(&mine, &their_endpoint, &their_key_id) {
            if path.contains(&their_endpoint) {
                app.call(method.clone(), &path, Some(&my_key), body.as_ref()).await.assert_problem(404, "not_found");
            }
        }
        assert_eq!(raw::rows(&app).await, before, "nothing changed");

        // My own resources work, except admin-only routes even on my own tenant.
        for (method, path, body) in routes(&mine, &my_endpoint, "key_01ARZ3NDEKTSV4RRFFQ69G5FAV") {
            let r = app.call(method.clone(), &path, Some(&my_key), body.as_ref()).await;
            if is_admin_only(&method, &path) {
                r.assert_problem(403, "forbidden");
            } else if path.contains("/evt-1") || path.contains("/dlv_") {
                r.assert_problem(404, "not_found"); // well-formed ids that do not exist
            } else {
                assert!(r.status < 300, "{method} {path}: {} {}", r.status, r.body);
            }
        }
    }
}
