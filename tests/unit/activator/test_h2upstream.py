"""The activator's h2c connection to a replica, on a fake transport, read by a real h2 server
connection: what a gRPC call's request looks like on the wire."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

import h2.config
import h2.connection
import h2.events
from hpack.struct import NeverIndexedHeaderTuple

from minikn.activator.h2upstream import H2Upstream
from minikn.core.endpoints import Endpoint
from minikn.wire.http import BodyStream


class FakeTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None: ...


class Sink:
    """The client's side (not reached: the call is cut before the replica answers)."""

    status = 0
    backlog = 0

    def set_trailers(self, trailers: Sequence[tuple[bytes, bytes]]) -> None: ...


HEADERS = [
    (b":method", b"POST"), (b":scheme", b"http"), (b":path", b"/inference.X/Y"),
    (b":authority", b"x.default.example.com"), (b"te", b"trailers"),
    (b"content-type", b"application/grpc"), (b"x-request-id", b"r-1"),
    (b"traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
]  # fmt: skip


def _connected() -> tuple[H2Upstream, FakeTransport, h2.connection.H2Connection]:
    """An upstream connection on a fake transport, and the replica's side (an ``h2`` server)
    that has read the upstream's preface and settings."""
    upstream = H2Upstream(Endpoint("r1", "127.0.0.1", 1, grpc_port=2), max_streams=100)
    transport = FakeTransport()
    upstream.connection_made(transport)  # type: ignore[arg-type]
    server = h2.connection.H2Connection(
        h2.config.H2Configuration(client_side=False, header_encoding=None)
    )
    server.initiate_connection()
    server.receive_data(transport.writes.pop())  # the preface and settings
    return upstream, transport, server


async def test_a_complete_request_goes_out_in_one_write_its_per_call_headers_never_indexed() -> (
    None
):
    upstream, transport, server = _connected()
    body = BodyStream(None)
    body.feed(b"\x00\x00\x00\x00\x02hi")
    body.feed_eof()
    sink = Sink()
    call = asyncio.ensure_future(upstream.call(HEADERS, body, sink, sink, None))  # type: ignore[arg-type]
    await asyncio.sleep(0)
    assert len(transport.writes) == 1  # headers, the message and the end of the stream
    events = server.receive_data(transport.writes[0])
    [request] = [e for e in events if isinstance(e, h2.events.RequestReceived)]
    data = [e.data for e in events if isinstance(e, h2.events.DataReceived)]
    assert b"".join(d or b"" for d in data) == b"\x00\x00\x00\x00\x02hi"
    assert any(isinstance(e, h2.events.StreamEnded) for e in events)
    never = {bytes(h[0]) for h in request.headers or () if isinstance(h, NeverIndexedHeaderTuple)}
    assert never == {b"x-request-id", b"traceparent"}
    assert [(bytes(n), bytes(v)) for n, v in request.headers or ()] == HEADERS
    call.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await call


class Answer:
    """The client's side of a call that the replica answers."""

    def __init__(self) -> None:
        self.status = 0
        self.backlog = 0
        self.trailers: list[tuple[bytes, bytes]] = []
        self.ended = False

    def set_trailers(self, trailers: Sequence[tuple[bytes, bytes]]) -> None:
        self.trailers = list(trailers)

    def start(self, status: int, reason: bytes, headers: object, length: object) -> None:
        self.status = status

    def write(self, data: bytes) -> None: ...
    def flush(self) -> None: ...

    def end(self) -> None:
        self.ended = True


async def test_an_answer_before_the_whole_request_ends_the_call_and_resets_the_stream() -> None:
    upstream, transport, server = _connected()
    upstream.data_received(server.data_to_send())  # the replica's settings
    server.receive_data(transport.writes.pop())  # their acknowledgement
    body = BodyStream(None)
    body.feed(b"\x00\x00\x00\x00\x05hel")  # the message is still coming
    answer = Answer()
    call = asyncio.ensure_future(upstream.call(HEADERS, body, answer, answer, None))  # type: ignore[arg-type]
    await asyncio.sleep(0)
    events = server.receive_data(b"".join(transport.writes))
    transport.writes.clear()
    [request] = [e for e in events if isinstance(e, h2.events.RequestReceived)]
    # A 100 Continue first, then a trailers-only refusal, before the request has ended.
    server.send_headers(request.stream_id, [(b":status", b"100")])
    server.send_headers(
        request.stream_id,
        [(b":status", b"200"), (b"content-type", b"application/grpc"),
         (b"grpc-status", b"8"), (b"grpc-message", b"too big")],
        end_stream=True,
    )  # fmt: skip
    upstream.data_received(server.data_to_send())
    await asyncio.wait_for(call, 5)
    assert answer.status == 200
    assert answer.ended
    assert (b"grpc-status", b"8") in answer.trailers
    assert upstream.open_streams == 0
    events = server.receive_data(b"".join(transport.writes))
    [reset] = [e for e in events if isinstance(e, h2.events.StreamReset)]
    assert reset.error_code == 0  # NO_ERROR: the answer is complete, stop sending
