"""The ingress's h2c side on a fake transport: the HTTP/2 preface hands the connection to h2, a
stream is served by the router's stream callback, a routing error ends it trailers-only."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.settings

from minikn.config.router import RouterConfig
from minikn.router.connection import ClientConnection
from minikn.router.h2 import ServerStream
from minikn.wire.grpc import GrpcStatus


class FakeTransport:
    def __init__(self) -> None:
        self.out = bytearray()
        self.closed = False
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.out += data
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str) -> object:
        return ("127.0.0.1", 1) if name == "peername" else None

    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...


def _client() -> h2.connection.H2Connection:
    client = h2.connection.H2Connection(
        h2.config.H2Configuration(client_side=True, header_encoding=None)
    )
    client.initiate_connection()
    return client


_REQUEST = [
    (b":method", b"POST"), (b":scheme", b"http"), (b":path", b"/inference.X/Y"),
    (b":authority", b"x.default.example.com"), (b"content-type", b"application/grpc"),
]  # fmt: skip


def _lax_client() -> h2.connection.H2Connection:
    """A client that sends what it is given, malformed or not (h2's checks off)."""
    client = h2.connection.H2Connection(
        h2.config.H2Configuration(
            client_side=True,
            header_encoding=None,
            validate_outbound_headers=False,
            normalize_outbound_headers=False,
        )
    )
    client.initiate_connection()
    return client


def _connection(
    serve: Callable[[ServerStream], Any] | None = None, limits: RouterConfig | None = None
) -> tuple[ClientConnection, FakeTransport, list[ServerStream]]:
    """A router connection on a fake transport; the streams it serves are kept (and given to
    ``serve``, whose coroutine, if it returns one, serves the stream)."""
    served: list[ServerStream] = []

    def on_stream(stream: ServerStream) -> Any:
        served.append(stream)
        return serve(stream) if serve is not None else None

    conn = ClientConnection(
        lambda r, s: None, lambda c: None, max_body=1024, limits=limits or RouterConfig(),
        accepted=0.0,
        serve_h2=on_stream, now=lambda: 0.0,
    )  # fmt: skip
    transport = FakeTransport()
    conn.connection_made(transport)  # type: ignore[arg-type]
    return conn, transport, served


def _serving() -> tuple[ClientConnection, FakeTransport, list[ServerStream]]:
    """A connection whose every stream is refused as for an unknown host."""
    return _connection(
        lambda s: s.fail(GrpcStatus.NOT_FOUND, "no InferenceService serves host 'x'")
    )


def _goaway_code(client: h2.connection.H2Connection, out: bytes) -> int | None:
    for event in client.receive_data(out):
        if isinstance(event, h2.events.ConnectionTerminated):
            return int(event.error_code or 0)
    return None


async def test_a_stream_the_router_refuses_ends_trailers_only_with_its_grpc_status() -> None:
    conn, transport, served = _serving()
    client = _client()
    client.send_headers(1, _REQUEST, end_stream=True)
    data = client.data_to_send()
    conn.data_received(data[:10])  # the preface split across reads
    conn.data_received(data[10:])
    await asyncio.sleep(0)
    assert [s.authority for s in served] == [b"x.default.example.com"]
    events = client.receive_data(bytes(transport.out))
    [response] = [e for e in events if isinstance(e, h2.events.ResponseReceived)]
    headers = dict(response.headers or ())
    assert headers[b"grpc-status"] == b"5"
    assert b"no InferenceService serves host" in headers[b"grpc-message"]
    assert any(isinstance(e, h2.events.StreamEnded) for e in events)


async def test_http1_requests_are_not_taken_for_h2() -> None:
    requests = []
    conn = ClientConnection(
        lambda r, s: requests.append(r), lambda c: None, max_body=1024, limits=RouterConfig(),
        accepted=0.0, serve_h2=lambda s: None, now=lambda: 0.0,
    )  # fmt: skip
    transport = FakeTransport()
    conn.connection_made(transport)  # type: ignore[arg-type]
    conn.data_received(b"P")  # could still be the preface
    conn.data_received(b"OST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n")
    assert [r.method for r in requests] == [b"POST"]


async def test_a_protocol_error_answers_goaway_and_closes() -> None:
    conn = ClientConnection(
        lambda r, s: None, lambda c: None, max_body=1024, limits=RouterConfig(),
        accepted=0.0,
        serve_h2=lambda s: None, now=lambda: 0.0,
    )  # fmt: skip
    transport = FakeTransport()
    conn.connection_made(transport)  # type: ignore[arg-type]
    client = _client()
    conn.data_received(client.data_to_send())
    # A DATA frame on stream 0 is a connection error (RFC 9113 6.1).
    conn.data_received(b"\x00\x00\x01\x00\x00\x00\x00\x00\x00x")
    events = client.receive_data(bytes(transport.out))
    assert any(isinstance(e, h2.events.ConnectionTerminated) for e in events)
    assert transport.closed


async def test_a_whole_answer_given_in_one_turn_goes_out_in_one_write() -> None:
    conn, transport, served = _connection()
    client = _client()
    client.send_headers(1, _REQUEST, end_stream=True)
    conn.data_received(client.data_to_send())
    client.receive_data(bytes(transport.out))  # the server's settings and acknowledgements
    before = len(transport.writes)
    # The replica's head, one message and its trailers, as one read from the replica gives them.
    [stream] = served
    stream.start(200, b"", [(b"content-type", b"application/grpc")], None)
    stream.write(b"\x00\x00\x00\x00\x02hi")
    stream.flush()
    stream.set_trailers([(b"grpc-status", b"0")])
    stream.end()
    assert len(transport.writes) == before  # nothing written yet: once, at the end of the turn
    await asyncio.sleep(0)
    assert len(transport.writes) == before + 1
    events = client.receive_data(transport.writes[-1])
    kinds = [type(e) for e in events if not isinstance(e, h2.events.WindowUpdated)]
    assert kinds == [
        h2.events.ResponseReceived,
        h2.events.DataReceived,
        h2.events.TrailersReceived,
        h2.events.StreamEnded,
    ]


async def test_a_replicas_pseudo_and_hop_by_hop_fields_do_not_reach_the_client() -> None:
    """The activator does not have h2 check the replica's fields: the router keeps only named,
    non-pseudo, non-hop-by-hop ones, lowercased, so the client's own h2 checks pass."""
    conn, transport, served = _connection()
    client = _client()
    client.send_headers(1, _REQUEST, end_stream=True)
    conn.data_received(client.data_to_send())
    client.receive_data(bytes(transport.out))
    before = len(transport.out)
    [stream] = served
    stream.start(
        200, b"",
        [(b"Content-Type", b"application/grpc"), (b":path", b"/x"), (b"connection", b"close"),
         (b"", b"empty"), (b"X-Model", b"iris")],
        None,
    )  # fmt: skip
    stream.write(b"\x00\x00\x00\x00\x02hi")
    stream.flush()
    stream.set_trailers([(b":status", b"200"), (b"Grpc-Status", b"0"), (b"te", b"trailers")])
    stream.end()
    await asyncio.sleep(0)
    events = client.receive_data(bytes(transport.out[before:]))
    [head] = [e for e in events if isinstance(e, h2.events.ResponseReceived)]
    [trailers] = [e for e in events if isinstance(e, h2.events.TrailersReceived)]
    assert [(bytes(n), bytes(v)) for n, v in head.headers or ()] == [
        (b":status", b"200"),
        (b"content-type", b"application/grpc"),
        (b"x-model", b"iris"),
    ]
    assert [(bytes(n), bytes(v)) for n, v in trailers.headers or ()] == [(b"grpc-status", b"0")]
    assert any(isinstance(e, h2.events.StreamEnded) for e in events)


async def test_an_answer_held_by_the_clients_window_goes_on_as_the_window_reopens() -> None:
    conn, transport, served = _connection()
    client = _client()
    client.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 10})
    client.send_headers(1, _REQUEST, end_stream=True)
    client.send_headers(3, _REQUEST, end_stream=True)
    conn.data_received(client.data_to_send())
    client.receive_data(bytes(transport.out))
    conn.data_received(client.data_to_send())  # the settings' acknowledgement
    first, second = served
    for stream in served:
        stream.start(200, b"", [(b"content-type", b"application/grpc")], None)
        stream.write(b"0123456789abcdefghijklmnopqrst")  # 30 bytes, 3 windows
        stream.flush()
        stream.set_trailers([(b"grpc-status", b"0")])
        stream.end()
    await asyncio.sleep(0)
    got: dict[int, bytes] = {1: b"", 3: b""}
    ended: set[int] = set()

    def read() -> None:
        for event in client.receive_data(bytes(transport.out)):
            if isinstance(event, h2.events.DataReceived) and event.stream_id:
                got[event.stream_id] += event.data or b""
            elif isinstance(event, h2.events.StreamEnded) and event.stream_id:
                ended.add(event.stream_id)
        transport.out.clear()

    read()
    assert got == {1: b"0123456789", 3: b"0123456789"}
    for _ in range(3):  # stream 1's window reopens as its data is taken; stream 3's stays shut
        if 1 in ended:
            break
        client.increment_flow_control_window(10, stream_id=1)
        conn.data_received(client.data_to_send())
        await asyncio.sleep(0)
        read()
    assert got[1] == b"0123456789abcdefghijklmnopqrst"
    assert ended == {1}
    assert got[3] == b"0123456789"
    assert second.waiting
    assert not first.waiting


