//! The event log and the delivery log: publishing an event with its deliveries, or with a
//! fan-out marker whose deliveries follow (`expand_fanout`; `claim_fanouts` takes over those a
//! dead process left), through the group-commit writer (`batch/`); and reading events, deliveries and their attempts. Events and
//! deliveries page newest first by their sortable ids; attempts list oldest first.

use herald_core::Timestamp;
use herald_core::delivery::{Attempt, Delivery};
use herald_core::event::{Event, EventId};
use herald_core::id::{DeliveryId, GeneratedEventId, TenantId};

use crate::batch::Write;
use crate::dialect::{Dialect, PoolOf, for_each_backend};
use crate::rows::{AttemptRow, DeliveryRow, EventRow, columns, convert, millis};
use crate::{
    Committing, DeliveryFilter, EventFilter, Lease, LeaseToken, Page, PageRequest, Published, Result,
};

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

    /// The tenant's event with this public id, read through `pool` (the group-commit writer
    /// reads the event a publish collided with on its own connection).
    pub(crate) async fn event_by_id(
        pool: &PoolOf<Self>,
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
        .fetch_optional(pool)
        .await?;
        row.map(TryInto::try_into).transpose()
    }

    pub(crate) async fn list_events(
        &self,
        tenant: &TenantId,
        filter: &EventFilter,
        page: &PageRequest,
    ) -> Result<Page<Event>> {
        let rows = sqlx::query_as::<_, EventRow>(concat!(
            "SELECT ",
            columns!(events),
            " FROM events
             WHERE tenant_id = $1 AND ($2 IS NULL OR event_key < $2) AND ($3 IS NULL OR event_type = $3)
               AND ($4 IS NULL OR created_at >= $4) AND ($5 IS NULL OR created_at < $5)
             ORDER BY event_key DESC LIMIT $6"
        ))
        .bind(tenant.as_str())
        .bind(page.cursor.as_deref())
        .bind(filter.event_type.as_ref().map(|t| t.as_str()))
        .bind(filter.since.map(millis))
        .bind(filter.until.map(millis))
        .bind(i64::from(page.limit) + 1)
        .fetch_all(self.reader())
        .await?;
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
        let rows = sqlx::query_as::<_, DeliveryRow>(concat!(
            "SELECT ",
            columns!(deliveries),
            " FROM deliveries
             WHERE tenant_id = $1 AND ($2 IS NULL OR id < $2) AND ($3 IS NULL OR endpoint_id = $3)
               AND ($4 IS NULL OR event_id = $4) AND ($5 IS NULL OR status = $5)
               AND ($6 IS NULL OR created_at >= $6) AND ($7 IS NULL OR created_at < $7)
               AND ($8 IS NULL OR EXISTS (SELECT 1 FROM events
                    WHERE events.event_key = deliveries.event_key AND events.event_type = $8))
             ORDER BY id DESC LIMIT $9"
        ))
        .bind(tenant.as_str())
        .bind(page.cursor.as_deref())
        .bind(filter.endpoint_id.as_ref().map(|e| e.as_str()))
        .bind(filter.event_id.as_ref().map(|e| e.as_str()))
        .bind(filter.status.map(|s| s.as_str()))
        .bind(filter.since.map(millis))
        .bind(filter.until.map(millis))
        .bind(filter.event_type.as_ref().map(|t| t.as_str()))
        .bind(i64::from(page.limit) + 1)
        .fetch_all(self.reader())
        .await?;
        let items = convert(rows)?;
        Ok(Page::from_overfetch(items, page.limit, |d: &Delivery| d.id.to_string()))
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
