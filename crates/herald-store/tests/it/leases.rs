//! Lease tokens: a claimed delivery moves on (settled or deferred) only under the token it was
//! claimed with; any other token — a stranger's, or a stale one whose lease passed to another
//! claim — changes nothing.

use herald_core::delivery::{DeliveryStatus, FailureReason, Next};
use herald_store::LeaseToken;

use crate::support::*;

on_both_backends! {
    async fn a_delivery_moves_only_under_the_token_it_was_claimed_with(store) {
        let tenant = add_tenant(&*store).await;
        let endpoint = add_endpoint(&*store, &tenant).await;
        let delivery = waiting(&*store, &endpoint, t(0)).await;

        let jobs = store.claim_due("worker-a", t(1), t(31), 10, &[]).await.unwrap();
        assert_eq!(ids(&jobs), [delivery.id.to_string()]);
        let lease = jobs[0].lease.clone();
        assert!(lease.as_str().starts_with("worker-a:"), "{lease}");
        assert_eq!(jobs[0].lease_until, t(31));
        assert_eq!(jobs[0].endpoint.as_deref(), Some(&endpoint));
        let claimed = stored(&*store, &delivery).await;
        assert_eq!(claimed.next_attempt_at, Some(t(31)), "due again when the lease ends");

        let stranger = LeaseToken::new("worker-b", "claim_1");
        store.settle(&stranger, &delivery.id, None, &Next::Delivered, t(2)).await.unwrap();
        let gave_up = Next::Failed(FailureReason::AttemptsExhausted);
        store.settle(&stranger, &delivery.id, None, &gave_up, t(2)).await.unwrap();
        store.settle(&stranger, &delivery.id, None, &Next::RetryAt(t(3)), t(2)).await.unwrap();
        store.defer(&stranger, &delivery.id, t(3)).await.unwrap();
        assert_eq!(stored(&*store, &delivery).await, claimed, "another token changes nothing");
        assert!(store.claim_due("worker-b", t(10), t(40), 10, &[]).await.unwrap().is_empty(), "still leased");

        let attempt = new_attempt(&claimed, t(3));
        store.settle(&lease, &delivery.id, Some(attempt.clone()), &Next::RetryAt(t(60)), t(4)).await.unwrap();
        let settled = stored(&*store, &delivery).await;
        assert_eq!(settled.status, DeliveryStatus::Retrying);
        assert_eq!(settled.attempt_count, 1);
        assert_eq!(settled.last_attempt_at, Some(t(3)));
        assert_eq!(settled.next_attempt_at, Some(t(60)));
        assert_eq!(settled.updated_at, t(4));
        assert_eq!(store.attempts(&delivery.id).await.unwrap(), [attempt]);

        // The settle gave the lease back: the token no longer holds the delivery either.
        store.settle(&lease, &delivery.id, None, &Next::Delivered, t(5)).await.unwrap();
        assert_eq!(stored(&*store, &delivery).await, settled, "a settled lease is spent");
    }

    async fn a_stale_token_changes_nothing_once_the_lease_passed_on(store) {
        let tenant = add_tenant(&*store).await;
        let endpoint = add_endpoint(&*store, &tenant).await;
        let delivery = waiting(&*store, &endpoint, t(0)).await;

        let first = store.claim_due("worker-a", t(1), t(31), 10, &[]).await.unwrap();
        assert_eq!(ids(&first), [delivery.id.to_string()]);
        let stale = first[0].lease.clone();
        // The lease expired unsettled: another claim takes the delivery under a new token.
        let second = store.claim_due("worker-b", t(40), t(70), 10, &[]).await.unwrap();
        assert_eq!(ids(&second), [delivery.id.to_string()], "an expired lease makes it due again");
        let current = second[0].lease.clone();
        assert_ne!(stale, current);
        let reclaimed = stored(&*store, &delivery).await;

        store.settle(&stale, &delivery.id, None, &Next::Delivered, t(41)).await.unwrap();
        store.defer(&stale, &delivery.id, t(45)).await.unwrap();
        assert_eq!(stored(&*store, &delivery).await, reclaimed, "the stale token changes nothing");
        assert!(store.claim_due("worker-c", t(50), t(80), 10, &[]).await.unwrap().is_empty());

        // The current token defers it: due at the given time, no attempt, no status change.
        store.defer(&current, &delivery.id, t(55)).await.unwrap();
        let deferred = stored(&*store, &delivery).await;
        assert_eq!(deferred.next_attempt_at, Some(t(55)));
        assert_eq!((deferred.status, deferred.attempt_count), (DeliveryStatus::Pending, 0));
        assert!(store.attempts(&delivery.id).await.unwrap().is_empty());
        assert!(store.claim_due("worker-c", t(54), t(84), 10, &[]).await.unwrap().is_empty(), "not before");
        let third = store.claim_due("worker-c", t(55), t(85), 10, &[]).await.unwrap();
        assert_eq!(ids(&third), [delivery.id.to_string()], "the deferral gave the lease back");

        store.settle(&current, &delivery.id, None, &Next::Delivered, t(56)).await.unwrap();
        assert_eq!(stored(&*store, &delivery).await.status, DeliveryStatus::Pending, "deferred: spent");
        store.settle(&third[0].lease, &delivery.id, None, &Next::Delivered, t(57)).await.unwrap();
        let delivered = stored(&*store, &delivery).await;
        assert_eq!((delivered.status, delivered.next_attempt_at), (DeliveryStatus::Delivered, None));
    }
}
