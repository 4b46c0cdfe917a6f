"""h2c connections to replicas' gRPC ports: one connection multiplexes many calls.

Per replica the pool keeps the connections it opened; a call takes a stream on one with room
(fewer open streams than the replica's ``SETTINGS_MAX_CONCURRENT_STREAMS`` and than
``grpcMaxStreamsPerConnection``), else a new connection is opened (callers arriving meanwhile wait
for that one). The replica's response goes straight into the client's sink: headers, each DATA
frame as it comes (flushed, so streaming RPCs pass through), trailers to the client's call. A
replica's DATA is acknowledged once the client's stream has room for it (its backlog under a
high-water mark), so a slow client slows its replica stream, not minikn's memory.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from hpack.struct import NeverIndexedHeaderTuple

from minikn.activator.upstream import NeverReached
from minikn.core.endpoints import Endpoint
from minikn.core.errors import BadGateway
from minikn.wire.grpc import GrpcCall
from minikn.wire.h2client import H2ClientCodec, H2ProtocolError
from minikn.wire.http import BodyStream, ResponseSink

__all__ = ["H2Pool", "H2Upstream"]

log = logging.getLogger("minikn.activator.h2upstream")

_CONNECT_TIMEOUT = 5.0
_WINDOW = 16 * 1024 * 1024
"""Flow-control windows minikn grants a replica (per stream and per connection)."""
_HIGH_WATER = 256 * 1024
_NO_ERROR, _REFUSED_STREAM, _CANCEL = 0x0, 0x7, 0x8
"""HTTP/2 error codes (RFC 9113 section 7)."""


_UNIQUE = frozenset((b"x-request-id", b"traceparent", b"forwarded", b"x-forwarded-for"))
"""Headers whose value differs on every call: sent never-indexed, so they do not push the
repeated ones (content type, user agent, the host) out of the replica's HPACK table."""


class _Stream:
    """One call on an upstream connection."""

    __slots__ = ("call", "deferred", "done", "head", "on_head", "sent_end", "sink", "window")

    def __init__(
        self, sink: ResponseSink, call: GrpcCall, on_head: Callable[[], None] | None
    ) -> None:
        self.sink = sink
        self.call = call
        self.on_head = on_head
        self.head = False
        self.sent_end = False
        """The request's END_STREAM went out."""
        self.deferred = 0
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.window: asyncio.Future[None] | None = None


