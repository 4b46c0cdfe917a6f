"""``inference.GRPCInferenceService`` on minikn's own HTTP/2 framer, on the model server's loop.

KServe runs its gRPC server in the same process as REST on the same ``DataPlane``; so does
minikn: both faces share the models, their readiness and the step metrics. Each client connection
is an asyncio ``Protocol`` driving :class:`~minikn.wire.h2server.H2ServerCodec` (the sans-I/O
framer the ingress uses, which checks every rule of RFC 9113 a server must enforce against an
untrusted peer); every RPC of the service is unary, so a call is: the request's headers, one
length-prefixed message (buffered, bounded), the RPC run as a task on the loop (no thread pool; a
model's blocking ``predict`` blocks the loop exactly as it does for REST), then the response
headers, one message and the trailers (``grpc-status``, ``grpc-message`` percent-encoded), written
within the client's flow-control windows. grpcio is not needed to serve; the messages are the
generated ``grpc_predict_v2_pb2`` classes (protobuf).

What a gRPC server answers, as the gRPC HTTP/2 protocol (PROTOCOL-HTTP2.md) and grpc's own
servers do:

- a ``:path`` that is not one of the service's RPCs (Triton's among them): UNIMPLEMENTED
  ("Method not found!", grpc's text), at once;
- a ``content-type`` not ``application/grpc...``: HTTP 415; a method other than POST: HTTP 405;
- a message whose length prefix is above ``max_receive_bytes``: RESOURCE_EXHAUSTED as soon as the
  prefix is in (nothing more of it is kept; KServe's ``MAX_GRPC_MESSAGE_LENGTH``, 8 MiB, by
  default); a response above ``max_send_bytes``: RESOURCE_EXHAUSTED;
- a compressed message: ``gzip`` and ``deflate`` are decompressed (as grpc's defaults), bounded by
  ``max_receive_bytes``; another ``grpc-encoding`` is UNIMPLEMENTED with ``grpc-accept-encoding``;
  the compressed flag without an encoding is INTERNAL (as grpc-go);
- no request message, or more than one, on these unary calls: INTERNAL (grpc-java's answer and
  text);
- ``grpc-timeout``: the call is cancelled and answered DEADLINE_EXCEEDED when it runs out;
- a client's RST_STREAM cancels the call's task.

Bounds: one connection holds at most ``max_concurrent_streams`` calls (SETTINGS; one more is a
connection error) and at most ``max_buffered_bytes`` of their unfinished request messages (the
call that crosses it is RESOURCE_EXHAUSTED; data is acknowledged as it arrives); a connection
that has not sent the HTTP/2 preface and its SETTINGS within ``preface_timeout_s`` is closed,
one without a frame for ``idle_timeout_s`` while no call runs gets GOAWAY and is closed; a client
that floods the connection (:class:`~minikn.wire.h2server.FloodGuard`: sending while it reads
nothing, or resetting the calls it opens) gets GOAWAY ENHANCE_YOUR_CALM and is closed.
``stop`` stops listening, tells each client (GOAWAY) to open no more streams, lets the calls in
flight finish for ``grace_s``, answers the rest UNAVAILABLE, then GOAWAY and close.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, cast

import h2.exceptions

from minikn.modelserver.dataplane import DataPlane
from minikn.modelserver.grpc.servicer import InferenceServicer, Rpc, grpc_status
from minikn.wire.grpc import GrpcStatus, parse_grpc_timeout, percent_encode
from minikn.wire.h2frames import (
    ENHANCE_YOUR_CALM,
    GOAWAY,
    NO_ERROR,
    PROTOCOL_ERROR,
    REFUSED_STREAM,
    H2ProtocolError,
    frame,
)
from minikn.wire.h2server import FloodGuard, H2ServerCodec, ValidHeaderLists

__all__ = ["MAX_GRPC_MESSAGE_LENGTH", "GrpcServer", "GrpcSettings"]

log = logging.getLogger("minikn.modelserver.grpc")

# KServe's constants.MAX_GRPC_MESSAGE_LENGTH.
MAX_GRPC_MESSAGE_LENGTH = 8 * 2**20


@dataclass(frozen=True)
class GrpcSettings:
    """The gRPC face's bounds; the flags are KServe's where KServe has one."""

    max_receive_bytes: int = MAX_GRPC_MESSAGE_LENGTH
    """``--grpc_max_receive_message_length``: the largest request message accepted."""
    max_send_bytes: int = MAX_GRPC_MESSAGE_LENGTH
    """``--grpc_max_send_message_length``: the largest response message sent."""
    max_concurrent_streams: int = 1024
    """``--grpc_max_concurrent_streams`` (minikn's): calls in flight per HTTP/2 connection."""
    grace_s: float = 5.0
    """How long ``stop`` lets calls in flight finish before answering them UNAVAILABLE."""
    preface_timeout_s: float = 10.0
    """A connection that has not sent the preface and its SETTINGS by then is closed."""
    idle_timeout_s: float = 300.0
    """A connection without a frame for this long while no call runs gets GOAWAY and closes."""
    max_header_list_bytes: int = 16 * 1024
    """SETTINGS_MAX_HEADER_LIST_SIZE (grpc's hard metadata limit); beyond: ENHANCE_YOUR_CALM."""
    stream_window_bytes: int = 1 << 20
    """Request bytes a client may send on one call before it is given window back."""
    connection_window_bytes: int = 16 << 20
    """Request bytes a client may send on one connection before it is given window back."""
    max_buffered_bytes: int = 64 << 20
    """Request bytes one connection's unfinished messages may hold together (at least one
    message of ``max_receive_bytes``); beyond, the call that crosses it is RESOURCE_EXHAUSTED."""


_HEAD = ((b":status", b"200"), (b"content-type", b"application/grpc"))
_OK = ((b"grpc-status", b"0"),)
_ENCODINGS = {b"identity": 0, b"gzip": 31, b"deflate": 15}
"""``grpc-encoding`` -> zlib's ``wbits`` (grpc's ``deflate`` is the zlib format)."""
_ACCEPT = (b"grpc-accept-encoding", b"identity,deflate,gzip")
_NOT_METADATA = frozenset(
    (b"content-type", b"te", b"grpc-timeout", b"grpc-encoding", b"grpc-accept-encoding")
)
"""Request fields grpc consumes itself: not in the metadata a model's steps get."""
_MESSAGE = 1024
"""Characters of a ``grpc-message`` sent (as the ingress; a client bounds its trailers' size)."""


class _Call:
    """One unary call: its request as it arrives, then its response as windows admit it."""

    __slots__ = (
        "buf",
        "ended",
        "finished",
        "headers",
        "length",
        "offset",
        "out",
        "rpc",
        "stream_id",
        "task",
        "timer",
        "wbits",
    )

    def __init__(
        self, stream_id: int, rpc: Rpc | None, headers: dict[str, str], wbits: int
    ) -> None:
        self.stream_id = stream_id
        self.rpc = rpc
        self.headers = headers
        self.wbits = wbits
        self.buf: bytes | bytearray = b""
        self.length = -1
        """The message's length once its 5-byte prefix is in."""
        self.ended = False
        """The client ended its side."""
        self.finished = False
        """The answer is decided (the RPC's task, if any, is no longer listened to)."""
        self.task: asyncio.Task[None] | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.out = b""
        self.offset = 0


class _Connection(asyncio.Protocol):
    """One client's HTTP/2 connection and its calls."""

    def __init__(self, server: GrpcServer) -> None:
        self.server = server
        self.settings = server.settings
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        s = self.settings
        self.codec = H2ServerCodec(
            max_concurrent_streams=s.max_concurrent_streams,
            max_header_list_size=s.max_header_list_bytes,
            stream_window=s.stream_window_bytes,
            connection_window=s.connection_window_bytes,
        )
        self.calls: dict[int, _Call] = {}
        self.held = 0
        """Request bytes received for calls not yet dispatched (bounded by ``budget``)."""
        self.budget = max(s.max_buffered_bytes, s.max_receive_bytes + 5)
        self.greeted = False
        """The client's preface and SETTINGS have come."""
        self.frames = 0
        """Reads with frames (the idle timeout watches it)."""
        self.idle: tuple[int, float] = (-1, 0.0)
        self.opened = server.now()
        self.draining = False
        self.write_paused = False
        self.goaway = False
        self.flush_pending = False
        self.valid = ValidHeaderLists()
        self.guard = FloodGuard(s.connection_window_bytes)

    # Transport events ----------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.server.connections.add(self)
        self.codec.initiate()
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        for call in list(self.calls.values()):
            self._abandon(call)
        self.calls.clear()
        self.server.connections.discard(self)
        self.server.forget(self)

    def pause_writing(self) -> None:
        self.write_paused = True
        self.guard.pause()

    def resume_writing(self) -> None:
        self.write_paused = False
        self.guard.resume()
        for call in list(self.calls.values()):
            if call.out:
                self._pump(call)
        self._flush()

    def data_received(self, data: bytes) -> None:
        flood = self.guard.read(len(data))
        if flood is not None:
            self._calm(flood)
            return
        try:
            events = self.codec.receive(data)
        except H2ProtocolError as exc:
            log.info("gRPC: h2 protocol error from a client: %s", exc)
            self._flush()
            self._close_transport()
            return
        self.frames += 1
        for event in events:
            kind = event[0]
            if kind == "data":
                self._data(event[1], event[2], event[3], event[4])
            elif kind == "request":
                self._request(event[1], event[2], event[3])
            elif kind == "window":
                self.greeted = True
                self._window(event[1])
            elif kind == "trailers":
                call = self.calls.get(event[1])
                if call is not None and not call.finished:
                    self._end_of_request(call)
            elif kind == "reset":
                call = self.calls.pop(event[1], None)
                if call is not None:
                    self._abandon(call)
                    flood = self.guard.abandoned()
                    if flood is not None:
                        self._calm(flood)
                        return
            elif kind == "goaway":
                self.goaway = True
        if self.goaway and not self.calls:
            self._flush()
            self._close_transport()
            return
        self._flush()

    # Requests ------------------------------------------------------------------------------------

    def _request(self, stream_id: int, fields: list[Any], end_stream: bool) -> None:
        if self.draining:
            self.codec.reset(stream_id, REFUSED_STREAM)
            return
        try:
            self.valid.check(fields)
        except h2.exceptions.ProtocolError as exc:  # malformed: a stream error (8.1.1)
            log.info("gRPC: malformed request headers: %s", exc)
            self.codec.reset(stream_id, PROTOCOL_ERROR)
            return
        method = path = content_type = b""
        timeout = encoding = None
        metadata: dict[str, str] = {}
        for name, value in fields:
            if name[:1] == b":":
                if name == b":path":
                    path = value
                elif name == b":method":
                    method = value
            elif name in _NOT_METADATA:
                if name == b"content-type":
                    content_type = value
                elif name == b"grpc-timeout":
                    timeout = parse_grpc_timeout(value)
                elif name == b"grpc-encoding":
                    encoding = value
            elif not name.endswith(b"-bin"):
                metadata[name.decode("latin-1")] = value.decode("latin-1")
        if method != b"POST":
            self._http_error(stream_id, b"405", end_stream)
            return
        if not content_type.startswith(b"application/grpc"):
            self._http_error(stream_id, b"415", end_stream)
            return
        rpc = self.server.rpcs.get(path)
        wbits = _ENCODINGS.get(encoding or b"identity")
        call = _Call(stream_id, rpc, metadata, wbits or 0)
        self.calls[stream_id] = call
        call.ended = end_stream
        if timeout is not None:
            call.timer = self.loop.call_later(timeout, self._expire, call)
        if rpc is None:
            self._fail(call, GrpcStatus.UNIMPLEMENTED, "Method not found!")
        elif wbits is None:
            name = (encoding or b"").decode("latin-1")
            self._fail(
                call,
                GrpcStatus.UNIMPLEMENTED,
                f"Compression algorithm '{name}' is not supported",
                (_ACCEPT,),
            )
        elif end_stream:
            self._end_of_request(call)

    def _data(self, stream_id: int, data: bytes, size: int, end_stream: bool) -> None:
        codec = self.codec
        if size:
            codec.acknowledge(stream_id, size)
        call = self.calls.get(stream_id)
        if call is None or call.finished:
            return
        if data:
            buf = call.buf
            if not buf:
                call.buf = buf = data
            elif isinstance(buf, bytearray):
                buf += data
            else:
                call.buf = buf = bytearray(buf) + data
            self.held += len(data)
            if self.held > self.budget:
                self._fail(
                    call,
                    GrpcStatus.RESOURCE_EXHAUSTED,
                    f"request data held for this connection's calls above {self.budget} bytes",
                )
                return
            if call.length < 0 and len(buf) >= 5:
                call.length = int.from_bytes(buf[1:5], "big")
                limit = self.settings.max_receive_bytes
                if call.length > limit:
                    self._fail(
                        call,
                        GrpcStatus.RESOURCE_EXHAUSTED,
                        f"Received message larger than max ({call.length} vs. {limit})",
                    )
                    return
            if 0 <= call.length < len(buf) - 5:
                self._fail(call, GrpcStatus.INTERNAL, "Too many requests on a unary call")
                return
        if end_stream:
            call.ended = True
            self._end_of_request(call)

    def _end_of_request(self, call: _Call) -> None:
        call.ended = True
        buf = self._take(call)
        if call.length < 0 or len(buf) != 5 + call.length:
            self._fail(call, GrpcStatus.INTERNAL, "Half-closed without a request")
            return
        flag = buf[0]
        message = bytes(buf[5:]) if len(buf) > 5 else b""
        if flag:
            decompressed = self._decompress(call, flag, message)
            if decompressed is None:
                return
            message = decompressed
        call.task = self.loop.create_task(self._serve(call, message))

    def _decompress(self, call: _Call, flag: int, message: bytes) -> bytes | None:
        if flag != 1 or not call.wbits:
            why = (
                f"a message flag of {flag}"
                if flag != 1
                else "a compressed message without a grpc-encoding"
            )
            self._fail(call, GrpcStatus.INTERNAL, why)
            return None
        limit = self.settings.max_receive_bytes
        inflater = zlib.decompressobj(call.wbits)
        try:
            out = inflater.decompress(message, limit + 1)
        except zlib.error as exc:
            self._fail(call, GrpcStatus.INTERNAL, f"cannot decompress the message: {exc}")
            return None
        if len(out) > limit:
            self._fail(
                call,
                GrpcStatus.RESOURCE_EXHAUSTED,
                f"Received message after decompression larger than max ({limit})",
            )
            return None
        if not inflater.eof:
            self._fail(call, GrpcStatus.INTERNAL, "a truncated compressed message")
            return None
        return out

    async def _serve(self, call: _Call, message: bytes) -> None:
        assert call.rpc is not None
        handler, request_class = call.rpc
        try:
            request = request_class.FromString(message)
        except Exception:
            self._fail(call, GrpcStatus.INTERNAL, "Exception deserializing request!")
            return
        try:
            response = await handler(request, call.headers)
            body = response.SerializeToString()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            code, reason = grpc_status(exc)
            if code is GrpcStatus.INTERNAL:
                log.error("%s: %s", handler.__name__, reason)
            self._fail(call, code, reason)
            return
        if call.finished:
            return
        limit = self.settings.max_send_bytes
        if len(body) > limit:
            self._fail(
                call,
                GrpcStatus.RESOURCE_EXHAUSTED,
                f"Sent message larger than max ({len(body)} vs. {limit})",
            )
            return
        self._respond(call, b"\x00" + len(body).to_bytes(4, "big") + body)

    def _expire(self, call: _Call) -> None:
        call.timer = None
        if call.task is not None:
            call.task.cancel()
        self._fail(call, GrpcStatus.DEADLINE_EXCEEDED, "Deadline Exceeded")
        self._flush()

    # Responses -----------------------------------------------------------------------------------

    def _http_error(self, stream_id: int, status: bytes, end_stream: bool) -> None:
        """A non-gRPC answer (PROTOCOL-HTTP2.md: 415 for a content type that is not gRPC's)."""
        self.codec.send_headers(stream_id, ((b":status", status),), end_stream=True)
        if not end_stream:
            self.codec.reset(stream_id, NO_ERROR)

    def _fail(
        self,
        call: _Call,
        status: GrpcStatus,
        message: str,
        extra: Iterable[tuple[bytes, bytes]] = (),
    ) -> None:
        """End ``call`` with ``status``: a trailers-only response."""
        if call.finished:
            return
        call.finished = True
        self._take(call)
        trailers = [*_HEAD, *extra, (b"grpc-status", b"%d" % status)]
        if message:
            trailers.append((b"grpc-message", percent_encode(message[:_MESSAGE])))
        self.codec.send_headers(call.stream_id, trailers, end_stream=True)
        self._done(call)
        self._flush_soon()

    def _respond(self, call: _Call, out: bytes) -> None:
        call.finished = True
        if self.codec.send_headers(call.stream_id, _HEAD, end_stream=False):
            call.out = out
            self._pump(call)
        else:
            self._done(call)
        self._flush_soon()

    def _pump(self, call: _Call) -> None:
        """Send what the client's windows admit of the response, then its trailers."""
        codec = self.codec
        stream_id = call.stream_id
        out, offset, end = call.out, call.offset, len(call.out)
        size = codec.peer_frame_size
        while offset < end and not self.write_paused:
            n = min(codec.window(stream_id), size, end - offset)
            if n <= 0:
                break
            codec.send_data(stream_id, out[offset : offset + n] if n < end else out)
            offset += n
        call.offset = offset
        if offset == end:
            call.out = b""
            codec.send_headers(stream_id, _OK, end_stream=True)
            self._done(call)

    def _window(self, stream_id: int) -> None:
        if stream_id:
            call = self.calls.get(stream_id)
            if call is not None and call.out:
                self._pump(call)
            return
        for call in list(self.calls.values()):
            if call.out:
                self._pump(call)

    def _done(self, call: _Call) -> None:
        """The response is sent: the call is over (a client still sending is told to stop)."""
        self.guard.answered()
        if call.timer is not None:
            call.timer.cancel()
            call.timer = None
        if not call.ended:
            self.codec.reset(call.stream_id, NO_ERROR)
        if self.calls.get(call.stream_id) is call:
            del self.calls[call.stream_id]
        if not self.calls and (self.goaway or self.draining):
            self._goodbye()

    def _abandon(self, call: _Call) -> None:
        """The client reset the stream or left: stop the call."""
        call.finished = True
        self._take(call)
        call.out = b""
        if call.timer is not None:
            call.timer.cancel()
            call.timer = None
        if call.task is not None and not call.task.done():
            call.task.cancel()

    def _take(self, call: _Call) -> bytes | bytearray:
        """The call's request bytes, no longer held for it."""
        buf, call.buf = call.buf, b""
        self.held -= len(buf)
        return buf

    def _flush(self) -> None:
        data = self.codec.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _flush_soon(self) -> None:
        """Write at the end of this turn of the loop: calls answered together go out in one
        write (a system call costs more than the framing)."""
        if not self.flush_pending:
            self.flush_pending = True
            self.loop.call_soon(self._flush_deferred)

    def _flush_deferred(self) -> None:
        self.flush_pending = False
        self._flush()

    # Shutdown and timeouts -----------------------------------------------------------------------

    def drain(self) -> None:
        """Open no more streams (GOAWAY with the last stream id seen); calls in flight go on."""
        self.draining = True
        if self.transport is None:
            return
        self._flush()
        last = self.codec.highest.to_bytes(4, "big")
        self.transport.write(frame(GOAWAY, 0, 0, last + NO_ERROR.to_bytes(4, "big")))
        if not self.calls:
            self._goodbye()

    def abort_calls(self, message: str) -> None:
        """Answer every call still in flight UNAVAILABLE (its task cancelled), then GOAWAY."""
        for call in list(self.calls.values()):
            if call.task is not None and not call.task.done():
                call.task.cancel()
            self._fail(call, GrpcStatus.UNAVAILABLE, message)
            self.calls.pop(call.stream_id, None)
        self._goodbye()

    def _calm(self, why: str) -> None:
        """GOAWAY ENHANCE_YOUR_CALM and close: the client floods the connection."""
        log.info("gRPC: a client %s: closing its connection", why)
        for call in list(self.calls.values()):
            self._abandon(call)
        self.calls.clear()
        self.codec.close(ENHANCE_YOUR_CALM)
        self._flush()
        self._close_transport()

    def _goodbye(self) -> None:
        """GOAWAY (no error) and close once written."""
        self.codec.close(NO_ERROR)
        self._flush()
        self._close_transport()

    def _close_transport(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def sweep(self, now: float) -> None:
        """Close a connection still without its preface after ``preface_timeout_s``, and one
        without a frame for ``idle_timeout_s`` while no call runs (GOAWAY)."""
        if self.transport is None:
            return
        if not self.greeted:
            if now - self.opened >= self.settings.preface_timeout_s:
                log.info("gRPC: a connection sent no HTTP/2 preface; closed")
                self._close_transport()
            return
        running = any(call.task is not None and not call.finished for call in self.calls.values())
        if running or self.frames != self.idle[0]:
            self.idle = (self.frames, now)
        elif now - self.idle[1] >= self.settings.idle_timeout_s:
            for call in list(self.calls.values()):
                self._abandon(call)
            self.calls.clear()
            self._goodbye()


class GrpcServer:
    """The gRPC face of a ``DataPlane``: ``start`` binds, ``stop`` drains."""

    def __init__(
        self,
        dataplane: DataPlane,
        settings: GrpcSettings | None = None,
        now: Callable[[], float] | None = None,
    ) -> None:
        self.settings = settings or GrpcSettings()
        self.servicer = InferenceServicer(dataplane)
        self.rpcs = self.servicer.rpcs()
        self.connections: set[_Connection] = set()
        self._now = now
        self._server: asyncio.Server | None = None
        self._sweeper: asyncio.TimerHandle | None = None
        self._all_closed: asyncio.Event | None = None

    def now(self) -> float:
        return self._now() if self._now is not None else asyncio.get_running_loop().time()

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host:port`` (0 picks a free port; IPv6 hosts too); the bound port."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Connection(self), host, port, backlog=1024, reuse_port=False
        )
        self._schedule_sweep()
        return int(self._server.sockets[0].getsockname()[1])

    def _schedule_sweep(self) -> None:
        s = self.settings
        every = max(0.01, min(1.0, s.preface_timeout_s / 4, s.idle_timeout_s / 4))
        self._sweeper = asyncio.get_running_loop().call_later(every, self._sweep)

    def _sweep(self) -> None:
        now = self.now()
        for conn in list(self.connections):
            conn.sweep(now)
        self._schedule_sweep()

    def forget(self, conn: _Connection) -> None:
        if not self.connections and self._all_closed is not None:
            self._all_closed.set()

    async def stop(self) -> None:
        """Stop listening, let calls in flight finish for ``grace_s`` (no new ones), answer the
        rest UNAVAILABLE, GOAWAY and close every connection."""
        server, self._server = self._server, None
        if server is None:
            return
        if self._sweeper is not None:
            self._sweeper.cancel()
        server.close()
        self._all_closed = asyncio.Event()
        for conn in list(self.connections):
            conn.drain()
        if self.connections:
            try:
                await asyncio.wait_for(self._all_closed.wait(), self.settings.grace_s)
            except TimeoutError:
                for conn in list(self.connections):
                    conn.abort_calls("the server is shutting down")
                try:
                    await asyncio.wait_for(self._all_closed.wait(), 1.0)
                except TimeoutError:
                    for conn in list(self.connections):
                        if conn.transport is not None:
                            conn.transport.abort()
        await server.wait_closed()
