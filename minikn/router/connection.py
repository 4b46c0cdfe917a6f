"""One client connection of the ingress: an HTTP/1.1 server protocol on httptools (llhttp).

The request head is parsed in C and handed to the router once the bytes at hand are parsed (so a
small body that came with its head is whole when the request is routed; a larger one streams into
a :class:`BodyStream` while the request is routed, buffered and proxied). The router answers at
once, or returns the coroutine that serves the request (run as a task), or an in-flight fast-path
exchange that calls :meth:`ClientConnection.settle` when done. The connection is also the
:class:`ResponseSink`: response bytes from the replica are written straight to the client socket
(re-framed as chunked when the replica's length is unknown).
Requests on one connection are served in order (pipelined ones wait their turn).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import deque
from collections.abc import Callable, Coroutine
from http import HTTPStatus
from typing import Any, Protocol, cast

import httptools

from minikn.activator.http import BodyStream, send_error

__all__ = ["ClientConnection", "InFlight", "IncomingRequest", "Pending"]

log = logging.getLogger("minikn.router.connection")

_REASONS = {s.value: s.phrase.encode() for s in HTTPStatus}


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

Serve = Callable[[IncomingRequest, "ClientConnection"], Pending]


class ClientConnection(asyncio.Protocol):
    """Server side of one client connection; also the response sink of its current request."""

    def __init__(
        self, serve: Serve, on_close: Callable[[ClientConnection], None], *, max_body: int
    ) -> None:
        self._serve = serve
        self._max_body = max_body
        self.response_headers: list[tuple[bytes, bytes]] = []
        """Added to the response head of the current request (request id, revision)."""
        self._on_close = on_close
        self._parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.peer = ""
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._incoming: IncomingRequest | None = None
        self._queue: deque[IncomingRequest] = deque()  # parsed, not started (pipelined: rare)
        self._current: IncomingRequest | None = None
        self._task: asyncio.Task[None] | None = None
        self._in_flight: InFlight | None = None
        self._producer: asyncio.Transport | None = None
        self._write_paused = False
        # Response state of the current request.
        self._status = 0
        self._chunked = False
        self._keep_alive = True
        self._version = "1.1"
        self._out: list[bytes] = []

    # asyncio.Protocol --------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its interface.
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.peer = str(peer[0]) if isinstance(peer, tuple) else ""

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._reject(501, "protocol upgrades (websockets) are not supported")
            return
        except httptools.HttpParserError as exc:
            self._reject(400, f"malformed HTTP request: {exc}")
            return
        if self._current is None and self._queue:
            self._start(self._queue.popleft())

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self._task is not None and not self._task.done():
            self._task.cancel()
        if self._in_flight is not None:
            in_flight, self._in_flight = self._in_flight, None
            in_flight.cancel()
        if self._incoming is not None:
            self._incoming.body.feed_eof()
        self._on_close(self)

    def pause_writing(self) -> None:
        self._write_paused = True
        if self._producer is not None:
            self._producer.pause_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._producer is not None:
            self._producer.resume_reading()

    def pause_reading(self) -> None:
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None:
            self.transport.resume_reading()

    # httptools callbacks ----------------------------------------------------------------------

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        parser = self._parser
        request = IncomingRequest(
            parser.get_method(),
            self._url,
            parser.get_http_version(),
            self._headers,
            parser.should_keep_alive(),
            BodyStream(self, self._max_body),
        )
        self._url = b""  # for the next request on this connection
        self._headers = []
        self._incoming = request
        self._queue.append(request)  # started once the bytes at hand are parsed

    def on_body(self, body: bytes) -> None:
        if self._incoming is not None:
            self._incoming.body.feed(body)

    def on_message_complete(self) -> None:
        if self._incoming is not None:
            self._incoming.body.feed_eof()
            self._incoming = None

    # Request lifecycle ------------------------------------------------------------------------

    def _start(self, request: IncomingRequest) -> None:
        self._current = request
        self._status = 0
        self._chunked = False
        self._keep_alive = request.keep_alive
        self._version = request.version
        self.response_headers = []
        try:
            pending = self._serve(request, self)
        except Exception:
            log.exception("router: request %s %r failed", request.method, request.url)
            self._internal_error()
            pending = None
        self.settle(pending)

    def settle(self, pending: Pending = None) -> None:
        """The current request is answered (None), goes on in a coroutine, or is in flight."""
        if pending is None:
            self._in_flight = None
            self._finish()
        elif inspect.iscoroutine(pending):
            self._in_flight = None
            self._task = asyncio.get_running_loop().create_task(self._run(pending))
        else:
            self._in_flight = cast(InFlight, pending)

    async def _run(self, serving: Coroutine[Any, Any, None]) -> None:
        try:
            await serving
        except Exception:
            request = self._current
            log.exception("router: request %r failed", request.url if request is not None else b"?")
            self._internal_error()
        finally:
            self._task = None
        self._finish()

    def _internal_error(self) -> None:
        if self._status == 0:
            send_error(self, 500, "internal error")
        else:
            self.abort()

    def _finish(self) -> None:
        request, self._current = self._current, None
        transport = self.transport
        if request is None or transport is None or transport.is_closing():
            return
        if not self._keep_alive or not request.body.complete:
            transport.close()
        elif self._queue:  # the next pipelined request, once this call has returned
            asyncio.get_running_loop().call_soon(self._next)

    def _next(self) -> None:
        if self._current is None and self._queue and self.transport is not None:
            self._start(self._queue.popleft())

    def _reject(self, status: int, message: str) -> None:
        if self._current is None and not self._queue and self.transport is not None:
            self._keep_alive = False
            send_error(self, status, message)
        self.abort()

    # ResponseSink ---------------------------------------------------------------------------------

    @property
    def status(self) -> int:
        return self._status

    @property
    def started(self) -> bool:
        return self._status != 0

    def continue_100(self) -> None:
        if self.transport is not None:
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def start(
        self, status: int, reason: bytes, headers: list[tuple[bytes, bytes]], length: int | None
    ) -> None:
        self._status = status
        line = b"HTTP/1.1 %d %b\r\n" % (status, reason or _REASONS.get(status, b"Unknown"))
        extra = self.response_headers
        if extra:
            names = [name for name, _ in extra]
            lines = [b"%b: %b\r\n" % p for p in headers if p[0].lower() not in names]
            lines += [b"%b: %b\r\n" % p for p in extra]
        else:
            lines = [b"%b: %b\r\n" % p for p in headers]
        lines.insert(0, line)
        if length is None:
            if self._version == "1.1":
                self._chunked = True
                lines.append(b"transfer-encoding: chunked\r\n")
            else:
                self._keep_alive = False
        if not self._keep_alive:
            lines.append(b"connection: close\r\n")
        elif self._version == "1.0":
            lines.append(b"connection: keep-alive\r\n")
        lines.append(b"\r\n")
        self._out.append(b"".join(lines))

    def write(self, data: bytes) -> None:
        if data:
            self._out.append(b"%x\r\n%b\r\n" % (len(data), data) if self._chunked else data)

    def end(self) -> None:
        if self._chunked:
            self._out.append(b"0\r\n\r\n")
        self.flush()

    def flush(self) -> None:
        """Write what start/write/end queued, in one system call."""
        out = self._out
        if out:
            if self.transport is not None:
                self.transport.write(out[0] if len(out) == 1 else b"".join(out))
            out.clear()

    def abort(self) -> None:
        self._keep_alive = False
        if self.transport is not None:
            self.transport.close()

    def bind_producer(self, producer: asyncio.Transport | None) -> None:
        self._producer = producer
        if producer is not None and self._write_paused:
            producer.pause_reading()

    @property
    def busy(self) -> bool:
        """A request is being served."""
        return self._current is not None

    def close(self) -> None:
        """Close now (router shutdown)."""
        if self._task is not None:
            self._task.cancel()
        if self.transport is not None:
            self.transport.close()
