//! Fan-out markers: an event stored with a marker owes its deliveries until the marker's holder
//! expands it; a holder whose lease ran out (a crash) loses it to whoever claims it next, and only
//! one of them ever creates the deliveries.

use herald_core::delivery::{Delivery, DeliveryStatus, Next};
use herald_core::endpoint::Endpoint;
use herald_core::event::{Event, EventId};
use herald_core::id::GeneratedEventId;
use herald_store::{DeliveryFilter, Lease, LeaseToken, PageRequest, Published};

use crate::support::*;

fn marker(owner: &str, until: i64) -> Lease {
    Lease { token: LeaseToken::new(owner, "fanout"), until: t(until) }
}

on_both_backends! {
    async fn deleting_a_tenant_deletes_its_deliveries_and_attempts_and_nothing_of_another(store) {
        let (doomed, kept) = (add_tenant(&*store).await, add_tenant(&*store).await);
        let (doomed_endpoint, kept_endpoint) =
            (add_endpoint(&*store, &doomed).await, add_endpoint(&*store, &kept).await);
        let published = waiting(&*store, &doomed_endpoint, t(0)).await;
        let theirs = waiting(&*store, &kept_endpoint, t(0)).await;
        let event = new_event(&doomed.id);
        let ours = marker("worker-a", 60);
        store.publish_fanout(&event, &ours).await.unwrap();
        let fanned = new_delivery(&event, &doomed_endpoint, t(0));
        let expanded = store.expand_fanout(&event.key, &ours.token, vec![fanned.clone()], None).await.unwrap();
        assert!(expanded.committed().await.unwrap());
        // Every delivery attempted once, its attempt recorded.
        let jobs = store.claim_due("worker-a", t(1), t(31), 10, &[]).await.unwrap();
        assert_eq!(jobs.len(), 3);
        for job in &jobs {
            let attempt = new_attempt(&job.delivery, t(2));
            let next = Next::RetryAt(t(100));
            store.settle(&job.lease, &job.delivery.id, Some(attempt), &next, t(3)).await.unwrap();
        }

        assert!(store.delete_tenant(&doomed.id).await.unwrap());
        for gone in [&published, &fanned] {
            assert_eq!(store.delivery(&doomed.id, &gone.id).await.unwrap(), None, "no delivery left behind");
            assert!(store.attempts(&gone.id).await.unwrap().is_empty(), "no attempt left behind");
        }
        let due = store.claim_due("worker-b", t(200), t(230), 10, &[]).await.unwrap();
        assert_eq!(ids(&due), [theirs.id.to_string()], "only the other tenant's delivery is still owed");
        assert_eq!(store.attempts(&theirs.id).await.unwrap().len(), 1, "the other tenant keeps its log");
    }

    async fn a_fanout_is_expanded_once_by_the_holder_of_its_marker(store) {
        let tenant = add_tenant(&*store).await;
        let (a, b) = (add_endpoint(&*store, &tenant).await, add_endpoint(&*store, &tenant).await);
        let event = new_event(&tenant.id);
        let ours = marker("worker-a", 60);
        assert_eq!(store.publish_fanout(&event, &ours).await.unwrap(), Published::Created);
        assert!(store.deliveries_of_event(&event.key).await.unwrap().is_empty(), "owed, not yet created");
        assert!(
            store.claim_fanouts(&marker("worker-b", 90), t(30), 10).await.unwrap().is_empty(),
            "a live marker is not claimed"
        );

        let deliveries: Vec<Delivery> = [&a, &b].iter().map(|e| new_delivery(&event, e, t(0))).collect();
        let stranger = LeaseToken::new("worker-b", "fanout");
        assert!(!store.expand_fanout(&event.key, &stranger, deliveries.clone(), None).await.unwrap().committed().await.unwrap());
        assert!(store.deliveries_of_event(&event.key).await.unwrap().is_empty(), "a stranger writes nothing");

        assert!(store.expand_fanout(&event.key, &ours.token, deliveries.clone(), None).await.unwrap().committed().await.unwrap());
        assert_eq!(sorted_ids(&store.deliveries_of_event(&event.key).await.unwrap()), sorted_ids(&deliveries));
        assert!(!store.expand_fanout(&event.key, &ours.token, deliveries.clone(), None).await.unwrap().committed().await.unwrap(), "once");
        assert!(store.claim_fanouts(&marker("worker-b", 200), t(100), 10).await.unwrap().is_empty(), "gone");
        assert_eq!(store.deliveries_of_event(&event.key).await.unwrap().len(), 2, "nothing doubled");
    }

    async fn a_dead_holders_fanout_is_claimed_when_its_lease_runs_out(store) {
        let tenant = add_tenant(&*store).await;
        let endpoint = add_endpoint(&*store, &tenant).await;
        let event = new_event(&tenant.id);
        let dead = marker("worker-a", 60);
        store.publish_fanout(&event, &dead).await.unwrap();
        let again = store.publish_fanout(&event, &marker("worker-a", 60)).await.unwrap();
        assert!(matches!(again, Published::Existing(e) if e.key == event.key), "same id: the existing event");

        let heir = marker("worker-b", 130);
        let claimed = store.claim_fanouts(&heir, t(70), 10).await.unwrap();
        assert_eq!(claimed, std::slice::from_ref(&event), "the event comes back whole");
        assert!(store.claim_fanouts(&marker("worker-c", 140), t(80), 10).await.unwrap().is_empty(), "taken");

        let deliveries = vec![new_delivery(&event, &endpoint, t(0))];
        assert!(!store.expand_fanout(&event.key, &dead.token, deliveries.clone(), None).await.unwrap().committed().await.unwrap(), "the dead holder lost it");
        assert!(store.expand_fanout(&event.key, &heir.token, deliveries.clone(), None).await.unwrap().committed().await.unwrap());
        assert_eq!(sorted_ids(&store.deliveries_of_event(&event.key).await.unwrap()), sorted_ids(&deliveries));
    }

    async fn a_settle_made_while_its_fanout_commits_is_applied_after_it(store) {
        // The dispatcher may send a fan-out's deliveries once their write is queued, before it
        // commits: the outcome, stored right after, must find the delivery it settles.
        let tenant = add_tenant(&*store).await;
        let endpoints = [add_endpoint(&*store, &tenant).await, add_endpoint(&*store, &tenant).await];
        let event = new_event(&tenant.id);
        let ours = marker("worker-a", 60);
        store.publish_fanout(&event, &ours).await.unwrap();
        let deliveries: Vec<Delivery> = endpoints.iter().map(|e| new_delivery(&event, e, t(0))).collect();
        let lease = Lease { token: LeaseToken::new("worker-a", "local"), until: t(30) };

        let committing =
            store.expand_fanout(&event.key, &ours.token, deliveries.clone(), Some(&lease)).await.unwrap();
        let attempts: Vec<_> = deliveries.iter().map(|d| new_attempt(d, t(1))).collect();
        let retry = Next::RetryAt(t(60));
        let (first, second) = futures::join!(
            store.settle(&lease.token, &deliveries[0].id, Some(attempts[0].clone()), &Next::Delivered, t(2)),
            store.settle(&lease.token, &deliveries[1].id, Some(attempts[1].clone()), &retry, t(2)),
        );
        first.unwrap();
        second.unwrap();
        assert!(committing.committed().await.unwrap(), "expanded");

        let settled = stored(&*store, &deliveries[0]).await;
        assert_eq!((settled.status, settled.attempt_count), (DeliveryStatus::Delivered, 1));
        let retrying = stored(&*store, &deliveries[1]).await;
        assert_eq!((retrying.status, retrying.attempt_count), (DeliveryStatus::Retrying, 1));
        for (delivery, attempt) in deliveries.iter().zip(&attempts) {
            assert_eq!(store.attempts(&delivery.id).await.unwrap(), std::slice::from_ref(attempt));
        }
    }

    async fn released_fanouts_are_claimable_at_once(store) {
        let tenant = add_tenant(&*store).await;
        let (first, second) = (new_event(&tenant.id), new_event(&tenant.id));
        store.publish_fanout(&first, &marker("worker-a", 600)).await.unwrap();
        store.publish_fanout(&second, &marker("worker-b", 600)).await.unwrap();

        store.release_leases("worker-a", t(10)).await.unwrap();
        let claimed = store.claim_fanouts(&marker("worker-c", 100), t(10), 10).await.unwrap();
        assert_eq!(claimed, std::slice::from_ref(&first), "only the releasing owner's marker");

        store.release_every_lease(t(20)).await.unwrap();
        let claimed = store.claim_fanouts(&marker("worker-d", 100), t(20), 10).await.unwrap();
        let mut keys: Vec<String> = claimed.iter().map(|e| e.key.to_string()).collect();
        keys.sort();
        let mut expected = vec![first.key.to_string(), second.key.to_string()];
        expected.sort();
        assert_eq!(keys, expected, "a start on SQLite frees every marker");
    }

    async fn a_fanout_finished_late_counts_at_its_events_time(store) {
        // A fan-out finished an hour after its event (by another instance, after a crash) is
        // created with its event: the endpoint's stats, `recover` and the delivery log's time
        // filter place its delivery at the event's time, not at the hour it was written. The
        // endpoint is disabled, so the delivery is stored failed and `recover` can take it.
        let tenant = add_tenant(&*store).await;
        let endpoint = Endpoint { enabled: false, ..new_endpoint(&tenant) };
        store.insert_endpoint(&endpoint).await.unwrap();
        let event_at = |seconds| {
            let key = GeneratedEventId::generate_at(t(seconds));
            Event { id: EventId::generated(&key), key, created_at: t(seconds), ..new_event(&tenant.id) }
        };
        let (early, later) = (event_at(100), event_at(200));
        store.publish_fanout(&early, &marker("worker-a", 160)).await.unwrap();
        let prompt = Delivery::for_subscriber(&later, &endpoint, t(200));
        store.publish(&later, std::slice::from_ref(&prompt), None).await.unwrap();
        let heir = marker("worker-b", 3700);
        assert_eq!(store.claim_fanouts(&heir, t(3600), 10).await.unwrap(), std::slice::from_ref(&early));
        let late = Delivery::for_subscriber(&early, &endpoint, t(3600));
        let expanded = store.expand_fanout(&early.key, &heir.token, vec![late.clone()], None).await.unwrap();
        assert!(expanded.committed().await.unwrap());
        let row = stored(&*store, &late).await;
        assert_eq!((row.created_at, row.status), (t(100), DeliveryStatus::Failed), "created with its event");

        let failed_in = |since, until| {
            let store = store.clone();
            let endpoint = endpoint.id.clone();
            async move {
                let stats = store.endpoint_stats(&endpoint, t(since), t(until)).await.unwrap();
                stats.by_status.iter().find(|(s, _)| *s == DeliveryStatus::Failed).map_or(0, |(_, n)| *n)
            }
        };
        assert_eq!(failed_in(50, 150).await, 1, "the late one, at its event's time");
        assert_eq!(failed_in(150, 4000).await, 1, "the later event's only");
        assert_eq!(failed_in(201, 4000).await, 0);
        let logged = |since, until| {
            let filter = DeliveryFilter {
                endpoint_id: Some(endpoint.id.clone()),
                since: Some(t(since)),
                until: Some(t(until)),
                ..Default::default()
            };
            let store = store.clone();
            let tenant = tenant.id.clone();
            async move {
                let page = PageRequest { limit: 10, cursor: None };
                let found = store.list_deliveries(&tenant, &filter, &page).await.unwrap();
                found.items.iter().map(|d| d.id.to_string()).collect::<Vec<_>>()
            }
        };
        assert_eq!(logged(50, 150).await, [late.id.to_string()]);
        assert_eq!(logged(150, 4000).await, [prompt.id.to_string()]);

        assert_eq!(store.recover_endpoint(&tenant.id, &endpoint.id, t(150), t(4000), t(4000)).await.unwrap(), 1);
        assert_eq!(stored(&*store, &late).await.status, DeliveryStatus::Failed, "outside the window");
        assert_eq!(store.recover_endpoint(&tenant.id, &endpoint.id, t(50), t(150), t(4000)).await.unwrap(), 1);
        assert_eq!(stored(&*store, &late).await.status, DeliveryStatus::Pending);
    }

    async fn a_fanout_finished_late_is_leased_to_the_process_that_finished_it(store) {
        // Its deliveries are due when they are written, though created at the event's time: the
        // finishing process hands them to its dispatcher under its lease, so no claim takes
        // them a second time.
        let tenant = add_tenant(&*store).await;
        let endpoint = add_endpoint(&*store, &tenant).await;
        let event = new_event(&tenant.id);
        store.publish_fanout(&event, &marker("worker-a", 60)).await.unwrap();
        let heir = marker("worker-b", 3700);
        store.claim_fanouts(&heir, t(3600), 10).await.unwrap();
        let late = Delivery::for_subscriber(&event, &endpoint, t(3600));
        assert!(late.created_at < late.next_attempt_at.unwrap(), "created with its event, due now");
        let local = Lease { token: LeaseToken::new("worker-b", "local"), until: t(3630) };
        let expanded = store.expand_fanout(&event.key, &heir.token, vec![late], Some(&local)).await.unwrap();
        assert!(expanded.committed().await.unwrap());
        assert!(store.claim_due("worker-c", t(3601), t(3631), 10, &[]).await.unwrap().is_empty(), "leased");
        assert_eq!(ids(&store.claim_due("worker-c", t(3631), t(3661), 10, &[]).await.unwrap()).len(), 1);
    }
}