class H2Upstream(asyncio.Protocol):
    """One h2c connection to one replica's gRPC port (client side, :mod:`minikn.wire.h2client`).

    The replica's fields are not checked here: the router keeps only named, non-pseudo,
    non-hop-by-hop ones, lowercased, and what else is wrong in one is the client's to refuse."""

    def __init__(self, endpoint: Endpoint, max_streams: int) -> None:
        self.endpoint = endpoint
        self._max_streams = max_streams
        self._h2 = H2ClientCodec(_WINDOW)
        self.transport: asyncio.Transport | None = None
        self._streams: dict[int, _Stream] = {}
        self.usable = False
        """Open and not told to go away: takes new streams."""
        self.last_used = 0.0

    # State ---------------------------------------------------------------------------------------

    @property
    def open_streams(self) -> int:
        return len(self._streams)

    @property
    def room(self) -> int:
        """New streams this connection may take now."""
        if not self.usable:
            return 0
        return min(self._h2.peer_max_streams, self._max_streams) - len(self._streams)

    def close(self) -> None:
        self.usable = False
        if self.transport is not None:
            self.transport.close()

    # asyncio.Protocol --------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._h2.initiate()
        self.usable = True
        self._flush()

    def data_received(self, data: bytes) -> None:
        try:
            events = self._h2.receive(data)
        except H2ProtocolError as exc:
            self._flush()
            self._fail_all(BadGateway(f"replica {self.endpoint.replica_id}: bad HTTP/2: {exc}"))
            self.close()
            return
        for event in events:
            self._event(event)
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.usable = False
        self.transport = None
        self._fail_all(None)

    def _fail_all(self, error: Exception | None) -> None:
        for stream in list(self._streams.values()):
            if not stream.done.done():
                if error is None and not stream.head:
                    stream.done.set_exception(
                        NeverReached("the replica closed the connection before answering")
                    )
                else:
                    stream.done.set_exception(
                        error or BadGateway(f"replica {self.endpoint.replica_id} closed the call")
                    )
        self._streams.clear()

    def _event(self, event: tuple[Any, ...]) -> None:
        kind, stream_id = event[0], event[1]
        if kind == "data":
            _, _, data, size, ended = event
            stream = self._streams.get(stream_id)
            if stream is None:
                if size:
                    self._h2.acknowledge(stream_id, size)
                return
            stream.sink.write(data)
            stream.sink.flush()
            if size:
                if stream.call.backlog <= _HIGH_WATER and not stream.deferred:
                    self._h2.acknowledge(stream_id, size)
                else:
                    if not stream.deferred:
                        stream.call.on_drained(partial(self._ack, stream, stream_id))
                    stream.deferred += size
            if ended:
                self._ended(stream_id)
        elif kind == "headers":
            _, _, fields, ended = event
            stream = self._streams.get(stream_id)
            if stream is not None:
                if not stream.head:
                    headers = [(bytes(n), bytes(v)) for n, v in fields]
                    if _informational(headers) and not ended:
                        return  # a 1xx head: the real one follows
                    self._head(stream, headers)
                else:
                    stream.call.set_trailers([(bytes(n), bytes(v)) for n, v in fields])
            if ended:
                self._ended(stream_id)
        elif kind == "reset":
            stream = self._streams.pop(stream_id, None)
            if stream is not None and not stream.done.done():
                code = event[2]
                if code == _REFUSED_STREAM and not stream.head:
                    stream.done.set_exception(NeverReached("the replica refused the stream"))
                else:
                    stream.done.set_exception(
                        BadGateway(f"replica {self.endpoint.replica_id} reset the call ({code})")
                    )
        elif kind == "window":
            for stream in self._streams.values():
                if stream.window is not None and not stream.window.done():
                    stream.window.set_result(None)
        elif kind == "goaway":
            self.usable = False
            last = stream_id
            for other, stream in list(self._streams.items()):
                if other > last and not stream.done.done():
                    del self._streams[other]
                    self._h2.forget(other)
                    stream.done.set_exception(NeverReached("the replica is going away"))

    def _ended(self, stream_id: int) -> None:
        """The replica ended its side of the stream: the call is over."""
        stream = self._streams.pop(stream_id, None)
        if stream is not None:
            if not stream.sent_end:  # it answered before taking the whole request: stop it
                self._h2.reset(stream_id, _NO_ERROR)
            self._h2.forget(stream_id)
            stream.sink.end()
            if not stream.done.done():
                stream.done.set_result(None)

    def _head(self, stream: _Stream, headers: list[tuple[bytes, bytes]]) -> None:
        status = 0
        plain: list[tuple[bytes, bytes]] = []
        grpc: list[tuple[bytes, bytes]] = []
        for name, value in headers:
            if name == b":status":
                status = int(value) if value.isdigit() else 0
            elif name in (b"grpc-status", b"grpc-message"):
                grpc.append((name, value))  # a trailers-only answer
            elif not name.startswith(b":"):
                plain.append((name, value))
        stream.head = True
        if grpc:
            stream.call.set_trailers(grpc)
        stream.sink.start(status, b"", plain, None)
        if stream.on_head is not None:
            stream.on_head()

    def _ack(self, stream: _Stream, stream_id: int) -> None:
        deferred, stream.deferred = stream.deferred, 0
        if deferred and self.transport is not None:
            self._h2.acknowledge(stream_id, deferred)
            self._flush()

    def _flush(self) -> None:
        data = self._h2.data_to_send()
        if data and self.transport is not None:
            self.transport.write(data)

    # One call ------------------------------------------------------------------------------------

    async def call(
        self,
        headers: Sequence[tuple[bytes, bytes]],
        body: BodyStream | None,
        sink: ResponseSink,
        call: GrpcCall,
        on_head: Callable[[], None] | None,
    ) -> None:
        """Proxy one call: send ``headers`` and the body as it comes, stream the answer into
        ``sink`` (and the trailers to ``call``). NeverReached when the replica never saw it."""
        if not self.usable or self.transport is None:
            raise NeverReached("connection closed before use")
        try:
            stream_id = self._h2.next_stream_id()
        except H2ProtocolError as exc:
            self.usable = False
            raise NeverReached(str(exc)) from None
        stream = _Stream(sink, call, on_head)
        self._streams[stream_id] = stream
        ended = body is None or body.at_eof
        block = [NeverIndexedHeaderTuple(n, v) if n in _UNIQUE else (n, v) for n, v in headers]
        self._h2.send_headers(stream_id, block, end_stream=ended)
        stream.sent_end = ended
        if ended or body is None or not body.complete:
            self._flush()  # else the whole body follows at once, in the same write
        try:
            if not ended and body is not None:
                await self._send_body(stream_id, stream, body)
            await stream.done
        finally:
            if not stream.done.done():  # cut off (client gone, timeout): reset the replica's
                self._streams.pop(stream_id, None)
                stream.done.cancel()
                if self.transport is not None:
                    self._h2.reset(stream_id, _CANCEL)
                    self._flush()

    async def _send_body(self, stream_id: int, stream: _Stream, body: BodyStream) -> None:
        conn = self._h2
        while True:
            chunk = body.read_nowait()
            if not chunk and not body.complete:  # wait for more, or for the replica's answer
                reader = asyncio.ensure_future(body.read())
                await asyncio.wait((reader, stream.done), return_when=asyncio.FIRST_COMPLETED)
                if not reader.done():
                    reader.cancel()
                    return  # answered (or failed) before the client sent more
                chunk = reader.result()
            if stream.done.done():
                return  # answered (or failed) before the client finished sending
            while chunk:
                window = conn.window(stream_id)
                if window <= 0:
                    stream.window = asyncio.get_running_loop().create_future()
                    await asyncio.wait(
                        (stream.window, stream.done), return_when=asyncio.FIRST_COMPLETED
                    )
                    stream.window = None
                    if stream.done.done():
                        return
                    continue
                size = min(window, conn.peer_frame_size, len(chunk))
                last = size == len(chunk) and body.at_eof
                # The end of the stream rides on the body's last frame (no empty DATA frame).
                piece = chunk[:size] if size < len(chunk) else chunk
                conn.send_data(stream_id, piece, end_stream=last)
                chunk = chunk[size:]
                if last:
                    stream.sent_end = True
                    self._flush()
                    return
                if chunk:
                    self._flush()
            if body.at_eof:
                conn.send_data(stream_id, b"", end_stream=True)
                stream.sent_end = True
                self._flush()
                return
            self._flush()


