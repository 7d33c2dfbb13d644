"""What the rest of Parley calls to trace its work: spans around the steps of a request, the first-token mark,
and a job's link back to the request that enqueued it.

Every helper here is nearly free while tracing is off (no endpoint configured): no tracer is installed, `span`
hands back a shared do-nothing span without touching the context, and a job carries no trace parent.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Coroutine, Iterator, Mapping
from typing import Any, TypeVar

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import INVALID_SPAN, Link, Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue

# The key of the job payload holding the W3C `traceparent` of the request that enqueued the job; the worker takes
# it out before the handler sees the payload.
TRACE_PARENT_KEY = "_traceparent"

_T = TypeVar("_T")
_propagator = TraceContextTextMapPropagator()
_null_span: contextlib.nullcontext[Span] = contextlib.nullcontext(INVALID_SPAN)


class _Installed:
    """The tracer of the running app (`parley.tracing.setup`); None while tracing is off."""

    tracer: Tracer | None = None
    # Instruments an outgoing HTTP client (`instrument_http_client`), set with the tracer.
    instrument_client: Callable[[Any], None] | None = None


installed = _Installed()


def enabled() -> bool:
    return installed.tracer is not None


def span(
    name: str,
    attributes: Mapping[str, AttributeValue] | None = None,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    links: list[Link] | None = None,
) -> contextlib.AbstractContextManager[Span]:
    """A span for `name` made current inside the block (a child of the current one, e.g. the request's)."""
    tracer = installed.tracer
    if tracer is None:
        return _null_span
    return tracer.start_as_current_span(name, kind=kind, attributes=attributes, links=links)


def job_span(
    name: str, attributes: Mapping[str, AttributeValue], *, parent: str | None
) -> contextlib.AbstractContextManager[Span]:
    """A new trace for a background job (whatever span is current), linked to the request that enqueued it
    (`parent`: the traceparent stored with the job)."""
    tracer = installed.tracer
    if tracer is None:
        return _null_span
    return tracer.start_as_current_span(
        name, context=Context(), kind=SpanKind.CONSUMER, attributes=attributes, links=links_to(parent)
    )


def start_span(name: str, attributes: Mapping[str, AttributeValue] | None = None) -> Span:
    """A child span of the current one that is NOT made current: for work that yields to its caller in between
    (a streamed model call), where a current span would leak into the caller's code. End it yourself."""
    tracer = installed.tracer
    if tracer is None:
        return INVALID_SPAN
    return tracer.start_span(name, attributes=attributes)


@contextlib.contextmanager
def within(span_: Span) -> Iterator[None]:
    """Make `span_` current for a block that does not yield (e.g. the one await that sends an HTTP request), so
    what the block starts (the HTTP client's span) is its child."""
    if span_ is INVALID_SPAN:
        yield
        return
    # The caller records a failure on the span itself (`end`), once.
    with trace.use_span(span_, end_on_exit=False, record_exception=False, set_status_on_exception=False):
        yield


def traced(
    name: str, work: Coroutine[Any, Any, _T], attributes: Mapping[str, AttributeValue]
) -> Coroutine[Any, Any, _T]:
    """`work` run inside a span `name` (the coroutine itself while tracing is off). A task started with it keeps
    the trace of the code that created the task: asyncio copies the context into the task."""
    if installed.tracer is None:
        return work
    return _in_span(name, work, attributes)


async def _in_span(name: str, work: Coroutine[Any, Any, _T], attributes: Mapping[str, AttributeValue]) -> _T:
    with span(name, attributes):
        return await work


def end(span_: Span, error: BaseException | None = None) -> None:
    """End a span from `start_span` (marked failed with `error`); a span already ended is left as it is."""
    if not span_.is_recording():
        return
    if error is not None:
        span_.set_status(Status(StatusCode.ERROR, str(error)))
        span_.record_exception(error)
    span_.end()


def failed(error: BaseException) -> None:
    """Mark the current span (a job's) failed with `error`, which its caller handles."""
    current = trace.get_current_span()
    if current.is_recording():
        current.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
        current.record_exception(error)


def mark_first_token(span_: Span) -> None:
    """The first token of a model call arrived (an event on its span: the provider's time to first token)."""
    if span_.is_recording():
        span_.add_event("first_token")


def first_token(ttft_ms: int) -> None:
    """Mark the current span (the answer's) with the time its first token arrived. Once per answer."""
    current = trace.get_current_span()
    if current.is_recording():
        current.set_attribute("parley.ttft_ms", ttft_ms)
        current.add_event("first_token", {"parley.ttft_ms": ttft_ms})


def trace_parent() -> str | None:
    """The W3C `traceparent` of the current span, to store with work done later (a job); None when there is no
    recorded trace."""
    if installed.tracer is None:
        return None
    context = trace.get_current_span().get_span_context()
    if not context.is_valid or not context.trace_flags.sampled:
        return None
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get("traceparent")


def links_to(traceparent: str | None) -> list[Link]:
    """A link to the span a stored `traceparent` names (none when it is missing or malformed)."""
    if not traceparent:
        return []
    context: Context = _propagator.extract({"traceparent": traceparent})
    linked = trace.get_current_span(context).get_span_context()
    return [Link(linked)] if linked.is_valid else []


def instrument_http_client(client: Any) -> None:
    """Trace the requests of an outgoing HTTP client (an httpx2 client a provider SDK was given): spans as
    children of the current span, and `traceparent` sent upstream. Nothing while tracing is off."""
    if client is not None and installed.instrument_client is not None:
        installed.instrument_client(client)
