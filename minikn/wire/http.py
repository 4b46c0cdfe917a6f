"""The request and response seams between the router, the activator and the replica.

The router parses the client's request head and hands the activator a :class:`ProxyRequest`
(body still streaming in through :class:`BodyStream`) and a :class:`ResponseSink` that writes to the
client. A :data:`Middleware` wraps the per-revision :data:`Handler` chain: this is where a payload
logger or a batcher plugs in, between the activator's routing and the replica.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from minikn.core.errors import MiniknError, PayloadTooLarge, http_status
from minikn.core.revision import RevisionSpec
from minikn.wire.grpc import GrpcCall

__all__ = [
    "BodyStream",
    "Handler",
    "HopRecord",
    "Middleware",
    "PassThroughSink",
    "ProxyRequest",
    "RequestContext",
    "RequestDeadline",
    "ResponseSink",
    "Rewrite",
    "answer_error",
    "send_error",
]

log = logging.getLogger("minikn.activator")

_HIGH_WATER = 256 * 1024


class _Reader(Protocol):
    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...


class BodyStream:
    """A request body arriving from the client, read once by whoever forwards it.

    Reading pauses the client's socket above a high-water mark, so a buffered request holds at
    most about that much body in memory until it gets a replica.
    """

    __slots__ = (
        "_chunks",
        "_eof",
        "_limit",
        "_paused",
        "_size",
        "_source",
        "_waiter",
        "received",
    )

    def __init__(self, source: _Reader | None, limit: int | None = None) -> None:
        self._source = source
        self._limit = limit
        self._chunks: list[bytes] = []
        self._size = 0
        self._eof = False
        self._paused = False
        self._waiter: asyncio.Future[None] | None = None
        self.received = 0
        """Bytes received so far (for the body-size limit)."""

    @property
    def too_large(self) -> bool:
        return self._limit is not None and self.received > self._limit

    @property
    def complete(self) -> bool:
        """The whole body has arrived (some may still be unread)."""
        return self._eof

    @property
    def at_eof(self) -> bool:
        return self._eof and not self._chunks

    def feed(self, data: bytes) -> None:
        self._chunks.append(data)
        self._size += len(data)
        self.received += len(data)
        if self._limit is not None and self.received > self._limit:
            self._chunks.clear()  # refused: keep nothing, read() raises
            self._size = 0
        if self._size > _HIGH_WATER and self._source is not None and not self._paused:
            self._paused = True
            self._source.pause_reading()
        self._wake()

    def feed_eof(self) -> None:
        self._eof = True
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def whole(self) -> bytes | None:
        """The whole body, left in place for the reader, once all of it has arrived (None
        before). For a layer that looks at the body on its way through (the payload logger)."""
        if not self._eof:
            return None
        if self._limit is not None and self.received > self._limit:
            raise PayloadTooLarge(f"request body larger than {self._limit} bytes")
        chunks = self._chunks
        if len(chunks) > 1:
            chunks[:] = [b"".join(chunks)]
        return chunks[0] if chunks else b""

    def read_nowait(self) -> bytes:
        """Everything buffered now, joined (empty when nothing is)."""
        if self._limit is not None and self.received > self._limit:
            raise PayloadTooLarge(f"request body larger than {self._limit} bytes")
        if not self._chunks:
            return b""
        data = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
        self._chunks.clear()
        self._size = 0
        if self._paused and self._source is not None:
            self._paused = False
            self._source.resume_reading()
        return data

    async def read(self) -> bytes:
        """The next chunk of body; ``b""`` once the body has ended."""
        while not self._chunks and not self._eof and not self.too_large:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self.read_nowait()


class ResponseSink(Protocol):
    """Where a response goes (the client connection)."""

    @property
    def status(self) -> int:
        """The status sent, 0 before the head."""
        ...

    @property
    def started(self) -> bool:
        """True once the response head was sent: errors can no longer become a status."""
        ...

    def start(
        self, status: int, reason: bytes, headers: list[tuple[bytes, bytes]], length: int | None
    ) -> None:
        """Send the head; ``length`` None means a streamed body of unknown length."""
        ...

    def write(self, data: bytes) -> None:
        """Queue body bytes (``flush`` or ``end`` sends them)."""
        ...

    def flush(self) -> None:
        """Send what was queued (after each batch of bytes from the replica)."""
        ...

    def end(self) -> None:
        """The body is complete (flushes)."""
        ...

    def abort(self) -> None:
        """Cut the client connection (a response that started cannot become an error)."""
        ...

    def bind_producer(self, producer: asyncio.Transport | None) -> None:
        """Pause ``producer`` while the client reads slower than the replica writes."""
        ...


class PassThroughSink:
    """A :class:`ResponseSink` that passes everything to ``sink``; subclasses override the
    steps they change (a tee keeping the body, extra headers on the head)."""

    __slots__ = ("_sink",)

    def __init__(self, sink: ResponseSink) -> None:
        self._sink = sink

    @property
    def status(self) -> int:
        return self._sink.status

    @property
    def started(self) -> bool:
        return self._sink.started

    def start(
        self, status: int, reason: bytes, headers: list[tuple[bytes, bytes]], length: int | None
    ) -> None:
        self._sink.start(status, reason, headers, length)

    def write(self, data: bytes) -> None:
        self._sink.write(data)

    def flush(self) -> None:
        self._sink.flush()

    def end(self) -> None:
        self._sink.end()

    def abort(self) -> None:
        self._sink.abort()

    def bind_producer(self, producer: asyncio.Transport | None) -> None:
        self._sink.bind_producer(producer)


class RequestDeadline(Protocol):
    """The revision's timeout of one request on the coroutine lane."""

    def cancel(self) -> None:
        """The response has started: the timeout no longer applies (streams may run long)."""
        ...


