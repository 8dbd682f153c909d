use serde_json::json;

use herald_testkit::on_both_backends;

on_both_backends! {
    async fn tenant_lifecycle_by_id_and_uid(app) {
        let created = app.post("/v1/tenants", json!({"uid": "acme", "name": "Acme", "metadata": {"plan": "pro"}})).await;
        assert_eq!(created.status, 201, "{}", created.body);
        let id = created.body["id"].as_str().unwrap().to_owned();
        assert!(id.starts_with("ten_"));
        assert_eq!(created.body["uid"], "acme");
        assert_eq!(created.body["metadata"]["plan"], "pro");

        for path in [format!("/v1/tenants/{id}"), "/v1/tenants/acme".to_owned()] {
            let got = app.get(&path).await;
            assert_eq!(got.status, 200);
            assert_eq!(got.body, created.body);
        }

        let patched = app.patch("/v1/tenants/acme", json!({"name": "Acme Corp", "uid": "acme-corp"})).await;
        assert_eq!(patched.status, 200, "{}", patched.body);
        assert_eq!(patched.body["name"], "Acme Corp");
        assert_eq!(patched.body["metadata"]["plan"], "pro", "absent fields are kept");
        assert_eq!(app.get("/v1/tenants/acme").await.status, 404, "the old uid is gone");
        assert_eq!(app.get("/v1/tenants/acme-corp").await.body["id"], id.as_str());

        let cleared = app.patch(&format!("/v1/tenants/{id}"), json!({"uid": null})).await;
        assert_eq!(cleared.body["uid"], serde_json::Value::Null);

        assert_eq!(app.delete(&format!("/v1/tenants/{id}")).await.status, 204);
        app.get(&format!("/v1/tenants/{id}")).await.assert_problem(404, "not_found");
        app.delete(&format!("/v1/tenants/{id}")).await.assert_problem(404, "not_found");
    }

    async fn uid_must_be_unique_and_a_conflict_changes_nothing(app) {
        assert_eq!(app.post("/v1/tenants", json!({"uid": "one", "name": "One"})).await.status, 201);
        let two = app.post("/v1/tenants", json!({"uid": "two", "name": "Two"})).await;
        app.post("/v1/tenants", json!({"uid": "one", "name": "Again"})).await.assert_problem(409, "conflict");
        let id = two.body["id"].as_str().unwrap();
        app.patch(&format!("/v1/tenants/{id}"), json!({"uid": "one", "name": "Renamed"})).await.assert_problem(409, "conflict");
        assert_eq!(app.get(&format!("/v1/tenants/{id}")).await.body, two.body, "the failed update changed nothing");
        assert_eq!(app.get("/v1/tenants").await.body["data"].as_array().unwrap().len(), 2);
    }

    async fn invalid_tenants_are_refused_with_field_paths(app) {
        for (body, path) in [
            (json!({"name": ""}), "/name"),
            (json!({"uid": "has space", "name": "x"}), "/uid"),
            (json!({"uid": "ten_01ARZ3NDEKTSV4RRFFQ69G5FAV", "name": "x"}), "/uid"),
            (json!({"name": "x", "metadata": {"k": 1}}), "/metadata/k"),
            (json!({"name": "x", "colour": "red"}), "/colour"),
        ] {
            let r = app.post("/v1/tenants", body.clone()).await;
            r.assert_problem(422, "validation_failed");
            assert_eq!(r.error_paths(), [path], "{body}: {}", r.body);
        }
        assert_eq!(app.get("/v1/tenants").await.body["data"], json!([]));
    }

    async fn lists_are_paginated_newest_first(app) {
        let mut ids = Vec::new();
        for n in 0..7 {
            ids.push(app.tenant(&format!("t{n}")).await);
        }
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(sorted, ids, "ids sort by creation time");

        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/v1/tenants?limit=3&cursor={c}"),
                None => "/v1/tenants?limit=3".to_owned(),
            };
            let page = app.get(&path).await;
            assert_eq!(page.status, 200);
            let data = page.body["data"].as_array().unwrap();
            assert!(data.len() <= 3);
            seen.extend(data.iter().map(|t| t["id"].as_str().unwrap().to_owned()));
            match page.body["nextCursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        ids.reverse();
        assert_eq!(seen, ids, "every tenant once, newest first");

        for bad in ["0", "251", "x", "-1"] {
            let r = app.get(&format!("/v1/tenants?limit={bad}")).await;
            r.assert_problem(422, "validation_failed");
            assert_eq!(r.error_paths(), ["/limit"]);
        }
    }
}
