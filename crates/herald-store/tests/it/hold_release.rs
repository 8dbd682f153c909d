//! Holding and releasing an endpoint's waiting deliveries with its circuit
//! (`set_endpoint_health` with a `Shift`): a hold makes them wait without charging an attempt, a
//! release makes them due now; leased deliveries and other endpoints' are left alone.

use herald_core::circuit::Health;
use herald_core::delivery::DeliveryStatus;
use herald_store::Shift;

use crate::support::*;

on_both_backends! {
    async fn a_hold_deeper_than_one_chunk_moves_the_whole_backlog(store) {
        let tenant = add_tenant(&*store).await;
        let endpoint = add_endpoint(&*store, &tenant).await;
        // More than two chunks (128 each), published concurrently (the store groups them).
        let published = (0..300).map(|_| waiting(&*store, &endpoint, t(0)));
        let backlog = futures::future::join_all(published).await;
        let open = Health { failing_since: Some(t(-100)), probe_at: Some(t(300)), failed_probes: 0, changed_at: Some(t(0)) };
        let held = store.set_endpoint_health(&endpoint.id, &open, Shift::Hold(t(300)), t(0)).await.unwrap();
        assert_eq!(held, 300, "every waiting delivery, across chunks");
        for delivery in [&backlog[0], &backlog[150], &backlog[299]] {
            assert_eq!(stored(&*store, delivery).await.next_attempt_at, Some(t(300)));
        }
        assert!(store.claim_due("worker-a", t(10), t(40), 500, &[]).await.unwrap().is_empty(), "none is due");
    }

    async fn a_hold_delays_waiting_deliveries_and_a_release_makes_them_due(store) {
        let tenant = add_tenant(&*store).await;
        let endpoint = add_endpoint(&*store, &tenant).await;
        let other = add_endpoint(&*store, &tenant).await;
        let leased = waiting(&*store, &endpoint, t(-10)).await;
        assert_eq!(ids(&store.claim_due("worker-a", t(0), t(30), 1, &[]).await.unwrap()), [leased.id.to_string()]);
        let early = waiting(&*store, &endpoint, t(0)).await;
        let soon = waiting(&*store, &endpoint, t(60)).await;
        let late = waiting(&*store, &endpoint, t(900)).await;
        let elsewhere = waiting(&*store, &other, t(0)).await;

        let open = Health {
            failing_since: Some(t(-100)),
            probe_at: Some(t(300)),
            failed_probes: 0,
            changed_at: Some(t(0)),
        };
        let held = store.set_endpoint_health(&endpoint.id, &open, Shift::Hold(t(300)), t(0)).await.unwrap();
        assert_eq!(held, 2, "the waiting deliveries due before the hold's end");
        for delivery in [&early, &soon] {
            let now = stored(&*store, delivery).await;
            assert_eq!(now.next_attempt_at, Some(t(300)), "held until the probe");
            assert_eq!((now.status, now.attempt_count), (DeliveryStatus::Pending, 0), "no attempt charged");
            assert!(store.attempts(&delivery.id).await.unwrap().is_empty());
        }
        assert_eq!(stored(&*store, &late).await.next_attempt_at, Some(t(900)), "due after the hold anyway");
        assert_eq!(stored(&*store, &leased).await.next_attempt_at, Some(t(30)), "its holder decides");
        assert_eq!(stored(&*store, &elsewhere).await.next_attempt_at, Some(t(0)), "another endpoint");
        let stored_endpoint = store.endpoint(&tenant.id, &endpoint.id).await.unwrap().unwrap();
        assert_eq!(stored_endpoint.health, open);
        let claimed = store.claim_due("worker-b", t(20), t(50), 10, &[]).await.unwrap();
        assert_eq!(ids(&claimed), [elsewhere.id.to_string()], "held deliveries are not due");

        // A view older than the stored one changes nothing.
        let older = Health { changed_at: Some(t(-1)), ..Health::default() };
        let release = Shift::Release { up_to: t(300) };
        assert_eq!(store.set_endpoint_health(&endpoint.id, &older, release, t(20)).await.unwrap(), 0);
        assert_eq!(stored(&*store, &early).await.next_attempt_at, Some(t(300)));
        assert_eq!(store.endpoint(&tenant.id, &endpoint.id).await.unwrap().unwrap().health, open);

        // The circuit closes: the held deliveries are due now; the leased one is still its holder's.
        let closed = Health { changed_at: Some(t(25)), ..Health::default() };
        let released = store.set_endpoint_health(&endpoint.id, &closed, release, t(25)).await.unwrap();
        assert_eq!(released, 2);
        for delivery in [&early, &soon] {
            let now = stored(&*store, delivery).await;
            assert_eq!(now.next_attempt_at, Some(t(25)), "due now");
            assert_eq!((now.status, now.attempt_count), (DeliveryStatus::Pending, 0));
        }
        assert_eq!(stored(&*store, &late).await.next_attempt_at, Some(t(900)), "never held: unchanged");
        assert_eq!(stored(&*store, &leased).await.next_attempt_at, Some(t(30)));
        let claimed = store.claim_due("worker-b", t(25), t(55), 10, &[]).await.unwrap();
        assert_eq!(sorted_ids(claimed.iter().map(|job| &job.delivery)), sorted_ids([&early, &soon]));
    }

    async fn a_hold_and_a_release_without_waiting_deliveries_only_store_the_health(store) {
        let tenant = add_tenant(&*store).await;
        let endpoint = add_endpoint(&*store, &tenant).await;
        let open = Health {
            failing_since: Some(t(0)),
            probe_at: Some(t(60)),
            failed_probes: 1,
            changed_at: Some(t(0)),
        };
        assert_eq!(
            store.set_endpoint_health(&endpoint.id, &open, Shift::Hold(t(60)), t(0)).await.unwrap(),
            0
        );
        assert_eq!(store.endpoint(&tenant.id, &endpoint.id).await.unwrap().unwrap().health, open);
        let closed = Health { changed_at: Some(t(1)), ..Health::default() };
        let release = Shift::Release { up_to: t(60) };
        assert_eq!(store.set_endpoint_health(&endpoint.id, &closed, release, t(1)).await.unwrap(), 0);
        assert_eq!(store.endpoint(&tenant.id, &endpoint.id).await.unwrap().unwrap().health, closed);
    }
}
