use reqwest::Method;
use serde_json::json;

use herald_testkit::on_both_backends;

on_both_backends! {
    async fn event_type_catalog_lifecycle(app) {
        let body = json!({
            "name": "contract.created",
            "label": "Contract created",
            "description": "A contract was signed.",
            "schema": {"type": "object", "required": ["contractId"], "properties": {"contractId": {"type": "string"}}},
            "example": {"contractId": "c_1"},
        });
        let created = app.post("/v1/event-types", body).await;
        assert_eq!(created.status, 201, "{}", created.body);
        assert_eq!(created.body["deprecated"], false);
        app.post("/v1/event-types", json!({"name": "contract.created"})).await.assert_problem(409, "conflict");

        let got = app.get("/v1/event-types/contract.created").await;
        assert_eq!(got.body, created.body);

        let replaced = app.put("/v1/event-types/contract.created", json!({"description": "new", "deprecated": true})).await;
        assert_eq!(replaced.status, 200, "{}", replaced.body);
        assert_eq!(replaced.body["label"], "contract.created", "PUT replaces: label back to its default");
        assert_eq!(replaced.body["schema"], serde_json::Value::Null);
        assert_eq!(replaced.body["deprecated"], true);

        let patched = app.patch("/v1/event-types/contract.created", json!({"label": "Signed", "deprecated": false})).await;
        assert_eq!(patched.body["label"], "Signed");
        assert_eq!(patched.body["description"], "new", "PATCH keeps absent fields");

        assert_eq!(app.delete("/v1/event-types/contract.created").await.status, 204);
        app.get("/v1/event-types/contract.created").await.assert_problem(404, "not_found");
    }

    async fn catalog_lists_by_name_and_hides_deprecated_unless_asked(app) {
        for (name, deprecated) in [("kyc.verified", false), ("billing.invoice.paid", false), ("contract.closed", true)] {
            let r = app.post("/v1/event-types", json!({"name": name, "deprecated": deprecated})).await;
            assert_eq!(r.status, 201);
        }
        let names = |body: &serde_json::Value| -> Vec<String> {
            body["data"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap().to_owned()).collect()
        };
        assert_eq!(names(&app.get("/v1/event-types").await.body), ["billing.invoice.paid", "kyc.verified"]);
        let all = app.get("/v1/event-types?includeDeprecated=true&limit=2").await;
        assert_eq!(names(&all.body), ["billing.invoice.paid", "contract.closed"]);
        let next = all.body["nextCursor"].as_str().unwrap();
        let rest = app.get(&format!("/v1/event-types?includeDeprecated=true&limit=2&cursor={next}")).await;
        assert_eq!(names(&rest.body), ["kyc.verified"]);
        assert_eq!(rest.body["nextCursor"], serde_json::Value::Null);
    }

    async fn invalid_event_types_are_refused(app) {
        for (body, path) in [
            (json!({"name": "bad name"}), "/name"),
            (json!({"name": "a.*"}), "/name"),
            (json!({"name": "a", "schema": {"type": "nonsense"}}), "/schema"),
            (json!({"name": "a", "schema": {"type": "object", "required": ["x"]}, "example": {}}), "/example"),
            (json!({"name": "a", "example": [1]}), "/example"),
            (json!({"name": "a", "label": "  "}), "/label"),
        ] {
            let r = app.post("/v1/event-types", body.clone()).await;
            r.assert_problem(422, "validation_failed");
            assert_eq!(r.error_paths(), [path], "{body}: {}", r.body);
        }
        assert_eq!(app.get("/v1/event-types?includeDeprecated=true").await.body["data"], json!([]));

        app.post("/v1/event-types", json!({"name": "a", "schema": {"type": "object", "required": ["x"]}, "example": {"x": 1}})).await;
        let r = app.patch("/v1/event-types/a", json!({"example": {"y": 1}})).await;
        r.assert_problem(422, "validation_failed");
        assert_eq!(app.get("/v1/event-types/a").await.body["example"], json!({"x": 1}), "nothing changed");
    }

    async fn tenant_keys_read_the_catalog_but_cannot_change_it(app) {
        app.post("/v1/event-types", json!({"name": "kyc.verified"})).await;
        let tenant = app.tenant("Acme").await;
        let key = app.tenant_key(&tenant).await;
        let key = Some(key.as_str());
        assert_eq!(app.call(Method::GET, "/v1/event-types", key, None).await.status, 200);
        assert_eq!(app.call(Method::GET, "/v1/event-types/kyc.verified", key, None).await.status, 200);
        let body = json!({"name": "x.y"});
        app.call(Method::POST, "/v1/event-types", key, Some(&body)).await.assert_problem(403, "forbidden");
        app.call(Method::PUT, "/v1/event-types/kyc.verified", key, Some(&json!({}))).await.assert_problem(403, "forbidden");
        app.call(Method::PATCH, "/v1/event-types/kyc.verified", key, Some(&json!({"deprecated": true}))).await.assert_problem(403, "forbidden");
        app.call(Method::DELETE, "/v1/event-types/kyc.verified", key, None).await.assert_problem(403, "forbidden");
        assert_eq!(app.get("/v1/event-types/kyc.verified").await.body["deprecated"], false);
    }
}
