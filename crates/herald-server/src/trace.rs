//! Spans that follow an event (publish, fan-out, each attempt) and the W3C trace context that
//! links them: a publish's `traceparent` becomes the parent of its spans, and an attempt sends
//! its own span as the receiver's `traceparent`. The spans are exported when the binary installs
//! an OpenTelemetry layer (`traces.otlp_endpoint`); without one, the `traceparent` a publish
//! carried is passed on unchanged.

use herald_core::trace::TraceParent;
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Makes `span` a child of the remote span `parent` names.
pub fn set_parent(span: &tracing::Span, parent: Option<&TraceParent>) {
    let Some(parent) = parent else { return };
    let (Ok(trace_id), Ok(span_id)) =
        (TraceId::from_hex(parent.trace_id()), SpanId::from_hex(parent.parent_id()))
    else {
        return;
    };
    let remote =
        SpanContext::new(trace_id, span_id, TraceFlags::new(parent.flags()), true, TraceState::default());
    span.set_parent(opentelemetry::Context::new().with_remote_span_context(remote));
}

/// The `traceparent` to send from within `span`: the span itself when spans are exported, else
/// what the event carried.
pub fn traceparent(span: &tracing::Span, carried: Option<&TraceParent>) -> Option<TraceParent> {
    let context = span.context();
    let own = context.span().span_context().clone();
    if own.is_valid() {
        return TraceParent::from_parts(
            &own.trace_id().to_string(),
            &own.span_id().to_string(),
            own.trace_flags().to_u8(),
        );
    }
    carried.cloned()
}
