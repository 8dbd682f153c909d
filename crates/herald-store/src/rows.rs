//! Rows as the database returns them, and their conversion to domain values. Shared by both
//! backends: the columns are the same in both dialects (times as Unix milliseconds, JSON as
//! text), which is what lets the aggregate modules hold one copy of the queries.
//!
//! Each row struct reads exactly the columns `columns!` lists for its table; queries name
//! them instead of `SELECT *`, so a column added by a migration changes no query's result.

use herald_core::Timestamp;
use herald_core::api_key::{ApiKey, KeyHash, Scope};
use herald_core::endpoint::{Endpoint, EndpointSpec};
use herald_core::event_type::{EventSchema, EventType, EventTypeName};
use herald_core::id::{ApiKeyId, EndpointId, TenantId};
use herald_core::metadata::Metadata;
use herald_core::portal::{AccentColor, BrandName, Branding, LogoUrl};
use herald_core::session::{Session, Viewer};
use herald_core::tenant::{Tenant, TenantLimits, TenantUid};
use serde_json::Value;

use crate::{Result, StoreError};

pub(crate) fn millis(t: Timestamp) -> i64 {
    t.as_millisecond()
}

pub(crate) fn corrupt(table: &'static str, detail: impl ToString) -> StoreError {
    StoreError::Corrupt { table, detail: detail.to_string() }
}

fn timestamp(table: &'static str, ms: i64) -> Result<Timestamp> {
    Timestamp::from_millisecond(ms).map_err(|e| corrupt(table, e))
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> String {
    // Serializing our own domain types to JSON cannot fail (string keys, no custom errors).
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

/// The column list of a table as its row struct reads it, as a literal for `concat!`:
/// `concat!("SELECT ", columns!(tenants), " FROM tenants WHERE id = $1")`.
macro_rules! columns {
    (tenants) => {
        "id, uid, name, metadata, created_at, updated_at, max_in_flight, publish_per_second, retention_days"
    };
    (api_keys) => {
        "id, tenant_id, name, prefix, key_hash, created_at"
    };
    (event_types) => {
        "name, label, description, schema, example, deprecated, created_at, updated_at"
    };
    (endpoints) => {
        "id, tenant_id, spec, enabled, disabled_reason, sealed_credentials, created_at, updated_at, version,
         failing_since, circuit_probe_at, circuit_failed_probes, circuit_changed_at, handshake"
    };
    (events) => {
        "event_key, tenant_id, id, event_type, data, subject, source, created_at, traceparent, payload_removed_at, headers"
    };
    (deliveries) => {
        "id, tenant_id, event_key, event_id, endpoint_id, status, attempt_count, next_attempt_at,
         last_attempt_at, failure_reason, next_trigger, created_at, updated_at"
    };
    (ui_sessions) => {
        "token_hash, tenant_id, api_key_id, brand_name, brand_logo_url, brand_accent_color, created_at,
         expires_at"
    };
    (attempts) => {
        "id, delivery_id, tenant_id, endpoint_id, attempt_no, trigger_kind, started_at, duration_ms, request,
         response_status, response_headers, response_body, error_kind, error_message"
    };
}

pub(crate) use columns;

#[derive(sqlx::FromRow)]
pub(crate) struct TenantRow {
    id: String,
    uid: Option<String>,
    name: String,
    metadata: String,
    created_at: i64,
    updated_at: i64,
    max_in_flight: Option<i64>,
    publish_per_second: Option<i64>,
    retention_days: Option<i64>,
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
            limits: TenantLimits {
                max_in_flight: r.max_in_flight.map(u32::try_from).transpose().map_err(|e| corrupt(T, e))?,
                publish_per_second: r
                    .publish_per_second
                    .map(u32::try_from)
                    .transpose()
                    .map_err(|e| corrupt(T, e))?,
                retention_days: r.retention_days.map(u32::try_from).transpose().map_err(|e| corrupt(T, e))?,
            },
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
    version: i64,
    failing_since: Option<i64>,
    circuit_probe_at: Option<i64>,
    circuit_failed_probes: i64,
    circuit_changed_at: Option<i64>,
    handshake: Option<String>,
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
            version: u64::try_from(r.version).map_err(|e| corrupt(T, e))?,
            health: herald_core::circuit::Health {
                failing_since: r.failing_since.map(|ms| timestamp(T, ms)).transpose()?,
                probe_at: r.circuit_probe_at.map(|ms| timestamp(T, ms)).transpose()?,
                failed_probes: u32::try_from(r.circuit_failed_probes).map_err(|e| corrupt(T, e))?,
                changed_at: r.circuit_changed_at.map(|ms| timestamp(T, ms)).transpose()?,
            },
            handshake: r
                .handshake
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .map_err(|e| corrupt(T, e))?,
        })
    }
}

/// Converts fetched rows, failing on the first that does not decode.
pub(crate) fn convert<R, T: TryFrom<R, Error = StoreError>>(rows: Vec<R>) -> Result<Vec<T>> {
    rows.into_iter().map(T::try_from).collect()
}

