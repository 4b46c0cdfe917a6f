"""h2c on the ingress port: one client connection speaking HTTP/2 with prior knowledge (gRPC).

:class:`~minikn.router.connection.ClientConnection` hands a connection over when its first bytes
are the HTTP/2 preface. Each stream becomes a :class:`ServerStream`, both the gRPC call the
activator proxies (:class:`~minikn.wire.grpc.GrpcCall`) and the sink its response is written to
(:class:`~minikn.wire.http.ResponseSink`); the router routes it by ``:authority`` as an HTTP/1.1
request by ``Host``, and the coroutine that serves it runs as a task owned by the connection.

Bounds, as Envoy's h2 codec: ``h2MaxConcurrentStreams`` (a stream beyond it is a connection error:
GOAWAY), header lists over ``maxRequestHeadBytes`` (GOAWAY ENHANCE_YOUR_CALM) or with more than
``maxRequestHeaders`` fields (the stream ends RESOURCE_EXHAUSTED), ``h2StreamWindowBytes`` /
``h2ConnectionWindowBytes`` of request data held per stream / connection (acknowledged as the
replica takes it, so a slow or absent replica stops the client, not minikn's memory),
``h2MaxFrameBytes``. Frames are read and written by minikn's own framer
(:class:`~minikn.wire.h2server.H2ServerCodec`, which checks everything RFC 9113 asks of a server
facing an untrusted client); a connection error answers GOAWAY with its code and closes, a
malformed request header list or trailers too (``h2``'s own checks, run here so that a list
repeated call after call is checked once per connection). The router's sweep ends a stream
without a frame either way for ``h2StreamIdleTimeout`` (DEADLINE_EXCEEDED) and closes an idle
connection after ``keepAliveTimeout`` (GOAWAY NO_ERROR), one waiting for its preface after
``requestHeadTimeout``. Two floods end a connection with GOAWAY ENHANCE_YOUR_CALM
(:class:`~minikn.wire.h2server.FloodGuard`): a client that keeps sending while it reads nothing,
and one that resets more streams than it lets be answered (rapid reset).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from functools import partial
from typing import Any

import h2.exceptions

from minikn.config.router import RouterConfig
from minikn.wire.grpc import (
    GrpcStatus,
    grpc_status_of_http,
    parse_grpc_timeout,
    trailers_for,
)
from minikn.wire.h2frames import (
    CANCEL,
    ENHANCE_YOUR_CALM,
    INTERNAL_ERROR,
    NO_ERROR,
    PREFACE,
    PROTOCOL_ERROR,
    H2ProtocolError,
)
from minikn.wire.h2server import (
    FloodGuard,
    H2ServerCodec,
    ValidHeaderLists,
    validate_request_headers,
)
from minikn.wire.http import BodyStream

__all__ = ["PREFACE", "H2ServerConnection", "ServerStream", "StreamServe"]

log = logging.getLogger("minikn.router.h2")

_HIGH_WATER = 256 * 1024
"""Response bytes queued for one stream above which its replica stream is not acknowledged."""
_ERROR_BODY = 4096
"""Of a non-gRPC error answer's body, the bytes kept to make the ``grpc-message``."""
_DROP = frozenset(
    (
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"transfer-encoding",
        b"upgrade",
        b"content-length",
        b"te",
    )
)


def _kept(name: bytes) -> bool:
    """A replica's response field goes on to the client: named, not a pseudo-header (only
    ``:status``, which the router writes itself, is valid in a response), not hop-by-hop."""
    return bool(name) and name[0] != 0x3A and name.lower() not in _DROP


StreamServe = Callable[["ServerStream"], Coroutine[Any, Any, None] | None]
"""Route and serve one stream: None when answered at once, else the coroutine that serves it."""