def _informational(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name == b":status":
            return value.startswith(b"1") and len(value) == 3
    return False


class H2Pool:
    """h2c connections per replica gRPC address."""

    def __init__(self, *, now: Callable[[], float], idle_timeout: float, max_streams: int) -> None:
        self._now = now
        self._idle_timeout = idle_timeout
        self._max_streams = max_streams
        self._conns: dict[tuple[str, int], list[H2Upstream]] = {}
        self._connecting: dict[tuple[str, int], asyncio.Future[H2Upstream]] = {}

    async def get(self, endpoint: Endpoint, port: int) -> H2Upstream:
        """A connection to ``endpoint``'s gRPC ``port`` with room for one more stream."""
        key = (endpoint.host, port)
        now = self._now()
        conns = self._conns.get(key)
        if conns:
            for conn in list(conns):
                if not conn.usable or (
                    conn.open_streams == 0 and now - conn.last_used > self._idle_timeout
                ):
                    conns.remove(conn)
                    conn.close()
                elif conn.room > 0:
                    conn.last_used = now
                    return conn
        pending = self._connecting.get(key)
        if pending is not None:
            try:
                conn = await asyncio.shield(pending)
            except asyncio.CancelledError:
                if not pending.cancelled():
                    raise
                return await self._connect(endpoint, key)
            if conn.room > 0:
                conn.last_used = now
                return conn
        return await self._connect(endpoint, key)

    async def _connect(self, endpoint: Endpoint, key: tuple[str, int]) -> H2Upstream:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[H2Upstream] = loop.create_future()
        self._connecting[key] = future
        try:
            async with asyncio.timeout(_CONNECT_TIMEOUT):
                _, conn = await loop.create_connection(
                    lambda: H2Upstream(endpoint, self._max_streams), key[0], key[1]
                )
        except (OSError, TimeoutError) as exc:
            error = NeverReached(f"connect to {key[0]}:{key[1]} (gRPC): {exc}", refused=True)
            future.set_exception(error)
            future.exception()
            raise error from exc
        except BaseException:
            future.cancel()  # those waiting for this connection open their own
            raise
        finally:
            if self._connecting.get(key) is future:
                del self._connecting[key]
        conn.last_used = self._now()
        self._conns.setdefault(key, []).append(conn)
        future.set_result(conn)
        return conn

    def forget(self, endpoint: Endpoint) -> None:
        """Close the connections of a replica that went away."""
        if endpoint.grpc_port is None:
            return
        for conn in self._conns.pop((endpoint.host, endpoint.grpc_port), []):
            conn.close()

    def close(self) -> None:
        for conns in self._conns.values():
            for conn in conns:
                conn.close()
        self._conns.clear()
