//! The event log and the delivery log: publishing an event with its deliveries, or with a
//! fan-out marker whose deliveries follow (`expand_fanout`; `claim_fanouts` takes over those a
//! dead process left), through the group-commit writer (`batch/`); and reading events, deliveries and their attempts. Events and
//! deliveries page newest first by their sortable ids; attempts list oldest first.

use herald_core::Timestamp;
use herald_core::delivery::{Attempt, Delivery};
use herald_core::event::{Event, EventId};
use herald_core::id::{DeliveryId, GeneratedEventId, TenantId};

use crate::batch::Write;
use crate::dialect::{DbOf, Dialect, for_each_backend};
use crate::rows::{AttemptRow, DeliveryRow, EventRow, columns, convert, millis};
use crate::{
    Committing, DeliveryFilter, EventFilter, Lease, LeaseToken, Page, PageRequest, Published, Result,
};

/// How far an id's time may run ahead of its row's `created_at`. An event's key and a
/// delivery's id carry the row's `created_at` (a subscriber's delivery, even one a fan-out writes
/// later, is created with its event and carries the event's key's time); only a clock stepping
/// back can stamp one later, by the step. So a row created before `t` has an id below the first
/// id of `t` plus this slack, which bounds the log's walk when a time range ends in the past.
const ID_CLOCK_SLACK: std::time::Duration = std::time::Duration::from_secs(600);

/// The smallest id of a delivery created at `since` or later (see [`ID_CLOCK_SLACK`]).
/// Statements bounded by it keep their `created_at` condition; the bound lets them read an index
/// keyed by id, such as the endpoint's `(endpoint_id, id)`, from `since` on.
pub(crate) fn delivery_ids_from(since: Timestamp) -> String {
    DeliveryId::first_at(since).to_string()
}

/// An id above every id of a delivery created before `until` (see [`ID_CLOCK_SLACK`]).
pub(crate) fn delivery_ids_before(until: Timestamp) -> String {
    DeliveryId::first_at(herald_core::time::add(until, ID_CLOCK_SLACK)).to_string()
}

/// An event type with at most this many events in a tenant's log is rare: the delivery log
/// filtered by it is read from those events' deliveries, not by walking the whole log.
const RARE_TYPE: i64 = 2000;

