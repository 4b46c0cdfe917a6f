"""OpenTelemetry spans over OTLP, for spans whose ids the data path already chose.

The data path forwards W3C ``traceparent`` headers with ids of its own (``minikn.activator.agent
.trace``), so spans are recorded from those ids here, as tuples in a bounded ring, and exported
off the hot path: a flusher thread hands them in batches to an export process that builds and
encodes them (:mod:`minikn.telemetry.spanexport`); a full ring drops spans, never slows requests.
Configured by Knative's ``config-observability`` keys (``tracing-protocol``, ``tracing-endpoint``,
``tracing-sampling-rate``) in ``minikn serve``, and by the standard ``OTEL_*`` variables in the
model server replicas (:func:`tracing_env` makes them). Off (``none``): no tracer exists, and the
data path's checks are one ``is None``.
"""

from __future__ import annotations

import logging
import os
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

__all__ = [
    "FLUSH_INTERVAL_S",
    "RING_CAPACITY",
    "SpanSink",
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

RING_CAPACITY = 65536
"""Span records kept before the flusher takes them; more are dropped (and counted)."""
FLUSH_INTERVAL_S = 0.2
"""How often the flusher hands the ring's records to the exporter."""


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
    """Keeps finished spans as tuples in a bounded ring; a flusher thread hands them in batches
    to a sink that builds and exports them (:mod:`minikn.telemetry.spanexport`).

    Recording a span is one tuple and one list append on the caller's thread; when the ring is
    full the span is dropped and counted (:attr:`dropped`) rather than the request slowed.
    """

    def __init__(
        self,
        sink: SpanSink,
        *,
        rate: float,
        capacity: int = RING_CAPACITY,
        interval_s: float = FLUSH_INTERVAL_S,
        on_dropped: Callable[[int], None] | None = None,
    ) -> None:
        """``on_dropped(n)`` is told, from the flusher thread, of spans dropped since last."""
        self.rate = rate
        self.threshold = int(rate * _MAX_RATIO_ID)
        """A new trace is sampled when its id's low 64 bits are under this (rate 1: all)."""
        self.dropped = 0
        self._sink = sink
        self._capacity = capacity
        self._ring: list[tuple[Any, ...]] = []
        self._interval = interval_s
        self._on_dropped = on_dropped
        self._reported = 0
        self._wake = threading.Event()
        self._stopping = False
        self._idle = threading.Condition()
        self._cycles = 0
        self._flusher = threading.Thread(target=self._run, name="minikn-span-flusher", daemon=True)
        self._flusher.start()

    def sampled(self, trace_id: str, parent_flags: str | None) -> bool:
        """ParentBased(TraceIdRatioBased): a caller's sampled flag wins, else the ratio."""
        if parent_flags is not None:
            return parent_flags[-1:] in ("1", "3", "5", "7", "9", "b", "d", "f")
        return sampled_by_ratio(trace_id, self.rate)

    def record(self, rec: tuple[Any, ...]) -> None:
        """Keep one span record (a :mod:`~minikn.telemetry.spanexport` tuple), or drop it."""
        ring = self._ring
        if len(ring) < self._capacity:
            ring.append(rec)
        else:
            self.dropped += 1

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
        """Record one finished span (ids in lower-case hex, times in Unix nanoseconds)."""
        self.record((
            "s", name, int(trace_id, 16), int(span_id, 16),
            int(parent_id, 16) if parent_id else 0, start_ns, end_ns,
            tuple((attributes or {}).items()), kind, error,
        ))  # fmt: skip

    def _take(self) -> list[tuple[Any, ...]]:
        batch, self._ring = self._ring, []  # one swap: appends after it go to the new list
        return batch

    def _run(self) -> None:
        while True:
            self._wake.wait(self._interval)
            self._wake.clear()
            batch = self._take()
            if batch:
                try:
                    self._sink.send(batch)
                except Exception as exc:  # the exporter is gone: its spans are lost
                    log.debug("spans dropped: %s", exc)
                    self.dropped += len(batch)
            dropped = self.dropped
            if dropped != self._reported and self._on_dropped is not None:
                self._on_dropped(dropped - self._reported)
            self._reported = dropped
            with self._idle:
                self._cycles += 1
                self._idle.notify_all()
                if self._stopping:
                    return

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Export what was recorded so far; False if that took longer than ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        with self._idle:
            # the second cycle from now took the ring after this call began
            target = self._cycles + 2
            while self._cycles < target:
                self._wake.set()
                left = deadline - time.monotonic()
                if left <= 0 or not self._flusher.is_alive():
                    return False
                self._idle.wait(left)
        return self._sink.sync(max(0.0, deadline - time.monotonic()))

    def shutdown(self) -> None:
        """Export what is left, then stop the flusher and the sink."""
        with self._idle:
            self._stopping = True
            self._wake.set()
        self._flusher.join(10)
        self._sink.close()


class SpanSink(Protocol):
    """Where the flusher sends batches of records (built and exported there)."""

    def send(self, records: list[tuple[Any, ...]]) -> None: ...
    def sync(self, timeout_s: float) -> bool: ...
    def close(self) -> None: ...


def new_tracer(
    protocol: str,
    endpoint: str,
    rate: float,
    *,
    service: str,
    process: bool = True,
    on_dropped: Callable[[int], None] | None = None,
) -> Tracer | None:
    """A tracer exporting over OTLP, or None when ``protocol`` is ``none`` (tracing off).

    ``process``: encode and export in a process of its own (the platform's data path), else in
    the tracer's flusher thread (a model server replica)."""
    if protocol == "none":
        return None
    from minikn.telemetry.spanexport import ProcessSink, ThreadSink

    sink: SpanSink = (ProcessSink if process else ThreadSink)(protocol, endpoint, service)
    return Tracer(sink, rate=rate, on_dropped=on_dropped)


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
    return new_tracer(protocol, endpoint, min(1.0, max(0.0, rate)), service=service, process=False)


def now_ns() -> int:
    return time.time_ns()
