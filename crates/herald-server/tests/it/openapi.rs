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

/// Fuzzes a real server from its served document with schemathesis (a property-based API
/// fuzzer): every operation gets generated valid and invalid requests, and the run fails on any
/// 5xx and on any response whose status, content type, headers or body the document does not
/// declare. The dispatcher is off: nothing generated is ever sent anywhere.
/// `HERALD_FUZZ_EXAMPLES` and `HERALD_FUZZ_SEED` make a deeper or different run.
async fn fuzz_the_served_document(backend: Backend) {
    let app = TestApp::start_with(backend, |c| c.delivery.enabled = false).await;
    // Real resources to put in the paths, so that fuzzing reaches past 404s.
    let r =
        app.post("/v1/event-types", serde_json::json!({"name": "fuzz.created", "example": {"n": 1}})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let tenant = app.tenant("Fuzz").await;
    let endpoint = app.endpoint(&tenant, serde_json::json!({"url": "http://127.0.0.1:9/"})).await;
    let event = app.publish(&tenant, serde_json::json!({"type": "fuzz.created", "data": {"n": 1}})).await;
    let key = app.post(&format!("/v1/tenants/{tenant}/keys"), serde_json::json!({"name": "fuzz"})).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("schemathesis.toml");
    std::fs::write(
        &config,
        format!(
            "[parameters]\n\"path.tenant\" = \"{tenant}\"\n\"path.endpoint\" = \"{}\"\n\"path.event\" = \"{}\"\n\
             \"path.delivery\" = \"{}\"\n\"path.key\" = \"{}\"\n\"path.name\" = \"fuzz.created\"\n",
            endpoint["id"].as_str().unwrap(),
            event["id"].as_str().unwrap(),
            event["deliveries"][0]["deliveryId"].as_str().unwrap(),
            key.body["id"].as_str().unwrap(),
        ),
    )
    .unwrap();
    let examples = std::env::var("HERALD_FUZZ_EXAMPLES").unwrap_or_else(|_| "15".into());
    let seed = std::env::var("HERALD_FUZZ_SEED").unwrap_or_else(|_| "20261123".into());
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/schemathesis");
    let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("py-venv");
    let output = tokio::process::Command::new(script)
        .current_dir(dir.path())
        .env("HERALD_PY_VENV", venv)
        .args(["--config-file", config.to_str().unwrap(), "run", &app.url("/v1/openapi.json")])
        .args(["--header", &format!("Authorization: Bearer {}", app.admin_key)])
        .args(["--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance"])
        .args(["--max-examples", &examples, "--seed", &seed, "--generation-database", "none"])
        // Deleting the pinned resources would leave the rest of the run at 404s; deletion is
        // covered by the API tests.
        .args(["--exclude-method", "DELETE", "--suppress-health-check", "all", "--no-color"])
        .output()
        .await
        .expect("scripts/schemathesis runs (it needs python3 and PyPI to install schemathesis)");
    let report =
        format!("{}\n{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "schemathesis found problems:\n{report}");
    assert!(report.contains("passed"), "schemathesis ran tests:\n{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn fuzz_sqlite() {
    fuzz_the_served_document(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn fuzz_postgres() {
    fuzz_the_served_document(Backend::Postgres).await;
}
