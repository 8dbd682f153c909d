//! Claiming due work: earliest `next_attempt_at` first, at most `limit`, never what is not due
//! yet nor what another claim holds; given-back leases make deliveries due again.

use herald_store::TenantBacklog;

use crate::support::*;

on_both_backends! {
    async fn the_gauges_count_waiting_deliveries_and_leases_that_ran_out(store) {
        let tenant = add_tenant(&*store).await;
        let endpoint = add_endpoint(&*store, &tenant).await;
        waiting(&*store, &endpoint, t(1)).await;
        waiting(&*store, &endpoint, t(2)).await;
        waiting(&*store, &endpoint, t(60)).await;
        let gauges = store.gauges(t(10)).await.unwrap();
        assert_eq!((gauges.due, gauges.scheduled, gauges.expired_leases), (2, 1, 0));
        assert_eq!(gauges.oldest_due_at, Some(t(1)));
        // Claimed until t(20): not due while the lease holds, an expired lease once it ran out.
        assert_eq!(store.claim_due("worker-a", t(10), t(20), 1, &[]).await.unwrap().len(), 1);
        let held = store.gauges(t(15)).await.unwrap();
        assert_eq!((held.due, held.expired_leases), (1, 0));
        let ran_out = store.gauges(t(30)).await.unwrap();
        assert_eq!((ran_out.due, ran_out.expired_leases), (2, 1), "the dead holder's delivery is due again");
        assert_eq!((ran_out.circuits_open, ran_out.endpoints_disabled), (0, 0));
        assert!(!ran_out.pools.is_empty());
    }

    async fn claims_take_the_earliest_due_deliveries_up_to_the_limit(store) {
        let tenant = add_tenant(&*store).await;
        let endpoint = add_endpoint(&*store, &tenant).await;
        // Published in another order than they are due.
        let third = waiting(&*store, &endpoint, t(3)).await;
        let first = waiting(&*store, &endpoint, t(1)).await;
        let not_yet = waiting(&*store, &endpoint, t(60)).await;
        let second = waiting(&*store, &endpoint, t(2)).await;
        let fourth = waiting(&*store, &endpoint, t(4)).await;
        assert_eq!(store.next_due_at(&[]).await.unwrap(), Some(t(1)));

        let claimed = store.claim_due("worker-a", t(10), t(40), 2, &[]).await.unwrap();
        assert_eq!(sorted_ids(claimed.iter().map(|job| &job.delivery)), sorted_ids([&first, &second]));
        assert!(claimed.iter().all(|job| job.lease == claimed[0].lease), "one claim, one token");
        assert_eq!(ids(&store.claim_due("worker-a", t(10), t(40), 1, &[]).await.unwrap()), [third.id.to_string()]);
        assert_eq!(
            ids(&store.claim_due("worker-a", t(10), t(40), 1, &[]).await.unwrap()),
            [fourth.id.to_string()]
        );
        assert!(
            store.claim_due("worker-b", t(10), t(40), 10, &[]).await.unwrap().is_empty(),
            "the rest is leased or not due yet"
        );
        assert_eq!(store.next_due_at(&[]).await.unwrap(), Some(t(40)), "the leases' end comes first");

        let later = store.claim_due("worker-b", t(60), t(90), 10, &[]).await.unwrap();
        assert_eq!(
            sorted_ids(later.iter().map(|job| &job.delivery)),
            sorted_ids([&first, &second, &third, &fourth, &not_yet]),
            "expired leases and the delivery now due"
        );
    }

    async fn a_tenant_backlog_counts_its_undecided_deliveries_and_those_due(store) {
        let tenant = add_tenant(&*store).await;
        let (one, two) = (add_endpoint(&*store, &tenant).await, add_endpoint(&*store, &tenant).await);
        let other = add_endpoint(&*store, &add_tenant(&*store).await).await;
        waiting(&*store, &one, t(1)).await;
        waiting(&*store, &two, t(2)).await;
        waiting(&*store, &two, t(60)).await;
        waiting(&*store, &other, t(1)).await;
        let backlog = |now| {
            let store = store.clone();
            let tenant = tenant.id.clone();
            async move { store.tenant_backlog(&tenant, now).await.unwrap() }
        };
        assert_eq!(backlog(t(10)).await, TenantBacklog { backlog: 3, due: 2 }, "the other tenant's is not counted");
        let claimed = store.claim_due("worker-a", t(10), t(40), 10, &[]).await.unwrap();
        assert_eq!(claimed.len(), 3, "both tenants' due deliveries");
        assert_eq!(backlog(t(10)).await, TenantBacklog { backlog: 3, due: 0 }, "leased ones are not due");
        let settled = claimed.iter().find(|job| job.delivery.tenant_id == tenant.id).unwrap();
        let attempt = new_attempt(&settled.delivery, t(11));
        store
            .settle(&settled.lease, &settled.delivery.id, Some(attempt.clone()), &herald_core::delivery::Next::Delivered, t(11))
            .await
            .unwrap();
        assert_eq!(backlog(t(70)).await, TenantBacklog { backlog: 2, due: 2 }, "delivered: out; leases over: due");
    }

    async fn a_claim_leaves_the_skipped_tenants_work_for_later(store) {
        let busy = add_tenant(&*store).await;
        let quiet = add_tenant(&*store).await;
        let busy_endpoint = add_endpoint(&*store, &busy).await;
        let quiet_endpoint = add_endpoint(&*store, &quiet).await;
        // The busy tenant's backlog is due first.
        let mut backlog = Vec::new();
        for second in 1..=5 {
            backlog.push(waiting(&*store, &busy_endpoint, t(second)).await);
        }
        let later = waiting(&*store, &quiet_endpoint, t(8)).await;
        let skip = [busy.id.clone()];
        assert_eq!(store.next_due_at(&skip).await.unwrap(), Some(t(8)), "the skipped tenant's times aside");
        assert_eq!(store.next_due_at(&[]).await.unwrap(), Some(t(1)));
        let claimed = store.claim_due("worker-a", t(10), t(40), 2, &skip).await.unwrap();
        assert_eq!(ids(&claimed), [later.id.to_string()], "past the busy tenant's earlier backlog");
        let rest = store.claim_due("worker-a", t(10), t(40), 10, &[]).await.unwrap();
        assert_eq!(sorted_ids(rest.iter().map(|job| &job.delivery)), sorted_ids(&backlog), "left, not lost");
    }

    async fn a_claim_with_nothing_due_takes_nothing(store) {
        assert!(store.claim_due("worker-a", t(0), t(30), 10, &[]).await.unwrap().is_empty());
        assert_eq!(store.next_due_at(&[]).await.unwrap(), None);
        let tenant = add_tenant(&*store).await;
        let endpoint = add_endpoint(&*store, &tenant).await;
        waiting(&*store, &endpoint, t(5)).await;
        assert!(store.claim_due("worker-a", t(4), t(30), 10, &[]).await.unwrap().is_empty());
        assert_eq!(store.claim_due("worker-a", t(5), t(30), 0, &[]).await.unwrap().len(), 0, "limit 0");
    }

    async fn given_back_leases_make_deliveries_due_again(store) {
        let tenant = add_tenant(&*store).await;
        let endpoint = add_endpoint(&*store, &tenant).await;
        let all = [
            waiting(&*store, &endpoint, t(0)).await,
            waiting(&*store, &endpoint, t(0)).await,
            waiting(&*store, &endpoint, t(0)).await,
        ];
        let by_a = store.claim_due("worker-a", t(1), t(100), 2, &[]).await.unwrap();
        let by_ab = store.claim_due("worker-ab", t(1), t(100), 1, &[]).await.unwrap();
        assert_eq!((by_a.len(), by_ab.len()), (2, 1));

        // Only worker-a's leases (not those of an owner whose name merely starts the same).
        assert_eq!(store.release_leases("worker-a", t(5)).await.unwrap(), 2);
        for job in &by_a {
            assert_eq!(stored(&*store, &job.delivery).await.next_attempt_at, Some(t(5)), "due at once");
        }
        let again = store.claim_due("worker-c", t(5), t(100), 10, &[]).await.unwrap();
        assert_eq!(
            sorted_ids(again.iter().map(|job| &job.delivery)),
            sorted_ids(by_a.iter().map(|job| &job.delivery))
        );
        assert_eq!(store.release_leases("worker-a", t(6)).await.unwrap(), 0, "nothing left to give back");

        // Every lease, whoever holds it.
        assert_eq!(store.release_every_lease(t(7)).await.unwrap(), 3);
        let everything = store.claim_due("worker-d", t(7), t(100), 10, &[]).await.unwrap();
        assert_eq!(sorted_ids(everything.iter().map(|job| &job.delivery)), sorted_ids(&all));
        assert_eq!(store.release_every_lease(t(8)).await.unwrap(), 3);
        assert_eq!(store.release_every_lease(t(9)).await.unwrap(), 0);
    }
}
