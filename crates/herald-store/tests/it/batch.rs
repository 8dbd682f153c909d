//! The group-commit writer: concurrent writes share a transaction and are all committed; a batch
//! that fails is applied again write by write, so that only the write at fault fails — with its
//! own cause — and its neighbours are stored.
//!
//! The writes of one small `join_all` are all queued before the writer task runs (a
//! `#[tokio::test]` runtime has one thread), so they reach the writer as one batch.

use futures::future::join_all;
use herald_core::delivery::{DeliveryStatus, Next};
use herald_core::event::EventId;
use herald_core::id::{DeliveryId, TenantId};
use herald_store::{DeliveryFilter, EventFilter, PageRequest, Published, StoreError};

use crate::support::*;

/// Whether the error is the database refusing a foreign key, kept as it was raised.
fn is_foreign_key_violation(error: &StoreError) -> bool {
    let StoreError::Database(error) = error else { return false };
    error.as_database_error().is_some_and(|db| db.is_foreign_key_violation())
}

fn all() -> PageRequest {
    PageRequest { limit: 1000, cursor: None }
}

on_both_backends! {
    async fn concurrent_publishes_are_all_committed(store) {
        let tenant = add_tenant(&*store).await;
        let endpoint = add_endpoint(&*store, &tenant).await;
        let writes: Vec<_> = (0..300)
            .map(|_| {
                let event = new_event(&tenant.id);
                let delivery = new_delivery(&event, &endpoint, t(0));
                (event, delivery)
            })
            .collect();
        let published = join_all(
            writes.iter().map(|(event, delivery)| store.publish(event, std::slice::from_ref(delivery), None)),
        )
        .await;
        assert!(published.iter().all(|p| matches!(p, Ok(Published::Created))), "{published:?}");

        let events = store.list_events(&tenant.id, &EventFilter::default(), &all()).await.unwrap();
        assert_eq!(events.items.len(), writes.len());
        let deliveries = store.list_deliveries(&tenant.id, &DeliveryFilter::default(), &all()).await.unwrap();
        assert_eq!(sorted_ids(&deliveries.items), sorted_ids(writes.iter().map(|(_, d)| d)));
        for (event, delivery) in &writes {
            assert_eq!(store.event(&tenant.id, &event.id).await.unwrap().as_ref(), Some(event));
            assert_eq!(&stored(&*store, delivery).await, delivery);
        }
    }

    async fn a_repeated_event_id_answers_the_stored_event(store) {
        let tenant = add_tenant(&*store).await;
        let endpoint = add_endpoint(&*store, &tenant).await;
        let original = new_event(&tenant.id);
        let id = EventId::parse("order-1042").unwrap();
        let original = herald_core::event::Event { id: id.clone(), ..original };
        let first = new_delivery(&original, &endpoint, t(0));
        assert_eq!(store.publish(&original, &[first], None).await.unwrap(), Published::Created);

        // Later, and twice within one batch: nothing new is stored, each gets the stored event.
        let repeats: Vec<_> = (0..2)
            .map(|_| {
                let repeat = herald_core::event::Event { id: id.clone(), ..new_event(&tenant.id) };
                let delivery = new_delivery(&repeat, &endpoint, t(0));
                (repeat, delivery)
            })
            .collect();
        let answers =
            join_all(repeats.iter().map(|(e, d)| store.publish(e, std::slice::from_ref(d), None))).await;
        for answer in answers {
            assert_eq!(answer.unwrap(), Published::Existing(original.clone()));
        }
        for (repeat, delivery) in &repeats {
            assert!(store.deliveries_of_event(&repeat.key).await.unwrap().is_empty());
            assert!(store.delivery(&tenant.id, &delivery.id).await.unwrap().is_none());
        }

        // Two new events sharing an id in one batch: the first is stored, the second gets it.
        let twin_id = EventId::parse("order-2048").unwrap();
        let twins: Vec<_> = (0..2)
            .map(|_| {
                let twin = herald_core::event::Event { id: twin_id.clone(), ..new_event(&tenant.id) };
                let delivery = new_delivery(&twin, &endpoint, t(0));
                (twin, delivery)
            })
            .collect();
        let answers =
            join_all(twins.iter().map(|(e, d)| store.publish(e, std::slice::from_ref(d), None))).await;
        let answers: Vec<Published> = answers.into_iter().map(Result::unwrap).collect();
        assert_eq!(answers, [Published::Created, Published::Existing(twins[0].0.clone())]);
        assert_eq!(store.deliveries_of_event(&twins[0].0.key).await.unwrap(), [twins[0].1.clone()]);
    }

    async fn a_failing_publish_fails_alone_with_its_cause(store) {
        let tenant = add_tenant(&*store).await;
        let endpoint = add_endpoint(&*store, &tenant).await;
        let taken = waiting(&*store, &endpoint, t(0)).await;

        let good = |_| {
            let event = new_event(&tenant.id);
            let delivery = new_delivery(&event, &endpoint, t(0));
            (event, delivery)
        };
        let (before, after) = (good(0), good(1));
        // Refused by a foreign key: the tenant does not exist.
        let orphan = new_event(&TenantId::generate_at(t(0)));
        let orphan_delivery = new_delivery(&orphan, &endpoint, t(0));
        // Refused by a unique key: its delivery's id is taken.
        let clash = new_event(&tenant.id);
        let clash_delivery =
            herald_core::delivery::Delivery { id: taken.id.clone(), ..new_delivery(&clash, &endpoint, t(0)) };

        let mut answers = join_all([
            store.publish(&before.0, std::slice::from_ref(&before.1), None),
            store.publish(&orphan, std::slice::from_ref(&orphan_delivery), None),
            store.publish(&clash, std::slice::from_ref(&clash_delivery), None),
            store.publish(&after.0, std::slice::from_ref(&after.1), None),
        ])
        .await
        .into_iter();
        assert_eq!(answers.next().unwrap().unwrap(), Published::Created);
        let refused = answers.next().unwrap().unwrap_err();
        assert!(is_foreign_key_violation(&refused), "the database's own error: {refused:?}");
        let conflict = answers.next().unwrap().unwrap_err();
        assert!(matches!(&conflict, StoreError::Conflict(what) if what == "delivery id"), "{conflict:?}");
        assert_eq!(answers.next().unwrap().unwrap(), Published::Created);

        for (event, delivery) in [&before, &after] {
            assert_eq!(store.event(&tenant.id, &event.id).await.unwrap().as_ref(), Some(event));
            assert_eq!(&stored(&*store, delivery).await, delivery);
        }
        assert!(store.event(&orphan.tenant_id, &orphan.id).await.unwrap().is_none());
        assert!(store.event(&tenant.id, &clash.id).await.unwrap().is_none(), "nothing of it is stored");
        assert_eq!(stored(&*store, &taken).await, taken, "the delivery whose id was taken is untouched");
    }

    async fn a_failing_settle_fails_alone_with_its_cause(store) {
        let tenant = add_tenant(&*store).await;
        let endpoint = add_endpoint(&*store, &tenant).await;
        let delivery = waiting(&*store, &endpoint, t(0)).await;
        let jobs = store.claim_due("worker-a", t(1), t(31), 10, &[]).await.unwrap();
        let lease = jobs[0].lease.clone();
        let attempt = new_attempt(&jobs[0].delivery, t(2));
        // An attempt of a delivery that does not exist: its foreign key refuses it.
        let ghost = herald_core::delivery::Delivery { id: DeliveryId::generate_at(t(0)), ..delivery.clone() };
        let ghost_attempt = new_attempt(&ghost, t(2));
        let extra = new_event(&tenant.id);
        let extra_delivery = new_delivery(&extra, &endpoint, t(0));

        let (settled, ghost_settled, published) = futures::join!(
            store.settle(&lease, &delivery.id, Some(attempt.clone()), &Next::Delivered, t(3)),
            store.settle(&lease, &ghost.id, Some(ghost_attempt.clone()), &Next::Delivered, t(3)),
            store.publish(&extra, std::slice::from_ref(&extra_delivery), None),
        );
        settled.unwrap();
        let refused = ghost_settled.unwrap_err();
        assert!(is_foreign_key_violation(&refused), "the database's own error: {refused:?}");
        assert_eq!(published.unwrap(), Published::Created);

        let now = stored(&*store, &delivery).await;
        assert_eq!((now.status, now.attempt_count), (DeliveryStatus::Delivered, 1));
        assert_eq!(store.attempts(&delivery.id).await.unwrap(), [attempt]);
        assert!(store.attempts(&ghost.id).await.unwrap().is_empty());
        assert_eq!(&stored(&*store, &extra_delivery).await, &extra_delivery);
    }

    async fn a_repeated_attempt_id_is_a_conflict_naming_it(store) {
        let tenant = add_tenant(&*store).await;
        let endpoint = add_endpoint(&*store, &tenant).await;
        waiting(&*store, &endpoint, t(0)).await;
        waiting(&*store, &endpoint, t(0)).await;
        let jobs = store.claim_due("worker-a", t(1), t(31), 10, &[]).await.unwrap();
        let (first, second) = (&jobs[0], &jobs[1]);
        let attempt = new_attempt(&first.delivery, t(2));
        store.settle(&first.lease, &first.delivery.id, Some(attempt.clone()), &Next::Delivered, t(3)).await.unwrap();

        // The second delivery's attempt under the first one's id: refused, naming the attempt.
        let again = herald_core::delivery::Attempt { id: attempt.id.clone(), ..new_attempt(&second.delivery, t(2)) };
        let refused =
            store.settle(&second.lease, &second.delivery.id, Some(again.clone()), &Next::Delivered, t(3)).await.unwrap_err();
        assert!(matches!(&refused, StoreError::Conflict(what) if what == "attempt id"), "{refused:?}");
        let untouched = stored(&*store, &second.delivery).await;
        assert_eq!((untouched.status, untouched.attempt_count), (DeliveryStatus::Pending, 0));
        assert_eq!(store.attempts(&first.delivery.id).await.unwrap(), [attempt]);
    }
}