async def test_malformed_request_headers_answer_goaway_protocol_error_and_are_not_served() -> None:
    malformed = [
        [*_REQUEST, (b"Content-Type", b"x")],  # an uppercase name
        [*_REQUEST, (b"connection", b"close")],  # a connection-specific field
        [*_REQUEST, (b"te", b"gzip")],  # te other than trailers
        [*_REQUEST[1:]],  # no :method
        [*_REQUEST, (b":method", b"GET")],  # a repeated pseudo-header
        [_REQUEST[4], *_REQUEST[:4]],  # a pseudo-header after a regular field
        [*_REQUEST, (b"x-bad", b"a\r\nb")],  # an illegal character
    ]
    for headers in malformed:
        conn, transport, served = _serving()
        client = _lax_client()
        client.send_headers(1, headers, end_stream=True)
        conn.data_received(client.data_to_send())
        await asyncio.sleep(0)
        assert served == [], headers
        assert _goaway_code(client, bytes(transport.out)) == 1, headers  # PROTOCOL_ERROR
        assert transport.closed


async def test_a_malformed_list_after_valid_ones_on_the_same_connection_is_still_refused() -> None:
    conn, transport, served = _serving()
    client = _lax_client()
    for stream_id in (1, 3):  # the same valid list twice: the second passes as already checked
        client.send_headers(stream_id, _REQUEST, end_stream=True)
        conn.data_received(client.data_to_send())
    await asyncio.sleep(0)
    assert len(served) == 2
    client.send_headers(5, [*_REQUEST, (b"connection", b"close")], end_stream=True)
    conn.data_received(client.data_to_send())
    await asyncio.sleep(0)
    assert len(served) == 2
    assert _goaway_code(client, bytes(transport.out)) == 1
    assert transport.closed


