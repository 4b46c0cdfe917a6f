"""OpenTelemetry spans over OTLP, for spans whose ids the data path already chose.

The data path forwards W3C ``traceparent`` headers with ids of its own (``minikn.activator.agent
.trace``), so spans are built from those ids here and handed to the SDK's batch processor, which
exports them from its own thread (nothing is sent on the event loop). Configured by Knative's
``config-observability`` keys (``tracing-protocol``, ``tracing-endpoint``,
``tracing-sampling-rate``) in ``minikn serve``, and by the standard ``OTEL_*`` variables in the
model server replicas (:func:`tracing_env` makes them). Off (``none``): no tracer exists, and the
data path's checks are one ``is None``. The SDK is imported only when tracing is on.
"""

from __future__ import annotations

import logging
import os
import random
import re
import time
from collections.abc import Mapping
from typing import Any

__all__ = [
    "Tracer",
    "new_tracer",
    "parse_parent",
    "random_id",
    "sampled_by_ratio",
    "tracer_from_env",
    "tracing_env",
]

log = logging.getLogger("minikn.telemetry.tracing")

_MAX_RATIO_ID = 1 << 64
_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_rng = random.Random()


def parse_parent(value: str | None) -> tuple[str, str, str] | None:
    """(trace id, span id, flags) of a version-00 ``traceparent``, None if absent or invalid."""
    if not value:
        return None
    m = _TRACEPARENT.match(value.strip())
    if m is None or m.group(1) == "0" * 32 or m.group(2) == "0" * 16:
        return None
    return m.group(1), m.group(2), m.group(3)


def random_id(bits: int) -> str:
    """A random non-zero id of ``bits`` bits in lower-case hex (64: a span, 128: a trace)."""
    return f"{_rng.getrandbits(bits) or 1:0{bits // 4}x}"


def sampled_by_ratio(trace_id: str, rate: float) -> bool:
    """OpenTelemetry's TraceIdRatioBased decision: the trace id's low 8 bytes under ``rate``."""
    if rate >= 1.0:
        return True
    if rate <= 0.0:
        return False
    return int(trace_id[-16:], 16) < int(rate * _MAX_RATIO_ID)


class Tracer:
    """Builds finished spans from known ids and hands them to an OTLP span processor."""

    def __init__(self, processor: Any, *, service: str, rate: float) -> None:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope

        self._processor = processor
        self._resource = Resource.create({"service.name": service})
        self._scope = InstrumentationScope("minikn")
        self.rate = rate
        from opentelemetry.sdk.trace import ReadableSpan
        from opentelemetry.trace import SpanContext, SpanKind, TraceFlags
        from opentelemetry.trace.status import Status, StatusCode

        self._types: tuple[Any, ...] = (
            ReadableSpan, SpanContext, SpanKind, Status, StatusCode,
            TraceFlags(TraceFlags.SAMPLED),
        )  # fmt: skip

    def sampled(self, trace_id: str, parent_flags: str | None) -> bool:
        """ParentBased(TraceIdRatioBased): a caller's sampled flag wins, else the ratio."""
        if parent_flags is not None:
            return parent_flags[-1:] in ("1", "3", "5", "7", "9", "b", "d", "f")
        return sampled_by_ratio(trace_id, self.rate)

    def span(
        self,
        name: str,
        *,
        trace_id: str,
        span_id: str,
        parent_id: str | None,
        start_ns: int,
        end_ns: int,
        attributes: Mapping[str, str | int | float | bool] | None = None,
        kind: str = "internal",
        error: bool = False,
    ) -> None:
        """Export one finished span (ids in lower-case hex, times in Unix nanoseconds)."""
        ReadableSpan, SpanContext, SpanKind, Status, StatusCode, flags = self._types
        tid = int(trace_id, 16)
        context = SpanContext(tid, int(span_id, 16), is_remote=False, trace_flags=flags)
        parent = (
            SpanContext(tid, int(parent_id, 16), is_remote=True, trace_flags=flags)
            if parent_id
            else None
        )
        span = ReadableSpan(
            name,
            context=context,
            parent=parent,
            resource=self._resource,
            attributes=dict(attributes or {}),
            kind=SpanKind[kind.upper()],
            status=Status(StatusCode.ERROR if error else StatusCode.UNSET),
            start_time=start_ns,
            end_time=max(start_ns, end_ns),
            instrumentation_scope=self._scope,
        )
        try:
            self._processor.on_end(span)
        except Exception as exc:  # a tracer never fails a request
            log.debug("span dropped: %s", exc)

    def flush(self, timeout_s: float = 5.0) -> bool:
        return bool(self._processor.force_flush(int(timeout_s * 1000)))

    def shutdown(self) -> None:
        self._processor.shutdown()


def _exporter(protocol: str, endpoint: str) -> Any:
    if protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=endpoint)
    if protocol == "grpc":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
                OTLPSpanExporter as GrpcExporter,
            )
        except ImportError as exc:
            raise RuntimeError(
                "tracing-protocol grpc needs opentelemetry-exporter-otlp-proto-grpc: "
                "pip install 'minikn[otel]'"
            ) from exc
        return GrpcExporter(endpoint=endpoint, insecure=endpoint.startswith("http://"))
    raise ValueError(f"unknown tracing protocol {protocol!r}")


def new_tracer(protocol: str, endpoint: str, rate: float, *, service: str) -> Tracer | None:
    """A tracer exporting over OTLP, or None when ``protocol`` is ``none`` (tracing off)."""
    if protocol == "none":
        return None
    try:
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:
        raise RuntimeError(
            "tracing needs the OpenTelemetry SDK: pip install 'minikn[otel]'"
        ) from exc
    processor = BatchSpanProcessor(
        _exporter(protocol, endpoint), schedule_delay_millis=500, max_queue_size=8192
    )
    return Tracer(processor, service=service, rate=rate)


def tracing_env(protocol: str, endpoint: str, rate: float) -> dict[str, str]:
    """The standard ``OTEL_*`` variables for a replica ({} when tracing is off)."""
    if protocol == "none":
        return {}
    return {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": endpoint,
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": protocol,
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": f"{rate:g}",
    }


def tracer_from_env(service: str, env: Mapping[str, str] | None = None) -> Tracer | None:
    """The model server's tracer from the ``OTEL_*`` variables (None unless an OTLP traces
    exporter with an endpoint is set)."""
    env = os.environ if env is None else env
    if env.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return None
    if env.get("OTEL_TRACES_EXPORTER", "otlp") in ("none", ""):
        return None
    endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT", ""
    )
    if not endpoint:
        return None
    protocol = env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
    )
    try:
        rate = float(env.get("OTEL_TRACES_SAMPLER_ARG", "1.0"))
    except ValueError:
        rate = 1.0
    return new_tracer(protocol, endpoint, min(1.0, max(0.0, rate)), service=service)


def now_ns() -> int:
    return time.time_ns()
