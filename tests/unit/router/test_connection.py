"""The ingress connection on a fake transport: limits, timeouts, pipelining and flow control.

Time is whatever the test passes to ``sweep(now)``; the router's sweep does the same on its clock.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable

import pytest

from minikn.config.router import RouterConfig
from minikn.router.connection import (
    LINGER_DISCARD_BYTES,
    ClientConnection,
    IncomingRequest,
    Pending,
)
from minikn.router.response import Response

LIMITS = RouterConfig(
    requestHeadTimeout=10,
    bodyIdleTimeout=30,
    keepAliveTimeout=60,
    lingeringTime=5,
    maxPipelinedRequests=2,
)
GET = b"GET /v1/models/m HTTP/1.1\r\nHost: m\r\n\r\n"


class FakeTransport:
    """Records what the connection writes and how it drives the socket."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.reading = True
        self.closed = False
        self.eof_written = False

    def write(self, data: bytes) -> None:
        assert not self.eof_written
        assert not self.closed
        self.out += data

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof_written = True

    def get_extra_info(self, name: str) -> object:
        return ("127.0.0.1", 5555) if name == "peername" else None

    def statuses(self) -> list[int]:
        return [int(m) for m in re.findall(rb"HTTP/1\.1 (\d{3}) ", bytes(self.out))]

    def error(self) -> str:
        return str(json.loads(bytes(self.out).rsplit(b"\r\n\r\n", 1)[1])["error"])


def answer_ok(request: IncomingRequest, response: Response) -> Pending:
    del request
    response.start(200, b"", [(b"content-length", b"2")], 2)
    response.write(b"ok")
    response.end()
    return None


def connect(
    serve: Callable[[IncomingRequest, Response], Pending] = answer_ok,
    limits: RouterConfig = LIMITS,
    *,
    max_body: int = 1 << 20,
    accepted: float = 0.0,
) -> tuple[ClientConnection, FakeTransport]:
    conn = ClientConnection(
        serve, lambda c: None, max_body=max_body, limits=limits, accepted=accepted
    )
    transport = FakeTransport()
    conn.connection_made(transport)  # type: ignore[arg-type]
    return conn, transport


def test_idle_keep_alive_connection_is_closed_silently_after_the_keep_alive_timeout() -> None:
    conn, transport = connect()
    conn.data_received(GET)
    assert transport.statuses() == [200]
    conn.sweep(1.0)  # first sight of the idle connection
    conn.sweep(60.0)
    assert not transport.closed
    conn.sweep(61.0)
    assert transport.closed
    assert transport.statuses() == [200]  # nothing written on an idle close


def test_a_request_between_sweeps_restarts_the_keep_alive_clock() -> None:
    conn, transport = connect()
    conn.data_received(GET)
    conn.sweep(1.0)
    conn.data_received(GET)  # served at once: the sweep sees IDLE again, with progress
    conn.sweep(60.5)
    conn.sweep(61.0)
    assert not transport.closed
    conn.sweep(121.0)
    assert transport.closed


def test_new_connection_that_sends_nothing_is_closed_after_the_head_timeout() -> None:
    conn, transport = connect(accepted=100.0)
    conn.sweep(109.9)
    assert not transport.closed
    conn.sweep(110.0)
    assert transport.closed
    assert transport.out == b""


def test_head_trickling_one_byte_per_sweep_gets_408_at_the_head_timeout() -> None:
    conn, transport = connect()
    head = b"GET / HTTP/1.1\r\nX-Slow: " + b"a" * 100
    for second, byte in enumerate(head[:12]):
        conn.data_received(bytes([byte]))
        conn.sweep(float(second))
    assert transport.statuses() == [408]
    assert "request head not received within 10 s" in transport.error()
    assert transport.eof_written  # lingering: the client reads the answer, not a reset


def test_head_over_the_size_limit_is_refused_with_431_and_later_bytes_are_discarded() -> None:
    limits = LIMITS.model_copy(update={"max_request_head_bytes": 4096})
    conn, transport = connect(limits=limits)
    conn.data_received(b"GET / HTTP/1.1\r\nX-Big: ")
    for _ in range(10):
        conn.data_received(b"a" * 1000)
    assert transport.statuses() == [431]
    assert transport.error() == "request head larger than 4096 bytes"
    written = len(transport.out)
    for _ in range(100):  # the flood goes on: read and dropped, nothing kept or written
        conn.data_received(b"a" * 1000)
    assert len(transport.out) == written
    assert not conn._headers
    assert conn._url == b""


def test_head_over_the_limit_inside_one_read_is_refused_even_when_complete() -> None:
    limits = LIMITS.model_copy(update={"max_request_head_bytes": 4096})
    conn, transport = connect(limits=limits)
    conn.data_received(b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 5000 + b"\r\n\r\n")
    assert transport.statuses() == [431]


def test_body_arriving_with_its_head_in_one_large_read_is_not_mistaken_for_a_large_head() -> None:
    limits = LIMITS.model_copy(update={"max_request_head_bytes": 4096})
    conn, transport = connect(limits=limits)
    body = b"x" * 10_000
    conn.data_received(b"POST / HTTP/1.1\r\nContent-Length: %d\r\n\r\n%b" % (len(body), body))
    assert transport.statuses() == [200]


def test_too_many_header_fields_get_431() -> None:
    conn, transport = connect()
    fields = b"".join(b"h%d: v\r\n" % i for i in range(101))
    conn.data_received(b"GET / HTTP/1.1\r\n" + fields + b"\r\n")
    assert transport.statuses() == [431]
    assert transport.error() == "more than 100 request header fields"


