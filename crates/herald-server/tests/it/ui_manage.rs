//! Managing Herald from the web interface over plain HTTP, as a browser posts its forms: endpoints
//! (every setting, the secret shown once, edits that keep credentials, test sends, rotation,
//! recover), retries, the event-type catalog, the delivery log's filters and its live stream.
//! Each form is checked against what the REST API then shows and what a real receiver gets.

use std::time::Duration;

use herald_testkit::receiver::{Received, Reply, TestReceiver};
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use serde_json::json;

use crate::support::{TestApp, on_both_backends};
use crate::ui::{browser, csrf_of, page, sign_in};

const WAIT: Duration = Duration::from_secs(20);

/// Posts a form from Herald's own origin; returns the status, the redirect target, the page.
async fn post_form(
    app: &TestApp,
    path: &str,
    cookie: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, String, String) {
    let response = browser()
        .post(app.url(path))
        .header("cookie", cookie)
        .header("origin", format!("http://{}", app.addr))
        .form(fields)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let location =
        response.headers().get(LOCATION).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, location, response.text().await.unwrap())
}

/// The CSRF token of a page the session can open.
async fn csrf(app: &TestApp, cookie: &str, path: &str) -> String {
    let (status, html) = page(app, path, cookie).await;
    assert_eq!(status, StatusCode::OK, "{path}: {html}");
    csrf_of(&html)
}

/// The `whsec_…` secret a page shows.
fn secret_in(html: &str) -> String {
    let at = html.find("whsec_").expect("the page shows a secret");
    html[at..].split(['<', '"']).next().unwrap().to_owned()
}

fn verify(secret: &str, request: &Received) {
    let wh = standardwebhooks::Webhook::new(secret).unwrap();
    wh.verify(&request.body, &request.headers).unwrap_or_else(|e| panic!("signature refused: {e}"));
}

