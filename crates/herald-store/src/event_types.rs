//! The event type catalog. Listed by name, not by age: it is a catalog, not a log.

use herald_core::event_type::{EventType, EventTypeName};

use crate::dialect::{Dialect, for_each_backend};
use crate::rows::{EventTypeRow, columns, convert, millis, to_json};
use crate::{Page, PageRequest, Result, conflict_as};

for_each_backend! {
    pub(crate) async fn insert_event_type(&self, e: &EventType) -> Result<()> {
        sqlx::query(
            "INSERT INTO event_types
               (name, label, description, schema, example, deprecated, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(e.name.as_str())
        .bind(&e.label)
        .bind(&e.description)
        .bind(e.schema.as_ref().map(to_json))
        .bind(e.example.as_ref().map(to_json))
        .bind(e.deprecated)
        .bind(millis(e.created_at))
        .bind(millis(e.updated_at))
        .execute(self.writer())
        .await
        .map_err(conflict_as("event type name"))?;
        Ok(())
    }

    pub(crate) async fn event_type(&self, name: &EventTypeName) -> Result<Option<EventType>> {
        let row = sqlx::query_as::<_, EventTypeRow>(concat!(
            "SELECT ",
            columns!(event_types),
            " FROM event_types WHERE name = $1"
        ))
        .bind(name.as_str())
        .fetch_optional(self.reader())
        .await?;
        row.map(TryInto::try_into).transpose()
    }

    pub(crate) async fn list_event_types(
        &self,
        page: &PageRequest,
        include_deprecated: bool,
    ) -> Result<Page<EventType>> {
        let rows = sqlx::query_as::<_, EventTypeRow>(concat!(
            "SELECT ",
            columns!(event_types),
            " FROM event_types
             WHERE ($1 IS NULL OR name > $1) AND ($2 OR NOT deprecated)
             ORDER BY name LIMIT $3"
        ))
        .bind(page.cursor.as_deref())
        .bind(include_deprecated)
        .bind(i64::from(page.limit) + 1)
        .fetch_all(self.reader())
        .await?;
        let items = convert(rows)?;
        Ok(Page::from_overfetch(items, page.limit, |e: &EventType| e.name.to_string()))
    }

    pub(crate) async fn update_event_type(&self, e: &EventType) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE event_types SET label = $2, description = $3, schema = $4, example = $5,
               deprecated = $6, updated_at = $7
             WHERE name = $1",
        )
        .bind(e.name.as_str())
        .bind(&e.label)
        .bind(&e.description)
        .bind(e.schema.as_ref().map(to_json))
        .bind(e.example.as_ref().map(to_json))
        .bind(e.deprecated)
        .bind(millis(e.updated_at))
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub(crate) async fn delete_event_type(&self, name: &EventTypeName) -> Result<bool> {
        let done = sqlx::query("DELETE FROM event_types WHERE name = $1")
            .bind(name.as_str())
            .execute(self.writer())
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
