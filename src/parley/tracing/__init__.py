"""OpenTelemetry traces (README, "Traces"): one trace per request across the chat path, job traces linked to the
request that enqueued them, trace ids in the logs.

`setup` builds the tracer provider from `TracingSettings` (OTLP/HTTP export, sampling, resource) and instruments
the database engines and HTTP clients; `asgi` is the server-span middleware; `spans` holds what domains call.
Off (and nearly free) until `PARLEY_TRACING__OTLP_ENDPOINT` is set.
"""

from parley.tracing.spans import (
    TRACE_PARENT_KEY,
    enabled,
    end,
    failed,
    first_token,
    instrument_http_client,
    job_span,
    links_to,
    mark_first_token,
    span,
    start_span,
    trace_parent,
    traced,
    within,
)

__all__ = [
    "TRACE_PARENT_KEY",
    "enabled",
    "end",
    "failed",
    "first_token",
    "instrument_http_client",
    "job_span",
    "links_to",
    "mark_first_token",
    "span",
    "start_span",
    "trace_parent",
    "traced",
    "within",
]
