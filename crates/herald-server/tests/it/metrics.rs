//! `/metrics`: who may read it, and that what it serves is valid Prometheus exposition
//! (`promtool check metrics`) counting what happened.

use std::time::Duration;

use herald_testkit::on_both_backends;
use herald_testkit::receiver::{Reply, TestReceiver};
use reqwest::Method;
use serde_json::json;

use crate::support::{Backend, TestApp};

/// `promtool`: `HERALD_TEST_PROMTOOL`, else on the PATH (Debian's `prometheus` package, which the
/// test command installs). Missing fails the test.
fn promtool() -> String {
    std::env::var("HERALD_TEST_PROMTOOL").unwrap_or_else(|_| "promtool".into())
}

/// `promtool check metrics` on `text`: its complaints, if any.
fn check(text: &str) -> Result<(), String> {
    use std::io::Write;
    let mut child = std::process::Command::new(promtool())
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("promtool cannot run ({e}): install Debian's prometheus package"));
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    }
}

/// The value of the sample `name` (with its labels, as written), if present.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

on_both_backends! {
    async fn metrics_count_what_happened_and_pass_promtool(app) {
        let good = TestReceiver::start().await;
        let bad = TestReceiver::start().await;
        bad.set_default(Reply::Status(500));
        let tenant = app.tenant("acme").await;
        app.endpoint(&tenant, json!({"url": good.url()})).await;
        app.endpoint(&tenant, json!({"url": bad.url()})).await;
        for n in 0..3 {
            app.publish(&tenant, json!({"type": "a.b", "data": {"n": n}})).await;
        }
        good.wait_for(3, Duration::from_secs(20)).await;
        bad.wait_for(3, Duration::from_secs(20)).await;

        let metrics = herald_testkit::eventually("the attempts to be counted", Duration::from_secs(10), || async {
            let r = app.call(Method::GET, "/metrics", Some(&app.admin_key), None).await;
            let text = r.body.as_str().map(str::to_owned).unwrap_or_default();
            // Counted when the attempt ends; the delivery is scheduled again once its outcome commits.
            let settled = sample(&text, "herald_attempts_total{result=\"http_status\"}") >= Some(3.0)
                && sample(&text, "herald_queue_deliveries{state=\"scheduled\"}") == Some(3.0);
            settled.then_some((r, text))
        })
        .await;
        let (response, text) = metrics;
        assert_eq!(response.status, 200);
        assert_eq!(response.content_type(), "text/plain; version=0.0.4; charset=utf-8");
        check(&text).unwrap_or_else(|complaints| panic!("promtool: {complaints}\n{text}"));
        assert_eq!(sample(&text, "herald_events_published_total"), Some(3.0), "{text}");
        assert_eq!(sample(&text, "herald_attempts_total{result=\"success\"}"), Some(3.0), "{text}");
        assert_eq!(sample(&text, "herald_deliveries_total{outcome=\"delivered\"}"), Some(3.0), "{text}");
        assert!(sample(&text, "herald_deliveries_total{outcome=\"retrying\"}") >= Some(3.0), "{text}");
        assert_eq!(sample(&text, "herald_queue_deliveries{state=\"scheduled\"}"), Some(3.0), "the three to retry: {text}");
        assert_eq!(sample(&text, "herald_endpoints_circuit_open"), Some(0.0), "{text}");
        assert_eq!(sample(&text, "herald_leases_expired"), Some(0.0), "{text}");
        assert_eq!(sample(&text, "herald_fanouts_reclaimed_total"), Some(0.0), "{text}");
        assert_eq!(sample(&text, "herald_endpoints_disabled"), Some(0.0), "{text}");
        assert!(sample(&text, "herald_attempt_duration_seconds_count") >= Some(6.0), "{text}");
        assert!(sample(&text, "herald_publish_duration_seconds_count") == Some(3.0), "{text}");
        assert!(sample(&text, "herald_store_commit_batch_size_count") >= Some(1.0), "{text}");
        assert!(text.contains("herald_db_pool_connections{pool="), "{text}");
        assert!(text.contains("# HELP herald_queue_oldest_due_age_seconds"), "{text}");
        assert!(!text.contains(&tenant), "no tenant in any label: {text}");

        // The Grafana dashboard asks only for metrics Herald serves.
        let dashboard = include_str!("../../../../docs/grafana-dashboard.json");
        let served: std::collections::HashSet<&str> =
            text.lines().filter_map(|l| l.strip_prefix("# TYPE ")?.split(' ').next()).collect();
        let mut asked = 0;
        for (at, _) in dashboard.match_indices("herald_") {
            let name: String = dashboard[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            let family = ["_bucket", "_count", "_sum"].iter().fold(name.as_str(), |n, s| n.strip_suffix(s).unwrap_or(n));
            if family == "herald_" || name.starts_with("herald-") {
                continue;
            }
            assert!(served.contains(family), "the dashboard asks for {name}, which /metrics does not serve:\n{text}");
            asked += 1;
        }
        assert!(asked >= 12, "the dashboard's queries were read");
    }

    async fn metrics_need_an_admin_key(app) {
        assert_eq!(app.call(Method::GET, "/metrics", None, None).await.status, 401);
        let tenant = app.tenant("acme").await;
        let key = app.tenant_key(&tenant).await;
        assert_eq!(app.call(Method::GET, "/metrics", Some(&key), None).await.status, 403);
    }
}

#[tokio::test]
async fn a_scrape_token_replaces_the_admin_key_and_metrics_can_be_off() {
    let token = "a-scrape-token-of-at-least-32-characters";
    let app = TestApp::start_with(Backend::Sqlite, |config| config.metrics.token = Some(token.into())).await;
    assert_eq!(app.call(Method::GET, "/metrics", Some(token), None).await.status, 200);
    assert_eq!(app.call(Method::GET, "/metrics", Some(&app.admin_key), None).await.status, 401);
    assert_eq!(app.call(Method::GET, "/metrics", None, None).await.status, 401);
    let off = TestApp::start_with(Backend::Sqlite, |config| config.metrics.enabled = false).await;
    assert_eq!(off.call(Method::GET, "/metrics", Some(&off.admin_key), None).await.status, 404);
}
