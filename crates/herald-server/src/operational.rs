//! Operational events: what happens to endpoints and deliveries, published as ordinary Herald
//! events to the operator tenant named by `operator.tenant`. The provider subscribes an endpoint
//! of that tenant to them like to any event type, and they are signed, retried and logged the
//! same way.
//!
//! | type | when | data |
//! |---|---|---|
//! | `endpoint.created` / `endpoint.updated` | through the API | tenant, endpoint, url, enabled, description |
//! | `endpoint.deleted` | through the API | tenant, endpoint |
//! | `endpoint.disabled` | by Herald: 410 Gone, or failing for `delivery.disable_after` | tenant, endpoint, url, reason |
//! | `endpoint.recovered` | its circuit closed again after being open | tenant, endpoint, url, failing since |
//! | `delivery.failed` | a delivery gave up (dead-letter: attempts or TTL spent, 410 Gone) | tenant, delivery, event, type, endpoint, reason, attempts |
//!
//! Nothing is emitted about the operator tenant itself, so an operator endpoint that fails cannot
//! feed on its own failures. Emitting happens after the change it reports is committed; a crash
//! in between loses that operational event (never a customer's event).

use std::sync::Arc;

use anyhow::Context as _;
use herald_core::delivery::Delivery;
use herald_core::endpoint::Endpoint;
use herald_core::event::Event;
use herald_core::event_type::{EventSchema, EventType, EventTypeName};
use herald_core::id::TenantId;
use herald_core::tenant::{Tenant, TenantRef};
use herald_store::{Store, StoreError};
use serde_json::{Map, Value, json};

use crate::clock::Clock;
use crate::publish::{NewEvent, Publisher};

/// The operational event types, with what they mean and the schema of their data.
fn catalog() -> Vec<(&'static str, &'static str, Value)> {
    let endpoint = json!({
        "tenantId": {"type": "string"}, "endpointId": {"type": "string"}, "url": {"type": "string"},
    });
    let with = |extra: Value, required: &[&str]| {
        let mut properties = endpoint.as_object().cloned().unwrap_or_default();
        properties.extend(extra.as_object().cloned().unwrap_or_default());
        json!({"type": "object", "properties": properties, "required": required})
    };
    vec![
        (
            "endpoint.created",
            "An endpoint was created through the API.",
            with(
                json!({"enabled": {"type": "boolean"}, "description": {"type": "string"}}),
                &["tenantId", "endpointId", "url"],
            ),
        ),
        (
            "endpoint.updated",
            "An endpoint was changed through the API (including enabling or disabling it by hand).",
            with(
                json!({"enabled": {"type": "boolean"}, "description": {"type": "string"}}),
                &["tenantId", "endpointId", "url"],
            ),
        ),
        (
            "endpoint.deleted",
            "An endpoint was deleted through the API.",
            json!({"type": "object", "properties": {"tenantId": {"type": "string"}, "endpointId": {"type": "string"}},
                   "required": ["tenantId", "endpointId"]}),
        ),
        (
            "endpoint.disabled",
            "Herald disabled an endpoint: it answered 410 Gone, or failed continuously for delivery.disable_after.",
            with(json!({"reason": {"type": "string"}}), &["tenantId", "endpointId", "url", "reason"]),
        ),
        (
            "endpoint.recovered",
            "An endpoint whose circuit was open answered successfully again; its backlog is being delivered.",
            with(json!({"failingSince": {"type": ["string", "null"]}}), &["tenantId", "endpointId", "url"]),
        ),
        (
            "delivery.failed",
            "A delivery gave up (dead-letter): its attempts or TTL were spent, or the endpoint answered 410 Gone.",
            json!({"type": "object", "properties": {
                "tenantId": {"type": "string"}, "deliveryId": {"type": "string"}, "eventId": {"type": "string"},
                "eventType": {"type": "string"}, "endpointId": {"type": "string"}, "reason": {"type": "string"},
                "attempts": {"type": "integer"}},
                "required": ["tenantId", "deliveryId", "eventId", "eventType", "endpointId", "reason", "attempts"]}),
        ),
    ]
}

/// Publishes operational events to the operator tenant (a no-op when none is configured).
#[derive(Debug, Clone, Default)]
pub struct Operational {
    inner: Option<Arc<Inner>>,
}

#[derive(Debug)]
struct Inner {
    tenant: TenantId,
    publisher: Publisher,
}