class ServerStream:
    """One client stream: the request as it arrives, the response as the replica sends it."""

    __slots__ = (
        "_backlog",
        "_drained",
        "_end_pending",
        "_error_body",
        "_error_status",
        "_outbox",
        "_trailers",
        "body",
        "closed",
        "conn",
        "deadline",
        "deferred",
        "detached",
        "extra_headers",
        "grpc_status",
        "headers",
        "paused",
        "progress",
        "status",
        "stream_id",
        "task",
    )

    def __init__(
        self,
        conn: H2ServerConnection,
        stream_id: int,
        headers: list[tuple[bytes, bytes]],
        deadline: float | None,
    ) -> None:
        self.conn = conn
        self.stream_id = stream_id
        self.headers = headers
        self.deadline = deadline
        self.body = BodyStream(self)
        self.status = 0
        self.grpc_status = int(GrpcStatus.UNKNOWN)
        """The status the call ended with (UNKNOWN until its trailers are known)."""
        self.extra_headers: list[tuple[bytes, bytes]] = []
        """Added to the response headers (request id, revision)."""
        self.task: asyncio.Task[None] | None = None
        self.paused = False
        """The request body is above its high-water mark: received data is not acknowledged."""
        self.deferred = 0
        """Request bytes received while paused, acknowledged once the body is read."""
        self.closed = False
        """The stream is over (ended both ways, or reset): nothing more is sent on it."""
        self.detached = False
        self.progress = 0
        """Frames in either direction (the sweep's idle timeout watches it)."""
        self._outbox: deque[bytes] = deque()
        self._backlog = 0
        self._end_pending = False
        self._trailers: list[tuple[bytes, bytes]] | None = None
        self._drained: Callable[[], None] | None = None
        self._error_status = 0
        self._error_body = b""

    def header(self, name: bytes) -> bytes:
        for key, value in self.headers:
            if key == name:
                return value
        return b""

    @property
    def authority(self) -> bytes:
        return self.header(b":authority") or self.header(b"host")

    # The request body's source (BodyStream pauses it above its high-water mark) ----------------

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False
        if self.deferred:
            deferred, self.deferred = self.deferred, 0
            self.conn.acknowledge(self.stream_id, deferred)

    # GrpcCall ------------------------------------------------------------------------------------

    def set_trailers(self, trailers: Sequence[tuple[bytes, bytes]]) -> None:
        self._trailers = [(n.lower(), v) for n, v in trailers if _kept(n)]
        for name, value in self._trailers:
            if name == b"grpc-status" and value.isdigit():
                self.grpc_status = int(value)

    def fail(self, status: int, message: str) -> None:
        """End the call with ``status``: trailers-only before the response head, else trailers
        after the data already queued."""
        if self.closed or self._end_pending:
            return
        trailers = trailers_for(status, message)
        self.grpc_status = int(status)
        if self.status == 0:
            self.status = 200
            self._error_status = 0
            head = [(b":status", b"200"), (b"content-type", b"application/grpc"), *trailers]
            self.conn.send_headers(self, head, end_stream=True)
            return
        self._trailers = trailers
        self.end()

    @property
    def backlog(self) -> int:
        return self._backlog

    @property
    def waiting(self) -> bool:
        """Response data or trailers are queued, not yet sent (the client's window held them)."""
        return not self.closed and (bool(self._outbox) or self._end_pending)

    def on_drained(self, callback: Callable[[], None]) -> None:
        if self._backlog <= _HIGH_WATER:
            callback()
        else:
            self._drained = callback

    # ResponseSink ------------------------------------------------------------------------------

    @property
    def started(self) -> bool:
        return self.status != 0

    def start(
        self, status: int, reason: bytes, headers: list[tuple[bytes, bytes]], length: int | None
    ) -> None:
        content_type = b""
        for name, value in headers:
            if name.lower() == b"content-type":
                content_type = value
        if status != 200 or not content_type.startswith(b"application/grpc"):
            # Not a gRPC answer (a platform error, an HTTP/1 server on the port): it becomes a
            # gRPC status at the end, made from its HTTP status and its message.
            self._error_status = status
            return
        self.status = status
        head = [(b":status", b"200")]
        head += [(n.lower(), v) for n, v in headers if _kept(n)]
        head += self.extra_headers
        self.conn.send_headers(self, head, end_stream=False)

    def write(self, data: bytes) -> None:
        if not data or self.closed:
            return
        if self._error_status:
            if len(self._error_body) < _ERROR_BODY:
                self._error_body += data[: _ERROR_BODY - len(self._error_body)]
            return
        self._outbox.append(data)
        self._backlog += len(data)

    def flush(self) -> None:
        if self._outbox:
            self.conn.pump(self)

    def end(self) -> None:
        if self.closed or self._end_pending:
            return
        if self._error_status:
            code, self._error_status = self._error_status, 0
            self.fail(grpc_status_of_http(code), _error_message(code, self._error_body))
            return
        if self.status == 0:  # ended without a head: a replica that broke the protocol
            self.fail(GrpcStatus.INTERNAL, "the replica ended the call without a response")
            return
        if self._trailers is None:
            self.grpc_status = int(GrpcStatus.INTERNAL)
            self._trailers = trailers_for(
                GrpcStatus.INTERNAL, "the replica ended the call without a grpc-status"
            )
        self._end_pending = True
        self.conn.pump(self)

    def abort(self) -> None:
        self.conn.reset(self, INTERNAL_ERROR)

    def bind_producer(self, producer: asyncio.Transport | None) -> None:
        """Flow control is per stream (``backlog``/``on_drained``): nothing to bind."""

    # Used by the connection --------------------------------------------------------------------

    def send_pending(self, window: int, frame: int) -> tuple[list[bytes], bool]:
        """(the data chunks ``window`` admits, at most ``frame`` bytes each; whether the trailers
        go now)."""
        chunks: list[bytes] = []
        outbox = self._outbox
        while outbox and window > 0:
            data = outbox[0]
            size = min(len(data), window, frame)
            if size == len(data):
                outbox.popleft()
            else:
                outbox[0] = data[size:]
                data = data[:size]
            chunks.append(data)
            window -= size
            self._backlog -= size
        if self._drained is not None and self._backlog <= _HIGH_WATER:
            drained, self._drained = self._drained, None
            drained()
        return chunks, self._end_pending and not outbox

    def trailers(self) -> list[tuple[bytes, bytes]]:
        return self._trailers or trailers_for(GrpcStatus.OK, "")

    def closing(self) -> None:
        self.closed = True
        self._outbox.clear()
        self._backlog = 0
        self._drained = None