async def test_request_trailers_with_a_pseudo_header_answer_goaway_protocol_error() -> None:
    conn, transport, _ = _serving()
    client = _lax_client()
    client.send_headers(1, _REQUEST, end_stream=False)
    client.send_data(1, b"\x00\x00\x00\x00\x00")
    client.send_headers(1, [(b":path", b"/x")], end_stream=True)
    conn.data_received(client.data_to_send())
    await asyncio.sleep(0)
    assert _goaway_code(client, bytes(transport.out)) == 1
    assert transport.closed


async def test_a_connection_remembers_only_small_valid_lists_without_per_call_fields() -> None:
    conn, _, served = _serving()
    client = _lax_client()
    lists = [
        _REQUEST,
        [*_REQUEST, (b"x-big", b"v" * 5000)],  # over 4 KiB: checked every time
        [*_REQUEST, (b"grpc-timeout", b"5S")],  # a per-call field
    ]
    for stream_id, headers in zip((1, 3, 5), lists, strict=True):
        client.send_headers(stream_id, headers, end_stream=True)
        conn.data_received(client.data_to_send())
    await asyncio.sleep(0)
    assert len(served) == 3
    assert conn._h2 is not None
    assert len(conn._h2._valid) == 1
    assert tuple(_REQUEST) in conn._h2._valid