@pytest.mark.parametrize(
    ("raw", "status", "reason"),
    [
        (b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", 501, "websocket"),
        (b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 405, "CONNECT"),
        (b"G@T / HTTP/1.1\r\n\r\n", 400, "Invalid method"),
        (b"GET /\r\n\r\n", 400, "HTTP/0.9"),
        (b"GET / HTTP/2.0\r\n\r\n", 505, "HTTP/2.0"),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400, "chunk size"),
        (b"GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n", 400, "header value"),
        (b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400, "overflow"),
    ],
)
def test_requests_the_ingress_cannot_serve_get_an_answer_with_the_reason(
    raw: bytes, status: int, reason: str
) -> None:
    conn, transport = connect()
    conn.data_received(raw)
    assert transport.statuses() == [status]
    assert reason in transport.error()
    assert b"connection: close" in transport.out
    assert transport.eof_written


async def test_chunked_body_over_max_body_gets_413_while_it_still_arrives() -> None:
    served: list[IncomingRequest] = []

    def never_reads(request: IncomingRequest, response: Response) -> Pending:
        served.append(request)
        return asyncio.Event().wait()  # type: ignore[return-value]

    conn, transport = connect(never_reads, max_body=1000)
    conn.data_received(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"100\r\n" + b"x" * 256 + b"\r\n"
    for _ in range(5):
        conn.data_received(chunk)
    assert transport.statuses() == [413]
    assert transport.error() == "request body larger than 1000 bytes"
    assert transport.eof_written
    await asyncio.sleep(0)  # the cut-off request's task finishes cancelling


async def test_body_that_stops_arriving_gets_408_and_its_request_is_cut_off() -> None:
    responses: list[Response] = []

    def waits_for_body(request: IncomingRequest, response: Response) -> Pending:
        responses.append(response)
        return request.body.read()  # type: ignore[return-value]

    conn, transport = connect(waits_for_body)
    conn.data_received(b"POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\nabc")
    conn.sweep(0.0)
    conn.sweep(29.0)
    assert transport.statuses() == []
    conn.sweep(30.0)
    assert transport.statuses() == [408]
    assert "request body stalled" in transport.error()
    assert responses[0].detached  # a late answer of the cut-off request goes nowhere
    responses[0].start(200, b"", [], 0)
    responses[0].end()
    assert transport.statuses() == [408]
    await asyncio.sleep(0)  # the cut-off request's task finishes cancelling


async def test_body_not_read_because_minikn_paused_reading_never_times_out() -> None:
    conn, transport = connect(lambda request, response: asyncio.Event().wait())  # type: ignore[arg-type,return-value]
    conn.data_received(b"POST / HTTP/1.1\r\nContent-Length: 1000000\r\n\r\n")
    conn.data_received(b"x" * 300_000)  # above the body stream's high-water mark
    assert not transport.reading
    conn.sweep(0.0)
    conn.sweep(1000.0)
    assert transport.statuses() == []
    assert not transport.closed
    conn.connection_lost(None)
    await asyncio.sleep(0)


async def test_pipelined_requests_wait_in_order_with_reading_paused() -> None:
    release = asyncio.Event()
    order: list[bytes] = []

    def serve(request: IncomingRequest, response: Response) -> Pending:
        order.append(request.url)

        async def answer() -> None:
            if request.url == b"/1":
                await release.wait()
            answer_ok(request, response)

        return answer()

    conn, transport = connect(serve)
    conn.data_received(b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n")
    await asyncio.sleep(0)
    assert order == [b"/1"]
    assert not transport.reading  # /2 waits: no more input until it starts
    release.set()
    for _ in range(10):
        await asyncio.sleep(0)
    assert order == [b"/1", b"/2"]
    assert transport.reading
    assert transport.statuses() == [200, 200]


async def test_pipelined_requests_beyond_the_bound_are_left_unread_and_the_connection_closes() -> (
    None
):
    served: list[bytes] = []

    def serve(request: IncomingRequest, response: Response) -> Pending:
        served.append(request.url)
        return answer_ok(request, response)

    conn, transport = connect(serve)
    conn.data_received(b"".join(b"GET /%d HTTP/1.1\r\n\r\n" % i for i in range(10)))
    for _ in range(20):
        await asyncio.sleep(0)
    # One served at once, two (maxPipelinedRequests) parsed ahead; the rest left unread.
    assert served == [b"/0", b"/1", b"/2"]
    assert transport.statuses() == [200, 200, 200]
    assert transport.eof_written


def test_lingering_connection_is_closed_after_the_lingering_time() -> None:
    conn, transport = connect()
    conn.data_received(b"G@T / HTTP/1.1\r\n\r\n")
    assert transport.eof_written
    assert not transport.closed
    conn.sweep(1.0)
    conn.data_received(b"more bytes the client still sends")
    conn.sweep(5.9)
    assert not transport.closed
    conn.sweep(6.0)
    assert transport.closed


def test_a_flood_after_the_answer_stops_being_read_until_the_lingering_close() -> None:
    conn, transport = connect()
    conn.data_received(b"G@T / HTTP/1.1\r\n\r\n")
    assert transport.statuses() == [400]
    chunk = b"x" * 65536
    for _ in range(LINGER_DISCARD_BYTES // len(chunk)):
        conn.data_received(chunk)
    assert transport.reading  # up to the bound: read and discarded, as nginx does
    conn.data_received(chunk)
    assert not transport.reading  # past it: TCP holds the flood back
    assert not transport.closed  # the client keeps its time to read the answer
    conn.sweep(1.0)
    conn.sweep(6.0)
    assert transport.closed
