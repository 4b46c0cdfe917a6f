"""Span records (plain tuples) to OTLP: built into OpenTelemetry spans and exported in batches.

Runs where encoding cannot slow the data path: in a process of its own (:func:`serve`, started by
:class:`ProcessSink`; the records come over a pipe, ``marshal``-ed) or in a thread
(:class:`ThreadSink`, for the model server replicas, whose tracer is light). :class:`Encoder`
writes OTLP protobuf directly; :class:`Sender` posts it (OTLP/HTTP) or calls the collector's
``TraceService/Export`` (OTLP/gRPC).

A record is one of:

- ``("s", name, trace_id, span_id, parent_id, start_ns, end_ns, attributes, kind, error)``: one
  span (ids as ints, 0 for no parent; ``attributes`` a tuple of (key, value) pairs);
- ``("h", trace_id, ingress_id, parent_id, proxy_id, wait_id, start_ns, acquired_ns, end_ns,
  status, isvc, namespace, component, revision, replica)``: one activator hop, which becomes its
  ingress span, its proxied call and (``wait_id`` non-zero) the activator's wait.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import marshal
import os
import struct
import threading
import urllib.parse
from collections.abc import Iterable, Iterator
from multiprocessing.connection import Connection
from typing import Any

__all__ = ["Encoder", "ProcessSink", "Sender", "ThreadSink", "attributes", "serve"]

log = logging.getLogger("minikn.telemetry.tracing")

EXPORT_BATCH = 2048
"""Spans per OTLP export request (~0.5 MiB of hop spans: under a collector's 4 MiB gRPC and
20 MiB HTTP body limits; fewer, larger requests cost the exporter and collector less than the
SDK batch processor's 512)."""
EXPORT_TIMEOUT_S = 10.0
EXPORT_NICE = 10
"""How much the export process lowers its priority: it gets the CPU the data path leaves (when
it falls behind, the tracer's ring drops spans and counts them; requests are not slowed)."""

_KINDS = {"internal": 1, "server": 2, "client": 3, "producer": 4, "consumer": 5}
_STATUS_ERROR = b"\x7a\x02\x18\x02"  # Span.status (15) = Status{code (3): ERROR (2)}
_U64 = struct.Struct("<Q").pack
_F64 = struct.Struct("<d").pack
_CACHE_MAX = 4096
_HEADERS = {"Content-Type": "application/x-protobuf"}
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)
_LOW64 = (1 << 64) - 1
# A span's ids (trace id, span id; with its parent's) and times, each field with its tag: ids
# are big-endian bytes, times fixed64 (little-endian).
_IDS = struct.Struct(">BBQQBBQ").pack
_IDS_PARENT = struct.Struct(">BBQQBBQBBQ").pack
_TIMES = struct.Struct("<BQBQ").pack


def trace_bytes(trace_id: int) -> bytes:
    return trace_id.to_bytes(16, "big")


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(tag: int, payload: bytes) -> bytes:
    """A length-delimited field (``tag`` is the field number shifted, with wire type 2)."""
    return bytes((tag,)) + _varint(len(payload)) + payload


def _any(value: object) -> bytes:
    """An ``AnyValue``: string (1), bool (2), int (3), double (4)."""
    if isinstance(value, bool):
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, int):
        return b"\x18" + _varint(value & 0xFFFFFFFFFFFFFFFF)
    if isinstance(value, float):
        return b"\x21" + _F64(value)
    return _field(0x0A, str(value).encode())


def attributes(pairs: Iterable[tuple[str, object]], tag: int = 0x4A) -> bytes:
    """``Span.attributes`` (field 9; ``tag`` for another message's): a ``KeyValue`` per pair."""
    return b"".join(
        _field(tag, _field(0x0A, key.encode()) + _field(0x12, _any(value))) for key, value in pairs
    )


