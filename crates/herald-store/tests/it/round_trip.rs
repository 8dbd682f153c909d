//! Each aggregate reads back what it stored: the explicit column lists of its queries match its
//! rows, on both backends.

use herald_core::api_key::{ApiKey, KeyHash, Scope};
use herald_core::delivery::{DeliveryStatus, Trigger};
use herald_core::event_type::{EventType, EventTypeName};
use herald_core::id::ApiKeyId;
use herald_core::portal::{AccentColor, BrandName, Branding, LogoUrl, PortalLink, PortalToken};
use herald_core::session::{Session, SessionToken, Viewer};
use herald_core::tenant::{TenantLimits, TenantRef, TenantUid};
use herald_store::{
    DeliveryFilter, EndpointUpdate, IdempotencyKey, IdempotencyState, PageRequest, PortalOpening,
};

use crate::support::*;

fn all() -> PageRequest {
    PageRequest { limit: 100, cursor: None }
}

on_both_backends! {
    async fn tenants_and_keys_read_back(store) {
        let mut tenant = add_tenant(&*store).await;
        tenant.uid = Some(TenantUid::parse("acme").unwrap());
        assert!(store.update_tenant(&tenant).await.unwrap());
        assert_eq!(store.tenant(&TenantRef::Id(tenant.id.clone())).await.unwrap().as_ref(), Some(&tenant));
        let by_uid = TenantRef::Uid(TenantUid::parse("acme").unwrap());
        assert_eq!(store.tenant(&by_uid).await.unwrap().as_ref(), Some(&tenant));
        assert_eq!(store.list_tenants(&all()).await.unwrap().items, [tenant.clone()]);

        let key = ApiKey {
            id: ApiKeyId::generate_at(t(0)),
            scope: Scope::Tenant(tenant.id.clone()),
            name: "ci".into(),
            prefix: "hk_abcd".into(),
            hash: KeyHash::of("hk_abcdefgh"),
            created_at: t(0),
        };
        store.insert_api_key(&key).await.unwrap();
        let admin = ApiKey {
            id: ApiKeyId::generate_at(t(0)),
            scope: Scope::Admin,
            hash: KeyHash::of("hk_admin"),
            ..key.clone()
        };
        store.insert_api_key(&admin).await.unwrap();
        assert_eq!(store.api_key_by_hash(&key.hash).await.unwrap().as_ref(), Some(&key));
        assert_eq!(store.api_key_by_hash(&admin.hash).await.unwrap().as_ref(), Some(&admin));
        let keys = store.list_api_keys(&tenant.id, &all()).await.unwrap().items;
        assert_eq!(keys, std::slice::from_ref(&key));
        assert_eq!(store.count_admin_keys().await.unwrap(), 1);
        assert!(store.delete_api_key(&tenant.id, &key.id).await.unwrap());
        assert!(store.delete_tenant(&tenant.id).await.unwrap());
        assert!(store.tenant(&by_uid).await.unwrap().is_none());
    }

    async fn ui_sessions_read_back_expire_and_end_with_their_key_or_tenant(store) {
        let tenant = add_tenant(&*store).await;
        let key = |scope, hash: &str| ApiKey {
            id: ApiKeyId::generate_at(t(0)),
            scope,
            name: "ui".into(),
            prefix: "hk_abcd".into(),
            hash: KeyHash::of(hash),
            created_at: t(0),
        };
        let admin = key(Scope::Admin, "hk_admin_ui");
        let tenant_key = key(Scope::Tenant(tenant.id.clone()), "hk_tenant_ui");
        store.insert_api_key(&admin).await.unwrap();
        store.insert_api_key(&tenant_key).await.unwrap();
        let session = |viewer, expires| Session {
            hash: SessionToken::generate().hash(),
            viewer,
            branding: None,
            created_at: t(0),
            expires_at: t(expires),
        };
        let operator = session(Viewer::Operator { key: admin.id.clone() }, 100);
        let by_key = session(Viewer::Tenant { tenant: tenant.id.clone(), key: Some(tenant_key.id.clone()) }, 100);
        let portal = session(Viewer::Tenant { tenant: tenant.id.clone(), key: None }, 100);
        let short = session(Viewer::Operator { key: admin.id.clone() }, 10);
        for s in [&operator, &by_key, &portal, &short] {
            store.insert_ui_session(s, t(0)).await.unwrap();
        }
        for s in [&operator, &by_key, &portal, &short] {
            assert_eq!(store.ui_session(&s.hash, t(5)).await.unwrap().as_ref(), Some(s));
        }
        assert_eq!(store.ui_session(&short.hash, t(10)).await.unwrap(), None, "expired at its time");
        // A later sign-in sweeps the expired one out of the table.
        let later = session(Viewer::Operator { key: admin.id.clone() }, 200);
        store.insert_ui_session(&later, t(50)).await.unwrap();
        assert_eq!(store.ui_session(&short.hash, t(0)).await.unwrap(), None, "swept");
        // Sign-out.
        assert!(store.delete_ui_session(&operator.hash).await.unwrap());
        assert!(!store.delete_ui_session(&operator.hash).await.unwrap());
        assert_eq!(store.ui_session(&operator.hash, t(5)).await.unwrap(), None);
        // Revoking the key ends the sessions opened with it; deleting the tenant ends the rest.
        assert!(store.delete_api_key(&tenant.id, &tenant_key.id).await.unwrap());
        assert_eq!(store.ui_session(&by_key.hash, t(5)).await.unwrap(), None);
        assert!(store.ui_session(&portal.hash, t(5)).await.unwrap().is_some());
        assert!(store.delete_tenant(&tenant.id).await.unwrap());
        assert_eq!(store.ui_session(&portal.hash, t(5)).await.unwrap(), None);
        assert!(store.ui_session(&later.hash, t(60)).await.unwrap().is_some(), "the operator's own stays");
    }

    async fn portal_links_open_once_into_a_branded_tenant_session_until_they_expire(store) {
        let tenant = add_tenant(&*store).await;
        let branding = Branding {
            name: BrandName::parse("Acme Cloud").unwrap(),
            logo_url: Some(LogoUrl::parse("https://cdn.example.com/logo.svg").unwrap()),
            accent_color: Some(AccentColor::parse("#0a7cff").unwrap()),
        };
        let link = |branding, expires| PortalLink {
            hash: PortalToken::generate().hash(),
            tenant: tenant.id.clone(),
            branding,
            created_at: t(0),
            expires_at: t(expires),
        };
        let branded = link(Some(branding.clone()), 600);
        let named_only = link(Some(Branding { logo_url: None, accent_color: None, ..branding.clone() }), 600);
        let plain = link(None, 600);
        let short = link(None, 10);
        for l in [&branded, &named_only, &plain, &short] {
            store.insert_portal_link(l, t(-86_400)).await.unwrap();
        }
        // The one opening: a session of the link's tenant, without a key, wearing its branding.
        let session = SessionToken::generate().hash();
        let expected = Session {
            hash: session.clone(),
            viewer: Viewer::Tenant { tenant: tenant.id.clone(), key: None },
            branding: Some(branding),
            created_at: t(5),
            expires_at: t(5000),
        };
        let opened = open(&*store, &branded, &session, 5).await.unwrap();
        assert_eq!(opened, PortalOpening::Opened(expected.clone()));
        assert_eq!(store.ui_session(&session, t(6)).await.unwrap(), Some(expected));
        // The second finds it used, and opens nothing.
        let refused = SessionToken::generate().hash();
        assert_eq!(open(&*store, &branded, &refused, 6).await.unwrap(), PortalOpening::Used);
        // A link whose time ran out (at its time) opens nothing either, nor one never made.
        assert_eq!(open(&*store, &short, &refused, 10).await.unwrap(), PortalOpening::Expired);
        let never = link(None, 600);
        assert_eq!(open(&*store, &never, &refused, 6).await.unwrap(), PortalOpening::Unknown);
        assert_eq!(store.ui_session(&refused, t(6)).await.unwrap(), None, "no session from a refused link");
        // A name without logo or colour reads back as such; no branding as none.
        let named = SessionToken::generate().hash();
        let PortalOpening::Opened(s) = open(&*store, &named_only, &named, 7).await.unwrap() else {
            panic!("the link opens")
        };
        let read = s.branding.as_ref().map(|b| (b.name.as_str(), b.logo_url.is_none(), b.accent_color.is_none()));
        assert_eq!(read, Some(("Acme Cloud", true, true)));
        assert_eq!(store.ui_session(&named, t(8)).await.unwrap().unwrap().branding, s.branding);

        // Two openings at once: exactly one opens, the other finds it used.
        let (one, two) = (SessionToken::generate().hash(), SessionToken::generate().hash());
        let (a, b) = tokio::join!(open(&*store, &plain, &one, 20), open(&*store, &plain, &two, 20));
        let outcomes = [a.unwrap(), b.unwrap()];
        let opened = outcomes.iter().filter(|o| matches!(o, PortalOpening::Opened(s) if s.branding.is_none()));
        assert_eq!(opened.count(), 1, "{outcomes:?}");
        assert_eq!(outcomes.iter().filter(|o| **o == PortalOpening::Used).count(), 1, "{outcomes:?}");

        // A new link forgets those expired before the time it is given, used or not.
        let fresh = link(None, 2000);
        store.insert_portal_link(&fresh, t(601)).await.unwrap();
        assert_eq!(open(&*store, &short, &refused, 700).await.unwrap(), PortalOpening::Unknown, "forgotten");
        let used = open(&*store, &branded, &refused, 700).await.unwrap();
        assert_eq!(used, PortalOpening::Unknown, "forgotten too");
        // Deleting the tenant takes its links and portal sessions with it.
        assert!(store.delete_tenant(&tenant.id).await.unwrap());
        assert_eq!(open(&*store, &fresh, &refused, 700).await.unwrap(), PortalOpening::Unknown);
        assert_eq!(store.ui_session(&session, t(6)).await.unwrap(), None);
    }

    async fn tenant_limits_read_back_and_only_set_ones_are_listed(store) {
        let plain = add_tenant(&*store).await;
        let mut limited = add_tenant(&*store).await;
        assert!(store.tenant_limits().await.unwrap().is_empty(), "no tenant has limits of its own yet");
        limited.limits = TenantLimits { max_in_flight: Some(7), ..TenantLimits::default() };
        assert!(store.update_tenant(&limited).await.unwrap());
        assert_eq!(store.tenant_limits().await.unwrap(), [(limited.id.clone(), limited.limits)]);
        let read = store.tenant(&TenantRef::Id(limited.id.clone())).await.unwrap().unwrap();
        assert_eq!(read.limits, limited.limits);
        limited.limits = TenantLimits { publish_per_second: Some(250), retention_days: Some(30), ..TenantLimits::default() };
        assert!(store.update_tenant(&limited).await.unwrap());
        assert_eq!(store.tenant_limits().await.unwrap(), [(limited.id.clone(), limited.limits)]);
        limited.limits = TenantLimits::default();
        assert!(store.update_tenant(&limited).await.unwrap());
        assert!(store.tenant_limits().await.unwrap().is_empty(), "cleared limits are not listed");
        let read = store.tenant(&TenantRef::Id(plain.id.clone())).await.unwrap().unwrap();
        assert_eq!(read.limits, TenantLimits::default());
    }

    async fn event_types_read_back(store) {
        let event_type = EventType {
            name: EventTypeName::parse("order.created").unwrap(),
            label: "Order created".into(),
            description: "An order was placed.".into(),
            schema: None,
            example: Some(serde_json::json!({"order": 1})),
            deprecated: false,
            created_at: t(0),
            updated_at: t(0),
        };
        store.insert_event_type(&event_type).await.unwrap();
        assert_eq!(store.event_type(&event_type.name).await.unwrap().as_ref(), Some(&event_type));
        let deprecated = EventType { deprecated: true, updated_at: t(1), ..event_type.clone() };
        assert!(store.update_event_type(&deprecated).await.unwrap());
        assert!(store.list_event_types(&all(), false).await.unwrap().items.is_empty());
        assert_eq!(store.list_event_types(&all(), true).await.unwrap().items, [deprecated]);
    }

    async fn endpoints_read_back(store) {
        let tenant = add_tenant(&*store).await;
        let endpoint = add_endpoint(&*store, &tenant).await;
        assert_eq!(store.endpoint(&tenant.id, &endpoint.id).await.unwrap().as_ref(), Some(&endpoint));
        let listed = store.list_endpoints(&tenant.id, &all()).await.unwrap().items;
        assert_eq!(listed, std::slice::from_ref(&endpoint));
        assert_eq!(store.tenant_endpoints(&tenant.id).await.unwrap(), std::slice::from_ref(&endpoint));
        let sealed = store.any_sealed_credentials().await.unwrap();
        assert_eq!(sealed, Some((endpoint.id.clone(), endpoint.sealed_credentials.clone())));

        let changed =
            herald_core::endpoint::Endpoint { enabled: false, updated_at: t(1), ..endpoint.clone() };
        assert_eq!(store.update_endpoint(&changed).await.unwrap(), EndpointUpdate::Updated { version: 2 });
        assert_eq!(store.update_endpoint(&changed).await.unwrap(), EndpointUpdate::Stale);
        let now = store.endpoint(&tenant.id, &endpoint.id).await.unwrap().unwrap();
        assert_eq!(now, herald_core::endpoint::Endpoint { version: 2, ..changed });
        assert!(store.delete_endpoint(&tenant.id, &endpoint.id).await.unwrap());
        let gone = new_endpoint(&tenant);
        assert_eq!(store.update_endpoint(&gone).await.unwrap(), EndpointUpdate::Missing);
    }

    async fn an_endpoints_timeline_counts_its_attempts_by_bucket(store) {
        let tenant = add_tenant(&*store).await;
        let endpoint = add_endpoint(&*store, &tenant).await;
        let other = add_endpoint(&*store, &tenant).await;
        for (owner, due) in [(&endpoint, t(1)), (&endpoint, t(2)), (&endpoint, t(3)), (&other, t(1))] {
            waiting(&*store, owner, due).await;
        }
        let claimed = store.claim_due("worker-a", t(10), t(400), 10, &[]).await.unwrap();
        assert_eq!(claimed.len(), 4);
        // Attempts at 100 s (ok, 10 ms), 110 s (503, 30 ms) and 250 s (ok, 5 ms) on the endpoint.
        let mut ours = claimed.iter().filter(|job| job.delivery.endpoint_id == endpoint.id);
        for (at, ok, ms) in [(100, true, 10), (110, false, 30), (250, true, 5)] {
            let job = ours.next().unwrap();
            let mut attempt = new_attempt(&job.delivery, t(at));
            attempt.duration_ms = ms;
            if ok {
                attempt.response_status = Some(200);
                attempt.error_kind = None;
                attempt.error_message = None;
            }
            store.settle(&job.lease, &job.delivery.id, Some(attempt.clone()), &herald_core::delivery::Next::Delivered, t(at)).await.unwrap();
        }
        let theirs = claimed.iter().find(|job| job.delivery.endpoint_id == other.id).unwrap();
        let attempt = new_attempt(&theirs.delivery, t(100));
        store.settle(&theirs.lease, &theirs.delivery.id, Some(attempt.clone()), &herald_core::delivery::Next::Delivered, t(100)).await.unwrap();

        let minute = std::time::Duration::from_secs(60);
        let timeline = store.endpoint_timeline(&endpoint.id, t(60), t(300), minute).await.unwrap();
        let rows: Vec<_> = timeline.iter().map(|b| (b.start, b.attempts, b.succeeded, b.mean_ms, b.max_ms)).collect();
        assert_eq!(rows, [(t(60), 2, 1, 20, 30), (t(240), 1, 1, 5, 5)], "empty minutes are left out");
        let later = store.endpoint_timeline(&endpoint.id, t(200), t(300), minute).await.unwrap();
        assert_eq!(later.len(), 1, "attempts before the range are not counted");
        assert!(store.endpoint_timeline(&endpoint.id, t(300), t(900), minute).await.unwrap().is_empty());
    }

    async fn the_delivery_log_filters_by_event_type_rare_or_common_and_by_event(store) {
        let tenant = add_tenant(&*store).await;
        let other = add_tenant(&*store).await;
        let endpoint = add_endpoint(&*store, &tenant).await;
        let theirs = add_endpoint(&*store, &other).await;
        // A common type (more events than a rare one may have), a rare one, and the other
        // tenant's events of the rare type.
        let publish = |endpoint: &herald_core::endpoint::Endpoint, kind: &str| {
            let mut event = new_event(&endpoint.tenant_id);
            event.event_type = EventTypeName::parse(kind).unwrap();
            let delivery = new_delivery(&event, endpoint, t(0));
            let store = store.clone();
            async move {
                store.publish(&event, std::slice::from_ref(&delivery), None).await.unwrap();
                delivery
            }
        };
        let mut common = Vec::new();
        for _ in 0..21 {
            let chunk: Vec<_> = (0..100).map(|_| publish(&endpoint, "order.created")).collect();
            common.extend(futures::future::join_all(chunk).await);
        }
        let mut rare = Vec::new();
        for _ in 0..3 {
            rare.push(publish(&endpoint, "refund.issued").await);
            publish(&theirs, "refund.issued").await;
        }
        let by_type = |kind: &str, cursor: Option<String>| {
            let filter = DeliveryFilter { event_type: Some(EventTypeName::parse(kind).unwrap()), ..DeliveryFilter::default() };
            let (store, tenant) = (store.clone(), tenant.id.clone());
            async move { store.list_deliveries(&tenant, &filter, &PageRequest { limit: 2, cursor }).await.unwrap() }
        };
        let newest_first = |deliveries: &[herald_core::delivery::Delivery]| {
            let mut ids: Vec<String> = deliveries.iter().map(|d| d.id.to_string()).collect();
            ids.sort();
            ids.reverse();
            ids
        };

        // The rare type: its deliveries, newest first, two to a page, none of the other tenant's.
        let first = by_type("refund.issued", None).await;
        let second = by_type("refund.issued", first.next_cursor.clone()).await;
        let paged: Vec<String> = first.items.iter().chain(&second.items).map(|d| d.id.to_string()).collect();
        assert_eq!(paged, newest_first(&rare));
        assert_eq!(second.next_cursor, None);
        // The common one: pages of its own deliveries, in order.
        let first = by_type("order.created", None).await;
        let second = by_type("order.created", first.next_cursor.clone()).await;
        let paged: Vec<String> = first.items.iter().chain(&second.items).map(|d| d.id.to_string()).collect();
        assert_eq!(paged, newest_first(&common)[..4]);
        // A type never published: nothing.
        let none = by_type("never.sent", None).await;
        assert!(none.items.is_empty() && none.next_cursor.is_none());

        // A time range ending in the past: what was created before its end, whatever the id.
        let mut late_event = new_event(&tenant.id);
        late_event.created_at = t(3600);
        let late = herald_core::delivery::Delivery::new(&late_event, &endpoint.id, Trigger::Scheduled, t(3600));
        store.publish(&late_event, std::slice::from_ref(&late), None).await.unwrap();
        let before = |until: i64| {
            let filter = DeliveryFilter { until: Some(t(until)), ..DeliveryFilter::default() };
            let (store, tenant) = (store.clone(), tenant.id.clone());
            async move { store.list_deliveries(&tenant, &filter, &PageRequest { limit: 3000, cursor: None }).await.unwrap().items }
        };
        assert_eq!(before(1800).await.len(), 2103, "all but the late one");
        assert_eq!(before(7200).await.len(), 2104);
        assert!(before(0).await.is_empty());

        // One event's deliveries.
        let filter = DeliveryFilter { event_id: Some(rare[1].event_id.clone()), ..DeliveryFilter::default() };
        let found = store.list_deliveries(&tenant.id, &filter, &all()).await.unwrap();
        assert_eq!(found.items.iter().map(|d| d.id.clone()).collect::<Vec<_>>(), [rare[1].id.clone()]);

        // Counting selects what listing does, through every path of the query.
        let count = |filter: DeliveryFilter| {
            let (store, tenant) = (store.clone(), tenant.id.clone());
            async move { store.count_deliveries(&tenant, &filter).await.unwrap() }
        };
        let of_type = |kind: &str| DeliveryFilter { event_type: Some(EventTypeName::parse(kind).unwrap()), ..DeliveryFilter::default() };
        assert_eq!(count(of_type("refund.issued")).await, 3, "a rare type, none of the other tenant's");
        assert_eq!(count(of_type("order.created")).await, 2101, "with the late one");
        assert_eq!(count(of_type("never.sent")).await, 0);
        assert_eq!(count(DeliveryFilter { until: Some(t(1800)), ..DeliveryFilter::default() }).await, 2103);
        assert_eq!(count(DeliveryFilter::default()).await, 2104);
        assert_eq!(count(filter).await, 1);
    }

    async fn a_bulk_retry_advances_a_page_at_a_time_and_resumes_from_its_cursor(store) {
        let tenant = add_tenant(&*store).await;
        let endpoint = add_endpoint(&*store, &tenant).await;
        let deliveries = [waiting(&*store, &endpoint, t(0)).await, waiting(&*store, &endpoint, t(0)).await];
        let op = herald_store::BulkRetry {
            id: herald_core::id::BulkRetryId::generate(),
            tenant_id: tenant.id.clone(),
            filter: r#"{"status":"failed"}"#.into(),
            cursor: "dlv_7ZZZZZZZZZZZZZZZZZZZZZZZZZ".into(),
            retried: 0,
            total: Some(2),
            created_at: t(10),
            updated_at: t(10),
            finished_at: None,
        };
        store.insert_bulk_retry(&op).await.unwrap();
        assert_eq!(store.bulk_retry(&tenant.id, &op.id).await.unwrap().as_ref(), Some(&op));
        let other = add_tenant(&*store).await;
        assert_eq!(store.bulk_retry(&other.id, &op.id).await.unwrap(), None, "another tenant's");
        assert_eq!(store.running_bulk_retries().await.unwrap(), std::slice::from_ref(&op));

        // A page: its deliveries queued again (manual), the cursor past them, in one go.
        let page = [deliveries[1].id.clone()];
        let after = store.advance_bulk_retry(&op, &page, deliveries[1].id.as_str(), false, t(20)).await.unwrap().unwrap();
        assert_eq!((after.retried, after.cursor.as_str(), after.finished_at), (1, deliveries[1].id.as_str(), None));
        let requeued = stored(&*store, &deliveries[1]).await;
        assert_eq!((requeued.next_trigger, requeued.next_attempt_at), (Trigger::Manual, Some(t(20))));
        // The last page finishes it; it is no longer running.
        let page = [deliveries[0].id.clone()];
        let done = store.advance_bulk_retry(&after, &page, deliveries[0].id.as_str(), true, t(30)).await.unwrap().unwrap();
        assert_eq!((done.retried, done.finished_at), (2, Some(t(30))));
        assert!(store.running_bulk_retries().await.unwrap().is_empty());
        // Advancing a finished operation (a second instance resuming it) queues nothing more.
        let again = store.advance_bulk_retry(&after, &page, "dlv_0", true, t(40)).await.unwrap().unwrap();
        assert_eq!(again, done);
        assert_eq!(stored(&*store, &deliveries[0]).await.next_attempt_at, Some(t(30)));
    }

    async fn listen_sessions_are_found_touched_and_go_with_their_endpoint(store) {
        let tenant = add_tenant(&*store).await;
        let endpoint = add_endpoint(&*store, &tenant).await;
        let plain = add_endpoint(&*store, &tenant).await;
        store.insert_listen_session(&tenant.id, &endpoint.id, t(0)).await.unwrap();
        assert!(store.is_listen_session(&tenant.id, &endpoint.id).await.unwrap());
        assert!(!store.is_listen_session(&tenant.id, &plain.id).await.unwrap(), "an ordinary endpoint");
        let other = add_tenant(&*store).await;
        assert!(!store.is_listen_session(&other.id, &endpoint.id).await.unwrap(), "another tenant's");
        assert_eq!(store.idle_listen_sessions(t(10)).await.unwrap(), [(tenant.id.clone(), endpoint.id.clone())]);
        store.touch_listen_sessions(std::slice::from_ref(&endpoint.id), t(20)).await.unwrap();
        assert!(store.idle_listen_sessions(t(10)).await.unwrap().is_empty(), "connected since");
        assert_eq!(store.idle_listen_sessions(t(30)).await.unwrap().len(), 1);
        assert!(store.delete_endpoint(&tenant.id, &endpoint.id).await.unwrap());
        assert!(store.idle_listen_sessions(t(30)).await.unwrap().is_empty(), "gone with its endpoint");
    }

    async fn instances_beat_fall_silent_and_are_forgotten(store) {
        store.heartbeat("alpha", t(0)).await.unwrap();
        store.heartbeat("beta", t(0)).await.unwrap();
        store.heartbeat("beta", t(20)).await.unwrap();
        assert_eq!(store.silent_instances(t(10)).await.unwrap(), ["alpha"], "beta beat since");
        assert!(store.silent_instances(t(0)).await.unwrap().is_empty());
        store.forget_instance("alpha").await.unwrap();
        assert!(store.silent_instances(t(10)).await.unwrap().is_empty());
        let mut both = store.silent_instances(t(30)).await.unwrap();
        both.sort();
        assert_eq!(both, ["beta"]);
    }

    async fn retention_purges_finished_deliveries_then_orphaned_events_per_tenant(store) {
        use herald_store::Tenants;
        let (a, b) = (add_tenant(&*store).await, add_tenant(&*store).await);
        let (ea, eb) = (add_endpoint(&*store, &a).await, add_endpoint(&*store, &b).await);
        let with_status = |endpoint: &herald_core::endpoint::Endpoint, status: DeliveryStatus| {
            let (store, endpoint) = (store.clone(), endpoint.clone());
            async move {
                let event = new_event(&endpoint.tenant_id);
                let mut delivery = new_delivery(&event, &endpoint, t(5));
                delivery.status = status;
                store.publish(&event, std::slice::from_ref(&delivery), None).await.unwrap();
                delivery
            }
        };
        let delivered = with_status(&ea, DeliveryStatus::Delivered).await;
        let failed = with_status(&ea, DeliveryStatus::Failed).await;
        let pending = with_status(&ea, DeliveryStatus::Pending).await;
        let theirs = with_status(&eb, DeliveryStatus::Delivered).await;
        let unsubscribed = new_event(&a.id);
        store.publish(&unsubscribed, &[], None).await.unwrap();
        let except_b = [b.id.clone()];

        // A, by the default retention: finished deliveries, a batch at a time; never a waiting one.
        assert_eq!(store.purge_deliveries(Tenants::AllBut(&except_b), t(-10), 10).await.unwrap(), 0, "too young");
        assert_eq!(store.purge_deliveries(Tenants::AllBut(&except_b), t(10), 1).await.unwrap(), 1);
        assert_eq!(store.purge_deliveries(Tenants::AllBut(&except_b), t(10), 10).await.unwrap(), 1);
        assert_eq!(store.purge_deliveries(Tenants::AllBut(&except_b), t(10), 10).await.unwrap(), 0);
        for gone in [&delivered, &failed] {
            assert_eq!(store.delivery(&a.id, &gone.id).await.unwrap(), None);
        }
        assert!(store.delivery(&a.id, &pending.id).await.unwrap().is_some(), "still waiting: kept");
        assert!(store.delivery(&b.id, &theirs.id).await.unwrap().is_some(), "B keeps its own retention");
        // Then the events nothing refers to any more (and the one no endpoint wanted).
        assert_eq!(store.purge_events(Tenants::AllBut(&except_b), t(10), 10).await.unwrap(), 3);
        assert!(store.event(&a.id, &pending.event_id).await.unwrap().is_some());
        assert!(store.event(&a.id, &unsubscribed.id).await.unwrap().is_none());
        // B, by its own.
        assert_eq!(store.purge_deliveries(Tenants::One(&b.id), t(10), 10).await.unwrap(), 1);
        assert_eq!(store.purge_events(Tenants::One(&b.id), t(10), 10).await.unwrap(), 1);

        // Idempotency keys past their day.
        let key = IdempotencyKey::parse(b"k-old").unwrap();
        store.idempotency_begin("s", &key, "h", t(0), t(-86_400)).await.unwrap();
        assert_eq!(store.purge_idempotency_keys(t(-1), 10).await.unwrap(), 0);
        assert_eq!(store.purge_idempotency_keys(t(1), 10).await.unwrap(), 1);
    }

    async fn payloads_of_finished_events_are_removed_in_key_order(store) {
        let tenant = add_tenant(&*store).await;
        let endpoint = add_endpoint(&*store, &tenant).await;
        let finished = {
            let event = new_event(&tenant.id);
            let mut delivery = new_delivery(&event, &endpoint, t(5));
            delivery.status = DeliveryStatus::Delivered;
            store.publish(&event, std::slice::from_ref(&delivery), None).await.unwrap();
            event
        };
        let pending = waiting(&*store, &endpoint, t(5)).await;
        assert_eq!(store.purge_payloads(t(-10), "", 10, t(20)).await.unwrap().0, 0, "too young");
        let (stripped, last) = store.purge_payloads(t(10), "", 10, t(20)).await.unwrap();
        assert_eq!((stripped, last.as_deref()), (1, Some(finished.key.as_str())));
        let read = store.event(&tenant.id, &finished.id).await.unwrap().unwrap();
        assert!(read.data.is_empty());
        assert_eq!(read.payload_removed_at, Some(t(20)));
        let kept = store.event(&tenant.id, &pending.event_id).await.unwrap().unwrap();
        assert!(!kept.data.is_empty() && kept.payload_removed_at.is_none(), "a waiting delivery keeps its payload");
        assert_eq!(store.purge_payloads(t(10), finished.key.as_str(), 10, t(30)).await.unwrap(), (0, None));
    }

    async fn a_requeued_delivery_reads_back_as_updated(store) {
        let tenant = add_tenant(&*store).await;
        let endpoint = add_endpoint(&*store, &tenant).await;
        let delivery = waiting(&*store, &endpoint, t(60)).await;
        let requeued = store.requeue_delivery(&tenant.id, &delivery.id, Trigger::Manual, t(5)).await.unwrap();
        let expected = herald_core::delivery::Delivery {
            next_attempt_at: Some(t(5)),
            next_trigger: Trigger::Manual,
            status: DeliveryStatus::Pending,
            updated_at: t(5),
            ..delivery.clone()
        };
        assert_eq!(requeued.as_ref(), Some(&expected));
        assert_eq!(stored(&*store, &delivery).await, expected);
        assert_eq!(store.deliveries_of_event(&delivery.event_key).await.unwrap(), [expected]);
    }

    async fn idempotency_keys_and_settings_read_back(store) {
        let begin = |key: &'static str, hash: &'static str| {
            let store = store.clone();
            async move {
                let key = IdempotencyKey::parse(key.as_bytes()).unwrap();
                store.idempotency_begin("tenant-a", &key, hash, t(0), t(-86_400)).await.unwrap()
            }
        };
        assert_eq!(begin("k1", "h1").await, IdempotencyState::New);
        assert_eq!(begin("k1", "h1").await, IdempotencyState::InProgress);
        assert_eq!(begin("k1", "h2").await, IdempotencyState::Mismatch);
        store.idempotency_complete("tenant-a", &IdempotencyKey::parse(b"k1").unwrap(), 201, Some("application/json"), b"{}").await.unwrap();
        let replay = IdempotencyState::Replay {
            status: 201,
            content_type: Some("application/json".into()),
            body: b"{}".to_vec(),
        };
        assert_eq!(begin("k1", "h1").await, replay);
        assert_eq!(begin("k2", "h1").await, IdempotencyState::New);
        store.idempotency_release("tenant-a", &IdempotencyKey::parse(b"k2").unwrap()).await.unwrap();
        assert_eq!(begin("k2", "h1").await, IdempotencyState::New, "released: a first use again");

        assert_eq!(store.instance_setting("canary").await.unwrap(), None);
        assert_eq!(store.init_instance_setting("canary", b"one").await.unwrap(), b"one");
        assert_eq!(store.init_instance_setting("canary", b"two").await.unwrap(), b"one", "kept");
        assert_eq!(store.instance_setting("canary").await.unwrap().as_deref(), Some(&b"one"[..]));
    }
}

/// Opens `link` at `now` into the session `session`, which lasts until `t(5000)`.
async fn open(
    store: &dyn herald_store::Store,
    link: &PortalLink,
    session: &KeyHash,
    now: i64,
) -> herald_store::Result<PortalOpening> {
    store.open_portal_link(&link.hash, session, t(5000), t(now)).await
}
