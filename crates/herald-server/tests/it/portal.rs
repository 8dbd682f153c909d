//! The embeddable tenant portal: links made through the API (admin only, checked input), opened
//! once into a session of one tenant's pages, branded, framable by the configured sites only,
//! with the cookie an embedded page needs. Over plain HTTP on both backends, then in a real
//! headless Chromium: opened directly, followed from another site, and inside another site's
//! `<iframe>`.

use std::time::Duration;

use herald_server::config::{FrameAncestors, PublicUrl};
use reqwest::header::{CONTENT_SECURITY_POLICY, LOCATION, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::Digest;

use crate::browser::{screenshots, text_of, wait_for_path};
use crate::support::browser::{Browser, Locator};
use crate::support::{Backend, TestApp, on_both_backends};
use crate::ui::{browser, csrf_of, page, sign_in};

const NOWHERE: &str = "ten_01J00000000000000000000000";

/// Asks for a portal link to `tenant` with `body`; returns the response's body.
async fn link(app: &TestApp, tenant: &str, body: Value) -> Value {
    let r = app.post(&format!("/v1/tenants/{tenant}/portal-sessions"), body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body
}

/// The path of a link's URL on the app.
fn path_of(app: &TestApp, link: &Value) -> String {
    let url = link["url"].as_str().unwrap();
    url.strip_prefix(&app.url("")).unwrap_or_else(|| panic!("{url} is on {}", app.addr)).to_owned()
}

/// Opens a link as a browser does when it is typed in or framed (without following the
/// redirect).
async fn open(app: &TestApp, path: &str) -> reqwest::Response {
    browser().get(app.url(path)).header("sec-fetch-site", "none").send().await.unwrap()
}

/// The `Cookie` header value a response's `Set-Cookie` makes.
fn cookie_of(response: &reqwest::Response) -> String {
    let set = response.headers()[SET_COOKIE].to_str().unwrap();
    set.split(';').next().unwrap().to_owned()
}

/// A response's frame-ancestors sources and whether it forbids framing with `X-Frame-Options`.
fn framing_of(headers: &reqwest::header::HeaderMap) -> (String, bool) {
    let csp = headers[CONTENT_SECURITY_POLICY].to_str().unwrap();
    let ancestors = csp.split(';').map(str::trim).find_map(|d| d.strip_prefix("frame-ancestors "));
    let deny = headers.get("x-frame-options").is_some_and(|v| v == "DENY");
    (ancestors.unwrap_or_else(|| panic!("no frame-ancestors in {csp}")).to_owned(), deny)
}

async fn framing_at(app: &TestApp, path: &str, cookie: &str) -> (String, bool) {
    let response = browser().get(app.url(path)).header("cookie", cookie).send().await.unwrap();
    assert!(response.status().as_u16() < 500, "{path}: {}", response.status());
    framing_of(response.headers())
}

on_both_backends! {
    async fn only_an_admin_key_makes_portal_links(app) {
        let acme = app.tenant("Acme").await;
        let path = format!("/v1/tenants/{acme}/portal-sessions");
        let tenant_key = app.tenant_key(&acme).await;
        app.call(Method::POST, &path, Some(&tenant_key), Some(&json!({}))).await.assert_problem(403, "forbidden");
        app.call(Method::POST, &path, None, Some(&json!({}))).await.assert_problem(401, "unauthorized");
        for missing in [NOWHERE, "no-such-uid"] {
            let r = app.post(&format!("/v1/tenants/{missing}/portal-sessions"), json!({})).await;
            r.assert_problem(404, "not_found");
        }
        // No body, an empty one or `null`: a plain link that lasts 10 minutes.
        for body in [None, Some(json!({})), Some(Value::Null)] {
            let before = herald_core::Timestamp::now();
            let r = app.call(Method::POST, &path, Some(&app.admin_key), body.as_ref()).await;
            assert_eq!(r.status, 201, "{}", r.body);
            assert!(r.body["url"].as_str().unwrap().starts_with(&app.url("/ui/portal/hp_")), "{}", r.body);
            let expires: herald_core::Timestamp = r.body["expiresAt"].as_str().unwrap().parse().unwrap();
            let ttl = expires.duration_since(before).as_secs();
            assert!((598..=602).contains(&ttl), "expires in {ttl} s");
        }
        // A chosen lifetime.
        let before = herald_core::Timestamp::now();
        let body = link(&app, &acme, json!({"expiresIn": "1h"})).await;
        let expires: herald_core::Timestamp = body["expiresAt"].as_str().unwrap().parse().unwrap();
        assert!((3598..=3602).contains(&expires.duration_since(before).as_secs()));
        // Two links are two different tokens.
        assert_ne!(link(&app, &acme, json!({})).await["url"], link(&app, &acme, json!({})).await["url"]);
    }

    async fn portal_link_input_is_checked_field_by_field(app) {
        let acme = app.tenant("Acme").await;
        let path = format!("/v1/tenants/{acme}/portal-sessions");
        let long = "x".repeat(65);
        for (body, pointer) in [
            (json!({"branding": {"name": ""}}), "/branding/name"),
            (json!({"branding": {"name": "   "}}), "/branding/name"),
            (json!({"branding": {"name": long}}), "/branding/name"),
            (json!({"branding": {"name": "Acme\nCloud"}}), "/branding/name"),
            (json!({"branding": {"logoUrl": "https://cdn.example.com/a.svg"}}), "/branding/name"),
            (json!({"branding": {"name": "A", "logoUrl": "http://cdn.example.com/a.svg"}}), "/branding/logoUrl"),
            (json!({"branding": {"name": "A", "logoUrl": "javascript:alert(1)"}}), "/branding/logoUrl"),
            (json!({"branding": {"name": "A", "logoUrl": "//cdn.example.com/a.svg"}}), "/branding/logoUrl"),
            (json!({"branding": {"name": "A", "accentColor": "red"}}), "/branding/accentColor"),
            (json!({"branding": {"name": "A", "accentColor": "#12345"}}), "/branding/accentColor"),
            (json!({"branding": {"name": "A", "accentColor": "#1234567"}}), "/branding/accentColor"),
            (json!({"branding": {"name": "A", "accentColor": "#12345g"}}), "/branding/accentColor"),
            (json!({"branding": {"name": "A", "accentColor": "#123456;}"}}), "/branding/accentColor"),
            (json!({"branding": "Acme"}), "/branding"),
            (json!({"expiresIn": "59s"}), "/expiresIn"),
            (json!({"expiresIn": "2h"}), "/expiresIn"),
            (json!({"expiresIn": "soon"}), "/expiresIn"),
            (json!({"expiresIn": 600}), "/expiresIn"),
        ] {
            let r = app.post(&path, body.clone()).await;
            r.assert_problem(422, "validation_failed");
            assert_eq!(r.error_paths(), [pointer], "{body}: {}", r.body);
        }
        let r = app.post(&path, json!({"branding": {"name": "A", "colour": "#123456"}})).await;
        r.assert_problem(422, "validation_failed");
        assert!(r.body["detail"].as_str().unwrap().contains("colour"), "{}", r.body);
        // Refused requests store nothing.
        let stored = crate::support::raw::strings(&app, "SELECT token_hash FROM ui_portal_links").await;
        assert!(stored.is_empty(), "{stored:?}");
        // Upper-case hex digits are taken (and kept in lower case).
        link(&app, &acme, json!({"branding": {"name": "A", "accentColor": "#0A7CFF"}})).await;
    }

    async fn a_portal_link_opens_once_into_its_tenants_pages_only(app) {
        let acme = app.tenant("Acme").await;
        let globex = app.tenant("Globex").await;
        app.endpoint(&acme, json!({"url": "https://acme.example/hooks"})).await;
        app.endpoint(&globex, json!({"url": "https://globex.example/secret-hooks"})).await;
        let made = link(&app, &acme, json!({})).await;
        let path = path_of(&app, &made);
        let token = path.trim_start_matches("/ui/portal/").to_owned();

        // Opening it: a session cookie (strict: no frame ancestors are configured), and on to the
        // tenant's pages, so that the token leaves the address bar.
        let response = open(&app, &path).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(response.headers()[LOCATION].to_str().unwrap(), format!("/ui/tenants/{acme}"));
        let set = response.headers()[SET_COOKIE].to_str().unwrap().to_owned();
        for flag in ["HttpOnly", "SameSite=Strict", "Path=/ui"] {
            assert!(set.contains(flag), "{flag} in {set}");
        }
        assert!(!set.contains("Secure") && !set.contains("Partitioned") && !set.contains("SameSite=None"), "{set}");
        assert_eq!(framing_of(response.headers()), ("'none'".to_owned(), true));
        let cookie = cookie_of(&response);
        let session_token = cookie.split_once('=').unwrap().1.to_owned();
        assert!(session_token.starts_with("hs_") && session_token != token);

        // The tenant's pages, and nothing else.
        let (status, html) = page(&app, &format!("/ui/tenants/{acme}"), &cookie).await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("https://acme.example/hooks"), "{html}");
        assert!(html.contains(">Herald<"), "no branding: Herald's own header");
        assert!(!html.contains(&format!("Tenant {acme}")), "no viewer label: the platform's user knows");
        assert!(html.contains(r#"name="csrf""#), "it can sign out");
        assert_eq!(page(&app, &format!("/ui/tenants/{acme}/deliveries"), &cookie).await.0, StatusCode::OK);
        for other in [format!("/ui/tenants/{globex}"), format!("/ui/tenants/{globex}/deliveries"), format!("/ui/tenants/{NOWHERE}")] {
            let (status, html) = page(&app, &other, &cookie).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{other}");
            assert!(!html.contains("globex.example") && !html.contains("Globex"), "{other}: {html}");
        }
        // The operator's start page sends it away to its own tenant.
        let response = browser().get(app.url("/ui")).header("cookie", &cookie).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(response.headers()[LOCATION].to_str().unwrap(), format!("/ui/tenants/{acme}"));
        // Nor does it open the API: it is no key.
        let r = app.call(Method::GET, "/v1/tenants", Some(&session_token), None).await;
        r.assert_problem(401, "unauthorized");

        // A second opening opens nothing, and says why.
        let again = open(&app, &path).await;
        assert_eq!(again.status(), StatusCode::GONE);
        assert!(again.headers().get(SET_COOKIE).is_none());
        assert!(again.text().await.unwrap().contains("already used"));
        // Nor does a token that was never made, or anything else in its place.
        for bogus in [format!("/ui/portal/hp_{}", "A".repeat(43)), "/ui/portal/hp_short".into(), format!("/ui/portal/{session_token}")] {
            let response = open(&app, &bogus).await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{bogus}");
            assert!(response.headers().get(SET_COOKIE).is_none());
            assert!(response.text().await.unwrap().contains("not valid"));
        }

        // The database holds hashes only: neither the link's token nor the session's.
        let raw = crate::support::raw::dump(&app).await;
        let hash = |t: &str| sha2::Sha256::digest(t.as_bytes()).iter().map(|b| format!("{b:02x}")).collect::<String>();
        assert!(raw.contains(&hash(&token)) && raw.contains(&hash(&session_token)), "read where they are kept");
        assert!(!raw.contains(&token[3..]), "the link's token is stored only as a hash");
        assert!(!raw.contains(&session_token[3..]), "the session token is stored only as a hash");

        // Behind a TLS-terminating proxy, the cookie is Secure.
        let made = link(&app, &acme, json!({})).await;
        let response = browser()
            .get(app.url(&path_of(&app, &made)))
            .header("sec-fetch-site", "none")
            .header("x-forwarded-proto", "https")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert!(response.headers()[SET_COOKIE].to_str().unwrap().ends_with("SameSite=Strict; Secure"));

        // Followed from another site (or by a browser that does not say), a redirect would arrive
        // without the strict cookie: the page moves on by itself instead, as Herald's own navigation.
        for site in [Some("cross-site"), None] {
            let made = link(&app, &acme, json!({})).await;
            let mut request = browser().get(app.url(&path_of(&app, &made)));
            if let Some(site) = site {
                request = request.header("sec-fetch-site", site);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{site:?}");
            let cookie = cookie_of(&response);
            let html = response.text().await.unwrap();
            let refresh = format!(r#"<meta http-equiv="refresh" content="0; url=/ui/tenants/{acme}">"#);
            assert!(html.contains(&refresh) && !html.contains("hp_"), "{html}");
            assert_eq!(page(&app, &format!("/ui/tenants/{acme}"), &cookie).await.0, StatusCode::OK);
        }

        // Deleting the tenant ends its portal sessions.
        assert_eq!(app.delete(&format!("/v1/tenants/{acme}")).await.status, 204);
        let response = browser().get(app.url(&format!("/ui/tenants/{acme}"))).header("cookie", &cookie).send().await.unwrap();
        assert_eq!(response.headers()[LOCATION], "/ui/sign-in");
        // Inside a frame too, where no site may frame Herald.
        let response = browser()
            .get(app.url(&format!("/ui/tenants/{acme}")))
            .header("cookie", &cookie)
            .header("sec-fetch-dest", "iframe")
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()[LOCATION], "/ui/sign-in");
    }

    async fn an_expired_portal_link_opens_nothing(app) {
        let acme = app.tenant("Acme").await;
        let made = link(&app, &acme, json!({"expiresIn": "1m"})).await;
        let fresh = link(&app, &acme, json!({"expiresIn": "1m"})).await;
        // A minute and more passes for the first link (its expiry moved back behind the API's back).
        let token = path_of(&app, &made).trim_start_matches("/ui/portal/").to_owned();
        let hash: String = sha2::Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
        let aged = crate::support::raw::execute(
            &app,
            &format!("UPDATE ui_portal_links SET expires_at = expires_at - 61000 WHERE token_hash = '{hash}'"),
        )
        .await;
        assert_eq!(aged, 1);
        let response = open(&app, &path_of(&app, &made)).await;
        assert_eq!(response.status(), StatusCode::GONE);
        assert!(response.headers().get(SET_COOKIE).is_none());
        assert!(response.text().await.unwrap().contains("expired"));
        // The other one still opens.
        assert_eq!(open(&app, &path_of(&app, &fresh)).await.status(), StatusCode::SEE_OTHER);
    }

    async fn branding_dresses_the_portal_without_inline_styles(app) {
        let acme = app.tenant("Acme").await;
        let globex = app.tenant("Globex").await;
        let branding = json!({"name": " Acme Cloud ", "logoUrl": "https://cdn.example.com/acme.svg", "accentColor": "#FFD400"});
        let made = link(&app, &acme, json!({"branding": branding})).await;
        let cookie = cookie_of(&open(&app, &path_of(&app, &made)).await);

        let (status, html) = page(&app, &format!("/ui/tenants/{acme}"), &cookie).await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("<title>Acme · Acme Cloud</title>"), "{html}");
        assert!(html.contains(r#"<img src="https://cdn.example.com/acme.svg" alt="">Acme Cloud</a>"#), "{html}");
        assert!(!html.contains(">Herald<"), "the name replaces Herald's");
        assert!(html.contains(r#"<link rel="stylesheet" href="/ui/assets/brand.css">"#), "{html}");
        assert!(!html.contains(" style=") && !html.contains("<style"), "no inline style: the CSP forbids it");
        // Every page of the session wears it, the not-found page too.
        let (status, html) = page(&app, &format!("/ui/tenants/{globex}"), &cookie).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(html.contains("Acme Cloud</a>") && html.contains("<title>Not found · Acme Cloud</title>"), "{html}");

        // The accent colour comes as a stylesheet of the session's own, with readable text on it.
        let css = browser().get(app.url("/ui/assets/brand.css")).header("cookie", &cookie).send().await.unwrap();
        assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
        assert!(css.headers()["cache-control"].to_str().unwrap().contains("no-store"));
        let text = css.text().await.unwrap();
        assert!(text.contains("--accent: #ffd400;") && text.contains("--accent-ink: #111111;"), "{text}");
        // Without a session, or for a session without a colour, it is empty.
        let css = browser().get(app.url("/ui/assets/brand.css")).send().await.unwrap();
        assert_eq!(css.status(), StatusCode::OK);
        assert_eq!(css.text().await.unwrap(), "");
        let named = link(&app, &acme, json!({"branding": {"name": "Acme Cloud"}})).await;
        let named = cookie_of(&open(&app, &path_of(&app, &named)).await);
        let (_, html) = page(&app, &format!("/ui/tenants/{acme}"), &named).await;
        assert!(html.contains(r#"<a class="brand" href="/ui">Acme Cloud</a>"#), "{html}");
        assert!(!html.contains("brand.css") && !html.contains("<img"), "{html}");
        let css = browser().get(app.url("/ui/assets/brand.css")).header("cookie", &named).send().await.unwrap();
        assert_eq!(css.text().await.unwrap(), "");

        // Sessions opened with a key look like Herald.
        let operator = sign_in(&app, &app.admin_key).await;
        let (_, html) = page(&app, &format!("/ui/tenants/{acme}"), &operator).await;
        assert!(html.contains(">Herald<") && !html.contains("Acme Cloud") && !html.contains("brand.css"));
    }

    async fn a_portal_link_is_made_on_the_public_url_or_the_host_asked(app) {
        let acme = app.tenant("Acme").await;
        let path = format!("/v1/tenants/{acme}/portal-sessions");
        let ask = |headers: Vec<(&'static str, &'static str)>| {
            let mut request = app.raw(Method::POST, &path).bearer_auth(&app.admin_key).json(&json!({}));
            for (name, value) in headers {
                request = request.header(name, value);
            }
            async move { TestApp::read(request.send().await.unwrap()).await.body["url"].as_str().unwrap().to_owned() }
        };
        assert!(ask(vec![]).await.starts_with(&format!("http://{}/ui/portal/hp_", app.addr)));
        let proxied = ask(vec![("host", "herald.example.com"), ("x-forwarded-proto", "https")]).await;
        assert!(proxied.starts_with("https://herald.example.com/ui/portal/hp_"), "{proxied}");
        let port = ask(vec![("host", "herald.example.com:8443")]).await;
        assert!(port.starts_with("http://herald.example.com:8443/ui/portal/hp_"), "{port}");
    }
}

on_both_backends! {
    async fn a_configured_public_url_is_the_base_of_portal_links(backend: Backend) {
        let app = TestApp::start_with(backend, |c| {
            c.public_url = Some(PublicUrl::parse("https://hooks.example.com/herald/").unwrap());
        })
        .await;
        let acme = app.tenant("Acme").await;
        let r = app
            .raw(Method::POST, &format!("/v1/tenants/{acme}/portal-sessions"))
            .bearer_auth(&app.admin_key)
            .header("host", "elsewhere.example.com")
            .send()
            .await
            .unwrap();
        let body = TestApp::read(r).await.body;
        let url = body["url"].as_str().unwrap();
        assert!(url.starts_with("https://hooks.example.com/herald/ui/portal/hp_"), "{url}");
        // It opens on Herald as any link does (the proxy strips the prefix).
        let path = url.trim_start_matches("https://hooks.example.com/herald");
        assert_eq!(open(&app, path).await.status(), StatusCode::SEE_OTHER);
    }

    async fn only_portal_pages_may_be_framed_and_only_by_the_configured_sites(backend: Backend) {
        let sites = "https://app.example.com https://*.example.com";
        let app = TestApp::start_with(backend, |c| c.ui_frame_ancestors = FrameAncestors::parse(sites).unwrap()).await;
        let acme = app.tenant("Acme").await;
        let globex = app.tenant("Globex").await;
        let framable = (sites.to_owned(), false);
        let unframable = ("'none'".to_owned(), true);

        // The link itself, and everything its session is shown, may be framed by those sites;
        // its cookie is a partitioned third-party cookie, so that it works inside the frame.
        let made = link(&app, &acme, json!({"branding": {"name": "Acme Cloud", "accentColor": "#0a7cff"}})).await;
        let response = open(&app, &path_of(&app, &made)).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(framing_of(response.headers()), framable);
        let set = response.headers()[SET_COOKIE].to_str().unwrap().to_owned();
        assert!(set.ends_with("; HttpOnly; SameSite=None; Secure; Partitioned") && set.contains("Path=/ui"), "{set}");
        let portal = cookie_of(&response);
        for path in [
            format!("/ui/tenants/{acme}"),
            format!("/ui/tenants/{acme}/deliveries"),
            format!("/ui/tenants/{globex}"),
            "/ui".to_owned(),
        ] {
            assert_eq!(framing_at(&app, &path, &portal).await, framable, "{path}");
        }
        // A used link's page too (it is shown where the link was).
        assert_eq!(framing_of(open(&app, &path_of(&app, &made)).await.headers()), framable);

        // The operator's pages, a tenant key's, the sign-in page and anyone without a session: never.
        let operator = sign_in(&app, &app.admin_key).await;
        let by_key = sign_in(&app, &app.tenant_key(&acme).await).await;
        for (path, cookie) in [
            ("/ui".to_owned(), operator.as_str()),
            (format!("/ui/tenants/{acme}"), operator.as_str()),
            (format!("/ui/tenants/{acme}"), by_key.as_str()),
            ("/ui/sign-in".to_owned(), ""),
            ("/ui/sign-in".to_owned(), portal.as_str()),
            (format!("/ui/tenants/{acme}"), ""),
        ] {
            assert_eq!(framing_at(&app, &path, cookie).await, unframable, "{path} with {cookie:?}");
        }
        // Sessions opened with a key keep their strict cookie.
        let response = browser().post(app.url("/ui/sign-in")).form(&[("key", &app.admin_key)]).send().await.unwrap();
        assert!(response.headers()[SET_COOKIE].to_str().unwrap().contains("SameSite=Strict"));

        // Forms in the frame are Herald's own: the embedding site cannot post them, even with
        // the session's token; Herald's own origin can.
        let (_, html) = page(&app, &format!("/ui/tenants/{acme}"), &portal).await;
        let csrf = csrf_of(&html);
        let sign_out = |origin: String| {
            browser().post(app.url("/ui/sign-out")).header("cookie", &portal).header("origin", origin).form(&[("csrf", csrf.clone())]).send()
        };
        assert_eq!(sign_out("https://app.example.com".into()).await.unwrap().status(), StatusCode::FORBIDDEN);
        assert_eq!(page(&app, &format!("/ui/tenants/{acme}"), &portal).await.0, StatusCode::OK, "untouched");
        let response = sign_out(format!("http://{}", app.addr)).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "a page that says so, not the sign-in form");
        assert_eq!(framing_of(response.headers()), framable);
        let closed = response.headers()[SET_COOKIE].to_str().unwrap().to_owned();
        assert!(closed.contains("Max-Age=0") && closed.ends_with("Partitioned"), "{closed}");
        assert!(response.text().await.unwrap().contains("Signed out"));
        assert_eq!(page(&app, &format!("/ui/tenants/{acme}"), &portal).await.0, StatusCode::SEE_OTHER);
        // A page asked for inside a frame once the session has ended: not the sign-in form (which
        // may not be framed), but a framable page asking to reload.
        let in_frame = browser()
            .get(app.url(&format!("/ui/tenants/{acme}")))
            .header("cookie", &portal)
            .header("sec-fetch-dest", "iframe")
            .send()
            .await
            .unwrap();
        assert_eq!(in_frame.status(), StatusCode::FORBIDDEN);
        assert_eq!(framing_of(in_frame.headers()), framable);
        let html = in_frame.text().await.unwrap();
        assert!(html.contains("Session ended") && !html.contains("<form") && !html.contains("<a "), "{html}");
    }
}

/// Serves each `(path, html)` on `listener`: pages of another site.
fn serve_pages(listener: tokio::net::TcpListener, pages: Vec<(&'static str, String)>) {
    let mut app = axum::Router::new();
    for (path, html) in pages {
        app = app.route(path, axum::routing::get(move || async move { axum::response::Html(html) }));
    }
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
}

/// Waits until the frame in focus is at `path` (`wait_for_path` reads the window's address).
async fn wait_for_frame_path(browser: &Browser, path: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let at = browser.client.execute("return location.pathname", vec![]).await.unwrap();
        if at == json!(path) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "the frame stayed at {at}, not {path}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_portal_link_opens_the_tenants_branded_pages_in_chromium() {
    let app = TestApp::start(Backend::Sqlite).await;
    let acme = app.tenant("Acme Corp").await;
    let globex = app.tenant("Globex").await;
    app.endpoint(&acme, json!({"url": "https://acme.example/webhooks", "description": "Billing events"}))
        .await;
    app.endpoint(&globex, json!({"url": "https://globex.example/secret-hooks"})).await;
    let made = link(&app, &acme, json!({"branding": {"name": "Acme Cloud", "accentColor": "#0a7cff"}})).await;
    let url = made["url"].as_str().unwrap().to_owned();
    let browser = Browser::start(1280, 900).await;
    let c = &browser.client;

    c.goto(&url).await.unwrap();
    wait_for_path(&browser, &format!("/ui/tenants/{acme}")).await;
    assert_eq!(text_of(&browser, "header .brand").await, "Acme Cloud");
    assert_eq!(text_of(&browser, "main h1").await, "Acme Corp · endpoints");
    assert!(text_of(&browser, "table.list").await.contains("https://acme.example/webhooks"));
    assert!(!c.current_url().await.unwrap().as_str().contains("hp_"), "the token left the address bar");
    assert_eq!(c.title().await.unwrap(), "Acme Corp · Acme Cloud");
    // The accent colour reached the page through its stylesheet (the CSP allows no inline style).
    let accent = c
        .execute(
            "return getComputedStyle(document.documentElement).getPropertyValue('--accent').trim()",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(accent, json!("#0a7cff"));
    assert_eq!(c.execute("return document.cookie", vec![]).await.unwrap(), json!(""), "HttpOnly");
    browser.screenshot(&screenshots(), "portal").await;

    // Another tenant's page is the not-found page.
    c.goto(&app.url(&format!("/ui/tenants/{globex}"))).await.unwrap();
    assert_eq!(text_of(&browser, "main h1").await, "Not found");
    assert!(!c.source().await.unwrap().contains("globex.example"));
    // The operator's start page leads back to its own tenant.
    c.goto(&app.url("/ui")).await.unwrap();
    wait_for_path(&browser, &format!("/ui/tenants/{acme}")).await;
    // The link does not open twice.
    c.goto(&url).await.unwrap();
    assert_eq!(text_of(&browser, "main h1").await, "This link was already used");
    browser.close().await;
}

#[tokio::test]
async fn a_portal_link_followed_from_another_site_opens_the_portal_in_chromium() {
    let app = TestApp::start(Backend::Sqlite).await;
    let acme = app.tenant("Acme Corp").await;
    let made = link(&app, &acme, json!({"branding": {"name": "Acme Cloud"}})).await;
    // The platform's page, on another site (localhost, not 127.0.0.1), links to the portal.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let platform = format!("http://localhost:{}/", listener.local_addr().unwrap().port());
    let html = format!(
        r#"<!doctype html><a id="portal" href="{}">Your webhooks</a>"#,
        made["url"].as_str().unwrap()
    );
    serve_pages(listener, vec![("/", html)]);
    let browser = Browser::start(1280, 900).await;
    let c = &browser.client;

    c.goto(&platform).await.unwrap();
    c.find(Locator::Css("#portal")).await.unwrap().click().await.unwrap();
    wait_for_path(&browser, &format!("/ui/tenants/{acme}")).await;
    assert_eq!(text_of(&browser, "main h1").await, "Acme Corp · endpoints");
    assert_eq!(text_of(&browser, "header .brand").await, "Acme Cloud");
    browser.close().await;
}

#[tokio::test]
async fn a_portal_works_inside_the_platforms_iframe_in_chromium() {
    // The platform's site is http://localhost:<port>: another site than Herald's 127.0.0.1.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let platform = format!("http://localhost:{}", listener.local_addr().unwrap().port());
    let sites = FrameAncestors::parse(&platform).unwrap();
    let app = TestApp::start_with(Backend::Sqlite, |c| c.ui_frame_ancestors = sites).await;
    let acme = app.tenant("Acme Corp").await;
    app.endpoint(&acme, json!({"url": "https://acme.example/webhooks"})).await;
    let made = link(&app, &acme, json!({"branding": {"name": "Acme Cloud", "accentColor": "#0a7cff"}})).await;
    // The platform's page with the portal in a frame; another with the sign-in page, which may
    // never be framed.
    let portal = format!(
        r#"<!doctype html><html><body style="margin:0;font-family:sans-serif;background:#eef1f5">
           <div style="background:#0a2540;color:#fff;padding:14px 24px;font-weight:700">Acme Cloud
             <span style="font-weight:400;margin-left:24px;opacity:.8">Dashboard · Billing · Webhooks</span></div>
           <div style="padding:24px"><h2 style="margin:0 0 12px">Webhooks</h2>
           <iframe id="portal" src="{}" style="width:100%;height:560px;border:1px solid #cfd6df;border-radius:8px;background:#fff"></iframe>
           </div></body></html>"#,
        made["url"].as_str().unwrap(),
    );
    let sign_in =
        format!(r#"<!doctype html><iframe id="sign-in" src="{}"></iframe>"#, app.url("/ui/sign-in"));
    serve_pages(listener, vec![("/", portal), ("/sign-in", sign_in)]);
    let browser = Browser::start(1280, 800).await;
    let c = &browser.client;

    c.goto(&format!("{platform}/")).await.unwrap();
    c.enter_frame(0).await.unwrap();
    assert_eq!(text_of(&browser, "main h1").await, "Acme Corp · endpoints");
    assert_eq!(text_of(&browser, "header .brand").await, "Acme Cloud");
    // (A screenshot is of the whole window, whichever frame is in focus.)
    let shot = browser.screenshot(&screenshots(), "portal-embedded").await;
    if std::env::var("HERALD_TEST_BLESS").is_ok_and(|v| v == "1") {
        let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots");
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::copy(&shot, docs.join("portal-embedded.png")).unwrap();
    }

    // The session's cookie goes with the frame's next requests: a click to another tab.
    c.find(Locator::LinkText("Deliveries")).await.unwrap().click().await.unwrap();
    wait_for_frame_path(&browser, &format!("/ui/tenants/{acme}/deliveries")).await;
    assert_eq!(text_of(&browser, "main h1").await, "Acme Corp · deliveries");
    // Its forms are Herald's own inside the frame: signing out passes the origin and CSRF checks.
    c.find(Locator::Css("form.sign-out button")).await.unwrap().click().await.unwrap();
    wait_for_frame_path(&browser, "/ui/sign-out").await;
    assert_eq!(text_of(&browser, "main h1").await, "Signed out");

    // The sign-in page is refused its frame: no form in it.
    c.goto(&format!("{platform}/sign-in")).await.unwrap();
    c.wait().for_element(Locator::Css("#sign-in")).await.unwrap();
    c.enter_frame(0).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while std::time::Instant::now() < deadline {
        let form = c.execute("return document.querySelector('#key') !== null", vec![]).await.unwrap();
        assert_eq!(form, json!(false), "the sign-in page showed inside another site's frame");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    browser.close().await;
}
