"""One client connection of the ingress: an HTTP/1.1 server protocol on httptools (llhttp).

The request head is parsed in C and handed to the router once the bytes at hand are parsed (so a
small body that came with its head is whole when the request is routed; a larger one streams into
a :class:`BodyStream` while the request is routed, buffered and proxied). The router answers at
once, or returns the coroutine that serves the request (run as a task), or an in-flight fast-path
exchange that calls :meth:`ClientConnection.settle` when done. Each request gets its own
:class:`~minikn.router.response.Response`, the sink its answer is written to.

Requests on one connection are served in order. As uvicorn does, reading pauses while a parsed
request waits behind the one being served; more than ``maxPipelinedRequests`` parsed ahead in one
read stops reading for good, and the connection closes once those are answered.

The connection protects itself as Envoy and nginx do (limits in ``minikn.router``): a head over
``maxRequestHeadBytes`` or ``maxRequestHeaders`` is refused with 431 as soon as the bytes say so
(nothing beyond the limit is kept); a body over ``maxBodyBytes`` with 413, whatever its framing;
protocol upgrades with 501 and ``CONNECT`` with 405; anything llhttp cannot parse with 400. The
router's sweep calls :meth:`ClientConnection.sweep`, which applies the timeouts of
:mod:`minikn.router.timeouts` (408 for a head or body that stops arriving). After an error answer
the connection half-closes and reads and discards what the client still sends for up to
``lingeringTime`` (nginx's lingering close), so the client reads the answer instead of a reset.

A connection whose first bytes are the HTTP/2 preface (h2c with prior knowledge, as gRPC clients
connect) is handed to :class:`~minikn.router.h2.H2ServerConnection` for the rest of its life.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Protocol, cast

import httptools

from minikn.config.router import RouterConfig
from minikn.router.h2 import PREFACE, H2ServerConnection, StreamServe
from minikn.router.response import Response
from minikn.router.timeouts import Phase, Watch
from minikn.wire.http import BodyStream, send_error

__all__ = ["ClientConnection", "InFlight", "IncomingRequest", "Pending"]

LINGER_DISCARD_BYTES = 4 * 1024 * 1024
"""Input discarded after an error answer before reading stops until the close (nginx reads and
drops for ``lingering_time``; a flood on loopback could push a GiB in that time)."""

log = logging.getLogger("minikn.router.connection")

_BODY_FULL = 1
"""Reading paused: a request body is buffered above its high-water mark."""
_QUEUED = 2
"""Reading paused: a parsed request waits behind the one being served."""
_REFUSED = 4
"""Reading paused: an error answer waits for the requests before it."""

_ALLOW = b"GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"


class IncomingRequest:
    """A parsed request head (raw header names and values) and its streaming body."""

    __slots__ = ("body", "headers", "keep_alive", "method", "url", "version")

    def __init__(  # noqa: PLR0917 - built once per request by the parser callback
        self,
        method: bytes,
        url: bytes,
        version: str,
        headers: list[tuple[bytes, bytes]],
        keep_alive: bool,
        body: BodyStream,
    ) -> None:
        self.method = method
        self.url = url
        self.version = version
        self.headers = headers
        self.keep_alive = keep_alive
        self.body = body


class InFlight(Protocol):
    """A request in progress outside any task (the activator's fast path)."""

    def cancel(self) -> None:
        """The client went away."""
        ...


Pending = Coroutine[Any, Any, None] | InFlight | None
"""What serving a request returned: None (answered), a coroutine to run, or an :class:`InFlight`
that calls :meth:`ClientConnection.settle` when it is done."""

Serve = Callable[[IncomingRequest, Response], Pending]


class _Refuse(Exception):
    """Raised from a parser callback to stop parsing: answer ``status`` (0: none) and close."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ClientConnection(asyncio.Protocol):
    """Server side of one client connection."""

    def __init__(
        self,
        serve: Serve,
        on_close: Callable[[ClientConnection], None],
        *,
        max_body: int,
        limits: RouterConfig,
        accepted: float,
        serve_h2: StreamServe | None = None,
        now: Callable[[], float] | None = None,
    ) -> None:
        """``serve_h2`` serves the streams of an h2c connection (None: h2c is refused as
        malformed HTTP/1.1); ``now`` is the clock its ``grpc-timeout`` deadlines are read on."""
        self._serve = serve
        self._serve_h2 = serve_h2
        self._now = now
        self._sniff: bytes | None = b"" if serve_h2 is not None else None
        """The first bytes while they may still be the HTTP/2 preface (None once decided)."""
        self._h2: H2ServerConnection | None = None
        self._h2_idle = (0, accepted)
        self._on_close = on_close
        self._max_body = max_body
        self._limits = limits
        self._max_head = limits.max_request_head_bytes
        self._parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.peer = ""
        self._settle = self.settle
        # The head being parsed.
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._head_bytes = 0  # bytes read since the last complete head (an upper bound on its size)
        self._heads = 0  # heads parsed on this connection
        self._bytes_in = 0
        # Requests.
        self._incoming: IncomingRequest | None = None  # the one whose body is arriving
        self._queue: deque[IncomingRequest] = deque()  # parsed, not started
        self._current: IncomingRequest | None = None
        self._response: Response | None = None
        self._task: asyncio.Task[None] | None = None
        self._in_flight: InFlight | None = None
        # Flow control, errors, timeouts.
        self._producer: asyncio.Transport | None = None
        self._write_paused = False
        self._paused = 0  # why reading is paused (_BODY_FULL | _QUEUED | _REFUSED)
        self._refusal: tuple[int, str, Sequence[tuple[bytes, bytes]]] | None = None
        self._lingering = False
        self._discarded = 0
        self._watch = Watch(Phase.HEAD, accepted)

    # asyncio.Protocol --------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its interface.
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.peer = str(peer[0]) if isinstance(peer, tuple) else ""

    def data_received(self, data: bytes) -> None:
        if self._h2 is not None:
            self._h2.data_received(data)
            return
        if self._sniff is not None:
            data = self._sniff + data
            if PREFACE.startswith(data[:24]):
                if len(data) < len(PREFACE):
                    self._sniff = data
                    return
                self._upgrade_h2(data)
                return
            self._sniff = None
        self._bytes_in += len(data)
        if self._lingering or self._refusal is not None:
            # After an error answer, input is discarded; past LINGER_DISCARD_BYTES it is not read
            # at all (TCP stops the client) until the sweep closes the connection: the client
            # keeps its time to read the answer, a flood gets no further.
            before, self._discarded = self._discarded, self._discarded + len(data)
            if before <= LINGER_DISCARD_BYTES < self._discarded and self.transport is not None:
                self.transport.pause_reading()
            return
        if self._incoming is None:
            self._head_bytes += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._refuse_upgrade()
        except httptools.HttpParserError as exc:
            refused = exc.__context__
            if isinstance(refused, _Refuse):
                self._refuse(refused.status, refused.message)
            else:
                self._refuse(400, f"malformed HTTP request: {exc}")
        else:
            if self._incoming is None and self._head_bytes > self._max_head:
                self._refuse(431, f"request head larger than {self._max_head} bytes")
        if self._current is None and self._queue:
            self._start(self._queue.popleft())

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self._h2 is not None:
            self._h2.connection_lost()
        self._cancel_current()
        if self._incoming is not None:
            self._incoming.body.feed_eof()
        self._on_close(self)

    def pause_writing(self) -> None:
        self._write_paused = True
        if self._h2 is not None:
            self._h2.pause_writing()
        if self._producer is not None:
            self._producer.pause_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._h2 is not None:
            self._h2.resume_writing()
        if self._producer is not None:
            self._producer.resume_reading()

    # The BodyStream's source: pause above its high-water mark, resume once read.

    def pause_reading(self) -> None:
        self._pause(_BODY_FULL)

    def resume_reading(self) -> None:
        self._resume(_BODY_FULL)

    def _pause(self, reason: int) -> None:
        if not self._paused and self.transport is not None:
            self.transport.pause_reading()
        self._paused |= reason

    def _resume(self, reason: int) -> None:
        if self._paused & reason:
            self._paused &= ~reason
            if not self._paused and self.transport is not None:
                self.transport.resume_reading()

    def _upgrade_h2(self, data: bytes) -> None:
        """The client speaks HTTP/2 (prior knowledge): h2 serves the connection from now on."""
        self._sniff = None
        transport, serve, now = self.transport, self._serve_h2, self._now
        if transport is None or serve is None or now is None:
            return
        self._h2 = H2ServerConnection(transport, serve, self._limits, now, self.peer)
        self._h2.data_received(data)

    # httptools callbacks ----------------------------------------------------------------------

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        headers = self._headers
        if len(headers) > self._limits.max_request_headers:
            raise _Refuse(
                431, f"more than {self._limits.max_request_headers} request header fields"
            )
        if self._head_bytes > self._max_head:  # this read held more than a head's limit: measure
            size = len(self._url) + sum(len(n) + len(v) + 4 for n, v in headers)
            if size > self._max_head:
                raise _Refuse(431, f"request head larger than {self._max_head} bytes")
        parser = self._parser
        version = parser.get_http_version()
        if version != "1.1" and version != "1.0":  # noqa: PLR1714 - the common case first
            if version == "0.9":  # llhttp accepts a request line without a version
                raise _Refuse(400, "HTTP/0.9 requests are not supported")
            raise _Refuse(505, f"HTTP/{version} is not supported over HTTP/1 framing")
        request = IncomingRequest(
            parser.get_method(),
            self._url,
            version,
            headers,
            parser.should_keep_alive(),
            BodyStream(self, self._max_body),
        )
        self._url = b""  # for the next request on this connection
        self._headers = []
        self._head_bytes = 0
        self._heads += 1
        queue = self._queue
        if self._current is not None or queue:  # pipelined: wait behind the one served
            ahead = len(queue) if self._current is not None else len(queue) - 1
            if ahead >= self._limits.max_pipelined_requests:
                raise _Refuse(0, "too many pipelined requests")
            self._pause(_QUEUED)
        self._incoming = request
        self._queue.append(request)  # started once the bytes at hand are parsed

    def on_body(self, body: bytes) -> None:
        incoming = self._incoming
        if incoming is not None:
            incoming.body.feed(body)
            if incoming.body.received > self._max_body:
                raise _Refuse(413, f"request body larger than {self._max_body} bytes")

    def on_message_complete(self) -> None:
        if self._incoming is not None:
            self._incoming.body.feed_eof()
            self._incoming = None

    # Request lifecycle ------------------------------------------------------------------------

    def _start(self, request: IncomingRequest) -> None:
        self._current = request
        if self._paused & _QUEUED and not self._queue:
            self._resume(_QUEUED)
        response = self._response = Response(
            self, self._settle, keep_alive=request.keep_alive, version=request.version
        )
        try:
            pending = self._serve(request, response)
        except Exception:
            log.exception("router: request %s %r failed", request.method, request.url)
            self._internal_error(response)
            pending = None
        self.settle(pending)

    def settle(self, pending: Pending = None) -> None:
        """The current request is answered (None), goes on in a coroutine, or is in flight."""
        if pending is None:
            self._in_flight = None
            self._finish()
        elif inspect.iscoroutine(pending):
            self._in_flight = None
            task = self._task = asyncio.get_running_loop().create_task(pending)
            task.add_done_callback(self._ran)
        else:
            self._in_flight = cast(InFlight, pending)

    def _ran(self, task: asyncio.Task[None]) -> None:
        """The coroutine serving the current request ended (the task itself, not a wrapper, so a
        request cut off before its first step is still closed properly)."""
        exc = None if task.cancelled() else task.exception()
        if task is not self._task:
            return  # cut off (refused, timed out, connection lost): nothing more to do
        self._task = None
        if task.cancelled():
            return
        if exc is not None:
            request = self._current
            log.error(
                "router: request %r failed",
                request.url if request is not None else b"?",
                exc_info=exc,
            )
            if self._response is not None:
                self._internal_error(self._response)
        self._finish()

    def _internal_error(self, response: Response) -> None:
        if response.status == 0:
            send_error(response, 500, "internal error")
        else:
            response.abort()

    def _finish(self) -> None:
        request, self._current = self._current, None
        response, self._response = self._response, None
        transport = self.transport
        if request is None or response is None or transport is None or transport.is_closing():
            return
        if not request.body.complete:  # answered before the client finished sending
            self._linger()
        elif not response.keep_alive:
            transport.close()
        elif self._queue:  # the next pipelined request, once this call has returned
            asyncio.get_running_loop().call_soon(self._next)
        elif self._refusal is not None:
            self._answer_refusal()

    def _next(self) -> None:
        if self._current is None and self._queue and self.transport is not None:
            self._start(self._queue.popleft())
        elif self._current is None and not self._queue and self._refusal is not None:
            self._answer_refusal()

    def _cancel_current(self) -> Response | None:
        """Stop serving the current request (its writes go nowhere from now on)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._task = None
        if self._in_flight is not None:
            in_flight, self._in_flight = self._in_flight, None
            in_flight.cancel()
        response, self._response = self._response, None
        self._current = None
        if response is not None:
            response.detached = True
        return response

    # Refusals: answer an error, then close -------------------------------------------------------

    def _refuse_upgrade(self) -> None:
        # llhttp may have completed the message before pausing: the request is the last parsed.
        request = self._incoming or (self._queue[-1] if self._queue else None)
        self._incoming = request
        method = request.method if request is not None else b""
        if method == b"CONNECT":
            self._refuse(405, "CONNECT is not supported: minikn is not a forward proxy",
                         [(b"allow", _ALLOW)])  # fmt: skip
            return
        upgrade = b""
        for name, value in request.headers if request is not None else ():
            if name.lower() == b"upgrade":
                upgrade = value
        protocol = upgrade.decode("latin-1")[:64] or "another protocol"
        self._refuse(501, f"protocol upgrades ({protocol}) are not supported; use HTTP/1.1")

    def _refuse(
        self, status: int, message: str, headers: Sequence[tuple[bytes, bytes]] = ()
    ) -> None:
        """Stop reading requests: the one being received is answered ``status`` (0: not at all)
        once the requests before it are, then the connection closes."""
        self._refusal = (status, message, headers)
        refused, self._incoming = self._incoming, None
        # Nothing more is parsed: drop the partial head (and the parser holding part of it).
        self._url, self._headers = b"", []
        self._parser = httptools.HttpRequestParser(self)
        if refused is not None and refused is self._current:
            response = self._cancel_current()
            if response is not None and response.started:
                self.abort()  # its answer is under way: it cannot become an error any more
                return
        elif refused is not None and refused in self._queue:
            self._queue.remove(refused)
        if self._current is None and not self._queue:
            self._answer_refusal()
        else:
            self._pause(_REFUSED)

    def _answer_refusal(self) -> None:
        transport = self.transport
        if self._refusal is None or transport is None or transport.is_closing():
            return
        status, message, headers = self._refusal
        if status:
            log.info("router: %s: %d %s", self.peer, status, message)
            response = Response(self, self._settle, keep_alive=False, version="1.1")
            send_error(response, status, message, headers)
        self._linger()

    def _linger(self) -> None:
        """Half-close after the answer and discard what the client still sends (nginx's lingering
        close: closing with unread input would reset the connection, and the client could lose
        the answer); the sweep closes the connection after ``lingeringTime``."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        self._lingering = True
        self._incoming = None
        self._queue.clear()
        self._resume(self._paused)
        if transport.can_write_eof():
            transport.write_eof()
        else:
            transport.close()

    # Timeouts (called by the router's sweep) ----------------------------------------------------

    def phase(self) -> tuple[Phase, int]:
        """What the connection waits for now, and its progress counter (see timeouts.py)."""
        if self._lingering:
            return Phase.LINGER, 0
        if self.transport is None or self._paused:
            return Phase.BUSY, 0
        if self._incoming is not None:
            return Phase.BODY, self._bytes_in
        if self._current is not None or self._queue:
            return Phase.BUSY, 0
        if self._head_bytes or not self._heads:  # a new connection waits for its first head
            return Phase.HEAD, self._heads
        return Phase.IDLE, self._bytes_in

    def sweep(self, now: float) -> None:
        """Apply the timeout of the current phase (see :mod:`minikn.router.timeouts`)."""
        if self._h2 is not None:
            self._h2_idle = self._h2.sweep(now, self._h2_idle)
            return
        phase, progress = self.phase()
        if not self._watch.expired(phase, progress, now, self._limits):
            return
        if phase is Phase.HEAD and self._head_bytes:
            seconds = self._limits.request_head_timeout
            self._refuse(408, f"request head not received within {seconds:g} s")
        elif phase is Phase.BODY:
            seconds = self._limits.body_idle_timeout
            self._refuse(408, f"request body stalled: no bytes for {seconds:g} s")
        elif self.transport is not None:  # IDLE, LINGER, or nothing sent at all: close silently
            self.transport.close()

    # Used by the response and the router ----------------------------------------------------------

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def bind_producer(self, producer: asyncio.Transport | None) -> None:
        self._producer = producer
        if producer is not None and self._write_paused:
            producer.pause_reading()

    @property
    def busy(self) -> bool:
        """A request (or an h2 stream) is being served."""
        return self._current is not None or (self._h2 is not None and self._h2.busy)

    def close(self) -> None:
        """Close now (router shutdown)."""
        if self._task is not None:
            self._task.cancel()
        if self._h2 is not None:
            self._h2.close()
        if self.transport is not None:
            self.transport.close()
