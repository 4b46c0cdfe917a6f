"""Pooled keep-alive HTTP/1.1 connections to replicas, and the byte pump of one request.

A connection is an :class:`asyncio.Protocol` whose response parser (httptools, llhttp in C) calls
straight into the client's :class:`ResponseSink`: the response body is never buffered, so chunked
responses and server-sent events reach the client as the replica writes them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import cast

import httptools

from minikn.core.endpoints import Endpoint
from minikn.core.errors import BadGateway
from minikn.wire.http import ProxyRequest, ResponseSink

__all__ = ["NeverReached", "UpstreamConnection", "UpstreamPool", "replayable", "send"]

log = logging.getLogger("minikn.activator.upstream")

_HOP = frozenset(
    (b"connection", b"keep-alive", b"transfer-encoding", b"proxy-connection", b"upgrade", b"te")
)
_HOP_OR_LENGTH = _HOP | {b"content-length"}
_CONNECT_TIMEOUT = 5.0


class NeverReached(Exception):
    """The request never reached the replica; it is safe to try another.

    ``refused``: the replica did not take a connection at all (refused, timed out, gone), so it
    should get no more requests for a while; otherwise a reused connection had closed.
    """

    def __init__(self, message: str, *, refused: bool = False) -> None:
        super().__init__(message)
        self.refused = refused


class UpstreamConnection(asyncio.Protocol):
    """One keep-alive connection to a replica; serves one request at a time."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._sink: ResponseSink | None = None
        self._headers: list[tuple[bytes, bytes]] = []
        """The response head's end-to-end headers (hop-by-hop ones are dropped as they come)."""
        self._length: int | None = None
        self._bound = False
        """The client's sink pauses this connection's reading while the client is slow."""
        self._on_head: Callable[[], None] | None = None
        self.head_received = False
        self._on_end: Callable[[Exception | None], None] | None = None
        self._head_only = False
        self._drain: asyncio.Future[None] | None = None
        self.received = False
        self.reusable = False
        self.idle_since = 0.0

    # asyncio.Protocol --------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its interface.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.received = True
        sink = self._sink
        try:
            self._parser.feed_data(data)
            if sink is not None:
                sink.flush()
                if self._sink is not None and not self._bound and self.head_received:
                    # The response goes on past these bytes: from now on a slow client pauses
                    # the replica (a response whole in one read never needs this).
                    self._bound = True
                    sink.bind_producer(self.transport)
        except httptools.HttpParserError as exc:
            self._fail(BadGateway(f"replica {self.endpoint.replica_id} sent bad HTTP: {exc}"))
            if self.transport is not None:
                self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.reusable = False
        self.transport = None
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)
        self._fail(BadGateway(f"replica {self.endpoint.replica_id} closed the connection"))

    def pause_writing(self) -> None:
        self._drain = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)
        self._drain = None

    # httptools callbacks ----------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        lname = name.lower()
        if lname in _HOP_OR_LENGTH:
            if lname != b"content-length":
                return
            self._length = int(value)
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        headers, length = self._headers, self._length
        self._headers, self._length = [], None
        if 100 <= status < 200:  # an interim response: the real head follows
            return
        if status in (204, 304):
            length = 0
        if self._sink is not None:
            self._sink.start(status, b"", headers, length)
        self.head_received = True
        if self._on_head is not None:
            self._on_head()
        if self._head_only:
            self.on_message_complete()

    def on_body(self, body: bytes) -> None:
        if self._sink is not None:
            self._sink.write(body)

    def on_message_complete(self) -> None:
        on_end = self._on_end
        if on_end is None or not self.head_received:
            return  # the end of an interim response, or after a HEAD answer
        self._on_end = None
        self.reusable = not self._head_only and self._parser.should_keep_alive()
        self._unbind()
        sink, self._sink = self._sink, None
        if sink is not None:
            sink.end()
        on_end(None)

    # Use --------------------------------------------------------------------------------------

    def _unbind(self) -> None:
        if self._bound:
            self._bound = False
            if self._sink is not None:
                self._sink.bind_producer(None)

    def _fail(self, exc: Exception) -> None:
        self._unbind()
        on_end = self._on_end
        if on_end is not None:
            self._on_end = None
            on_end(exc)

    def begin(
        self,
        sink: ResponseSink,
        *,
        head_only: bool,
        on_head: Callable[[], None] | None,
        on_end: Callable[[Exception | None], None],
    ) -> None:
        """Start an exchange: ``on_end`` is called once, with None when the response has been
        streamed whole or with the error that ended it."""
        self._sink = sink
        self._head_only = head_only
        self._on_head = on_head
        self.head_received = False
        self.received = False
        self.reusable = False
        self._on_end = on_end

    def detach(self) -> None:
        """Drop the exchange in progress (its caller gave up) and close the connection."""
        self._on_end = None
        self._on_head = None
        self._unbind()
        self._sink = None
        self.reusable = False
        if self.transport is not None:
            self.transport.close()

    async def drain(self) -> None:
        if self._drain is not None:
            await self._drain


