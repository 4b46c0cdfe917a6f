"""Span records (plain tuples) to OTLP: built into OpenTelemetry spans and exported in batches.

Runs where encoding cannot slow the data path: in a process of its own (:func:`serve`, started by
:class:`ProcessSink`; the records come over a pipe, ``marshal``-ed) or in a thread
(:class:`ThreadSink`, for the model server replicas, whose tracer is light). The SDK's OTLP
exporters do the protobuf encoding and the sending, with their retries.

A record is one of:

- ``("s", name, trace_id, span_id, parent_id, start_ns, end_ns, attributes, kind, error)``: one
  span (ids as ints, 0 for no parent; ``attributes`` a tuple of (key, value) pairs);
- ``("h", trace_id, ingress_id, parent_id, proxy_id, wait_id, start_ns, acquired_ns, end_ns,
  status, isvc, namespace, component, revision, replica)``: one activator hop, which becomes its
  ingress span, its proxied call and (``wait_id`` non-zero) the activator's wait.
"""

from __future__ import annotations

import contextlib
import logging
import marshal
import threading
from collections.abc import Iterable, Iterator
from multiprocessing.connection import Connection
from typing import Any

__all__ = ["ProcessSink", "SpanBuilder", "ThreadSink", "exporter", "serve"]

log = logging.getLogger("minikn.telemetry.tracing")

EXPORT_BATCH = 512
"""Spans per OTLP export request (the SDK batch processor's default)."""


def exporter(protocol: str, endpoint: str) -> Any:
    """The SDK's OTLP span exporter for ``protocol`` (``http/protobuf`` or ``grpc``)."""
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


class SpanBuilder:
    """Builds the SDK's ``ReadableSpan``s from records, for one service."""

    def __init__(self, service: str) -> None:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import ReadableSpan
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope
        from opentelemetry.trace import SpanContext, SpanKind, TraceFlags
        from opentelemetry.trace.status import Status, StatusCode

        self._resource = Resource.create({"service.name": service})
        self._scope = InstrumentationScope("minikn")
        self._span = ReadableSpan
        self._context = SpanContext
        self._kinds = {k.name.lower(): k for k in SpanKind}
        self._flags = TraceFlags(TraceFlags.SAMPLED)
        self._ok = Status(StatusCode.UNSET)
        self._error = Status(StatusCode.ERROR)

    def _one(  # noqa: PLR0917 - the fields of one span
        self,
        name: str,
        trace_id: int,
        span_id: int,
        parent_id: int,
        start_ns: int,
        end_ns: int,
        attributes: dict[str, Any],
        kind: str,
        error: bool,
    ) -> Any:
        context = self._context(trace_id, span_id, is_remote=False, trace_flags=self._flags)
        parent = (
            self._context(trace_id, parent_id, is_remote=True, trace_flags=self._flags)
            if parent_id
            else None
        )
        return self._span(
            name,
            context=context,
            parent=parent,
            resource=self._resource,
            attributes=attributes,
            kind=self._kinds.get(kind, self._kinds["internal"]),
            status=self._error if error else self._ok,
            start_time=start_ns,
            end_time=max(start_ns, end_ns),
            instrumentation_scope=self._scope,
        )

    def build(self, records: Iterable[tuple[Any, ...]]) -> Iterator[Any]:
        """The spans of ``records`` (a malformed record is skipped)."""
        for rec in records:
            try:
                if rec[0] == "h":
                    yield from self._hop(rec)
                elif rec[0] == "s":
                    _, name, tid, sid, pid, start, end, attrs, kind, error = rec
                    yield self._one(name, tid, sid, pid, start, end, dict(attrs), kind, error)
            except (ValueError, TypeError, IndexError) as exc:
                log.debug("span record skipped: %s", exc)

    def _hop(self, rec: tuple[Any, ...]) -> Iterator[Any]:
        (_, tid, ingress, parent, proxy, wait, start, acquired, end, status,
         isvc, namespace, component, revision, replica) = rec  # fmt: skip
        attrs = {
            "http.response.status_code": status,
            "minikn.isvc": isvc,
            "minikn.namespace": namespace,
            "minikn.component": component,
            "minikn.revision": revision,
        }
        error = status >= 500 or status == 0
        yield self._one(f"ingress {isvc}-{component}", tid, ingress, parent, start, end, attrs,
                        "server", error)  # fmt: skip
        if wait:
            yield self._one("activator wait", tid, wait, ingress, start, acquired,
                            {"minikn.revision": revision}, "internal", False)  # fmt: skip
        yield self._one(f"proxy {revision}", tid, proxy, ingress, acquired, end,
                        {**attrs, "minikn.replica": replica}, "client", error)  # fmt: skip


