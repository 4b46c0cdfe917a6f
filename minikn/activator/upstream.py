"""Pooled keep-alive HTTP/1.1 connections to replicas, and the byte pump of one request.

A connection is an :class:`asyncio.Protocol` whose response parser (httptools, llhttp in C) calls
straight into the client's :class:`ResponseSink`: the response body is never buffered, so chunked
responses and server-sent events reach the client as the replica writes them.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections import deque
from collections.abc import Callable
from typing import cast

import httptools

from minikn.core.endpoints import Endpoint
from minikn.core.errors import BadGateway
from minikn.wire.http import BodyStream, ProxyRequest, ResponseSink

__all__ = [
    "ConnState",
    "NeverReached",
    "Retry",
    "UpstreamConnection",
    "UpstreamPool",
    "resend",
    "send",
    "verdict",
]

log = logging.getLogger("minikn.activator.upstream")

_HOP = frozenset(
    (b"connection", b"keep-alive", b"transfer-encoding", b"proxy-connection", b"upgrade", b"te")
)
_HOP_OR_LENGTH = _HOP | {b"content-length"}
_CONNECT_TIMEOUT = 5.0


class NeverReached(Exception):
    """The request never reached the replica; it is safe to try another.

    ``refused``: the replica did not take a connection at all (refused, timed out, gone), or
    closed a fresh one without a byte of answer, so it should get no more requests for a while.
    ``stale``: a connection reused from the pool had been closed by the replica (its close not yet
    seen): the retry is not counted as an attempt, and the replica's other idle connections are
    closed, so that the next try on it opens a fresh one.
    """

    def __init__(self, message: str, *, refused: bool = False, stale: bool = False) -> None:
        super().__init__(message)
        self.refused = refused
        self.stale = stale


class ConnState(enum.Enum):
    """Where a replica connection is in its life (httpcore's ``HTTPConnectionState``).

    ====================  ======  ======  ======
    event                 IDLE    ACTIVE  CLOSED
    ====================  ======  ======  ======
    connected (start)     -       -       -
    ``begin`` a request   ACTIVE  error   error
    response ends, k-a    -       IDLE    -
    response ends, close  -       CLOSED  -
    lost, bad HTTP,       CLOSED  CLOSED  CLOSED
    ``detach``, ``close``
    ====================  ======  ======  ======

    Only an IDLE connection is pooled and reused; a CLOSED one never leaves that state.
    """

    IDLE = "idle"
    """Connected, no request on it: may wait in the pool for the next one."""
    ACTIVE = "active"
    """A request is on it (sent or being sent; its response not over)."""
    CLOSED = "closed"
    """Closed, closing, or told by the replica not to be reused."""


_IDLE, _ACTIVE, _CLOSED = ConnState.IDLE, ConnState.ACTIVE, ConnState.CLOSED


class UpstreamConnection(asyncio.Protocol):
    """One keep-alive connection to a replica; serves one request at a time."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.state = _CLOSED
        """:class:`ConnState`; CLOSED until connected."""
        self.transport: asyncio.Transport | None = None
        self.expires_at = 0.0
        """While pooled: when it stops being fit for reuse (on the pool's clock)."""
        self._parser = httptools.HttpResponseParser(self)
        self._sink: ResponseSink | None = None
        self._headers: list[tuple[bytes, bytes]] = []
        """The response head's end-to-end headers (hop-by-hop ones are dropped as they come)."""
        self._length: int | None = None
        self._bound = False
        """The client's sink pauses this connection's reading while the client is slow."""
        self._on_head: Callable[[], None] | None = None
        self._on_end: Callable[[Exception | None], None] | None = None
        self._head_only = False
        self._drain: asyncio.Future[None] | None = None
        # Progress of the request on it (for the timeout and for replaying a request):
        self.received = False
        """Some bytes of the response arrived."""
        self.head_received = False
        """The response head arrived (the revision's timeout no longer applies)."""

    def has_expired(self, now: float) -> bool:
        """True when this connection must not take another request: it is not idle (closed, or
        busy), or it has been idle past its expiry (``now`` on the pool's clock)."""
        return self.state is not _IDLE or now >= self.expires_at

    def close(self) -> None:
        """Close the connection (an exchange on it ends with an error, as if the replica had)."""
        self.state = _CLOSED
        if self.transport is not None:
            self.transport.close()

    # asyncio.Protocol --------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its interface.
        self.transport = cast(asyncio.Transport, transport)
        self.state = _IDLE

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
            self.state = _CLOSED
            self._fail(BadGateway(f"replica {self.endpoint.replica_id} sent bad HTTP: {exc}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.state = _CLOSED
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
        if self.state is _ACTIVE:
            # After a HEAD answer the parser's position is unknown: not reused.
            keep = not self._head_only and self._parser.should_keep_alive()
            self.state = _IDLE if keep else _CLOSED
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
        """Start an exchange on this idle connection: ``on_end`` is called once, with None when
        the response has been streamed whole or with the error that ended it."""
        self.state = _ACTIVE
        self._sink = sink
        self._head_only = head_only
        self._on_head = on_head
        self.head_received = False
        self.received = False
        self._on_end = on_end

    def detach(self) -> None:
        """Drop the exchange in progress (its caller gave up) and close the connection."""
        self._on_end = None
        self._on_head = None
        self._unbind()
        self._sink = None
        self.close()

    async def drain(self) -> None:
        if self._drain is not None:
            await self._drain


class UpstreamPool:
    """Idle keep-alive connections per replica address.

    Idle connections older than ``idle_timeout`` are dropped, not reused: servers close idle
    keep-alive connections (uvicorn after 5 s), and reusing one that is closing would fail a
    request. All of a replica's connections, idle or busy, are bounded by the throttler: a
    connection is opened only for a request holding one of the replica's slots and none idle. Of
    those, at most ``max_idle`` per replica stay pooled once their request is over (Knative's
    ``MaxIdleProxyConnsPerHost``): beyond it the longest idle is closed. The most recently used
    connection is reused first (it is the least likely to have been closed by the replica).
    """

    def __init__(
        self, *, now: Callable[[], float], idle_timeout: float, max_idle: int = 100
    ) -> None:
        self._idle: dict[tuple[str, int], deque[UpstreamConnection]] = {}
        self._now = now
        self._idle_timeout = idle_timeout
        self._max_idle = max_idle

    def idle(self, endpoint: Endpoint) -> UpstreamConnection | None:
        """A pooled idle connection to ``endpoint``, if one is fresh enough (no await needed)."""
        idle = self._idle.get((endpoint.host, endpoint.port))
        if not idle:
            return None
        now = self._now()
        while idle:
            conn = idle.pop()
            if not conn.has_expired(now):
                return conn
            conn.close()
        return None

    def idle_count(self, endpoint: Endpoint) -> int:
        """Connections to ``endpoint`` waiting in the pool (expired ones included)."""
        return len(self._idle.get((endpoint.host, endpoint.port), ()))

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
        """``conn``'s request is over: pool it if it is idle, else close it."""
        if conn.state is not _IDLE:
            conn.close()
            return
        conn.expires_at = self._now() + self._idle_timeout
        ep = conn.endpoint
        key = (ep.host, ep.port)
        idle = self._idle.get(key)
        if idle is None:
            idle = self._idle[key] = deque()
        elif len(idle) >= self._max_idle:
            idle.popleft().close()
        idle.append(conn)

    def forget(self, endpoint: Endpoint) -> None:
        """Close the idle connections of a replica that went away."""
        for conn in self._idle.pop((endpoint.host, endpoint.port), ()):
            conn.close()

    def close(self) -> None:
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
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

    Raises NeverReached when the connection failed before any byte of answer and the request may
    be sent again (:func:`verdict`; a whole body is put back on ``request`` for the next try);
    BadGateway when the replica dropped it.
    """
    transport = conn.transport
    if transport is None or conn.state is not _IDLE:
        raise NeverReached("connection closed before use", stale=True)
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_end(exc: Exception | None) -> None:
        if not done.done():
            if exc is None:
                done.set_result(None)
            else:
                done.set_exception(exc)

    conn.begin(sink, head_only=request.method == b"HEAD", on_head=on_head, on_end=on_end)
    body = request.body
    whole: bytes | None = None
    try:
        whole = await _write_request(conn, transport, head, request)
        await done
    except BadGateway:
        again = verdict(
            received=conn.received,
            reused=reused,
            method=request.method,
            body=body is not None,
            resendable=body is None or whole is not None,
        )
        if again is Retry.NO:
            raise
        if whole is not None:
            request.body = resend(whole)
        if again is Retry.STALE:
            raise NeverReached("reused connection was closed", stale=True) from None
        raise NeverReached("new connection closed before any answer", refused=True) from None
    finally:
        if not done.done():
            # Cut off before the response ended (the client went away, the timeout, a body over
            # the limit): nobody waits for the end any more, so none must be recorded.
            conn.detach()
        elif not done.cancelled():
            done.exception()  # seen (the replica may have closed while the body was read)


async def _write_request(
    conn: UpstreamConnection, transport: asyncio.Transport, head: bytes, request: ProxyRequest
) -> bytes | None:
    """Write the head and stream the body (length-framed or chunked) as the client sends it.

    Returns the whole body when it was all at hand and written in one piece (it can be sent
    again), else None."""
    body = request.body
    if body is None:
        transport.write(head)
        return None
    whole = body.complete
    if request.content_length is not None:
        first = body.read_nowait()
        transport.write(head + first if first else head)
        if whole:
            return first
        while not body.at_eof:
            await conn.drain()
            chunk = await body.read()
            if chunk:
                transport.write(chunk)
        return None
    if whole:
        data = body.read_nowait()
        if data:
            transport.write(b"%b%x\r\n%b\r\n0\r\n\r\n" % (head, len(data), data))
        else:
            transport.write(head + b"0\r\n\r\n")
        return data
    transport.write(head)
    while True:
        await conn.drain()
        chunk = await body.read()
        if not chunk:
            break
        transport.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
    transport.write(b"0\r\n\r\n")
    return None


def resend(data: bytes) -> BodyStream:
    """A request body, whole, to send again (the first try read it)."""
    stream = BodyStream(None)
    stream.feed(data)
    stream.feed_eof()
    return stream


class Retry(enum.Enum):
    """What to do with a request whose replica connection failed (:func:`verdict`)."""

    NO = "no"
    """Answer 502: the replica may have seen it (or it cannot be sent again)."""
    STALE = "stale"
    """Send it again: the replica had closed the pooled connection it went out on."""
    EJECT = "eject"
    """Send it again elsewhere: a new connection closed before any answer (the replica is going)."""


def verdict(*, received: bool, reused: bool, method: bytes, body: bool, resendable: bool) -> Retry:
    """Whether a request whose connection failed (EOF, reset) may be sent again.

    Nothing of an answer arrived on a connection reused from the idle pool: the replica closed it
    before the request got there as far as anyone can know (Envoy's ``retry_on: reset`` on a
    reused connection, Go's transport), so any method is sent again if its body can be
    (``resendable``: none, or all of it at hand when written). On a new connection the replica
    may have read the request before it died: only an idempotent request without a body is.
    Once a byte of answer arrived, never.
    """
    if received:
        return Retry.NO
    if reused:
        return Retry.STALE if resendable else Retry.NO
    if not body and method in _IDEMPOTENT:
        return Retry.EJECT
    return Retry.NO
