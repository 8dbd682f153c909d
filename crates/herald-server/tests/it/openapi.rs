use std::path::PathBuf;

use reqwest::Method;

use crate::support::{Backend, TestApp};

fn checked_in_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json")
}

/// The checked-in document must be exactly what the code generates. After an intended API
/// change, run the tests with `HERALD_TEST_BLESS=1` to rewrite it, and commit the result.
#[test]
fn checked_in_openapi_matches_the_code() {
    let generated = herald_server::api::openapi::document();
    let path = checked_in_path();
    if std::env::var_os("HERALD_TEST_BLESS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "docs/openapi.json is out of date with the code; run `HERALD_TEST_BLESS=1 cargo nextest run -p herald-server openapi` and commit it"
    );
}

#[tokio::test]
async fn served_openapi_is_3_1_and_covers_every_route() {
    let app = TestApp::start(Backend::Sqlite).await;
    let r = app.call(Method::GET, "/v1/openapi.json", None, None).await;
    assert_eq!(r.status, 200);
    let checked_in: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(checked_in_path()).unwrap()).unwrap();
    assert_eq!(r.body, checked_in);
    assert_eq!(r.body["openapi"], "3.1.0");
    let paths = r.body["paths"].as_object().unwrap();
    for (path, methods) in [
        ("/v1/tenants", &["get", "post"][..]),
        ("/v1/tenants/{tenant}", &["get", "patch", "delete"]),
        ("/v1/tenants/{tenant}/keys", &["get", "post"]),
        ("/v1/tenants/{tenant}/keys/{key}", &["delete"]),
        ("/v1/event-types", &["get", "post"]),
        ("/v1/event-types/{name}", &["get", "put", "patch", "delete"]),
        ("/v1/tenants/{tenant}/endpoints", &["get", "post"]),
        ("/v1/tenants/{tenant}/endpoints/{endpoint}", &["get", "put", "patch", "delete"]),
    ] {
        for method in methods {
            let operation = &paths[path][method];
            assert!(operation.is_object(), "{method} {path} is documented");
            assert!(operation["responses"]["401"].is_object(), "{method} {path} documents 401");
            assert!(operation["responses"]["422"].is_object(), "{method} {path} documents 422");
        }
    }
    assert!(r.body["components"]["schemas"]["Problem"].is_object());
    assert!(r.body["components"]["securitySchemes"]["bearer"].is_object());
}