class UpstreamPool:
    """Idle keep-alive connections per replica address.

    Idle connections older than ``idle_timeout`` are dropped, not reused: servers close idle
    keep-alive connections (uvicorn after 5 s), and reusing one that is closing would fail a
    request. The idle connections of a replica are bounded by the throttler: a connection is
    opened only for a request holding one of the replica's slots and none idle, so a replica
    never has more connections, idle or busy, than it has slots.
    """

    def __init__(self, *, now: Callable[[], float], idle_timeout: float) -> None:
        self._idle: dict[tuple[str, int], list[UpstreamConnection]] = {}
        self._now = now
        self._idle_timeout = idle_timeout

    def idle(self, endpoint: Endpoint) -> UpstreamConnection | None:
        """A pooled idle connection to ``endpoint``, if one is fresh enough (no await needed)."""
        idle = self._idle.get((endpoint.host, endpoint.port))
        if not idle:
            return None
        now = self._now()
        while idle:
            conn = idle.pop()
            if conn.transport is not None and not conn.transport.is_closing():
                if now - conn.idle_since < self._idle_timeout:
                    return conn
                conn.transport.close()
        return None

    async def connect(self, endpoint: Endpoint) -> UpstreamConnection:
        """A new connection to ``endpoint``; NeverReached when none opens."""
        loop = asyncio.get_running_loop()
        factory: Callable[[], UpstreamConnection] = lambda: UpstreamConnection(endpoint)  # noqa: E731
        try:
            async with asyncio.timeout(_CONNECT_TIMEOUT):
                _, conn = await loop.create_connection(factory, endpoint.host, endpoint.port)
        except (OSError, TimeoutError) as exc:
            raise NeverReached(
                f"connect to {endpoint.host}:{endpoint.port}: {exc}", refused=True
            ) from exc
        return conn

    def release(self, conn: UpstreamConnection) -> None:
        if conn.reusable and conn.transport is not None and not conn.transport.is_closing():
            conn.idle_since = self._now()
            ep = conn.endpoint
            self._idle.setdefault((ep.host, ep.port), []).append(conn)
        elif conn.transport is not None:
            conn.transport.close()

    def forget(self, endpoint: Endpoint) -> None:
        """Close the idle connections of a replica that went away."""
        for conn in self._idle.pop((endpoint.host, endpoint.port), []):
            if conn.transport is not None:
                conn.transport.close()

    def close(self) -> None:
        for conns in self._idle.values():
            for conn in conns:
                if conn.transport is not None:
                    conn.transport.close()
        self._idle.clear()


_IDEMPOTENT = frozenset((b"GET", b"HEAD", b"OPTIONS"))


async def send(
    conn: UpstreamConnection,
    head: bytes,
    request: ProxyRequest,
    sink: ResponseSink,
    *,
    reused: bool,
    on_head: Callable[[], None] | None,
) -> None:
    """Send ``request`` over ``conn`` and stream the response into ``sink``.

    Raises NeverReached when a reused connection turned out closed before any answer and the
    request can be replayed (idempotent, no body); BadGateway when the replica dropped it.
    """
    transport = conn.transport
    if transport is None:
        raise NeverReached("connection closed before use")
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_end(exc: Exception | None) -> None:
        if not done.done():
            if exc is None:
                done.set_result(None)
            else:
                done.set_exception(exc)

    conn.begin(sink, head_only=request.method == b"HEAD", on_head=on_head, on_end=on_end)
    body = request.body
    try:
        if body is None:
            transport.write(head)
        elif request.content_length is not None:
            first = body.read_nowait()
            transport.write(head + first if first else head)
            while not body.at_eof:
                await conn.drain()
                chunk = await body.read()
                if chunk:
                    transport.write(chunk)
        else:
            transport.write(head)
            while True:
                await conn.drain()
                chunk = await body.read()
                if not chunk:
                    break
                transport.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
            transport.write(b"0\r\n\r\n")
        await done
    except BadGateway:
        if replayable(conn, request, reused=reused):
            raise NeverReached("reused connection was closed") from None
        raise


def replayable(conn: UpstreamConnection, request: ProxyRequest, *, reused: bool) -> bool:
    """True when ``request``, failed on ``conn``, cannot have reached the replica and may be sent
    to another: a reused connection that closed before any answer, a request without a body
    whose method is idempotent."""
    return reused and not conn.received and request.body is None and request.method in _IDEMPOTENT