#[derive(sqlx::FromRow)]
pub(crate) struct EventRow {
    event_key: String,
    tenant_id: String,
    id: String,
    event_type: String,
    data: String,
    subject: Option<String>,
    source: Option<String>,
    created_at: i64,
    traceparent: Option<String>,
    payload_removed_at: Option<i64>,
    headers: Option<String>,
}

impl TryFrom<EventRow> for herald_core::event::Event {
    type Error = StoreError;
    fn try_from(r: EventRow) -> Result<Self> {
        const T: &str = "events";
        Ok(herald_core::event::Event {
            key: herald_core::id::GeneratedEventId::parse(&r.event_key).map_err(|e| corrupt(T, e))?,
            id: herald_core::event::EventId::parse(&r.id).map_err(|e| corrupt(T, e))?,
            tenant_id: TenantId::parse(&r.tenant_id).map_err(|e| corrupt(T, e))?,
            event_type: EventTypeName::parse(&r.event_type).map_err(|e| corrupt(T, e))?,
            data: serde_json::from_str(&r.data).map_err(|e| corrupt(T, e))?,
            subject: r.subject,
            source: r.source,
            traceparent: r.traceparent.as_deref().and_then(herald_core::trace::TraceParent::parse),
            payload_removed_at: r.payload_removed_at.map(|ms| timestamp(T, ms)).transpose()?,
            headers: r
                .headers
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .map_err(|e| corrupt(T, e))?
                .unwrap_or_default(),
            created_at: timestamp(T, r.created_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct DeliveryRow {
    id: String,
    tenant_id: String,
    event_key: String,
    event_id: String,
    endpoint_id: String,
    status: String,
    attempt_count: i64,
    next_attempt_at: Option<i64>,
    last_attempt_at: Option<i64>,
    failure_reason: Option<String>,
    next_trigger: String,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<DeliveryRow> for herald_core::delivery::Delivery {
    type Error = StoreError;
    fn try_from(r: DeliveryRow) -> Result<Self> {
        const T: &str = "deliveries";
        Ok(herald_core::delivery::Delivery {
            id: herald_core::id::DeliveryId::parse(&r.id).map_err(|e| corrupt(T, e))?,
            tenant_id: TenantId::parse(&r.tenant_id).map_err(|e| corrupt(T, e))?,
            event_key: herald_core::id::GeneratedEventId::parse(&r.event_key).map_err(|e| corrupt(T, e))?,
            event_id: herald_core::event::EventId::parse(&r.event_id).map_err(|e| corrupt(T, e))?,
            endpoint_id: EndpointId::parse(&r.endpoint_id).map_err(|e| corrupt(T, e))?,
            status: r.status.parse().map_err(|e: String| corrupt(T, e))?,
            attempt_count: u32::try_from(r.attempt_count).map_err(|e| corrupt(T, e))?,
            next_attempt_at: r.next_attempt_at.map(|ms| timestamp(T, ms)).transpose()?,
            next_trigger: r.next_trigger.parse().map_err(|e: String| corrupt(T, e))?,
            last_attempt_at: r.last_attempt_at.map(|ms| timestamp(T, ms)).transpose()?,
            failure_reason: r
                .failure_reason
                .map(|text| text.parse())
                .transpose()
                .map_err(|e| corrupt(T, e))?,
            created_at: timestamp(T, r.created_at)?,
            updated_at: timestamp(T, r.updated_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct AttemptRow {
    id: String,
    delivery_id: String,
    tenant_id: String,
    endpoint_id: String,
    attempt_no: i64,
    trigger_kind: String,
    started_at: i64,
    duration_ms: i64,
    request: String,
    response_status: Option<i64>,
    response_headers: Option<String>,
    response_body: Option<String>,
    error_kind: Option<String>,
    error_message: Option<String>,
}

impl TryFrom<AttemptRow> for herald_core::delivery::Attempt {
    type Error = StoreError;
    fn try_from(r: AttemptRow) -> Result<Self> {
        const T: &str = "attempts";
        Ok(herald_core::delivery::Attempt {
            id: herald_core::id::AttemptId::parse(&r.id).map_err(|e| corrupt(T, e))?,
            delivery_id: herald_core::id::DeliveryId::parse(&r.delivery_id).map_err(|e| corrupt(T, e))?,
            tenant_id: TenantId::parse(&r.tenant_id).map_err(|e| corrupt(T, e))?,
            endpoint_id: EndpointId::parse(&r.endpoint_id).map_err(|e| corrupt(T, e))?,
            attempt_no: u32::try_from(r.attempt_no).map_err(|e| corrupt(T, e))?,
            trigger: r.trigger_kind.parse().map_err(|e: String| corrupt(T, e))?,
            started_at: timestamp(T, r.started_at)?,
            duration_ms: u64::try_from(r.duration_ms).map_err(|e| corrupt(T, e))?,
            request: serde_json::from_str(&r.request).map_err(|e| corrupt(T, e))?,
            response_status: r.response_status.map(u16::try_from).transpose().map_err(|e| corrupt(T, e))?,
            response_headers: r
                .response_headers
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .map_err(|e| corrupt(T, e))?
                .unwrap_or_default(),
            response_body: r.response_body,
            error_kind: r.error_kind.map(|k| k.parse()).transpose().map_err(|e: String| corrupt(T, e))?,
            error_message: r.error_message,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct IdempotencyRow {
    pub(crate) request_hash: String,
    pub(crate) status: Option<i64>,
    pub(crate) content_type: Option<String>,
    pub(crate) body: Option<Vec<u8>>,
}

/// The `brand_*` columns of `ui_sessions` and `ui_portal_links`: `brand_name` NULL is no branding.
#[derive(sqlx::FromRow)]
pub(crate) struct BrandingColumns {
    brand_name: Option<String>,
    brand_logo_url: Option<String>,
    brand_accent_color: Option<String>,
}

impl BrandingColumns {
    fn into_branding(self, table: &'static str) -> Result<Option<Branding>> {
        let Some(name) = self.brand_name else { return Ok(None) };
        Ok(Some(Branding {
            name: BrandName::parse(&name).map_err(|e| corrupt(table, e))?,
            logo_url: self
                .brand_logo_url
                .map(|u| LogoUrl::parse(&u))
                .transpose()
                .map_err(|e| corrupt(table, e))?,
            accent_color: self
                .brand_accent_color
                .map(|c| AccentColor::parse(&c))
                .transpose()
                .map_err(|e| corrupt(table, e))?,
        }))
    }
}

/// A branding as the `brand_*` columns bind it: name, logo URL, accent colour.
pub(crate) fn branding_columns(b: Option<&Branding>) -> (Option<&str>, Option<&str>, Option<String>) {
    (
        b.map(|b| b.name.as_str()),
        b.and_then(|b| b.logo_url.as_ref()).map(LogoUrl::as_str),
        b.and_then(|b| b.accent_color).map(|c| c.to_string()),
    )
}

#[derive(sqlx::FromRow)]
pub(crate) struct SessionRow {
    token_hash: String,
    tenant_id: Option<String>,
    api_key_id: Option<String>,
    #[sqlx(flatten)]
    branding: BrandingColumns,
    created_at: i64,
    expires_at: i64,
}

impl TryFrom<SessionRow> for Session {
    type Error = StoreError;
    fn try_from(r: SessionRow) -> Result<Self> {
        const T: &str = "ui_sessions";
        let key = r.api_key_id.map(|k| ApiKeyId::parse(&k).map_err(|e| corrupt(T, e))).transpose()?;
        let viewer = match (r.tenant_id, key) {
            (Some(t), key) => Viewer::Tenant { tenant: TenantId::parse(&t).map_err(|e| corrupt(T, e))?, key },
            (None, Some(key)) => Viewer::Operator { key },
            (None, None) => return Err(corrupt(T, "an operator session without its key")),
        };
        Ok(Session {
            hash: KeyHash::from_stored(r.token_hash),
            viewer,
            branding: r.branding.into_branding(T)?,
            created_at: timestamp(T, r.created_at)?,
            expires_at: timestamp(T, r.expires_at)?,
        })
    }
}

/// A bulk retry as stored.
#[derive(sqlx::FromRow)]
pub(crate) struct BulkRetryRow {
    id: String,
    tenant_id: String,
    filter: String,
    cursor: String,
    retried: i64,
    total: Option<i64>,
    created_at: i64,
    updated_at: i64,
    finished_at: Option<i64>,
}

impl TryFrom<BulkRetryRow> for crate::BulkRetry {
    type Error = StoreError;
    fn try_from(r: BulkRetryRow) -> Result<Self> {
        const T: &str = "bulk_retries";
        Ok(Self {
            id: herald_core::id::BulkRetryId::parse(&r.id).map_err(|e| corrupt(T, e))?,
            tenant_id: TenantId::parse(&r.tenant_id).map_err(|e| corrupt(T, e))?,
            filter: r.filter,
            cursor: r.cursor,
            retried: r.retried.max(0) as u64,
            total: r.total.map(|n| n.max(0) as u64),
            created_at: timestamp(T, r.created_at)?,
            updated_at: timestamp(T, r.updated_at)?,
            finished_at: r.finished_at.map(|ms| timestamp(T, ms)).transpose()?,
        })
    }
}

/// What opening a portal link reads of it.
#[derive(sqlx::FromRow)]
pub(crate) struct PortalLinkRow {
    tenant_id: String,
    #[sqlx(flatten)]
    branding: BrandingColumns,
}

impl PortalLinkRow {
    /// The link's tenant and branding.
    pub(crate) fn into_parts(self) -> Result<(TenantId, Option<Branding>)> {
        const T: &str = "ui_portal_links";
        Ok((TenantId::parse(&self.tenant_id).map_err(|e| corrupt(T, e))?, self.branding.into_branding(T)?))
    }
}

/// An event's headers as stored: a JSON object, or NULL when it has none.
pub(crate) fn headers_json(headers: &herald_core::event::EventHeaders) -> Option<String> {
    (!headers.is_empty()).then(|| serde_json::to_string(headers).unwrap_or_default())
}