impl Operational {
    /// Resolves the operator tenant (creating it when a uid names none) and registers the
    /// operational event types that the catalog lacks.
    pub async fn setup(
        config: &crate::Config,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        publisher: Publisher,
    ) -> anyhow::Result<Self> {
        let Some(raw) = config.operator.tenant.as_deref() else { return Ok(Self::default()) };
        let by = TenantRef::parse(raw).context("option `operator.tenant`")?;
        let now = clock.now();
        let tenant = match (store.tenant(&by).await?, &by) {
            (Some(tenant), _) => tenant,
            (None, TenantRef::Uid(uid)) => {
                let tenant = Tenant {
                    id: TenantId::generate_at(now),
                    uid: Some(uid.clone()),
                    name: "Herald operations".into(),
                    metadata: Default::default(),
                    limits: Default::default(),
                    created_at: now,
                    updated_at: now,
                };
                match store.insert_tenant(&tenant).await {
                    Ok(()) => {
                        tracing::info!(tenant.id = %tenant.id, uid = %raw, "created the operator tenant");
                        tenant
                    }
                    // Another instance created it meanwhile.
                    Err(StoreError::Conflict(_)) => {
                        store.tenant(&by).await?.context("the operator tenant vanished")?
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            (None, TenantRef::Id(_)) => anyhow::bail!("option `operator.tenant`: no tenant {raw}"),
        };
        for (name, description, schema) in catalog() {
            let name = EventTypeName::parse(name).map_err(anyhow::Error::msg)?;
            if store.event_type(&name).await?.is_some() {
                continue;
            }
            let event_type = EventType {
                label: name.to_string(),
                name,
                description: description.into(),
                schema: Some(EventSchema::parse(schema).map_err(anyhow::Error::msg)?),
                example: None,
                deprecated: false,
                created_at: now,
                updated_at: now,
            };
            match store.insert_event_type(&event_type).await {
                Ok(()) | Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Self { inner: Some(Arc::new(Inner { tenant: tenant.id, publisher })) })
    }

    /// `endpoint.created` / `endpoint.updated` / `endpoint.disabled` / `endpoint.recovered`
    /// about `endpoint`, with `extra` fields.
    pub async fn endpoint(&self, event_type: &'static str, endpoint: &Endpoint, extra: Value) {
        let mut data = Map::new();
        data.insert("tenantId".into(), json!(endpoint.tenant_id));
        data.insert("endpointId".into(), json!(endpoint.id));
        data.insert("url".into(), json!(endpoint.spec.url.as_str()));
        data.extend(extra.as_object().cloned().unwrap_or_default());
        self.emit(&endpoint.tenant_id, event_type, endpoint.id.as_str(), data).await;
    }

    /// `endpoint.deleted`.
    pub async fn endpoint_deleted(&self, tenant: &TenantId, endpoint: &herald_core::id::EndpointId) {
        let data = json!({"tenantId": tenant, "endpointId": endpoint});
        self.emit(
            tenant,
            "endpoint.deleted",
            endpoint.as_str(),
            data.as_object().cloned().unwrap_or_default(),
        )
        .await;
    }

    /// `delivery.failed`: the delivery of `event` gave up for `reason` after `attempts` attempts.
    pub async fn delivery_failed(
        &self,
        delivery: &Delivery,
        event: &Event,
        reason: herald_core::delivery::FailureReason,
        attempts: u32,
    ) {
        let data = json!({
            "tenantId": delivery.tenant_id, "deliveryId": delivery.id, "eventId": delivery.event_id,
            "eventType": event.event_type, "endpointId": delivery.endpoint_id, "reason": reason,
            "attempts": attempts,
        });
        let subject = delivery.endpoint_id.as_str();
        self.emit(
            &delivery.tenant_id,
            "delivery.failed",
            subject,
            data.as_object().cloned().unwrap_or_default(),
        )
        .await;
    }

    async fn emit(
        &self,
        about: &TenantId,
        event_type: &'static str,
        subject: &str,
        data: Map<String, Value>,
    ) {
        let Some(inner) = &self.inner else { return };
        if about == &inner.tenant {
            return; // never about the operator tenant itself
        }
        if let Err(e) = inner.publish(event_type, subject, data).await {
            tracing::error!(event_type, error = %e, "publishing an operational event failed");
        }
    }
}

impl Inner {
    async fn publish(&self, event_type: &str, subject: &str, data: Map<String, Value>) -> anyhow::Result<()> {
        let new = NewEvent {
            tenant: self.tenant.clone(),
            id: None,
            event_type: EventTypeName::parse(event_type).map_err(anyhow::Error::msg)?,
            data,
            subject: Some(subject.to_owned()),
            source: None,
            traceparent: None,
            headers: Default::default(),
        };
        self.publisher.publish(new).await?;
        Ok(())
    }
}
