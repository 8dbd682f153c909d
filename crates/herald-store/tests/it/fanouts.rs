//! Fan-out markers: an event stored with a marker owes its deliveries until the marker's holder
//! expands it; a holder whose lease ran out (a crash) loses it to whoever claims it next, and only
//! one of them ever creates the deliveries.

use herald_core::delivery::{Delivery, DeliveryStatus, Next};
use herald_store::{Lease, LeaseToken, Published};

use crate::support::*;

fn marker(owner: &str, until: i64) -> Lease {
    Lease { token: LeaseToken::new(owner, "fanout"), until: t(until) }
}

on_both_backends! {
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
            store.settle(&lease.token, &deliveries[0].id, Some(&attempts[0]), &Next::Delivered, t(2)),
            store.settle(&lease.token, &deliveries[1].id, Some(&attempts[1]), &retry, t(2)),
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
}