on_both_backends! {
    async fn an_endpoint_for_another_convention_is_set_up_through_the_form(app) {
        let receiver = TestReceiver::start().await;
        let tenant = app.tenant("Acme").await;
        let operator = sign_in(&app, &app.admin_key).await;
        let base = format!("/ui/tenants/{tenant}/endpoints");
        let token = csrf(&app, &operator, &format!("{base}/new")).await;
        let url = format!("{}/hook", receiver.url());
        let github = r#"[{"type": "hmac", "header": "X-Hub-Signature-256", "prefix": "sha256="}]"#;
        let fields = |template: &'static str| {
            vec![("csrf", token.clone()), ("url", url.clone()), ("http_method", "POST".into()), ("enabled", "on".into()),
                ("payload_format", "template".into()), ("payload_template", template.into()),
                ("signature_profiles", github.into()), ("signature_scheme", "v1".into()), ("auth_type", "none".into()),
                ("retry_mode", "default".into())]
        };
        let post = |fields: Vec<(&'static str, String)>| {
            let (app, operator, base) = (&app, &operator, &base);
            async move {
                let fields: Vec<(&str, &str)> = fields.iter().map(|(n, v)| (*n, v.as_str())).collect();
                post_form(app, base, operator, &fields).await
            }
        };
        // A bad template comes back beside its field; nothing is created.
        let (status, _, html) = post(fields(r#"{"event": "{{nope}}"}"#)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
        assert!(html.contains(r#"id="payload_template""#) && html.contains("payload_template-error"), "{html}");
        assert_eq!(app.get(&format!("/v1/tenants/{tenant}/endpoints")).await.body["data"], json!([]));

        let (status, _, html) = post(fields(r#"{"event": "{{type}}", "data": "{{data}}"}"#)).await;
        assert_eq!(status, StatusCode::CREATED, "{html}");
        let secret = secret_in(&html);
        let endpoint = app.get(&format!("/v1/tenants/{tenant}/endpoints")).await.body["data"][0].clone();
        assert_eq!(endpoint["payloadTemplate"], json!({"event": "{{type}}", "data": "{{data}}"}));
        assert_eq!(endpoint["signatureProfiles"][0]["header"], "X-Hub-Signature-256");
        app.publish(&tenant, json!({"type": "order.paid", "data": {"n": 1}})).await;
        let request = receiver.wait_for(1, WAIT).await.remove(0);
        assert_eq!(request.json(), json!({"event": "order.paid", "data": {"n": 1}}));
        let expected = {
            use hmac::Mac;
            let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
            mac.update(&request.body);
            format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
        };
        assert_eq!(request.header("x-hub-signature-256"), Some(expected.as_str()));

        // The endpoint's page and its edit form show the settings; an edit left as shown keeps them.
        let id = endpoint["id"].as_str().unwrap();
        let (_, html) = page(&app, &format!("{base}/{id}"), &operator).await;
        assert!(html.contains("HMAC in X-Hub-Signature-256"), "{html}");
        let (_, form) = page(&app, &format!("{base}/{id}/edit"), &operator).await;
        assert!(form.contains("X-Hub-Signature-256") && form.contains("{{data}}"), "{form}");
    }

    async fn an_endpoint_is_created_edited_tested_and_rotated_through_forms(app) {
        let receiver = TestReceiver::start().await;
        let tenant = app.tenant("Acme").await;
        let operator = sign_in(&app, &app.admin_key).await;
        let base = format!("/ui/tenants/{tenant}/endpoints");
        let token = csrf(&app, &operator, &format!("{base}/new")).await;

        // Refused input comes back on the form, field by field, and nothing is created.
        let (status, _, html) = post_form(&app, &base, &operator, &[
            ("csrf", &token), ("url", "not a url"), ("http_method", "POST"), ("payload_format", "json"),
            ("signature_scheme", "v1"), ("auth_type", "none"), ("retry_mode", "default"),
            ("rate_per_second", "lots"),
        ]).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(html.contains("Not saved") && html.contains(r#"id="rate_per_second-error""#), "{html}");
        assert!(html.contains(r#"value="not a url""#), "what was typed stays");
        let (status, _, html) = post_form(&app, &base, &operator, &[
            ("csrf", &token), ("url", "not a url"), ("http_method", "POST"), ("payload_format", "json"),
            ("signature_scheme", "v1"), ("auth_type", "none"), ("retry_mode", "default"),
        ]).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(html.contains(r#"id="url-error""#), "the API's error is shown beside the URL: {html}");
        assert!(html.contains(r#"name="url" value="not a url" required autocomplete="off" aria-describedby="url-hint url-error" aria-invalid="true""#), "{html}");
        assert_eq!(app.get(&format!("/v1/tenants/{tenant}/endpoints")).await.body["data"], json!([]));

        let url = format!("{}/hook", receiver.url());
        let (status, _, html) = post_form(&app, &base, &operator, &[
            ("csrf", &token), ("url", &url), ("description", "payments"), ("http_method", "POST"),
            ("enabled", "on"), ("more_events", "order.*"), ("payload_format", "json"), ("signature_scheme", "v1"),
            ("auth_type", "bearer"), ("auth_token", "tok-1"), ("headers", "X-Api-Key: k-1\nX-Team: pay"),
            ("retry_mode", "delays"), ("retry_delays", "1s"), ("retry_max_attempts", "2"), ("rate_per_second", "50"),
            ("metadata", "owner: team-a"),
        ]).await;
        assert_eq!(status, StatusCode::CREATED, "{html}");
        let secret = secret_in(&html);
        assert!(html.contains("only this once"));
        let listed = app.get(&format!("/v1/tenants/{tenant}/endpoints")).await;
        let endpoint = &listed.body["data"][0];
        let id = endpoint["id"].as_str().unwrap().to_owned();
        assert_eq!(endpoint["url"], url.as_str());
        assert_eq!(endpoint["events"], json!(["order.*"]));
        assert_eq!(endpoint["auth"], json!({"type": "bearer", "tokenSet": true}));
        assert_eq!(endpoint["headers"], json!({"X-Api-Key": "********", "X-Team": "pay"}));
        assert_eq!(endpoint["retryPolicy"]["delays"], json!(["1s"]));
        assert_eq!(endpoint["retryPolicy"]["maxAttempts"], 2);
        assert_eq!(endpoint["rateLimit"], json!({"perSecond": 50}));
        assert_eq!(endpoint["metadata"], json!({"owner": "team-a"}));
        let raw = herald_testkit::raw::dump(&app).await;
        assert!(!raw.contains(&secret) && !raw.contains("tok-1"), "credentials are sealed at rest");

        // The endpoint's page: settings, figures, charts, the actions.
        let endpoint_page = format!("{base}/{id}");
        let (status, html) = page(&app, &endpoint_page, &operator).await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("bearer token") && html.contains("<svg") && html.contains("Send test event"), "{html}");
        assert!(!html.contains("tok-1") && !html.contains(&secret), "credentials are never shown again");

        // The edit form shows the settings, never the credentials; left as shown, they are kept.
        let (status, form) = page(&app, &format!("{endpoint_page}/edit"), &operator).await;
        assert_eq!(status, StatusCode::OK);
        assert!(form.contains("X-Api-Key: ********") && !form.contains("k-1") && !form.contains("tok-1"), "{form}");
        let version = form.split(r#"name="version" value=""#).nth(1).unwrap().split('"').next().unwrap().to_owned();
        let edit = |version: String| {
            let (app, operator, token, url) = (&app, &operator, &token, &url);
            let path = format!("{endpoint_page}/edit");
            async move {
                post_form(app, &path, operator, &[
                    ("csrf", token), ("version", &version), ("url", url), ("http_method", "PUT"), ("enabled", "on"),
                    ("more_events", "order.*"), ("payload_format", "json"), ("auth_type", "bearer"), ("auth_token", ""),
                    ("headers", "X-Api-Key: ********\nX-Team: pay"), ("retry_mode", "delays"), ("retry_delays", "1s"),
                    ("retry_max_attempts", "2"),
                ]).await
            }
        };
        let (status, location, _) = edit(version.clone()).await;
        assert_eq!((status, location.as_str()), (StatusCode::SEE_OTHER, endpoint_page.as_str()));
        let shown = app.get(&format!("/v1/tenants/{tenant}/endpoints/{id}")).await;
        assert_eq!(shown.body["httpMethod"], "PUT");
        assert_eq!(shown.body["rateLimit"], json!(null), "a field emptied on the form is cleared");
        // A form filled from an older version does not overwrite the change made since.
        let (status, _, html) = edit(version).await;
        assert_eq!(status, StatusCode::PRECONDITION_FAILED);
        assert!(html.contains("Not saved"), "{html}");

        // A test send goes out with the kept credentials, signed with the secret shown once.
        let token_for = csrf(&app, &operator, &endpoint_page).await;
        let (status, location, _) = post_form(&app, &format!("{endpoint_page}/test"), &operator, &[("csrf", &token_for), ("event_type", "")]).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert!(location.starts_with(&format!("/ui/tenants/{tenant}/deliveries/")), "{location}");
        let received = receiver.wait_for(1, WAIT).await;
        assert_eq!(received[0].method, "PUT");
        assert_eq!(received[0].header("authorization"), Some("Bearer tok-1"));
        assert_eq!(received[0].header("x-api-key"), Some("k-1"));
        verify(&secret, &received[0]);
        let (_, delivery_page) = page(&app, &location, &operator).await;
        assert!(delivery_page.contains("herald.ping"), "{delivery_page}");

        // Rotation shows the new secret once; both sign during the grace period.
        let (status, _, html) = post_form(&app, &format!("{endpoint_page}/rotate"), &operator, &[("csrf", &token_for), ("grace_period", "24h")]).await;
        assert_eq!(status, StatusCode::OK);
        let rotated = secret_in(&html);
        assert_ne!(rotated, secret);
        post_form(&app, &format!("{endpoint_page}/test"), &operator, &[("csrf", &token_for), ("event_type", "")]).await;
        let received = receiver.wait_for(2, WAIT).await;
        verify(&rotated, &received[1]);
        verify(&secret, &received[1]);

        // Delete, after which the list is empty again.
        let (status, location, _) = post_form(&app, &format!("{endpoint_page}/delete"), &operator, &[("csrf", &token_for)]).await;
        assert_eq!((status, location), (StatusCode::SEE_OTHER, format!("/ui/tenants/{tenant}")));
        assert_eq!(app.get(&format!("/v1/tenants/{tenant}/endpoints/{id}")).await.status, 404);
    }

    async fn failed_deliveries_are_retried_and_recovered_from_the_interface(app) {
        let receiver = TestReceiver::start().await;
        receiver.set_default(Reply::Status(500));
        let acme = app.tenant("Acme").await;
        let globex = app.tenant("Globex").await;
        let endpoint = app.endpoint(&acme, json!({"url": receiver.url(), "retryPolicy": {"maxAttempts": 1}})).await;
        let ep = endpoint["id"].as_str().unwrap();
        let published = app.publish(&acme, json!({"type": "order.paid", "data": {}})).await;
        let delivery = published["deliveries"][0]["deliveryId"].as_str().unwrap().to_owned();
        app.delivery_with_status(&acme, &delivery, "failed").await;

        let operator = sign_in(&app, &app.admin_key).await;
        let delivery_page = format!("/ui/tenants/{acme}/deliveries/{delivery}");
        let token = csrf(&app, &operator, &delivery_page).await;
        // From another site, the retry is refused and nothing is attempted.
        let forged = browser()
            .post(app.url(&format!("{delivery_page}/retry")))
            .header("cookie", &operator)
            .header("origin", "http://127.0.0.1:1")
            .form(&[("csrf", token.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status(), StatusCode::FORBIDDEN);
        // Another tenant's session cannot reach it at all.
        let globex_session = sign_in(&app, &app.tenant_key(&globex).await).await;
        let globex_token = csrf(&app, &globex_session, &format!("/ui/tenants/{globex}")).await;
        let (status, _, _) = post_form(&app, &format!("{delivery_page}/retry"), &globex_session, &[("csrf", &globex_token)]).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(receiver.requests().len(), 1);

        let (status, location, _) = post_form(&app, &format!("{delivery_page}/retry"), &operator, &[("csrf", &token)]).await;
        assert_eq!((status, location.as_str()), (StatusCode::SEE_OTHER, delivery_page.as_str()));
        receiver.wait_for(2, WAIT).await;
        let retried = herald_testkit::eventually("the manual attempt is logged", WAIT, || async {
            let d = app.get(&format!("/v1/tenants/{acme}/deliveries/{delivery}")).await.body;
            (d["attempts"].as_array().map_or(0, Vec::len) == 2 && d["status"] == "failed").then_some(d)
        })
        .await;
        assert_eq!(retried["attempts"][1]["trigger"], "manual");
        let (_, html) = page(&app, &delivery_page, &operator).await;
        assert!(html.contains("Attempt 2") && html.contains("manual"), "{html}");

        // Recover: every failed delivery of the endpoint since a time is queued again.
        let endpoint_page = format!("/ui/tenants/{acme}/endpoints/{ep}");
        let since = (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1)).strftime("%Y-%m-%dT%H:%M").to_string();
        let (status, _, html) = post_form(&app, &format!("{endpoint_page}/recover"), &operator, &[("csrf", &token), ("since", &since)]).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{html}");
        assert!(html.contains("1 failed delivery was queued again"), "{html}");
        receiver.wait_for(3, WAIT).await;
        let (status, _, html) = post_form(&app, &format!("{endpoint_page}/recover"), &operator, &[("csrf", &token), ("since", "last week")]).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(html.contains("is not a time"), "{html}");

        // The dead-letter view offers to retry everything it shows, and follows the operation.
        app.delivery_with_status(&acme, &delivery, "failed").await;
        let failed_log = format!("/ui/tenants/{acme}/deliveries?status=failed&endpoint={ep}");
        let (_, html) = page(&app, &failed_log, &operator).await;
        assert!(html.contains("Retry every failed delivery of the last 30 days that matches"), "{html}");
        let (status, location, _) = post_form(&app, &format!("/ui/tenants/{acme}/bulk-retries"), &operator, &[
            ("csrf", &token), ("status", "failed"), ("endpoint", ep),
        ]).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert!(location.starts_with(&format!("/ui/tenants/{acme}/bulk-retries/blk_")), "{location}");
        let html = herald_testkit::eventually("the bulk retry is done", WAIT, || async {
            let (_, html) = page(&app, &location, &operator).await;
            html.contains("done").then_some(html)
        })
        .await;
        assert!(html.contains("1 delivery queued again; finished"), "{html}");
        receiver.wait_for(4, WAIT).await;
        // Another tenant sees neither the form's target nor the operation.
        let (status, _, _) = post_form(&app, &format!("/ui/tenants/{acme}/bulk-retries"), &globex_session, &[("csrf", &globex_token), ("status", "failed")]).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(page(&app, &location, &globex_session).await.0, StatusCode::NOT_FOUND);
    }

    async fn another_tenants_session_reaches_none_of_a_tenants_pages_or_forms(app) {
        let receiver = TestReceiver::start().await;
        let acme = app.tenant("Acme").await;
        let globex = app.tenant("Globex").await;
        let endpoint = app.endpoint(&acme, json!({"url": receiver.url()})).await;
        let ep = endpoint["id"].as_str().unwrap().to_owned();
        let published = app.publish(&acme, json!({"type": "order.paid", "data": {}})).await;
        let delivery = published["deliveries"][0]["deliveryId"].as_str().unwrap().to_owned();
        app.delivery_with_status(&acme, &delivery, "delivered").await;
        app.post("/v1/event-types", json!({"name": "order.paid"})).await;

        let session = sign_in(&app, &app.tenant_key(&globex).await).await;
        let csrf = csrf(&app, &session, &format!("/ui/tenants/{globex}")).await;
        let base = format!("/ui/tenants/{acme}");
        let gets = [
            base.clone(),
            format!("{base}/endpoints/new"),
            format!("{base}/endpoints/{ep}"),
            format!("{base}/endpoints/{ep}/edit"),
            format!("{base}/events"),
            format!("{base}/deliveries"),
            format!("{base}/deliveries/live"),
            format!("{base}/deliveries/{delivery}"),
            // Its own tenant's paths with the other tenant's ids.
            format!("/ui/tenants/{globex}/endpoints/{ep}"),
            format!("/ui/tenants/{globex}/endpoints/{ep}/edit"),
            format!("/ui/tenants/{globex}/deliveries/{delivery}"),
            // The operator's pages.
            "/ui/new-tenant".to_owned(),
            "/ui/event-types".to_owned(),
            "/ui/new-event-type".to_owned(),
            "/ui/event-types/order.paid".to_owned(),
        ];
        for path in &gets {
            let (status, html) = page(&app, path, &session).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "GET {path}");
            assert!(!html.contains(&ep) && !html.contains(&delivery) && !html.contains("Acme"), "GET {path} leaks: {html}");
        }
        let posts = [
            format!("{base}/endpoints"),
            format!("{base}/endpoints/{ep}/edit"),
            format!("{base}/endpoints/{ep}/test"),
            format!("{base}/endpoints/{ep}/rotate"),
            format!("{base}/endpoints/{ep}/recover"),
            format!("{base}/endpoints/{ep}/delete"),
            format!("{base}/deliveries/{delivery}/retry"),
            format!("{base}/bulk-retries"),
            format!("/ui/tenants/{globex}/endpoints/{ep}/delete"),
            format!("/ui/tenants/{globex}/deliveries/{delivery}/retry"),
            "/ui/tenants".to_owned(),
            "/ui/event-types".to_owned(),
            "/ui/event-types/order.paid".to_owned(),
        ];
        for path in &posts {
            let fields = [("csrf", csrf.as_str()), ("url", "https://evil.example"), ("name", "x.y"), ("grace_period", "0s"), ("since", "2000-01-01T00:00")];
            let (status, _, _) = post_form(&app, path, &session, &fields).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "POST {path}");
        }
        // Nothing changed: the endpoint, its secret's rotation state, the delivery's attempts.
        let shown = app.get(&format!("/v1/tenants/{acme}/endpoints/{ep}")).await;
        assert_eq!(shown.status, 200);
        assert_eq!(shown.body["url"], receiver.url().as_str());
        assert_eq!(app.get(&format!("/v1/tenants/{acme}/endpoints")).await.body["data"].as_array().unwrap().len(), 1);
        assert_eq!(receiver.requests().len(), 1, "no retry, no test send");
        assert_eq!(app.get("/v1/tenants").await.body["data"].as_array().unwrap().len(), 2);
    }

    async fn the_operator_creates_tenants_and_a_tenant_cannot(app) {
        let operator = sign_in(&app, &app.admin_key).await;
        let (_, html) = page(&app, "/ui", &operator).await;
        assert!(html.contains("No tenants yet") && html.contains("/ui/new-tenant"), "{html}");
        let token = csrf(&app, &operator, "/ui/new-tenant").await;
        let (status, _, html) = post_form(&app, "/ui/tenants", &operator, &[("csrf", &token), ("name", "Acme"), ("uid", "ten_taken")]).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(html.contains(r#"id="uid-error""#) && html.contains(r#"value="Acme""#), "{html}");
        let (status, location, _) = post_form(&app, "/ui/tenants", &operator, &[("csrf", &token), ("name", "Acme"), ("uid", "acme")]).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let created = app.get("/v1/tenants/acme").await.body;
        assert_eq!(location, format!("/ui/tenants/{}", created["id"].as_str().unwrap()));
        assert_eq!(created["name"], "Acme");
        let (status, _, html) = post_form(&app, "/ui/tenants", &operator, &[("csrf", &token), ("name", "Acme again"), ("uid", "acme")]).await;
        assert_eq!(status, StatusCode::CONFLICT, "{html}");

        let session = sign_in(&app, &app.tenant_key("acme").await).await;
        let own = csrf(&app, &session, "/ui/tenants/acme").await;
        assert_eq!(page(&app, "/ui/new-tenant", &session).await.0, StatusCode::NOT_FOUND);
        let (status, _, _) = post_form(&app, "/ui/tenants", &session, &[("csrf", &own), ("name", "Sneaky")]).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(app.get("/v1/tenants").await.body["data"].as_array().unwrap().len(), 1);
    }

    async fn the_catalog_is_edited_through_forms_by_the_operator_only(app) {
        let operator = sign_in(&app, &app.admin_key).await;
        let (status, html) = page(&app, "/ui/event-types", &operator).await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("The catalog is empty"), "{html}");
        let token = csrf(&app, &operator, "/ui/new-event-type").await;
        let schema = r#"{"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}}"#;
        let create = |example: &'static str| {
            let (app, operator, token) = (&app, &operator, &token);
            async move {
                post_form(app, "/ui/event-types", operator, &[
                    ("csrf", token), ("name", "order.created"), ("label", "Order created"),
                    ("description", "A customer placed an order."), ("schema", schema), ("example", example),
                ]).await
            }
        };
        let (status, _, html) = create("{not json").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(html.contains(r#"id="example-error""#) && html.contains("this is not JSON"), "{html}");
        let (status, _, html) = create(r#"{"id": "seven"}"#).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "the API checks the example against the schema");
        assert!(html.contains(r#"id="example-error""#), "{html}");
        assert_eq!(app.get("/v1/event-types/order.created").await.status, 404, "nothing saved");
        let (status, location, _) = create(r#"{"id": 7}"#).await;
        assert_eq!((status, location.as_str()), (StatusCode::SEE_OTHER, "/ui/event-types"));
        let stored = app.get("/v1/event-types/order.created").await.body;
        assert_eq!(stored["label"], "Order created");
        assert_eq!(stored["example"], json!({"id": 7}));
        assert_eq!(stored["schema"]["required"], json!(["id"]));
        let (status, _, _) = create(r#"{"id": 7}"#).await;
        assert_eq!(status, StatusCode::CONFLICT, "the name is taken");

        let (_, form) = page(&app, "/ui/event-types/order.created", &operator).await;
        assert!(form.contains("Order created") && form.contains("&quot;required&quot;"), "{form}");
        let (status, _, _) = post_form(&app, "/ui/event-types/order.created", &operator, &[
            ("csrf", &token), ("label", "Order placed"), ("description", ""), ("schema", schema), ("example", r#"{"id": 8}"#),
            ("deprecated", "on"),
        ]).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let stored = app.get("/v1/event-types/order.created").await.body;
        assert_eq!((stored["label"].as_str(), stored["deprecated"].as_bool()), (Some("Order placed"), Some(true)));

        // The endpoint form offers the catalog's types; test sends offer their examples.
        let tenant = app.tenant("Acme").await;
        app.post("/v1/event-types", json!({"name": "order.paid", "example": {"total": 3}})).await;
        let (_, form) = page(&app, &format!("/ui/tenants/{tenant}/endpoints/new"), &operator).await;
        assert!(form.contains(r#"name="events" value="order.paid""#), "{form}");

        // A tenant's session sees none of it.
        let session = sign_in(&app, &app.tenant_key(&tenant).await).await;
        let own = csrf(&app, &session, &format!("/ui/tenants/{tenant}")).await;
        assert_eq!(page(&app, "/ui/event-types", &session).await.0, StatusCode::NOT_FOUND);
        assert_eq!(page(&app, "/ui/event-types/order.created", &session).await.0, StatusCode::NOT_FOUND);
        let (status, _, _) = post_form(&app, "/ui/event-types", &session, &[("csrf", &own), ("name", "tenant.made")]).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(app.get("/v1/event-types/tenant.made").await.status, 404);
    }

    async fn the_delivery_log_filters_and_follows_new_deliveries_live(app) {
        let receiver = TestReceiver::start().await;
        let tenant = app.tenant("Acme").await;
        let a = app.endpoint(&tenant, json!({"url": format!("{}/a", receiver.url()), "events": ["order.*"]})).await;
        app.endpoint(&tenant, json!({"url": format!("{}/b", receiver.url()), "events": ["invoice.*"]})).await;
        let order = app.publish(&tenant, json!({"type": "order.paid", "data": {}})).await;
        let invoice = app.publish(&tenant, json!({"type": "invoice.sent", "data": {}})).await;
        let order_delivery = order["deliveries"][0]["deliveryId"].as_str().unwrap().to_owned();
        let invoice_delivery = invoice["deliveries"][0]["deliveryId"].as_str().unwrap().to_owned();

        let operator = sign_in(&app, &app.admin_key).await;
        let log = format!("/ui/tenants/{tenant}/deliveries");
        let shows = |html: &str| (html.contains(&order_delivery), html.contains(&invoice_delivery));
        assert_eq!(shows(&page(&app, &log, &operator).await.1), (true, true));
        assert_eq!(shows(&page(&app, &format!("{log}?event_type=order.paid"), &operator).await.1), (true, false));
        let by_endpoint = format!("{log}?endpoint={}", a["id"].as_str().unwrap());
        assert_eq!(shows(&page(&app, &by_endpoint, &operator).await.1), (true, false));
        let by_event = format!("{log}?event={}", invoice["id"].as_str().unwrap());
        assert_eq!(shows(&page(&app, &by_event, &operator).await.1), (false, true));
        let (_, html) = page(&app, &format!("{log}?since=2999-01-01T00%3A00"), &operator).await;
        assert_eq!(shows(&html), (false, false));
        assert!(html.contains("No deliveries match these filters"));
        let (status, html) = page(&app, &format!("{log}?since=yesterday&event_type=Bad%20Type"), &operator).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(html.contains(r#"id="since-error""#) && html.contains(r#"id="event_type-error""#), "{html}");

        // The events page lists what was published, and filters by type.
        let events = format!("/ui/tenants/{tenant}/events");
        let (_, html) = page(&app, &events, &operator).await;
        assert!(html.contains("order.paid") && html.contains("invoice.sent"), "{html}");
        let (_, html) = page(&app, &format!("{events}?event_type=invoice.sent"), &operator).await;
        assert!(!html.contains("order.paid") && html.contains("invoice.sent"));

        // The live stream sends the first page's rows, then again whenever they change.
        let mut stream = browser()
            .get(app.url(&format!("{log}/live?endpoint={}", a["id"].as_str().unwrap())))
            .header("cookie", &operator)
            .send()
            .await
            .unwrap();
        assert_eq!(stream.status(), StatusCode::OK);
        assert_eq!(stream.headers()["content-type"], "text/event-stream");
        assert_eq!(stream.headers()["x-accel-buffering"], "no", "no proxy buffering");
        let mut seen = String::new();
        let mut read_until = async |needle: &str| {
            tokio::time::timeout(WAIT, async {
                while !seen.contains(needle) {
                    let chunk = stream.chunk().await.unwrap().expect("the stream stays open");
                    seen.push_str(&String::from_utf8_lossy(&chunk));
                }
            })
            .await
            .unwrap_or_else(|_| panic!("{needle} never came: {seen}"));
        };
        read_until(&order_delivery).await;
        let again = app.publish(&tenant, json!({"type": "order.shipped", "data": {}})).await;
        let new_delivery = again["deliveries"][0]["deliveryId"].as_str().unwrap().to_owned();
        read_until(&new_delivery).await;
        assert!(seen.contains("event: rows") && !seen.contains(&invoice_delivery), "{seen}");

        // Signing out ends the stream as well.
        let token = csrf(&app, &operator, &log).await;
        let (status, _, _) = post_form(&app, "/ui/sign-out", &operator, &[("csrf", &token)]).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let ended = tokio::time::timeout(WAIT, async {
            while let Some(chunk) = stream.chunk().await.unwrap() {
                seen.push_str(&String::from_utf8_lossy(&chunk));
            }
        })
        .await;
        assert!(ended.is_ok(), "the stream outlived its session");

        // Without a session, or for another tenant, there is no stream.
        let response = browser().get(app.url(&format!("{log}/live"))).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let other = app.tenant("Globex").await;
        let session = sign_in(&app, &app.tenant_key(&other).await).await;
        assert_eq!(page(&app, &format!("{log}/live"), &session).await.0, StatusCode::NOT_FOUND);
    }
}