def _export(builder: SpanBuilder, otlp: Any, records: list[tuple[Any, ...]]) -> None:
    spans = list(builder.build(records))
    for i in range(0, len(spans), EXPORT_BATCH):
        try:
            otlp.export(spans[i : i + EXPORT_BATCH])
        except Exception as exc:  # a collector that is down loses spans, nothing else
            log.debug("span export failed: %s", exc)


class ThreadSink:
    """Exports each batch in the calling thread (the tracer's flusher)."""

    def __init__(self, protocol: str, endpoint: str, service: str) -> None:
        self._builder = SpanBuilder(service)
        self._otlp = exporter(protocol, endpoint)

    def send(self, records: list[tuple[Any, ...]]) -> None:
        _export(self._builder, self._otlp, records)

    def sync(self, timeout_s: float) -> bool:
        return bool(self._otlp.force_flush(int(timeout_s * 1000)))

    def close(self) -> None:
        self._otlp.shutdown()


def serve(conn: Connection, protocol: str, endpoint: str, service: str) -> None:
    """The export process: batches in (``("b", records)``), ``("f", n)`` answered with ``n``
    once everything before it is exported, ``("q",)`` (or the pipe closing) ends it."""
    builder = SpanBuilder(service)
    otlp = exporter(protocol, endpoint)
    try:
        while True:
            try:
                msg = marshal.loads(conn.recv_bytes())
            except (EOFError, OSError):
                return
            if msg[0] == "b":
                _export(builder, otlp, msg[1])
            elif msg[0] == "f":
                conn.send_bytes(marshal.dumps(msg[1]))
            else:
                return
    finally:
        otlp.shutdown()


class ProcessSink:
    """Sends each batch to an export process of its own (:func:`serve`), so the encoding holds
    another interpreter's GIL; :meth:`send` blocks (the flusher thread, never the data path)
    while the process is busy, and the tracer's ring drops what does not fit meanwhile."""

    def __init__(self, protocol: str, endpoint: str, service: str) -> None:
        import multiprocessing

        exporter(protocol, endpoint)  # fail here, not in the process, on a missing package
        mp = multiprocessing.get_context("spawn")  # no fork of a process with threads
        self._conn, child = mp.Pipe()
        self._proc = mp.Process(
            target=serve, args=(child, protocol, endpoint, service), daemon=True,
            name="minikn-otlp-export",
        )  # fmt: skip
        self._proc.start()
        child.close()
        self._lock = threading.Lock()
        self._seq = 0

    def send(self, records: list[tuple[Any, ...]]) -> None:
        with self._lock:
            self._conn.send_bytes(marshal.dumps(("b", records)))

    def sync(self, timeout_s: float) -> bool:
        with self._lock:
            self._seq += 1
            seq = self._seq
            self._conn.send_bytes(marshal.dumps(("f", seq)))
            while self._conn.poll(timeout_s):
                if marshal.loads(self._conn.recv_bytes()) == seq:
                    return True
            return False

    def close(self) -> None:
        with self._lock:
            with contextlib.suppress(OSError):
                self._conn.send_bytes(marshal.dumps(("q",)))
            self._proc.join(10)
            if self._proc.is_alive():
                self._proc.terminate()
                self._proc.join(5)
            self._conn.close()
