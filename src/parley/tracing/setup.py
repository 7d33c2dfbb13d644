"""The tracer provider: built from `TracingSettings` when an OTLP endpoint is configured (or when a test hands in
an exporter), shut down, with its last spans sent, when the app stops.

The provider is the app's own, not OpenTelemetry's process-wide one (which can be set only once per process), so
an app started after another one (tests, `parley serve` reloads) gets the exporter its settings name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.httpx import HTTPX2ClientInstrumentor, HTTPXClientInstrumentor
from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
from opentelemetry.metrics import NoOpMeter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanKind, TraceState
from opentelemetry.util.types import Attributes

from parley.config import TracingSettings
from parley.db import Database
from parley.tracing.spans import installed

_TRACES_PATH = "/v1/traces"


class _RequestsAndJobs(Sampler):
    """Samples new traces (no parent) at `ratio`, except those an outgoing call would start on its own: the
    job workers' polling and the answer checkpoints run SQL every few seconds outside any request, and a trace
    per poll would bury the requests' traces."""

    def __init__(self, ratio: float) -> None:
        self._ratio = TraceIdRatioBased(ratio)
        self._drop = SamplingResult(Decision.DROP)

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        if kind is SpanKind.CLIENT:
            return self._drop
        return self._ratio.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self) -> str:
        return f"RequestsAndJobs{{{self._ratio.get_description()}}}"


class Tracing:
    """The app's tracing while it is on (`start`); with tracing off the app has none at all."""

    def __init__(self, provider: TracerProvider, settings: TracingSettings) -> None:
        self.provider = provider
        self.settings = settings
        self._engines: list[Any] = []
        self._stopped = False

    @classmethod
    def start(
        cls,
        settings: TracingSettings,
        *,
        version: str,
        environment: str,
        region: str | None = None,
        exporter: SpanExporter | None = None,
    ) -> Tracing:
        """Tracing to the OTLP endpoint of `settings`, or, when a test gives an `exporter`, to that exporter as
        each span ends. `region` (multi-region: `PARLEY_REGION`) is the resource's `cloud.region`."""
        attributes = {
            "service.name": settings.service_name,
            "service.version": version,
            "deployment.environment.name": environment,
        }
        if region is not None:
            attributes["cloud.region"] = region
        resource = Resource.create(attributes)
        provider = TracerProvider(resource=resource, sampler=ParentBased(_RequestsAndJobs(settings.sample_ratio)))
        if exporter is not None:
            provider.add_span_processor(SimpleSpanProcessor(exporter))
        else:
            # Batched, in the SDK's own thread: a span costs the request a queue append, never a network call.
            provider.add_span_processor(
                BatchSpanProcessor(
                    OTLPSpanExporter(
                        endpoint=traces_url(settings.otlp_endpoint or ""),
                        headers={name: value.get_secret_value() for name, value in settings.headers.items()},
                        timeout=settings.export_timeout_seconds,
                    ),
                    export_timeout_millis=settings.export_timeout_seconds * 1000,
                )
            )
        tracing = cls(provider, settings)
        installed.tracer = provider.get_tracer("parley", version)
        installed.instrument_client = tracing._instrument_client
        # Outgoing calls through httpx (sign-in providers' endpoints, webhooks) and httpx2's own transports.
        HTTPXClientInstrumentor().instrument(tracer_provider=provider)
        HTTPX2ClientInstrumentor().instrument(tracer_provider=provider)
        return tracing

    def instrument_database(self, database: Database) -> None:
        """A span per SQL statement (a child of the current span), on the primary and on the read replica."""
        if self._stopped:
            return
        connections = NoOpMeter("parley").create_up_down_counter("db.client.connections.usage")
        tracer = self.provider.get_tracer("opentelemetry.instrumentation.sqlalchemy")
        engines = [database.engine, *([database.replica.engine] if database.replica is not None else [])]
        for engine in engines:
            self._engines.append(EngineTracer(tracer, engine.sync_engine, connections))  # type: ignore[no-untyped-call]

    def _instrument_client(self, client: Any) -> None:
        # Provider SDK clients may use a transport of their own (the OpenAI SDK's aiohttp one), which the
        # process-wide patch of httpx2's transport classes does not reach: their instance is instrumented.
        HTTPX2ClientInstrumentor.instrument_client(client, tracer_provider=self.provider)

    def shutdown(self) -> None:
        """Send the spans still queued (waiting up to the export timeout) and stop tracing. Blocking: call it in a
        thread from async code."""
        if self._stopped:
            return
        self._stopped = True
        installed.tracer = None
        installed.instrument_client = None
        HTTPXClientInstrumentor().uninstrument()
        HTTPX2ClientInstrumentor().uninstrument()
        self.provider.force_flush(int(self.settings.export_timeout_seconds * 1000))
        self.provider.shutdown()


def traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL of a collector address (`http://collector:4318` → `…/v1/traces`)."""
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith(_TRACES_PATH) else endpoint + _TRACES_PATH
