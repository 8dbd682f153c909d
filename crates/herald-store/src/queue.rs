//! The queue: `deliveries` rows that are `pending` or `retrying`, due at `next_attempt_at`.
//!
//! A dispatcher leases due deliveries (`claim_due`, or `claim_probe` for an open circuit's probe)
//! under a [`LeaseToken`]; a lease sets `next_attempt_at` to its end, so a delivery whose holder
//! dies becomes due again by itself. Only the holder of the stored token can `settle` (record an
//! attempt and move the delivery on) or `defer` it; both go through the group-commit writer
//! (`batch/`). Leases are given back in bulk at shutdown and start (`release_leases`,
//! `release_every_lease`). An open circuit holds an endpoint's waiting deliveries until its probe
//! time — in chunks of `HOLD_CHUNK`, each its own transaction — and closing it releases them
//! (`hold_chunk`, `release_held`, called by `set_endpoint_health`). Manual
//! retries and recoveries queue deliveries again. Whatever makes work due announces it to other
//! processes through the backend's [`Dialect::notify_in`].

use std::collections::HashMap;
use std::sync::Arc;

use herald_core::Timestamp;
use herald_core::delivery::{Attempt, Delivery, Next, Trigger};
use herald_core::endpoint::Endpoint;
use herald_core::event::Event;
use herald_core::id::{AttemptId, DeliveryId, EndpointId, GeneratedEventId, TenantId};

use crate::batch::Write;
use crate::dialect::{DbOf, Dialect, PoolOf, for_each_backend};
use crate::events::{delivery_ids_before, delivery_ids_from};
use crate::rows::{DeliveryRow, EndpointRow, EventRow, columns, convert, millis};
use crate::{Job, Result};

/// Deliveries an endpoint's hold moves per transaction (see `set_endpoint_health`).
pub(crate) const HOLD_CHUNK: u64 = 128;

/// Names one lease: `<owner>:<claim>`, where the owner is one dispatcher (one process) and the
/// claim one batch it took (or `local`, its hand-over queue). A delivery moves on only while the
/// token stored with it is the one its worker holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LeaseToken(Arc<str>);