def _error_message(status: int, body: bytes) -> str:
    """The reason a non-gRPC answer carried (the platform's ``{"error": ...}``), else its code."""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, str):
        return error
    return f"HTTP {status} from upstream"


class _Calm(Exception):
    """The client floods the connection (answered GOAWAY ENHANCE_YOUR_CALM)."""


class H2ServerConnection:
    """The HTTP/2 state of one client connection (minikn's framer, sans I/O) and its streams."""

    def __init__(
        self,
        transport: asyncio.Transport,
        serve: StreamServe,
        limits: RouterConfig,
        now: Callable[[], float],
        peer: str = "",
    ) -> None:
        self.transport: asyncio.Transport | None = transport
        self.peer = peer
        self._serve = serve
        self._limits = limits
        self._now = now
        # What goes out is a replica's gRPC head and trailers (names lowercased, pseudo and
        # hop-by-hop fields dropped here) or minikn's own: not validated again. What comes in is
        # validated here with h2's own checks (``ValidHeaderLists``), each distinct
        # header list once per connection; the framer checks the frames.
        self._h2 = H2ServerCodec(
            max_concurrent_streams=limits.h2_max_concurrent_streams,
            max_header_list_size=limits.max_request_head_bytes,
            stream_window=limits.h2_stream_window_bytes,
            connection_window=limits.h2_connection_window_bytes,
            max_frame_size=limits.h2_max_frame_bytes,
        )
        self._h2.initiate()
        self.streams: dict[int, ServerStream] = {}
        self._write_paused = False
        self._goaway = False
        self.frames = 0
        """Reads with frames (the connection's progress for its idle timeout)."""
        self._idle: dict[int, tuple[int, float]] = {}
        self._flush_pending = False
        self._valid = ValidHeaderLists()
        self._guard = FloodGuard(limits.h2_connection_window_bytes)
        self._flush()

    # Bytes in ----------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        flood = self._guard.read(len(data))
        if flood is not None:
            self._calm(flood)
            return
        try:
            events = self._h2.receive(data)
        except H2ProtocolError as exc:
            log.info("router: h2 protocol error: %s", exc)
            self._flush()
            self._close_all()
            return
        self.frames += 1
        for event in events:
            try:
                self._event(event)
            except h2.exceptions.ProtocolError as exc:  # a malformed header list
                log.info("router: h2 protocol error: %s", exc)
                self._h2.close(PROTOCOL_ERROR)
                self._flush()
                self._close_all()
                return
            except _Calm as exc:
                self._calm(str(exc))
                return
        self._flush()

    def _calm(self, why: str) -> None:
        """GOAWAY ENHANCE_YOUR_CALM and close: the client floods the connection."""
        log.info("router: h2 client %s %s: closing the connection", self.peer, why)
        self._h2.close(ENHANCE_YOUR_CALM)
        self._flush()
        self._close_all()

    def _event(self, event: tuple[Any, ...]) -> None:
        kind, stream_id = event[0], event[1]
        if kind == "data":
            _, _, data, size, end_stream = event
            stream = self.streams.get(stream_id)
            if stream is None or stream.closed:
                if size:  # nobody reads it: the window goes back at once
                    self._h2.acknowledge(stream_id, size)
                return
            stream.progress += 1
            stream.body.feed(data)
            if size:
                if stream.paused:
                    stream.deferred += size
                else:
                    self._h2.acknowledge(stream_id, size)
            if end_stream:
                stream.body.feed_eof()
        elif kind == "request":
            self._request(stream_id, event[2], event[3])
        elif kind == "window":
            # A client acknowledges every answer: only a stream with output waiting for the
            # window is pumped (all of them for the connection's window and settings).
            if stream_id:
                stream = self.streams.get(stream_id)
                if stream is not None and stream.waiting:
                    self.pump(stream)
            else:
                self._pump_all()
        elif kind == "trailers":
            validate_request_headers(list(event[2]), trailers=True)
            stream = self.streams.get(stream_id)
            if stream is not None:
                stream.progress += 1
                stream.body.feed_eof()
        elif kind == "reset":
            stream = self.streams.pop(stream_id, None)
            if stream is not None:
                self._drop(stream)
                flood = self._guard.abandoned()
                if flood is not None:
                    raise _Calm(flood)
        elif kind == "goaway":
            self._goaway = True
            if not self.streams and self.transport is not None:
                self.transport.close()

    def _request(self, stream_id: int, fields: list[Any], end_stream: bool) -> None:
        headers = [(bytes(n), bytes(v)) for n, v in fields]
        self._valid.check(headers)
        deadline = None
        for name, value in headers:
            if name == b"grpc-timeout":
                seconds = parse_grpc_timeout(value)
                if seconds is not None:
                    deadline = self._now() + seconds
        stream = ServerStream(self, stream_id, headers, deadline)
        self.streams[stream_id] = stream
        if end_stream:
            stream.body.feed_eof()
        if len(headers) > self._limits.max_request_headers:
            stream.fail(
                GrpcStatus.RESOURCE_EXHAUSTED,
                f"more than {self._limits.max_request_headers} request header fields",
            )
            return
        try:
            pending = self._serve(stream)
        except Exception:
            log.exception("router: h2 stream %d failed", stream_id)
            stream.fail(GrpcStatus.INTERNAL, "internal error")
            return
        if pending is not None:
            task = stream.task = asyncio.get_running_loop().create_task(pending)
            task.add_done_callback(partial(self._ran, stream))

    def _ran(self, stream: ServerStream, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("router: h2 stream %d failed", stream.stream_id, exc_info=exc)
            if not stream.closed:
                stream.fail(GrpcStatus.INTERNAL, "internal error")
                self._flush()

    # Bytes out -----------------------------------------------------------------------------------

    def acknowledge(self, stream_id: int, size: int) -> None:
        """Request bytes of ``stream_id`` were taken (the connection's window comes back even
        when the stream is over)."""
        if self.transport is not None:
            self._h2.acknowledge(stream_id, size)
            self._flush()

    def send_headers(
        self, stream: ServerStream, headers: list[tuple[bytes, bytes]], *, end_stream: bool
    ) -> None:
        if stream.closed or self.transport is None:
            return
        stream.progress += 1
        if not self._h2.send_headers(stream.stream_id, headers, end_stream=end_stream):
            self._forget(stream)
            return
        if end_stream:
            self._done(stream)
        self._flush_soon()

    def pump(self, stream: ServerStream) -> None:
        """Send what ``stream`` has queued that the client's windows admit (then its trailers)."""
        if stream.closed or self.transport is None:
            return
        conn = self._h2
        stream_id = stream.stream_id
        window = 0 if self._write_paused else conn.window(stream_id)
        chunks, last = stream.send_pending(window, conn.peer_frame_size)
        for chunk in chunks:
            conn.send_data(stream_id, chunk)
        if chunks:
            stream.progress += 1
        if last:
            if conn.send_headers(stream_id, stream.trailers(), end_stream=True):
                self._done(stream)
            else:
                self._forget(stream)
        self._flush_soon()

    def _pump_all(self) -> None:
        for stream in [s for s in self.streams.values() if s.waiting]:
            self.pump(stream)

    def reset(self, stream: ServerStream, code: int) -> None:
        if stream.closed:
            return
        self._h2.reset(stream.stream_id, code)
        self._forget(stream)
        self._flush()

    def _done(self, stream: ServerStream) -> None:
        """Our side of the stream ended; it is over once the client's has too."""
        self._guard.answered()
        stream.closing()
        if not stream.body.complete:
            # The client still sends: it is told to stop, and what it sent is not kept.
            self._h2.reset(stream.stream_id, NO_ERROR)
        self._forget(stream)

    def _forget(self, stream: ServerStream) -> None:
        stream.closing()
        self._give_back(stream)
        if self.streams.get(stream.stream_id) is stream:
            del self.streams[stream.stream_id]
        self._idle.pop(stream.stream_id, None)
        if self._goaway and not self.streams and self.transport is not None:
            self.transport.close()

    def _drop(self, stream: ServerStream) -> None:
        """The stream is over (the client reset it, or it broke the protocol): stop serving it."""
        stream.closing()
        self._give_back(stream)
        stream.detached = True
        stream.body.feed_eof()
        self._idle.pop(stream.stream_id, None)
        if stream.task is not None and not stream.task.done():
            stream.task.cancel()

    def _give_back(self, stream: ServerStream) -> None:
        """Request bytes held unacknowledged (the body was paused) give the connection's window
        back when the stream ends unread."""
        if stream.deferred:
            deferred, stream.deferred = stream.deferred, 0
            self._h2.acknowledge(stream.stream_id, deferred)

    def _flush(self) -> None:
        data = self._h2.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _flush_soon(self) -> None:
        """Write what is pending once this turn of the event loop is over: a response's head,
        data and trailers, produced by one read from the replica, go out in one write (a write
        is a system call, and costs more than the framing)."""
        if not self._flush_pending:
            self._flush_pending = True
            asyncio.get_running_loop().call_soon(self._flush_deferred)

    def _flush_deferred(self) -> None:
        self._flush_pending = False
        self._flush()

    # Transport events --------------------------------------------------------------------------

    def pause_writing(self) -> None:
        self._write_paused = True
        self._guard.pause()

    def resume_writing(self) -> None:
        self._write_paused = False
        self._guard.resume()
        self._pump_all()

    def connection_lost(self) -> None:
        self.transport = None
        self._close_all()

    def _close_all(self) -> None:
        for stream in list(self.streams.values()):
            self._drop(stream)
        self.streams.clear()
        if self.transport is not None:
            self.transport.close()

    # Timeouts and shutdown -----------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return bool(self.streams)

    def sweep(self, now: float, idle: tuple[int, float]) -> tuple[int, float]:
        """Apply the stream idle timeout; returns the connection's (progress, since) for its own
        idle timeout, which the caller checks (``idle`` is what it saw last)."""
        limit = self._limits.h2_stream_idle_timeout
        for stream in list(self.streams.values()):
            seen = self._idle.get(stream.stream_id)
            if seen is None or seen[0] != stream.progress:
                self._idle[stream.stream_id] = (stream.progress, now)
            elif now - seen[1] >= limit:
                log.info("router: h2 stream %d idle for %gs", stream.stream_id, limit)
                if stream.task is not None and not stream.task.done():
                    stream.task.cancel()
                stream.fail(GrpcStatus.DEADLINE_EXCEEDED, f"stream idle for {limit:g} s")
                if not stream.closed:
                    self.reset(stream, CANCEL)
        progress = self.frames + sum(s.progress for s in self.streams.values())
        if self.streams or progress != idle[0]:
            return progress, now
        if now - idle[1] >= self._limits.keep_alive_timeout:
            self.close()
        return idle

    def close(self) -> None:
        """GOAWAY (no error) and close: the router shuts down or the connection idled."""
        if self.transport is None:
            return
        self._h2.close()
        self._flush()
        self._close_all()