/// Publishes from eight tasks without pause while another write — an endpoint created, on the
/// writer's pool outside the group commit — must still get through. On SQLite, whose group
/// commit and other writes share one connection, this fails if the group commit keeps its
/// connection for good; the bound on how long it keeps it is checked in `batch`'s unit tests,
/// with time under the test's control.
async fn other_writes_get_through_while_publishes_keep_coming(backend: herald_store::Backend) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    let db = TestDb::open(backend).await;
    let store = db.store.clone();
    let tenant = add_tenant(&*store).await;
    let endpoint = add_endpoint(&*store, &tenant).await;
    let (stop, published) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)));
    let publishers: Vec<_> = (0..8)
        .map(|_| {
            let (store, tenant, endpoint) = (store.clone(), tenant.clone(), endpoint.clone());
            let (stop, published) = (stop.clone(), published.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    let event = new_event(&tenant.id);
                    let delivery = new_delivery(&event, &endpoint, t(0));
                    store.publish(&event, &[delivery], None).await.unwrap();
                    published.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    while published.load(Ordering::SeqCst) < 200 {
        tokio::task::yield_now().await;
    }
    let added =
        tokio::time::timeout(std::time::Duration::from_secs(60), add_endpoint(&*store, &tenant)).await;
    stop.store(true, Ordering::SeqCst);
    for publisher in publishers {
        publisher.await.unwrap();
    }
    let added = added.expect("the endpoint was created while the publishes went on");
    assert_eq!(store.endpoint(&tenant.id, &added.id).await.unwrap().as_ref(), Some(&added));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_writes_get_through_while_publishes_keep_coming_sqlite() {
    other_writes_get_through_while_publishes_keep_coming(herald_store::Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_writes_get_through_while_publishes_keep_coming_postgres() {
    other_writes_get_through_while_publishes_keep_coming(herald_store::Backend::Postgres).await;
}