for_each_backend! {
    /// Hands the event and its deliveries to the group-commit writer and waits for the commit.
    pub(crate) async fn publish(
        &self,
        event: &Event,
        deliveries: &[Delivery],
        lease: Option<&Lease>,
    ) -> Result<Published> {
        self.publish_write(event, deliveries.to_vec(), lease, None).await
    }

    /// Hands the event and a fan-out marker leased under `marker` to the group-commit writer
    /// and waits for the commit.
    pub(crate) async fn publish_fanout(&self, event: &Event, marker: &Lease) -> Result<Published> {
        self.publish_write(event, Vec::new(), None, Some(marker)).await
    }

    async fn publish_write(
        &self,
        event: &Event,
        deliveries: Vec<Delivery>,
        lease: Option<&Lease>,
        fanout: Option<&Lease>,
    ) -> Result<Published> {
        self.batch_writer()
            .commit("a publish", |reply| Write::Publish {
                event: event.clone(),
                deliveries,
                lease: lease.cloned(),
                fanout: fanout.cloned(),
                reply,
            })
            .await
    }

    /// Hands a fan-out's deliveries to the group-commit writer and waits for the commit.
    pub(crate) async fn expand_fanout(
        &self,
        event_key: &GeneratedEventId,
        marker: &LeaseToken,
        deliveries: Vec<Delivery>,
        lease: Option<&Lease>,
    ) -> Result<Committing<bool>> {
        self.batch_writer()
            .queue("a fan-out", |reply| Write::Expand {
                event_key: event_key.clone(),
                marker: marker.clone(),
                deliveries,
                lease: lease.cloned(),
                reply,
            })
            .await
    }

    /// Leases up to `limit` fan-outs whose lease ran out and returns their events.
    pub(crate) async fn claim_fanouts(
        &self,
        marker: &Lease,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<Event>> {
        let keys: Vec<(String,)> = sqlx::query_as(Self::FANOUT_CLAIM_SQL)
            .bind(marker.token.as_str())
            .bind(millis(now))
            .bind(millis(marker.until))
            .bind(i64::from(limit))
            .fetch_all(self.writer())
            .await?;
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let select = concat!("SELECT ", columns!(events), " FROM events WHERE event_key");
        convert(Self::rows_in::<EventRow>(self.writer(), select, keys.into_iter().map(|(key,)| key)).await?)
    }

    pub(crate) async fn event(&self, tenant: &TenantId, id: &EventId) -> Result<Option<Event>> {
        Self::event_by_id(self.reader(), tenant, id).await
    }

    /// The tenant's event with this public id, read through `executor` (the group-commit writer
    /// reads the event a publish collided with on its own connection).
    pub(crate) async fn event_by_id<'c>(
        executor: impl sqlx::Executor<'c, Database = DbOf<Self>>,
        tenant: &TenantId,
        id: &EventId,
    ) -> Result<Option<Event>> {
        let row = sqlx::query_as::<_, EventRow>(concat!(
            "SELECT ",
            columns!(events),
            " FROM events WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant.as_str())
        .bind(id.as_str())
        .fetch_optional(executor)
        .await?;
        row.map(TryInto::try_into).transpose()
    }

    pub(crate) async fn list_events(
        &self,
        tenant: &TenantId,
        filter: &EventFilter,
        page: &PageRequest,
    ) -> Result<Page<Event>> {
        // Only the filters given are in the statement, so the planner uses the index each has.
        let mut q = sqlx::QueryBuilder::<DbOf<Self>>::new(concat!(
            "SELECT ",
            columns!(events),
            " FROM events WHERE tenant_id = "
        ));
        q.push_bind(tenant.as_str().to_owned());
        if let Some(cursor) = &page.cursor {
            q.push(" AND event_key < ").push_bind(cursor.clone());
        }
        if let Some(event_type) = &filter.event_type {
            q.push(" AND event_type = ").push_bind(event_type.as_str().to_owned());
        }
        if let Some(since) = filter.since {
            q.push(" AND created_at >= ").push_bind(millis(since));
        }
        if let Some(until) = filter.until {
            q.push(" AND created_at < ").push_bind(millis(until));
            let bound = GeneratedEventId::first_at(herald_core::time::add(until, ID_CLOCK_SLACK));
            q.push(" AND event_key < ").push_bind(bound.to_string());
        }
        q.push(" ORDER BY event_key DESC LIMIT ").push_bind(i64::from(page.limit) + 1);
        let rows = q.build_query_as::<EventRow>().fetch_all(self.reader()).await?;
        let items = convert(rows)?;
        Ok(Page::from_overfetch(items, page.limit, |e: &Event| e.key.to_string()))
    }

    pub(crate) async fn deliveries_of_event(&self, event_key: &GeneratedEventId) -> Result<Vec<Delivery>> {
        let rows = sqlx::query_as::<_, DeliveryRow>(concat!(
            "SELECT ",
            columns!(deliveries),
            " FROM deliveries WHERE event_key = $1 ORDER BY id"
        ))
        .bind(event_key.as_str())
        .fetch_all(self.reader())
        .await?;
        convert(rows)
    }

    pub(crate) async fn delivery(&self, tenant: &TenantId, id: &DeliveryId) -> Result<Option<Delivery>> {
        let row = sqlx::query_as::<_, DeliveryRow>(concat!(
            "SELECT ",
            columns!(deliveries),
            " FROM deliveries WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant.as_str())
        .bind(id.as_str())
        .fetch_optional(self.reader())
        .await?;
        row.map(TryInto::try_into).transpose()
    }

    pub(crate) async fn list_deliveries(
        &self,
        tenant: &TenantId,
        filter: &DeliveryFilter,
        page: &PageRequest,
    ) -> Result<Page<Delivery>> {
        let head = concat!("SELECT ", columns!(deliveries), " FROM deliveries WHERE ");
        let Some((mut q, by_events)) = self.select_deliveries(head, tenant, filter, page.cursor.as_deref()).await?
        else {
            return Ok(Page { items: Vec::new(), next_cursor: None });
        };
        // One event's deliveries, or a rare type's, are few: sorting them beats walking the log
        // in id order, which the planner would pick for a plain `ORDER BY id` (the expression
        // keeps it from using the index for the order).
        if by_events {
            q.push(" ORDER BY id || '' DESC LIMIT ");
        } else {
            q.push(" ORDER BY id DESC LIMIT ");
        }
        q.push_bind(i64::from(page.limit) + 1);
        let rows = q.build_query_as::<DeliveryRow>().fetch_all(self.reader()).await?;
        let items = convert(rows)?;
        Ok(Page::from_overfetch(items, page.limit, |d: &Delivery| d.id.to_string()))
    }

    /// How many deliveries `filter` selects.
    pub(crate) async fn count_deliveries(&self, tenant: &TenantId, filter: &DeliveryFilter) -> Result<u64> {
        let head = "SELECT COUNT(*) FROM deliveries WHERE ";
        let Some((mut q, _)) = self.select_deliveries(head, tenant, filter, None).await? else { return Ok(0) };
        let (count,): (i64,) = q.build_query_as().fetch_one(self.reader()).await?;
        Ok(count.max(0) as u64)
    }

    /// `head` (`SELECT … FROM deliveries WHERE `) followed by the conditions of `filter` and of
    /// ids below `cursor`, and whether the deliveries are looked up through their events; `None`
    /// when no delivery can match.
    async fn select_deliveries(
        &self,
        head: &'static str,
        tenant: &TenantId,
        filter: &DeliveryFilter,
        cursor: Option<&str>,
    ) -> Result<Option<(sqlx::QueryBuilder<'static, DbOf<Self>>, bool)>> {
        // A rare event type's few events lead to their deliveries; a common type's deliveries
        // are met soon by walking the log, so each is checked as it comes. A type the tenant
        // never published has no deliveries.
        let mut type_events = None;
        if let Some(event_type) = &filter.event_type {
            let (count,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM (SELECT 1 FROM events WHERE tenant_id = $1 AND event_type = $2 LIMIT $3) AS found",
            )
            .bind(tenant.as_str())
            .bind(event_type.as_str())
            .bind(RARE_TYPE + 1)
            .fetch_one(self.reader())
            .await?;
            if count == 0 {
                return Ok(None);
            }
            type_events = Some(count <= RARE_TYPE);
        }
        // Only the filters given are in the statement, so the planner uses the index each has.
        let mut q = sqlx::QueryBuilder::<DbOf<Self>>::new(head);
        let rare_type = filter.event_type.as_ref().filter(|_| type_events == Some(true));
        let by_events = rare_type.is_some() || filter.event_id.is_some();
        if by_events {
            // One event, or a rare type's events, name the deliveries (of this tenant: a
            // delivery's tenant is its event's), looked up by event; a tenant condition here
            // would have the planner walk the tenant's whole log instead.
            q.push("event_key IN (SELECT event_key FROM events WHERE tenant_id = ").push_bind(tenant.as_str().to_owned());
            if let Some(event) = &filter.event_id {
                q.push(" AND id = ").push_bind(event.as_str().to_owned());
            }
            if let Some(event_type) = rare_type {
                q.push(" AND event_type = ").push_bind(event_type.as_str().to_owned());
            }
            q.push(")");
        } else {
            q.push("tenant_id = ").push_bind(tenant.as_str().to_owned());
        }
        if let Some(cursor) = cursor {
            q.push(" AND id < ").push_bind(cursor.to_owned());
        }
        if let Some(endpoint) = &filter.endpoint_id {
            q.push(" AND endpoint_id = ").push_bind(endpoint.as_str().to_owned());
        }
        if let Some(status) = filter.status {
            q.push(" AND status = ").push_bind(status.as_str());
        }
        // The id bounds are implied by the `created_at` conditions (see `ID_CLOCK_SLACK`): the
        // walk starts at `until` instead of at the newest delivery, and stops at `since`.
        if let Some(since) = filter.since {
            q.push(" AND created_at >= ").push_bind(millis(since));
            q.push(" AND id >= ").push_bind(delivery_ids_from(since));
        }
        if let Some(until) = filter.until {
            q.push(" AND created_at < ").push_bind(millis(until));
            q.push(" AND id < ").push_bind(delivery_ids_before(until));
        }
        if let (Some(event_type), Some(false)) = (&filter.event_type, type_events) {
            q.push(" AND EXISTS (SELECT 1 FROM events WHERE events.event_key = deliveries.event_key AND event_type = ")
                .push_bind(event_type.as_str().to_owned())
                .push(")");
        }
        Ok(Some((q, by_events)))
    }

    pub(crate) async fn attempts(&self, delivery: &DeliveryId) -> Result<Vec<Attempt>> {
        let rows = sqlx::query_as::<_, AttemptRow>(concat!(
            "SELECT ",
            columns!(attempts),
            " FROM attempts WHERE delivery_id = $1 ORDER BY id"
        ))
        .bind(delivery.as_str())
        .fetch_all(self.reader())
        .await?;
        convert(rows)
    }
}
