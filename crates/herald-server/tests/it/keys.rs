use reqwest::Method;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::support::raw;
use herald_testkit::on_both_backends;

on_both_backends! {
    async fn a_tenant_key_is_shown_once_and_works_until_revoked(app) {
        let tenant = app.tenant("Acme").await;
        let created = app.post(&format!("/v1/tenants/{tenant}/keys"), json!({"name": "ci"})).await;
        assert_eq!(created.status, 201, "{}", created.body);
        let key = created.body["key"].as_str().unwrap().to_owned();
        let key_id = created.body["id"].as_str().unwrap().to_owned();
        assert!(key_id.starts_with("key_"));
        assert!(key.starts_with(created.body["prefix"].as_str().unwrap()));

        let listed = app.get(&format!("/v1/tenants/{tenant}/keys")).await;
        let entry = &listed.body["data"][0];
        assert_eq!(entry["id"], key_id.as_str());
        assert_eq!(entry["name"], "ci");
        assert!(entry.get("key").is_none(), "the key itself is never listed");
        assert!(!listed.body.to_string().contains(&key));

        let own = format!("/v1/tenants/{tenant}/endpoints");
        assert_eq!(app.call(Method::GET, &own, Some(&key), None).await.status, 200);

        assert_eq!(app.delete(&format!("/v1/tenants/{tenant}/keys/{key_id}")).await.status, 204);
        app.call(Method::GET, &own, Some(&key), None).await.assert_problem(401, "unauthorized");
        app.delete(&format!("/v1/tenants/{tenant}/keys/{key_id}")).await.assert_problem(404, "not_found");
    }

    async fn keys_are_stored_hashed(app) {
        let tenant = app.tenant("Acme").await;
        let key = app.tenant_key(&tenant).await;
        let hashes = raw::strings(&app, "SELECT key_hash FROM api_keys").await;
        let expected: String = Sha256::digest(key.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
        assert!(hashes.contains(&expected));
        assert!(!raw::dump(&app).await.contains(&key), "the key text is nowhere in the database");
        assert!(!raw::dump(&app).await.contains(&app.admin_key), "nor the admin key");
    }

    async fn deleting_a_tenant_revokes_its_keys(app) {
        let tenant = app.tenant("Acme").await;
        let key = app.tenant_key(&tenant).await;
        assert_eq!(app.delete(&format!("/v1/tenants/{tenant}")).await.status, 204);
        app.call(Method::GET, "/v1/event-types", Some(&key), None).await.assert_problem(401, "unauthorized");
    }
}