class Encoder:
    """Span records to OTLP ``ExportTraceServiceRequest`` protobuf bytes, for one service.

    Written directly in the protobuf wire format (the OTLP ``trace.proto`` field numbers): a hop's
    attributes repeat for every request of a revision, so their bytes are made once and cached;
    a span is then a handful of fixed fields. The SDK's path (a ``ReadableSpan`` per span, then
    its encoder) costs two orders of magnitude more per span.
    """

    def __init__(self, service: str) -> None:
        resource = attributes([("service.name", service)], 0x0A)  # Resource.attributes (1)
        self._head = _field(0x0A, resource)  # ResourceSpans.resource (1)
        self._scope = _field(0x0A, _field(0x0A, b"minikn"))  # ScopeSpans.scope (1) {name}
        self._cache: dict[tuple[object, ...], bytes] = {}
        self._hops: dict[tuple[object, ...], tuple[bytes, bytes, bytes, bytes, bytes]] = {}

    def _tail(self, key: tuple[object, ...], name: str, kind: int, pairs: Any, err: bool) -> bytes:
        """A span's fields that repeat across requests (name, kind, attributes, status), made
        once per distinct value (protobuf fields may come in any order)."""
        got = self._cache.get(key)
        if got is None:
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            got = self._cache[key] = b"".join((
                _field(0x2A, name.encode()), b"\x30", bytes((kind,)), attributes(pairs),
                _STATUS_ERROR if err else b"",
            ))  # fmt: skip
        return got

    @staticmethod
    def _span(  # noqa: PLR0917 - the fields of one span
        trace: bytes, span_id: int, parent_id: int, start_ns: int, end_ns: int, tail: bytes
    ) -> bytes:
        """``ScopeSpans.spans`` (2): one ``Span``."""
        parent = b"\x22\x08" + parent_id.to_bytes(8, "big") if parent_id else b""
        size = 46 + len(parent) + len(tail)  # ids (18 + 10) and times (9 + 9)
        return b"".join((
            b"\x12", _varint(size), b"\x0a\x10", trace, b"\x12\x08", span_id.to_bytes(8, "big"),
            parent, b"\x39", _U64(start_ns), b"\x41", _U64(max(start_ns, end_ns)), tail,
        ))  # fmt: skip

    def spans(self, rec: tuple[Any, ...]) -> list[bytes]:
        """The encoded ``Span`` fields of one record ([] for a malformed one)."""
        try:
            if rec[0] == "h":
                return self._hop(rec)
            if rec[0] == "s":
                _, name, tid, sid, pid, start, end, attrs, kind, error = rec
                tail = b"".join((
                    _field(0x2A, name.encode()), b"\x30", bytes((_KINDS.get(kind, 1),)),
                    attributes(attrs), _STATUS_ERROR if error else b"",
                ))  # fmt: skip
                return [self._span(tid.to_bytes(16, "big"), sid, pid, start, end, tail)]
        except (ValueError, TypeError, IndexError, OverflowError, AttributeError) as exc:
            log.debug("span record skipped: %s", exc)
        return []

    def _hop(self, rec: tuple[Any, ...]) -> list[bytes]:
        (_, tid, ingress, parent, proxy, wait, start, acquired, end, status,
         isvc, namespace, component, revision, replica) = rec  # fmt: skip
        key = (status, isvc, namespace, component, revision, replica)
        fixed = self._hops.get(key)
        if fixed is None:
            fixed = self._hop_fixed(key)
        ihead, ihead_parent, itail, phead, ptail = fixed
        hi, lo = tid >> 64, tid & _LOW64
        end = max(end, start)
        acquired = min(max(acquired, start), end)
        if parent:
            ing = ihead_parent + _IDS_PARENT(0x0A, 0x10, hi, lo, 0x12, 8, ingress, 0x22, 8, parent)
        else:
            ing = ihead + _IDS(0x0A, 0x10, hi, lo, 0x12, 8, ingress)
        out = [
            ing + _TIMES(0x39, start, 0x41, end) + itail,
            phead + _IDS_PARENT(0x0A, 0x10, hi, lo, 0x12, 8, proxy, 0x22, 8, ingress)
            + _TIMES(0x39, acquired, 0x41, end) + ptail,
        ]  # fmt: skip
        if wait:
            wtail = self._tail(("w", revision), "activator wait", 1,
                               (("minikn.revision", revision),), False)  # fmt: skip
            out.insert(1, self._span(trace_bytes(tid), wait, ingress, start, acquired, wtail))
        return out

    def _hop_fixed(self, key: tuple[Any, ...]) -> tuple[bytes, bytes, bytes, bytes, bytes]:
        """A hop's bytes that repeat for every request of a revision and status: each span's
        ``Span`` field head (tag, length) and its tail (name, kind, attributes, status)."""
        status, isvc, namespace, component, revision, replica = key
        attrs = (
            ("http.response.status_code", status),
            ("minikn.isvc", isvc),
            ("minikn.namespace", namespace),
            ("minikn.component", component),
            ("minikn.revision", revision),
        )
        error = status >= 500 or status == 0
        itail = self._tail(("i", *key[:5]), f"ingress {isvc}-{component}", 2, attrs, error)
        ptail = self._tail(("p", *key), f"proxy {revision}", 3,
                           (*attrs, ("minikn.replica", replica)), error)  # fmt: skip
        # ids (18 + 10), parent (10) and times (9 + 9)
        fixed = (
            b"\x12" + _varint(46 + len(itail)), b"\x12" + _varint(56 + len(itail)), itail,
            b"\x12" + _varint(56 + len(ptail)), ptail,
        )  # fmt: skip
        if len(self._hops) >= _CACHE_MAX:
            self._hops.clear()
        self._hops[key] = fixed
        return fixed

    def requests(self, records: Iterable[tuple[Any, ...]]) -> Iterator[bytes]:
        """``ExportTraceServiceRequest`` bodies of at most :data:`EXPORT_BATCH` spans each."""
        batch: list[bytes] = []
        for rec in records:
            batch.extend(self.spans(rec))
            if len(batch) >= EXPORT_BATCH:
                yield self._request(batch)
                batch = []
        if batch:
            yield self._request(batch)

    def _request(self, spans: list[bytes]) -> bytes:
        scope_spans = _field(0x12, self._scope + b"".join(spans))  # ResourceSpans.scope_spans
        return _field(0x0A, self._head + scope_spans)  # ExportTraceServiceRequest.resource_spans