class HopRecord(Protocol):
    """A hop's trace span as the data path keeps it (the trace middleware's ``TraceHop``)."""

    def record(self, *, replica: str, status: int, duration_s: float) -> None: ...


@dataclass(slots=True, eq=False)
class RequestContext:
    """What the activator and its middlewares tell each other about one request."""

    deadline: RequestDeadline | None = None
    """Set by the activator for the handler chain: the innermost handler cancels it once the
    response head arrives."""
    replica: str | None = None
    """The replica id the request was last sent to (for the trace hop record)."""
    trace: HopRecord | None = None
    """This hop's span, set by the trace middleware when it records the hop."""
    grpc: GrpcCall | None = None
    """Set by the ingress for a gRPC call (h2c): the innermost handler proxies it over h2c to the
    replica's gRPC port, and its trailers go to the client's stream."""
    acquired: float | None = None
    """Monotonic instant the request got its replica slot (the end of the activator's wait)."""
    on_finish: Callable[[int], None] | None = None
    """Called once, with the status code, when the activator's accounting counts the request
    out (either lane); the trace layer ends a sampled hop's spans here."""


@dataclass(slots=True, eq=False)
class ProxyRequest:
    """A request on its way to a replica."""

    method: bytes
    target: bytes
    """Path and query as the client sent them."""
    headers: bytes
    """Header lines for the replica (``Name: value\\r\\n`` each), hop-by-hop and framing removed,
    forwarding headers added."""
    request_id: str
    body: BodyStream | None = None
    content_length: int | None = None
    """Set when the client framed the body by length; None with a body means chunked."""
    _ctx: RequestContext | None = field(default=None, init=False, repr=False)

    @property
    def ctx(self) -> RequestContext:
        """The request's context, made on first use (the fast lane never needs one)."""
        ctx = self._ctx
        if ctx is None:
            ctx = self._ctx = RequestContext()
        return ctx

    def derive(
        self,
        method: bytes,
        target: bytes,
        headers: bytes,
        body: BodyStream | None,
        content_length: int | None,
    ) -> ProxyRequest:
        """A request sent on behalf of this one (the batcher's calls): same id and context."""
        derived = ProxyRequest(method, target, headers, self.request_id, body, content_length)
        derived._ctx = self.ctx
        return derived


Handler = Callable[[ProxyRequest, ResponseSink], Awaitable[None]]
"""Serve one request of one revision (the innermost handler proxies it to a replica)."""

Middleware = Callable[[RevisionSpec, Handler], Handler]
"""Wrap a revision's handler; called once per revision version with its spec."""


class Rewrite:
    """A middleware layer that, in the common case, only works on the request on its way in and
    on the response as it passes.

    ``prepare(request, sink)`` does that work and returns the sink the response goes to (``sink``
    itself, or a wrapper that sees the response stream by), or returns None (request untouched)
    when this request needs the layer's ``full`` handler (which calls ``inner`` itself). As the
    layer has no code to run after the response except in its sink, the activator may apply
    ``prepare`` and proxy the request without a coroutine (its fast path); called as a handler,
    the layer does the same through the awaitables.
    """

    __slots__ = ("full", "inner", "prepare")

    def __init__(
        self,
        prepare: Callable[[ProxyRequest, ResponseSink], ResponseSink | None],
        full: Handler,
        inner: Handler,
    ) -> None:
        self.prepare = prepare
        self.full = full
        self.inner = inner

    def __call__(self, request: ProxyRequest, sink: ResponseSink) -> Awaitable[None]:
        out = self.prepare(request, sink)
        if out is None:
            return self.full(request, sink)
        return self.inner(request, out)


def answer_error(sink: ResponseSink, exc: MiniknError) -> None:
    """Answer ``exc`` as ``{"error": message}`` with its HTTP status (and ``Retry-After`` when it
    has one); a response already started is cut instead."""
    if sink.started:
        log.info("%s after the response started; cutting the connection", exc)
        sink.abort()
        return
    retry_after = getattr(exc, "retry_after", None)
    extra = [(b"retry-after", b"%d" % retry_after)] if isinstance(retry_after, int) else []
    send_error(sink, http_status(exc), exc.message, extra)


def send_error(
    sink: ResponseSink, status: int, message: str, headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    """Answer ``status`` with a ``{"error": message}`` JSON body (plus ``headers``)."""
    body = json.dumps({"error": message}).encode()
    all_headers = [(b"content-type", b"application/json"), *headers]
    all_headers.append((b"content-length", b"%d" % len(body)))
    sink.start(status, b"", all_headers, len(body))  # the client sink writes the phrase
    sink.write(body)
    sink.end()
