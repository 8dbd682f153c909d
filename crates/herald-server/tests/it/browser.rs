//! The web interface in a real headless Chromium: signing in through the form, the pages a
//! user clicks through, a forged cross-site form, signing out; at desktop and phone widths.
//! Screenshots land in the target directory (`ui-screenshots/`); with `HERALD_TEST_BLESS=1`
//! the two the README shows (an endpoint, a delivery) are also written to `docs/`.

use std::path::{Path, PathBuf};

use crate::support::browser::Locator;
use serde_json::json;

use crate::support::browser::Browser;
use crate::support::{Backend, TestApp};

pub(crate) fn screenshots() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots")
}

/// The text of the element `css` selects, once the page shows one. A click that navigates
/// returns before the next page is in, so an element of the page being left can go stale under
/// the test: it is looked up again.
pub(crate) async fn text_of(browser: &Browser, css: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let found = browser.client.wait().for_element(Locator::Css(css)).await;
        match found {
            Ok(element) => match element.text().await {
                Ok(text) => return text,
                Err(e) if std::time::Instant::now() > deadline => panic!("{css}: {e}"),
                Err(_) => {}
            },
            Err(e) => panic!("no {css} on the page: {e}"),
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Waits until the browser is at `path` (after a click that navigates).
pub(crate) async fn wait_for_path(browser: &Browser, path: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let at = browser.client.current_url().await.unwrap().path().to_owned();
        if at == path {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "the browser stayed at {at}, not {path}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A page on another origin (another loopback port) that posts a form to Herald as soon as it
/// loads: what a malicious site would do to a signed-in operator.
async fn attacker_site(target: String) -> std::net::SocketAddr {
    let html = format!(
        r#"<!doctype html><form id="f" method="post" action="{target}"><input name="csrf" value="guess"></form>
           <script>document.getElementById("f").submit()</script>"#
    );
    let app =
        axum::Router::new().route("/", axum::routing::get(move || async move { axum::response::Html(html) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

#[tokio::test]
async fn an_operator_signs_in_browses_is_protected_from_a_forged_form_and_signs_out() {
    let app = TestApp::start(Backend::Sqlite).await;
    let acme = app.tenant("Acme Corp").await;
    app.tenant("Globex").await;
    app.endpoint(&acme, json!({"url": "https://acme.example/webhooks", "description": "Billing events"}))
        .await;
    app.endpoint(&acme, json!({"url": "https://acme.example/audit", "events": ["invoice.*"]})).await;
    let browser = Browser::start(1280, 900).await;
    let c = &browser.client;

    // Any page sends a stranger to sign in.
    c.goto(&app.url("/ui")).await.unwrap();
    wait_for_path(&browser, "/ui/sign-in").await;
    // A wrong key is told on the form, and the field is marked.
    c.find(Locator::Css("#key")).await.unwrap().send_keys("hk_wrong").await.unwrap();
    c.find(Locator::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
    assert!(text_of(&browser, "#key-error").await.contains("not valid"));
    browser.screenshot(&screenshots(), "sign-in-error").await;

    c.find(Locator::Css("#key")).await.unwrap().send_keys(&app.admin_key).await.unwrap();
    c.find(Locator::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
    wait_for_path(&browser, "/ui").await;
    assert_eq!(text_of(&browser, "main h1").await, "Tenants");
    assert!(!c.current_url().await.unwrap().as_str().contains(&app.admin_key), "no key in the URL");
    // The cookie is invisible to the page's scripts (HttpOnly).
    let visible = c.execute("return document.cookie", vec![]).await.unwrap();
    assert_eq!(visible, json!(""), "document.cookie shows {visible}");
    let list = text_of(&browser, "table.list").await;
    assert!(list.contains("Acme Corp") && list.contains("Globex"), "{list}");
    browser.screenshot(&screenshots(), "tenants").await;

    // Into a tenant: its endpoints with their state.
    c.find(Locator::LinkText("Acme Corp")).await.unwrap().click().await.unwrap();
    wait_for_path(&browser, &format!("/ui/tenants/{acme}")).await;
    let table = text_of(&browser, "table.list").await;
    assert!(table.contains("https://acme.example/webhooks") && table.contains("Billing events"), "{table}");
    assert!(table.contains("enabled") && table.contains("closed"), "{table}");
    assert!(table.contains("all events") && table.contains("invoice.*"), "subscriptions: {table}");
    browser.screenshot(&screenshots(), "endpoints").await;

    // A forged form from another site: refused, and the session survives it.
    let attacker = attacker_site(app.url("/ui/sign-out")).await;
    c.goto(&format!("http://{attacker}/")).await.unwrap();
    wait_for_path(&browser, "/ui/sign-out").await;
    assert_eq!(text_of(&browser, "main h1").await, "Request refused");
    c.goto(&app.url("/ui")).await.unwrap();
    assert_eq!(text_of(&browser, "main h1").await, "Tenants", "still signed in");

    // Phone width: the same page, laid out as cards.
    c.set_window_size(390, 844).await.unwrap();
    c.goto(&app.url(&format!("/ui/tenants/{acme}"))).await.unwrap();
    assert!(text_of(&browser, "table.list").await.contains("https://acme.example/audit"));
    let header_hidden = c
        .execute("return getComputedStyle(document.querySelector('table.list thead')).display", vec![])
        .await
        .unwrap();
    assert_eq!(header_hidden, json!("none"), "the table's header row gives way to labels");
    browser.screenshot(&screenshots(), "endpoints-phone").await;
    c.set_window_size(1280, 900).await.unwrap();

    // Signing out ends the session.
    c.find(Locator::Css("form.sign-out button")).await.unwrap().click().await.unwrap();
    wait_for_path(&browser, "/ui/sign-in").await;
    c.goto(&app.url("/ui")).await.unwrap();
    wait_for_path(&browser, "/ui/sign-in").await;
    browser.close().await;
}

#[tokio::test]
async fn a_tenant_signed_in_with_its_key_sees_only_its_own_pages() {
    let app = TestApp::start(Backend::Sqlite).await;
    let acme = app.tenant("Acme Corp").await;
    let globex = app.tenant("Globex").await;
    app.endpoint(&globex, json!({"url": "https://globex.example/secret-hooks"})).await;
    let key = app.tenant_key(&acme).await;
    let browser = Browser::start(1280, 900).await;
    let c = &browser.client;

    c.goto(&app.url("/ui/sign-in")).await.unwrap();
    c.find(Locator::Css("#key")).await.unwrap().send_keys(&key).await.unwrap();
    c.find(Locator::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
    wait_for_path(&browser, &format!("/ui/tenants/{acme}")).await;
    assert_eq!(text_of(&browser, "main h1").await, "Acme Corp · endpoints");
    assert!(
        text_of(&browser, ".empty").await.contains("no endpoints yet"),
        "the empty state says what to do"
    );
    // The operator's list and another tenant's pages are out of reach.
    c.goto(&app.url(&format!("/ui/tenants/{globex}"))).await.unwrap();
    assert_eq!(text_of(&browser, "main h1").await, "Not found");
    assert!(!c.source().await.unwrap().contains("globex.example"));
    c.goto(&app.url("/ui")).await.unwrap();
    wait_for_path(&browser, &format!("/ui/tenants/{acme}")).await;
    browser.close().await;
}

/// Whether the element `css` selects is shown.
async fn shown(browser: &Browser, css: &str) -> bool {
    browser.client.find(Locator::Css(css)).await.unwrap().is_displayed().await.unwrap()
}

#[tokio::test]
async fn an_operator_creates_an_endpoint_sees_its_delivery_arrive_live_and_retries_it() {
    let app = TestApp::start(Backend::Sqlite).await;
    let receiver = crate::support::receiver::TestReceiver::start().await;
    let acme = app.tenant("Acme Corp").await;
    app.post(
        "/v1/event-types",
        json!({"name": "order.paid", "label": "Order paid", "example": {"total": 42}}),
    )
    .await;
    let browser = Browser::start(1280, 900).await;
    let c = &browser.client;
    c.goto(&app.url("/ui/sign-in")).await.unwrap();
    c.find(Locator::Css("#key")).await.unwrap().send_keys(&app.admin_key).await.unwrap();
    c.find(Locator::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
    wait_for_path(&browser, "/ui").await;

    // The tenant's empty endpoint list leads to the form.
    c.goto(&app.url(&format!("/ui/tenants/{acme}"))).await.unwrap();
    c.find(Locator::LinkText("New endpoint")).await.unwrap().click().await.unwrap();
    wait_for_path(&browser, &format!("/ui/tenants/{acme}/endpoints/new")).await;
    // Only the chosen kind of authentication asks for its fields.
    assert!(!shown(&browser, "#auth_token").await && !shown(&browser, "#auth_username").await);
    c.find(Locator::Css("#auth_type option[value=bearer]")).await.unwrap().click().await.unwrap();
    assert!(shown(&browser, "#auth_token").await && !shown(&browser, "#auth_username").await);
    c.find(Locator::Css("#auth_type option[value=none]")).await.unwrap().click().await.unwrap();

    // A URL the API refuses is told beside the field, and what was typed stays.
    c.find(Locator::Css("#url")).await.unwrap().send_keys("ftp://files.example").await.unwrap();
    c.find(Locator::Css("input[name=events][value='order.paid']")).await.unwrap().click().await.unwrap();
    c.find(Locator::Css("button.primary[type=submit]")).await.unwrap().click().await.unwrap();
    let error = text_of(&browser, "#url-error").await;
    assert!(!error.is_empty(), "the URL's error is shown");
    let invalid = c.find(Locator::Css("#url")).await.unwrap().attr("aria-invalid").await.unwrap();
    assert_eq!(invalid.as_deref(), Some("true"));
    browser.screenshot(&screenshots(), "endpoint-form-error").await;

    let url = format!("{}/orders", receiver.url());
    let field = c.find(Locator::Css("#url")).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(&url).await.unwrap();
    c.find(Locator::Css("#description")).await.unwrap().send_keys("Order events").await.unwrap();
    let ticked = c.find(Locator::Css("input[name=events][value='order.paid']")).await.unwrap();
    assert!(ticked.is_selected().await.unwrap(), "the choice survived the refused post");
    c.find(Locator::Css("button.primary[type=submit]")).await.unwrap().click().await.unwrap();
    assert_eq!(text_of(&browser, "main h1").await, "Endpoint created");
    let secret = text_of(&browser, "pre.secret-value").await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    browser.screenshot(&screenshots(), "endpoint-created").await;
    c.find(Locator::LinkText("Open the endpoint")).await.unwrap().click().await.unwrap();
    assert_eq!(text_of(&browser, "main h1").await, url);

    // A published event's delivery appears in the endpoint's log without a reload.
    c.execute("window.stillTheSamePage = true", vec![]).await.unwrap();
    assert!(shown(&browser, "[data-live] [data-empty]").await, "the empty log says so first");
    let event = app.publish(&acme, json!({"type": "order.paid", "data": {"total": 7}})).await;
    let delivery = event["deliveries"][0]["deliveryId"].as_str().unwrap().to_owned();
    let row = format!("[data-rows] tr[data-delivery='{delivery}']");
    let text = text_of(&browser, &row).await;
    assert!(text.contains(&delivery), "{text}");
    let same = c.execute("return window.stillTheSamePage === true", vec![]).await.unwrap();
    assert_eq!(same, json!(true), "the row came in live, not by reloading");
    let status = text_of(&browser, &format!("{row} td[data-label=Status]")).await;
    let status = if status == "delivered" {
        status
    } else {
        // The row changes in place when the attempt lands.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let now = text_of(&browser, &format!("{row} td[data-label=Status]")).await;
            if now == "delivered" || std::time::Instant::now() > deadline {
                break now;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    };
    assert_eq!(status, "delivered");
    let received = receiver.wait_for(1, std::time::Duration::from_secs(10)).await;
    let wh = standardwebhooks::Webhook::new(&secret).unwrap();
    wh.verify(&received[0].body, &received[0].headers).expect("signed with the secret the page showed");
    // Open the delivery, retry it: a second, manual attempt.
    c.find(Locator::Css(&format!("{row} a"))).await.unwrap().click().await.unwrap();
    wait_for_path(&browser, &format!("/ui/tenants/{acme}/deliveries/{delivery}")).await;
    assert!(text_of(&browser, "section.attempt h3").await.contains("Attempt 1"));
    c.find(Locator::Css("button.primary[type=submit]")).await.unwrap().click().await.unwrap();
    receiver.wait_for(2, std::time::Duration::from_secs(10)).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        c.refresh().await.unwrap();
        let first = text_of(&browser, "section.attempt h3").await;
        if first.contains("Attempt 2") {
            assert!(first.contains("manual"), "{first}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no second attempt shown: {first}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let delivery_shot = browser.screenshot(&screenshots(), "delivery").await;

    // With a few more deliveries, one of them refused, the endpoint's page has figures to chart.
    receiver.script([crate::support::receiver::Reply::Status(503)]);
    for total in [1, 2, 3, 4] {
        app.publish(&acme, json!({"type": "order.paid", "data": {"total": total}})).await;
    }
    receiver.wait_for(6, std::time::Duration::from_secs(10)).await;
    let endpoint_page = c.find(Locator::Css(".facts a")).await.unwrap().attr("href").await.unwrap().unwrap();
    c.goto(&app.url(&endpoint_page)).await.unwrap();
    let attempts = text_of(&browser, "dl.figures").await;
    assert!(attempts.contains("Attempts\n6"), "{attempts}");
    assert!(shown(&browser, "svg[data-chart=success] rect.bar").await, "the chart has a bar");
    let endpoint_shot = browser.screenshot(&screenshots(), "endpoint").await;
    // At phone width the page's columns stack, and nothing is wider than the screen.
    c.set_window_size(390, 844).await.unwrap();
    let overflow =
        c.execute("return document.documentElement.scrollWidth - window.innerWidth", vec![]).await.unwrap();
    assert!(overflow.as_i64().is_some_and(|px| px <= 0), "the page is wider than a phone by {overflow} px");
    browser.screenshot(&screenshots(), "endpoint-phone").await;
    c.goto(&app.url(&format!("{endpoint_page}/edit"))).await.unwrap();
    let overflow =
        c.execute("return document.documentElement.scrollWidth - window.innerWidth", vec![]).await.unwrap();
    assert!(overflow.as_i64().is_some_and(|px| px <= 0), "the form is wider than a phone by {overflow} px");
    browser.screenshot(&screenshots(), "endpoint-form-phone").await;
    c.set_window_size(1280, 900).await.unwrap();
    c.goto(&app.url(&endpoint_page)).await.unwrap();

    // The tenant's whole log, filtered by the endpoint's event type.
    c.goto(&app.url(&format!("/ui/tenants/{acme}/deliveries?event_type=order.paid"))).await.unwrap();
    assert!(text_of(&browser, "[data-rows]").await.contains(&delivery));
    browser.screenshot(&screenshots(), "deliveries").await;
    c.set_window_size(390, 844).await.unwrap();
    let overflow =
        c.execute("return document.documentElement.scrollWidth - window.innerWidth", vec![]).await.unwrap();
    assert!(overflow.as_i64().is_some_and(|px| px <= 0), "the log is wider than a phone by {overflow} px");
    browser.screenshot(&screenshots(), "deliveries-phone").await;
    c.goto(&app.url("/ui/new-event-type")).await.unwrap();
    browser.screenshot(&screenshots(), "event-type-form-phone").await;
    c.set_window_size(1280, 900).await.unwrap();
    browser.close().await;

    if std::env::var("HERALD_TEST_BLESS").is_ok_and(|v| v == "1") {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots");
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::copy(&endpoint_shot, docs.join("endpoint.png")).unwrap();
        std::fs::copy(&delivery_shot, docs.join("delivery.png")).unwrap();
    }
}
