//! The web interface over plain HTTP, as a browser would speak to it and as an attacker would:
//! sign-in, the session cookie's flags, security headers, tenant isolation, CSRF and cross-site
//! refusals, sign-out ending the session. (The same flows in a real browser are in `browser`.)

use reqwest::StatusCode;
use reqwest::header::{CONTENT_SECURITY_POLICY, LOCATION, SET_COOKIE};
use serde_json::json;

use crate::support::receiver::TestReceiver;
use crate::support::{TestApp, on_both_backends};

/// A client that shows redirects instead of following them, and keeps no cookies of its own.
pub(crate) fn browser() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// Posts the sign-in form with `key` and one more request header.
async fn post_sign_in(app: &TestApp, key: &str, (name, value): (&str, &str)) -> reqwest::Response {
    browser().post(app.url("/ui/sign-in")).header(name, value).form(&[("key", key)]).send().await.unwrap()
}

/// Signs in with `key` from Herald's own origin; returns the `Cookie` header value of the session.
pub(crate) async fn sign_in(app: &TestApp, key: &str) -> String {
    let response = post_sign_in(app, key, ("origin", &format!("http://{}", app.addr))).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/ui");
    let cookie = response.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    cookie.split(';').next().unwrap().to_owned()
}

pub(crate) async fn page(app: &TestApp, path: &str, cookie: &str) -> (StatusCode, String) {
    let response = browser().get(app.url(path)).header("cookie", cookie).send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

/// The CSRF token in a page's sign-out form.
pub(crate) fn csrf_of(html: &str) -> String {
    let at = html.find(r#"name="csrf" value=""#).expect("a form with a CSRF token") + 19;
    html[at..].split('"').next().unwrap().to_owned()
}

on_both_backends! {
    async fn signing_in_opens_a_session_in_a_strict_http_only_cookie(app) {
        let response = post_sign_in(&app, &app.admin_key, ("origin", &format!("http://{}", app.addr))).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let cookie = response.headers()[SET_COOKIE].to_str().unwrap();
        for flag in ["HttpOnly", "SameSite=Strict", "Path=/ui"] {
            assert!(cookie.contains(flag), "{flag} in {cookie}");
        }
        assert!(!cookie.contains("Secure"), "plain HTTP: the browser would drop a Secure cookie");
        assert!(!cookie.contains(&app.admin_key), "the key itself is never the cookie");
        assert!(!response.headers()[LOCATION].to_str().unwrap().contains("key"), "nor in the URL");

        // Behind a TLS-terminating proxy the cookie is Secure.
        let response = post_sign_in(&app, &app.admin_key, ("x-forwarded-proto", "https")).await;
        assert!(response.headers()[SET_COOKIE].to_str().unwrap().ends_with("; Secure"));

        // The database holds the token's hash, never the token.
        let token = cookie.split(';').next().unwrap().split_once('=').unwrap().1.to_owned();
        let raw = herald_testkit::raw::dump(&app).await;
        assert!(!raw.contains(&token), "the session token is stored only as a hash");
    }

    async fn a_wrong_or_missing_key_is_told_on_the_form(app) {
        for (key, status, text) in [
            ("hk_not_a_key_at_all", StatusCode::UNAUTHORIZED, "That key is not valid"),
            ("  ", StatusCode::UNPROCESSABLE_ENTITY, "Enter an API key"),
        ] {
            let response = browser().post(app.url("/ui/sign-in")).form(&[("key", key)]).send().await.unwrap();
            assert_eq!(response.status(), status);
            assert!(response.headers().get(SET_COOKIE).is_none());
            let html = response.text().await.unwrap();
            assert!(html.contains(text), "{html}");
            assert!(html.contains(r#"aria-invalid="true""#), "the field is marked invalid");
        }
        // Without a session every page sends the browser to sign in.
        let response = browser().get(app.url("/ui")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(response.headers()[LOCATION], "/ui/sign-in");
        let forged = format!("herald_session=hs_{}", "A".repeat(43));
        assert_eq!(page(&app, "/ui", &forged).await.0, StatusCode::SEE_OTHER, "an unknown token");
        // And `/` leads there.
        let response = browser().get(app.url("/")).send().await.unwrap();
        assert_eq!(response.headers()[LOCATION], "/ui");
    }

    async fn pages_carry_a_strict_content_security_policy(app) {
        let cookie = sign_in(&app, &app.admin_key).await;
        for path in ["/ui", "/ui/sign-in"] {
            let response = browser().get(app.url(path)).header("cookie", &cookie).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            let h = response.headers();
            let csp = h[CONTENT_SECURITY_POLICY].to_str().unwrap();
            assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
            assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
            assert_eq!(h["x-frame-options"], "DENY");
            assert_eq!(h["x-content-type-options"], "nosniff");
            assert_eq!(h["cache-control"], "no-store");
            let html = response.text().await.unwrap();
            assert!(!html.contains("<script>") && !html.contains(" style="), "no inline script or style");
        }
        let css = browser().get(app.url("/ui/assets/app.css")).send().await.unwrap();
        assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    }

    async fn the_operator_sees_every_tenant_and_a_tenant_only_itself(app) {
        let acme = app.tenant("Acme").await;
        let globex = app.tenant("Globex").await;
        app.endpoint(&acme, json!({"url": "https://acme.example/hooks", "description": "billing"})).await;
        app.endpoint(&globex, json!({"url": "https://globex.example/hooks"})).await;

        let operator = sign_in(&app, &app.admin_key).await;
        let (status, html) = page(&app, "/ui", &operator).await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("Acme") && html.contains("Globex"), "{html}");
        // A cursor not of the API's form starts from the first page instead of failing.
        let (status, html) = page(&app, "/ui?cursor=%3Cscript%3E", &operator).await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("Acme") && !html.contains("<script>"), "{html}");
        let (_, html) = page(&app, &format!("/ui/tenants/{acme}"), &operator).await;
        assert!(html.contains("https://acme.example/hooks") && html.contains("billing"));
        assert!(!html.contains("globex.example"));

        let acme_key = app.tenant_key(&acme).await;
        let tenant = sign_in(&app, &acme_key).await;
        // Its start page is its own tenant's.
        let response = browser().get(app.url("/ui")).header("cookie", &tenant).send().await.unwrap();
        assert_eq!(response.headers()[LOCATION].to_str().unwrap(), format!("/ui/tenants/{acme}"));
        let (status, html) = page(&app, &format!("/ui/tenants/{acme}"), &tenant).await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("https://acme.example/hooks"));
        // Another tenant's pages look exactly like pages that do not exist.
        let (status, html) = page(&app, &format!("/ui/tenants/{globex}"), &tenant).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(!html.contains("globex.example") && !html.contains("Globex"));
        let (missing, _) = page(&app, "/ui/tenants/ten_01J00000000000000000000000", &tenant).await;
        assert_eq!(missing, StatusCode::NOT_FOUND);

        // Revoking the key ends its sessions.
        let keys = app.get(&format!("/v1/tenants/{acme}/keys")).await;
        let id = keys.body["data"][0]["id"].as_str().unwrap().to_owned();
        assert_eq!(app.delete(&format!("/v1/tenants/{acme}/keys/{id}")).await.status, 204);
        assert_eq!(page(&app, &format!("/ui/tenants/{acme}"), &tenant).await.0, StatusCode::SEE_OTHER);
    }

    async fn forms_from_another_site_or_without_the_token_are_refused(app) {
        let cookie = sign_in(&app, &app.admin_key).await;
        let (_, html) = page(&app, "/ui", &cookie).await;
        let csrf = csrf_of(&html);
        let sign_out = |headers: Vec<(&'static str, String)>, csrf: &str| {
            let mut request = browser().post(app.url("/ui/sign-out")).header("cookie", &cookie);
            for (name, value) in headers {
                request = request.header(name, value);
            }
            request.form(&[("csrf", csrf.to_owned())]).send()
        };
        // From another origin, even with the right token (as if it had leaked): refused.
        let response = sign_out(vec![("origin", "http://127.0.0.1:1".into())], &csrf).await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let response = sign_out(vec![("sec-fetch-site", "cross-site".into())], &csrf).await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        // Same origin without the token, or with another session's: refused.
        assert_eq!(sign_out(vec![], "").await.unwrap().status(), StatusCode::FORBIDDEN);
        let other = sign_in(&app, &app.admin_key).await;
        let other_csrf = csrf_of(&page(&app, "/ui", &other).await.1);
        assert_eq!(sign_out(vec![], &other_csrf).await.unwrap().status(), StatusCode::FORBIDDEN);
        assert_eq!(page(&app, "/ui", &cookie).await.0, StatusCode::OK, "the session is untouched");
        // Sign-in from another site is refused too (no login CSRF).
        let response = post_sign_in(&app, &app.admin_key, ("origin", "http://127.0.0.1:1")).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert!(response.headers().get(SET_COOKIE).is_none());

        // The real sign-out ends the session: the old cookie no longer opens anything.
        let origin = format!("http://{}", app.addr);
        let response = sign_out(vec![("origin", origin)], &csrf).await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert!(response.headers()[SET_COOKIE].to_str().unwrap().contains("Max-Age=0"));
        assert_eq!(page(&app, "/ui", &cookie).await.0, StatusCode::SEE_OTHER);
        assert_eq!(page(&app, "/ui", &other).await.0, StatusCode::OK, "other sessions stay");
    }

    async fn a_tenants_delivery_log_lists_and_filters_its_deliveries_only(app) {
        let receiver = TestReceiver::start().await;
        let acme = app.tenant("Acme").await;
        let globex = app.tenant("Globex").await;
        app.endpoint(&acme, json!({"url": format!("{}/acme", receiver.url())})).await;
        app.endpoint(&globex, json!({"url": format!("{}/globex", receiver.url())})).await;
        let published = app.publish(&acme, json!({"type": "invoice.paid", "data": {"n": 1}})).await;
        let delivery = published["deliveries"][0]["deliveryId"].as_str().unwrap().to_owned();
        app.delivery_with_status(&acme, &delivery, "delivered").await;
        let other = app.publish(&globex, json!({"type": "invoice.paid", "data": {"n": 2}})).await;
        let other_delivery = other["deliveries"][0]["deliveryId"].as_str().unwrap().to_owned();

        let operator = sign_in(&app, &app.admin_key).await;
        let log = format!("/ui/tenants/{acme}/deliveries");
        let (status, html) = page(&app, &log, &operator).await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains(&delivery) && html.contains("delivered"), "{html}");
        assert!(!html.contains(&other_delivery), "another tenant's delivery");
        let (_, failed) = page(&app, &format!("{log}?status=failed"), &operator).await;
        assert!(!failed.contains(&delivery) && failed.contains("No deliveries with this status"));
        assert!(failed.contains(r#"<option value="failed" selected>"#), "the filter shows what is chosen");
        let (_, delivered) = page(&app, &format!("{log}?status=delivered"), &operator).await;
        assert!(delivered.contains(&delivery));

        // The delivery's page: every attempt, with what was sent and what came back.
        assert!(html.contains(&format!("{log}/{delivery}")), "the log links to it");
        let (status, html) = page(&app, &format!("{log}/{delivery}"), &operator).await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("Attempt 1") && html.contains(&format!("{}/acme", receiver.url())), "{html}");
        assert!(html.contains("webhook-signature") && html.contains("v1,"), "the request's headers");
        assert!(html.contains("Response 204"), "{html}");

        let globex_session = sign_in(&app, &app.tenant_key(&globex).await).await;
        let (status, html) = page(&app, &log, &globex_session).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(!html.contains(&delivery));
        // Nor through its own tenant's path: the delivery belongs to another tenant.
        let (status, html) = page(&app, &format!("/ui/tenants/{globex}/deliveries/{delivery}"), &globex_session).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(!html.contains("/acme"));
        let (status, _) = page(&app, &format!("{log}/not-an-id"), &operator).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}