class Sender:
    """Sends encoded export requests: OTLP/HTTP (``http/protobuf``) or OTLP/gRPC (``grpc``)."""

    def __init__(self, protocol: str, endpoint: str) -> None:
        self._call: Any = None
        if protocol == "grpc":
            try:
                import grpc
            except ImportError as exc:
                raise RuntimeError(
                    "tracing-protocol grpc needs grpcio: pip install 'minikn[otel]'"
                ) from exc
            target = endpoint.split("://", 1)[-1]
            self._channel = (
                grpc.secure_channel(target, grpc.ssl_channel_credentials())
                if endpoint.startswith("https://")
                else grpc.insecure_channel(target)
            )
            self._call = self._channel.unary_unary(
                "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
            )
        elif protocol != "http/protobuf":
            raise ValueError(f"unknown tracing protocol {protocol!r}")
        else:
            url = urllib.parse.urlsplit(endpoint)
            if url.scheme not in ("http", "https") or not url.hostname:
                raise ValueError(f"tracing endpoint {endpoint!r} is not an http(s) URL")
            self._https = url.scheme == "https"
            self._host, self._port = url.hostname, url.port
            self._path = (url.path or "/") + (f"?{url.query}" if url.query else "")
        self._conn: http.client.HTTPConnection | None = None

    def send(self, body: bytes) -> None:
        if self._call is not None:
            self._call(body, timeout=EXPORT_TIMEOUT_S)
            return
        # One kept-alive connection (a fresh one per request costs more than the request);
        # a connection the collector closed meanwhile is retried once on a new one.
        for attempt in (1, 2):
            conn = self._conn or self._connect()
            try:
                conn.request("POST", self._path, body, _HEADERS)
                with conn.getresponse() as response:
                    response.read()
                    if response.status >= 300:
                        raise RuntimeError(f"OTLP export answered {response.status}")
                    if response.will_close:
                        self._drop()
                return
            except (http.client.HTTPException, ConnectionError) as exc:
                self._drop()
                if attempt == 2 or not isinstance(exc, _STALE):
                    raise

    def _connect(self) -> http.client.HTTPConnection:
        kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        self._conn = kind(self._host, self._port, timeout=EXPORT_TIMEOUT_S)
        return self._conn

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def close(self) -> None:
        if self._call is not None:
            self._channel.close()
        self._drop()


def _export(encoder: Encoder, sender: Sender, records: list[tuple[Any, ...]]) -> None:
    for body in encoder.requests(records):
        try:
            sender.send(body)
        except Exception as exc:  # a collector that is down loses spans, nothing else
            log.debug("span export failed: %s", exc)


class ThreadSink:
    """Exports each batch in the calling thread (the tracer's flusher)."""

    def __init__(self, protocol: str, endpoint: str, service: str) -> None:
        self._encoder = Encoder(service)
        self._sender = Sender(protocol, endpoint)

    def send(self, records: list[tuple[Any, ...]]) -> None:
        _export(self._encoder, self._sender, records)

    def sync(self, timeout_s: float) -> bool:
        return True  # each batch is sent before send returns

    def close(self) -> None:
        self._sender.close()


def serve(conn: Connection, protocol: str, endpoint: str, service: str) -> None:
    """The export process, at a lower priority (:data:`EXPORT_NICE`): batches in (``("b",
    records)``), ``("f", n)`` answered with ``n`` once everything before it is exported, ``("q",)``
    (or the pipe closing) ends it."""
    with contextlib.suppress(OSError, AttributeError):  # AttributeError: no os.nice here
        os.nice(EXPORT_NICE)
    encoder = Encoder(service)
    sender = Sender(protocol, endpoint)
    try:
        while True:
            try:
                msg = marshal.loads(conn.recv_bytes())
            except (EOFError, OSError):
                return
            if msg[0] == "b":
                _export(encoder, sender, msg[1])
            elif msg[0] == "f":
                conn.send_bytes(marshal.dumps(msg[1]))
            else:
                return
    finally:
        sender.close()


class ProcessSink:
    """Sends each batch to an export process of its own (:func:`serve`), so the encoding holds
    another interpreter's GIL; :meth:`send` blocks (the flusher thread, never the data path)
    while the process is busy, and the tracer's ring drops what does not fit meanwhile."""

    def __init__(self, protocol: str, endpoint: str, service: str) -> None:
        import multiprocessing

        Sender(protocol, endpoint).close()  # fail here, not in the process, on a bad setting
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
