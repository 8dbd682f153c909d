//! Rows as the database returns them, and their conversion to domain values. Shared by both
//! backends: the columns are the same in both dialects (times as Unix milliseconds, JSON as
//! text), which is what lets `sql.rs` hold one copy of the queries.

use herald_core::Timestamp;
use herald_core::api_key::{ApiKey, KeyHash, Scope};
use herald_core::endpoint::{Endpoint, EndpointSpec};
use herald_core::event_type::{EventSchema, EventType, EventTypeName};
use herald_core::id::{ApiKeyId, EndpointId, TenantId};
use herald_core::metadata::Metadata;
use herald_core::tenant::{Tenant, TenantUid};
use serde_json::Value;

use crate::{Result, StoreError};

pub(crate) fn millis(t: Timestamp) -> i64 {
    t.as_millisecond()
}

fn corrupt(table: &'static str, detail: impl ToString) -> StoreError {
    StoreError::Corrupt { table, detail: detail.to_string() }
}

fn timestamp(table: &'static str, ms: i64) -> Result<Timestamp> {
    Timestamp::from_millisecond(ms).map_err(|e| corrupt(table, e))
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> String {
    // Serializing our own domain types to JSON cannot fail (string keys, no custom errors).
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

#[derive(sqlx::FromRow)]
pub(crate) struct TenantRow {
    id: String,
    uid: Option<String>,
    name: String,
    metadata: String,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<TenantRow> for Tenant {
    type Error = StoreError;
    fn try_from(r: TenantRow) -> Result<Self> {
        const T: &str = "tenants";
        Ok(Tenant {
            id: TenantId::parse(&r.id).map_err(|e| corrupt(T, e))?,
            uid: r.uid.as_deref().map(TenantUid::parse).transpose().map_err(|e| corrupt(T, e))?,
            name: r.name,
            metadata: serde_json::from_str::<Metadata>(&r.metadata).map_err(|e| corrupt(T, e))?,
            created_at: timestamp(T, r.created_at)?,
            updated_at: timestamp(T, r.updated_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ApiKeyRow {
    id: String,
    tenant_id: Option<String>,
    name: String,
    prefix: String,
    key_hash: String,
    created_at: i64,
}

impl TryFrom<ApiKeyRow> for ApiKey {
    type Error = StoreError;
    fn try_from(r: ApiKeyRow) -> Result<Self> {
        const T: &str = "api_keys";
        let scope = match r.tenant_id {
            None => Scope::Admin,
            Some(t) => Scope::Tenant(TenantId::parse(&t).map_err(|e| corrupt(T, e))?),
        };
        Ok(ApiKey {
            id: ApiKeyId::parse(&r.id).map_err(|e| corrupt(T, e))?,
            scope,
            name: r.name,
            prefix: r.prefix,
            hash: KeyHash::from_stored(r.key_hash),
            created_at: timestamp(T, r.created_at)?,
        })
    }
}

pub(crate) fn scope_tenant(scope: &Scope) -> Option<String> {
    match scope {
        Scope::Admin => None,
        Scope::Tenant(t) => Some(t.to_string()),
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct EventTypeRow {
    name: String,
    label: String,
    description: String,
    schema: Option<String>,
    example: Option<String>,
    deprecated: bool,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<EventTypeRow> for EventType {
    type Error = StoreError;
    fn try_from(r: EventTypeRow) -> Result<Self> {
        const T: &str = "event_types";
        let schema = r
            .schema
            .as_deref()
            .map(serde_json::from_str::<EventSchema>)
            .transpose()
            .map_err(|e| corrupt(T, e))?;
        let example =
            r.example.as_deref().map(serde_json::from_str::<Value>).transpose().map_err(|e| corrupt(T, e))?;
        Ok(EventType {
            name: EventTypeName::parse(&r.name).map_err(|e| corrupt(T, e))?,
            label: r.label,
            description: r.description,
            schema,
            example,
            deprecated: r.deprecated,
            created_at: timestamp(T, r.created_at)?,
            updated_at: timestamp(T, r.updated_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct EndpointRow {
    id: String,
    tenant_id: String,
    spec: String,
    enabled: bool,
    disabled_reason: Option<String>,
    sealed_credentials: Vec<u8>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<EndpointRow> for Endpoint {
    type Error = StoreError;
    fn try_from(r: EndpointRow) -> Result<Self> {
        const T: &str = "endpoints";
        Ok(Endpoint {
            id: EndpointId::parse(&r.id).map_err(|e| corrupt(T, e))?,
            tenant_id: TenantId::parse(&r.tenant_id).map_err(|e| corrupt(T, e))?,
            spec: serde_json::from_str::<EndpointSpec>(&r.spec).map_err(|e| corrupt(T, e))?,
            enabled: r.enabled,
            disabled_reason: r.disabled_reason,
            sealed_credentials: r.sealed_credentials,
            created_at: timestamp(T, r.created_at)?,
            updated_at: timestamp(T, r.updated_at)?,
        })
    }
}

/// Converts fetched rows, failing on the first that does not decode.
pub(crate) fn convert<R, T: TryFrom<R, Error = StoreError>>(rows: Vec<R>) -> Result<Vec<T>> {
    rows.into_iter().map(T::try_from).collect()
}