impl LeaseToken {
    pub fn new(owner: &str, claim: &str) -> Self {
        Self(Arc::from(format!("{owner}:{claim}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for LeaseToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A lease that new deliveries are created under (handed straight to the publishing process's
/// dispatcher instead of waiting to be claimed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub token: LeaseToken,
    pub until: Timestamp,
}

for_each_backend! {
    pub(crate) async fn claim_due(
        &self,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
        skip: &[TenantId],
    ) -> Result<Vec<Job>> {
        let lease = LeaseToken::new(owner, AttemptId::generate_at(now).as_str());
        let ids: Vec<(String,)> = sqlx::query_as(Self::CLAIM_SQL)
            .bind(lease.as_str())
            .bind(millis(now))
            .bind(millis(lease_until))
            .bind(i64::from(limit))
            .bind(tenant_list(skip))
            .fetch_all(self.writer())
            .await?;
        self.load_jobs(ids.into_iter().map(|(id,)| id).collect(), &lease, lease_until).await
    }

    pub(crate) async fn claim_probe(
        &self,
        owner: &str,
        endpoint: &EndpointId,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Option<Job>> {
        let lease = LeaseToken::new(owner, AttemptId::generate_at(now).as_str());
        let ids: Vec<(String,)> = sqlx::query_as(Self::PROBE_SQL)
            .bind(lease.as_str())
            .bind(endpoint.as_str())
            .bind(millis(now))
            .bind(millis(lease_until))
            .fetch_all(self.writer())
            .await?;
        let jobs = self.load_jobs(ids.into_iter().map(|(id,)| id).collect(), &lease, lease_until).await?;
        Ok(jobs.into_iter().next())
    }

    /// Loads claimed deliveries with their events and endpoints (through the writer: a reader
    /// could lag the claim).
    async fn load_jobs(
        &self,
        ids: Vec<String>,
        lease: &LeaseToken,
        lease_until: Timestamp,
    ) -> Result<Vec<Job>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let pool = self.writer();
        let deliveries: Vec<Delivery> = convert(
            Self::rows_in::<DeliveryRow>(
                pool,
                concat!("SELECT ", columns!(deliveries), " FROM deliveries WHERE id"),
                ids.into_iter(),
            )
            .await?,
        )?;
        let keys = deliveries.iter().map(|d| d.event_key.to_string());
        let events: Vec<Event> = convert(
            Self::rows_in::<EventRow>(
                pool,
                concat!("SELECT ", columns!(events), " FROM events WHERE event_key"),
                keys,
            )
            .await?,
        )?;
        let endpoint_ids = deliveries.iter().map(|d| d.endpoint_id.to_string());
        let endpoints: Vec<Endpoint> = convert(
            Self::rows_in::<EndpointRow>(
                pool,
                concat!("SELECT ", columns!(endpoints), " FROM endpoints WHERE id"),
                endpoint_ids,
            )
            .await?,
        )?;
        Ok(assemble_jobs(deliveries, events, endpoints, lease, lease_until))
    }

    /// Runs `{select} IN (values…)`: `select` ends with the column the values are matched to.
    pub(crate) async fn rows_in<R>(
        pool: &PoolOf<Self>,
        select: &str,
        values: impl Iterator<Item = String>,
    ) -> Result<Vec<R>>
    where
        R: for<'r> sqlx::FromRow<'r, <DbOf<Self> as sqlx::Database>::Row> + Send + Unpin,
    {
        let mut query = sqlx::QueryBuilder::<DbOf<Self>>::new(select);
        query.push(" IN (");
        let mut list = query.separated(", ");
        for value in values {
            list.push_bind(value);
        }
        query.push(")");
        Ok(query.build_query_as::<R>().fetch_all(pool).await?)
    }

    pub(crate) async fn next_due_at(&self, skip: &[TenantId]) -> Result<Option<Timestamp>> {
        let (ms,): (Option<i64>,) =
            sqlx::query_as(Self::NEXT_DUE_SQL).bind(tenant_list(skip)).fetch_one(self.reader()).await?;
        Ok(ms.and_then(|ms| Timestamp::from_millisecond(ms).ok()))
    }

    /// Hands the settlement to the group-commit writer and waits for the commit.
    pub(crate) async fn settle(
        &self,
        lease: &LeaseToken,
        delivery: &DeliveryId,
        attempt: Option<Attempt>,
        next: &Next,
        now: Timestamp,
    ) -> Result<()> {
        self.batch_writer()
            .commit("a settle", |reply| Write::Settle {
                lease: lease.clone(),
                delivery: delivery.clone(),
                attempt: attempt.map(Box::new),
                next: next.clone(),
                now,
                reply,
            })
            .await
    }

    /// Hands the deferral to the group-commit writer and waits for the commit.
    pub(crate) async fn defer(
        &self,
        lease: &LeaseToken,
        delivery: &DeliveryId,
        until: Timestamp,
    ) -> Result<()> {
        self.batch_writer()
            .commit("a deferral", |reply| Write::Defer { lease: lease.clone(), delivery: delivery.clone(), until, reply })
            .await
    }

    pub(crate) async fn release_leases(&self, owner: &str, now: Timestamp) -> Result<u64> {
        let mut tx = self.writer().begin().await?;
        let done = sqlx::query(
            "UPDATE deliveries
             SET next_attempt_at = $2, leased_until = NULL, lease_owner = NULL, updated_at = $2
             WHERE lease_owner LIKE $1 AND status IN ('pending', 'retrying')",
        )
        .bind(format!("{owner}:%"))
        .bind(millis(now))
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE fanouts SET leased_until = $2, lease_owner = NULL WHERE lease_owner LIKE $1")
            .bind(format!("{owner}:%"))
            .bind(millis(now))
            .execute(&mut *tx)
            .await?;
        Self::notify_in(&mut tx, done.rows_affected() > 0).await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    pub(crate) async fn release_every_lease(&self, now: Timestamp) -> Result<u64> {
        let mut tx = self.writer().begin().await?;
        let done = sqlx::query(
            "UPDATE deliveries
             SET next_attempt_at = $1, leased_until = NULL, lease_owner = NULL, updated_at = $1
             WHERE lease_owner IS NOT NULL AND status IN ('pending', 'retrying')",
        )
        .bind(millis(now))
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE fanouts SET leased_until = $1, lease_owner = NULL WHERE lease_owner IS NOT NULL")
            .bind(millis(now))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    /// Makes the endpoint's waiting deliveries held until at most `up_to` (and not leased: leased
    /// ones are settled or deferred by their holder) due now, inside the caller's transaction,
    /// and announces them. Returns how many moved.
    pub(crate) async fn release_held(
        tx: &mut sqlx::Transaction<'_, DbOf<Self>>,
        endpoint: &EndpointId,
        up_to: Timestamp,
        now: Timestamp,
    ) -> Result<u64> {
        let moved = sqlx::query(
            "UPDATE deliveries SET next_attempt_at = $3, updated_at = $3
             WHERE endpoint_id = $1 AND status IN ('pending', 'retrying')
               AND next_attempt_at > $3 AND next_attempt_at <= $2
               AND (leased_until IS NULL OR leased_until <= $3)",
        )
        .bind(endpoint.as_str())
        .bind(millis(up_to))
        .bind(millis(now))
        .execute(&mut **tx)
        .await?
        .rows_affected();
        Self::notify_in(tx, moved > 0).await?;
        Ok(moved)
    }

    /// Makes up to [`HOLD_CHUNK`] of the endpoint's waiting deliveries that are due before
    /// `until` (and not leased) wait until it; returns how many moved.
    pub(crate) async fn hold_chunk(
        tx: &mut sqlx::Transaction<'_, DbOf<Self>>,
        endpoint: &EndpointId,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE deliveries SET next_attempt_at = $2, updated_at = $3
             WHERE id IN (
               SELECT id FROM deliveries
               WHERE endpoint_id = $1 AND status IN ('pending', 'retrying') AND next_attempt_at < $2
                 AND (leased_until IS NULL OR leased_until <= $3)
               LIMIT $4)",
        )
        .bind(endpoint.as_str())
        .bind(millis(until))
        .bind(millis(now))
        .bind(HOLD_CHUNK as i64)
        .execute(&mut **tx)
        .await?;
        Ok(done.rows_affected())
    }

    /// Queues the delivery for an attempt now, whatever its status (manual retry).
    pub(crate) async fn requeue_delivery(
        &self,
        tenant: &TenantId,
        id: &DeliveryId,
        trigger: Trigger,
        now: Timestamp,
    ) -> Result<Option<Delivery>> {
        let mut tx = self.writer().begin().await?;
        // The row as this update left it (a re-read could already see the next attempt).
        let row = sqlx::query_as::<_, DeliveryRow>(concat!(
            "UPDATE deliveries SET status = CASE WHEN status = 'retrying' THEN 'retrying' ELSE 'pending' END,
               next_attempt_at = $3, next_trigger = $4, failure_reason = NULL,
               leased_until = NULL, lease_owner = NULL, updated_at = $3
             WHERE tenant_id = $1 AND id = $2
             RETURNING ",
            columns!(deliveries)
        ))
        .bind(tenant.as_str())
        .bind(id.as_str())
        .bind(millis(now))
        .bind(trigger.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        Self::notify_in(&mut tx, row.is_some()).await?;
        tx.commit().await?;
        row.map(TryInto::try_into).transpose()
    }

    /// Queues again the endpoint's failed deliveries created in `[since, until)`.
    pub(crate) async fn recover_endpoint(
        &self,
        tenant: &TenantId,
        endpoint: &EndpointId,
        since: Timestamp,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<u64> {
        let mut tx = self.writer().begin().await?;
        let done = sqlx::query(
            "UPDATE deliveries SET status = 'pending', next_attempt_at = $5, next_trigger = 'manual',
               failure_reason = NULL, updated_at = $5
             WHERE tenant_id = $1 AND endpoint_id = $2 AND status = 'failed'
               AND id >= $6 AND id < $7 AND created_at >= $3 AND created_at < $4",
        )
        .bind(tenant.as_str())
        .bind(endpoint.as_str())
        .bind(millis(since))
        .bind(millis(until))
        .bind(millis(now))
        .bind(delivery_ids_from(since))
        .bind(delivery_ids_before(until))
        .execute(&mut *tx)
        .await?;
        Self::notify_in(&mut tx, done.rows_affected() > 0).await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }
}

/// Tenants to leave aside in a claim, as the JSON array of their ids that `CLAIM_SQL` and
/// `NEXT_DUE_SQL` take.
fn tenant_list(tenants: &[TenantId]) -> String {
    serde_json::to_string(&tenants.iter().map(TenantId::as_str).collect::<Vec<_>>())
        .unwrap_or_else(|_| "[]".into())
}

/// Pairs claimed deliveries with their events and endpoints.
fn assemble_jobs(
    deliveries: Vec<Delivery>,
    events: Vec<Event>,
    endpoints: Vec<Endpoint>,
    lease: &LeaseToken,
    lease_until: Timestamp,
) -> Vec<Job> {
    let events: HashMap<GeneratedEventId, Arc<Event>> =
        events.into_iter().map(|e| (e.key.clone(), Arc::new(e))).collect();
    let endpoints: HashMap<EndpointId, Arc<Endpoint>> =
        endpoints.into_iter().map(|e| (e.id.clone(), Arc::new(e))).collect();
    deliveries
        .into_iter()
        .filter_map(|delivery| {
            let event = events.get(&delivery.event_key)?.clone();
            let endpoint = endpoints.get(&delivery.endpoint_id).cloned();
            Some(Job { delivery, event, endpoint, lease: lease.clone(), lease_until })
        })
        .collect()
}