async def test_a_stream_the_client_breaks_is_reset_and_its_serving_task_cancelled() -> None:
    release = asyncio.Event()

    async def held(stream: ServerStream) -> None:
        await release.wait()  # the replica never answers

    conn, transport, served = _connection(held)
    client = _client()
    client.send_headers(1, _REQUEST, end_stream=False)
    conn.data_received(client.data_to_send())
    await asyncio.sleep(0)
    [stream] = served
    assert stream.task is not None
    client.receive_data(bytes(transport.out))
    transport.out.clear()
    # A WINDOW_UPDATE of 0 on an open stream is a stream error (RFC 9113 6.9).
    conn.data_received(b"\x00\x00\x04\x08\x00\x00\x00\x00\x01\x00\x00\x00\x00")
    events = client.receive_data(bytes(transport.out))
    [reset] = [e for e in events if isinstance(e, h2.events.StreamReset)]
    assert reset.stream_id == 1
    assert reset.error_code == h2.errors.ErrorCodes.PROTOCOL_ERROR
    await asyncio.sleep(0)
    assert stream.task.cancelled()
    assert stream.detached
    assert conn._h2 is not None
    assert not conn._h2.streams
    assert not transport.closed  # the connection goes on


def _ping(n: int) -> bytes:
    return b"\x00\x00\x08\x06\x00\x00\x00\x00\x00" + n.to_bytes(8, "big")


_SMALL_WINDOW = RouterConfig(h2ConnectionWindowBytes=65_535)


async def test_a_client_that_sends_pings_while_it_reads_nothing_is_told_to_calm_down() -> None:
    conn, transport, _ = _connection(limits=_SMALL_WINDOW)
    client = _client()
    conn.data_received(client.data_to_send())
    client.receive_data(bytes(transport.out))
    transport.out.clear()
    conn.pause_writing()  # the client reads nothing: its socket buffer is full
    chunk = b"".join(_ping(i) for i in range(4096))  # 68 KiB a read
    window = _SMALL_WINDOW.h2_connection_window_bytes
    reads = 0
    while not transport.closed:
        conn.data_received(chunk)
        reads += 1
        assert reads * len(chunk) <= window + (1 << 20) + len(chunk)
    assert _goaway_code(client, bytes(transport.out)) == h2.errors.ErrorCodes.ENHANCE_YOUR_CALM


async def test_pings_while_the_client_reads_are_answered_without_limit() -> None:
    conn, transport, _ = _connection(limits=_SMALL_WINDOW)
    client = _client()
    conn.data_received(client.data_to_send())
    chunk = b"".join(_ping(i) for i in range(4096))
    window = _SMALL_WINDOW.h2_connection_window_bytes
    for _ in range((window + (1 << 20)) // len(chunk) + 2):
        conn.pause_writing()
        conn.data_received(chunk)
        conn.resume_writing()  # it reads what it was sent
    assert not transport.closed


async def test_a_client_that_resets_every_stream_it_opens_is_told_to_calm_down() -> None:
    release = asyncio.Event()

    async def held(stream: ServerStream) -> None:
        await release.wait()  # an answer takes a while: the client never waits for it

    conn, transport, served = _connection(held)
    client = _client()
    sid = 1
    while not transport.closed:
        client.send_headers(sid, _REQUEST, end_stream=True)
        client.reset_stream(sid)
        conn.data_received(client.data_to_send())
        sid += 2
        assert sid < 2 * 1000
    assert 200 < len(served) < 210
    await asyncio.sleep(0)
    assert all(s.task is not None and s.task.cancelled() for s in served)
    events = client.receive_data(bytes(transport.out))
    [goaway] = [e for e in events if isinstance(e, h2.events.ConnectionTerminated)]
    assert goaway.error_code == h2.errors.ErrorCodes.ENHANCE_YOUR_CALM


async def test_a_client_that_cancels_some_calls_among_answered_ones_keeps_its_connection() -> None:
    async def answered(stream: ServerStream) -> None:
        stream.fail(GrpcStatus.OK, "")

    release = asyncio.Event()

    async def held(stream: ServerStream) -> None:
        await release.wait()

    conn, transport, served = _connection(
        lambda s: held(s) if s.stream_id % 4 == 3 else answered(s)
    )
    client = _client()
    for sid in range(1, 1200, 2):  # every other call is cancelled (a deadline) before its answer
        client.send_headers(sid, _REQUEST, end_stream=True)
        conn.data_received(client.data_to_send())
        await asyncio.sleep(0)
        if sid % 4 == 3:
            client.reset_stream(sid)
            conn.data_received(client.data_to_send())
        client.receive_data(bytes(transport.out))
        transport.out.clear()
    assert len(served) == 600
    assert not transport.closed
