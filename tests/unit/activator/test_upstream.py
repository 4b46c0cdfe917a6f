"""Replica connections and their pool on a fake transport (httpcore's way): the state machine,
expiry on the injected clock, the idle bound, and the byte pump of one request."""

from __future__ import annotations

import asyncio
import gc
from typing import Any, cast

import pytest

from minikn.activator.upstream import (
    ConnState,
    NeverReached,
    Retry,
    UpstreamConnection,
    UpstreamPool,
    send,
    verdict,
)
from minikn.core.clock import FakeClock
from minikn.core.endpoints import Endpoint
from minikn.core.errors import BadGateway
from minikn.wire.http import BodyStream, ProxyRequest

EP = Endpoint("r-1", "127.0.0.1", 8080)
OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"


class FakeTransport:
    """Records what the connection writes; ``close`` reports the loss as a real transport does
    (on the next loop turn)."""

    def __init__(self, protocol: UpstreamConnection) -> None:
        self.protocol = protocol
        self.out = bytearray()
        self.closed = False
        self.reading = True

    def write(self, data: bytes) -> None:
        assert not self.closed
        self.out += data

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            asyncio.get_running_loop().call_soon(self.protocol.connection_lost, None)

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True


class RecordingSink:
    """A client sink that keeps what it was told."""

    def __init__(self) -> None:
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = bytearray()
        self.ended = False
        self.aborted = False
        self.producer: object = None

    @property
    def started(self) -> bool:
        return self.status != 0

    def start(
        self, status: int, reason: bytes, headers: list[tuple[bytes, bytes]], length: int | None
    ) -> None:
        del reason, length
        self.status = status
        self.headers = headers

    def write(self, data: bytes) -> None:
        self.body += data

    def flush(self) -> None:
        pass

    def end(self) -> None:
        self.ended = True

    def abort(self) -> None:
        self.aborted = True

    def bind_producer(self, producer: asyncio.Transport | None) -> None:
        self.producer = producer


def connected() -> tuple[UpstreamConnection, FakeTransport]:
    conn = UpstreamConnection(EP)
    transport = FakeTransport(conn)
    conn.connection_made(cast(asyncio.Transport, transport))
    return conn, transport


def begin(conn: UpstreamConnection, sink: RecordingSink, ends: list[Exception | None]) -> None:
    conn.begin(sink, head_only=False, on_head=None, on_end=ends.append)


def get(body: BodyStream | None = None, method: bytes = b"GET") -> ProxyRequest:
    length = None if body is None else 4
    return ProxyRequest(method, b"/", b"host: m\r\n", "rid", body, length)


async def test_keep_alive_response_streams_into_the_sink_and_leaves_the_connection_idle() -> None:
    conn, _ = connected()
    assert conn.state is ConnState.IDLE
    sink, ends = RecordingSink(), list[Exception | None]()
    begin(conn, sink, ends)
    assert conn.state is ConnState.ACTIVE
    conn.data_received(b"HTTP/1.1 200 OK\r\nconnection: keep-alive\r\ncontent-length: 4\r\n")
    conn.data_received(b"x-model: m\r\n\r\nab")
    assert sink.status == 200
    assert sink.headers == [(b"content-length", b"4"), (b"x-model", b"m")]  # hop-by-hop dropped
    assert ends == []
    conn.data_received(b"cd")
    assert bytes(sink.body) == b"abcd"
    assert sink.ended
    assert ends == [None]
    assert conn.state is ConnState.IDLE


@pytest.mark.parametrize(
    ("response", "method"),
    [
        (b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok", b"GET"),
        (b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n", b"HEAD"),  # parser position unknown
    ],
)
async def test_connection_the_response_does_not_keep_alive_is_closed_state(
    response: bytes, method: bytes
) -> None:
    conn, _ = connected()
    sink, ends = RecordingSink(), list[Exception | None]()
    conn.begin(sink, head_only=method == b"HEAD", on_head=None, on_end=ends.append)
    conn.data_received(response)
    assert ends == [None]
    assert conn.state is ConnState.CLOSED


async def test_bad_http_from_the_replica_ends_the_exchange_and_closes() -> None:
    conn, transport = connected()
    sink, ends = RecordingSink(), list[Exception | None]()
    begin(conn, sink, ends)
    conn.data_received(b"NOT HTTP\r\n\r\n")
    assert len(ends) == 1
    assert isinstance(ends[0], BadGateway)
    assert conn.state is ConnState.CLOSED
    assert transport.closed


async def test_lost_connection_ends_the_exchange_with_bad_gateway() -> None:
    conn, _ = connected()
    sink, ends = RecordingSink(), list[Exception | None]()
    begin(conn, sink, ends)
    conn.connection_lost(None)
    assert isinstance(ends[0], BadGateway)
    assert conn.state is ConnState.CLOSED
    assert conn.transport is None


@pytest.mark.parametrize(
    ("state", "now", "expired"),
    [
        (ConnState.IDLE, 9.99, False),
        (ConnState.IDLE, 10.0, True),  # idle up to its expiry
        (ConnState.ACTIVE, 0.0, True),  # busy: never handed out
        (ConnState.CLOSED, 0.0, True),
    ],
)
def test_has_expired_truth_table(state: ConnState, now: float, *, expired: bool) -> None:
    conn = UpstreamConnection(EP)
    conn.state = state
    conn.expires_at = 10.0
    assert conn.has_expired(now) is expired


async def test_pool_reuses_an_idle_connection_until_its_idle_timeout_on_the_clock() -> None:
    clock = FakeClock()
    pool = UpstreamPool(now=clock.monotonic, idle_timeout=4.0, max_idle=10)
    conn, transport = connected()
    pool.release(conn)
    assert pool.idle(EP) is conn
    pool.release(conn)
    await clock.advance(3.9)
    assert pool.idle(EP) is conn
    pool.release(conn)  # idle again from now
    await clock.advance(4.0)
    assert pool.idle(EP) is None  # expired: closed, not reused
    assert transport.closed
    assert conn.state is ConnState.CLOSED


async def test_pool_reuses_the_most_recently_used_connection_first() -> None:
    pool = UpstreamPool(now=FakeClock().monotonic, idle_timeout=4.0, max_idle=10)
    (a, _), (b, _) = connected(), connected()
    pool.release(a)
    pool.release(b)
    assert pool.idle(EP) is b
    assert pool.idle(EP) is a


async def test_pool_keeps_at_most_max_idle_per_replica_closing_the_longest_idle() -> None:
    pool = UpstreamPool(now=FakeClock().monotonic, idle_timeout=4.0, max_idle=2)
    conns = [connected() for _ in range(3)]
    for conn, _ in conns:
        pool.release(conn)
    assert pool.idle_count(EP) == 2
    assert [t.closed for _, t in conns] == [True, False, False]
    other = Endpoint("r-2", "127.0.0.1", 8081)  # the bound is per replica
    extra = UpstreamConnection(other)
    extra.connection_made(cast(asyncio.Transport, FakeTransport(extra)))
    pool.release(extra)
    assert pool.idle_count(other) == 1


@pytest.mark.parametrize("state", [ConnState.ACTIVE, ConnState.CLOSED])
async def test_pool_closes_a_released_connection_that_is_not_idle(state: ConnState) -> None:
    pool = UpstreamPool(now=FakeClock().monotonic, idle_timeout=4.0, max_idle=2)
    conn, transport = connected()
    conn.state = state
    pool.release(conn)
    assert transport.closed
    assert pool.idle_count(EP) == 0


async def test_forget_and_close_close_the_pooled_connections() -> None:
    pool = UpstreamPool(now=FakeClock().monotonic, idle_timeout=4.0, max_idle=2)
    (a, ta), (b, tb) = connected(), connected()
    pool.release(a)
    pool.forget(EP)
    assert ta.closed
    pool.release(b)
    pool.close()
    assert tb.closed
    assert pool.idle(EP) is None


async def test_send_writes_the_request_and_returns_once_the_response_ended() -> None:
    conn, transport = connected()
    sink = RecordingSink()
    task = asyncio.create_task(send(conn, b"HEAD-BYTES", get(), sink, reused=False, on_head=None))
    await asyncio.sleep(0)
    assert bytes(transport.out) == b"HEAD-BYTES"
    conn.data_received(OK)
    await task
    assert bytes(sink.body) == b"ok"
    assert conn.state is ConnState.IDLE


async def test_reused_connection_closed_before_any_answer_is_never_reached_for_a_get() -> None:
    conn, _ = connected()
    task = asyncio.create_task(send(conn, b"H", get(), RecordingSink(), reused=True, on_head=None))
    await asyncio.sleep(0)
    conn.connection_lost(None)
    with pytest.raises(NeverReached) as caught:
        await task
    assert caught.value.stale
    assert not caught.value.refused


async def test_pooled_connection_the_peer_closed_is_retried_with_its_body_not_answered_502() -> (
    None
):
    """The replica died with the request on a pooled connection whose close the loop had not yet
    seen: the POST is sent again, whole, on a fresh connection, instead of a 502."""
    pool = UpstreamPool(now=FakeClock().monotonic, idle_timeout=4.0)
    stale, _ = connected()
    pool.release(stale)
    conn = pool.idle(EP)
    assert conn is stale
    body = BodyStream(None)
    body.feed(b"abcd")
    body.feed_eof()
    request = get(body, b"POST")
    sink = RecordingSink()
    task = asyncio.create_task(send(conn, b"H", request, sink, reused=True, on_head=None))
    await asyncio.sleep(0)
    conn.connection_lost(ConnectionResetError())  # the FIN/RST that was pending in the loop
    with pytest.raises(NeverReached) as caught:
        await task
    assert caught.value.stale
    assert sink.status == 0  # nothing answered

    fresh, transport = connected()
    retry = asyncio.create_task(send(fresh, b"H", request, sink, reused=False, on_head=None))
    await asyncio.sleep(0)
    assert bytes(transport.out) == b"Habcd"  # the same body, whole, again
    fresh.data_received(OK)
    await retry
    assert sink.status == 200
    assert bytes(sink.body) == b"ok"


async def test_reused_connection_closed_after_a_streamed_body_is_a_bad_gateway() -> None:
    conn, _ = connected()
    body = BodyStream(None)
    body.feed(b"ab")  # the rest is still coming: what was sent cannot be sent again
    request = get(body, b"POST")
    task = asyncio.create_task(
        send(conn, b"H", request, RecordingSink(), reused=True, on_head=None)
    )
    await asyncio.sleep(0)
    conn.connection_lost(None)
    body.feed(b"cd")
    body.feed_eof()
    with pytest.raises(BadGateway):
        await task


async def test_new_connection_closed_before_any_answer_replays_only_a_bodiless_get() -> None:
    conn, _ = connected()
    task = asyncio.create_task(send(conn, b"H", get(), RecordingSink(), reused=False, on_head=None))
    await asyncio.sleep(0)
    conn.connection_lost(ConnectionResetError())
    with pytest.raises(NeverReached) as caught:
        await task
    assert caught.value.refused  # the replica is going: ejected

    conn, _ = connected()
    body = BodyStream(None)
    body.feed(b"abcd")
    body.feed_eof()
    task = asyncio.create_task(
        send(conn, b"H", get(body, b"POST"), RecordingSink(), reused=False, on_head=None)
    )
    await asyncio.sleep(0)
    conn.connection_lost(None)
    with pytest.raises(BadGateway):
        await task


async def test_connection_closed_after_some_answer_is_a_bad_gateway_even_when_reused() -> None:
    conn, _ = connected()
    sink = RecordingSink()
    task = asyncio.create_task(send(conn, b"H", get(), sink, reused=True, on_head=None))
    await asyncio.sleep(0)
    conn.data_received(b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nok")
    conn.connection_lost(None)
    with pytest.raises(BadGateway):
        await task


@pytest.mark.parametrize(
    ("received", "reused", "method", "body", "resendable", "expected"),
    [
        (False, True, b"POST", True, True, Retry.STALE),  # a pooled connection: any method
        (False, True, b"GET", False, True, Retry.STALE),
        (False, True, b"POST", True, False, Retry.NO),  # the body streamed: cannot resend
        (False, False, b"GET", False, True, Retry.EJECT),  # fresh: idempotent, no body
        (False, False, b"POST", False, True, Retry.NO),
        (False, False, b"GET", True, True, Retry.NO),
        (True, True, b"GET", False, True, Retry.NO),  # some answer arrived: it was served
        (True, False, b"GET", False, True, Retry.NO),
    ],
)
def test_retry_verdict_truth_table(  # noqa: PLR0917 - one row of the table
    received: bool, reused: bool, method: bytes, body: bool, resendable: bool, expected: Retry
) -> None:
    got = verdict(received=received, reused=reused, method=method, body=body, resendable=resendable)
    assert got is expected


async def test_client_cut_off_while_the_body_streams_leaves_no_unretrieved_error() -> None:
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    try:
        conn, transport = connected()
        body = BodyStream(None)
        body.feed(b"ab")  # the rest never comes: the client goes away
        request = get(body, b"POST")
        task = asyncio.create_task(
            send(conn, b"H", request, RecordingSink(), reused=False, on_head=None)
        )
        await asyncio.sleep(0)
        assert bytes(transport.out) == b"Hab"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        UpstreamPool(now=FakeClock().monotonic, idle_timeout=4.0).release(conn)  # as the caller
        assert transport.closed
        assert conn.state is ConnState.CLOSED
        for _ in range(3):
            await asyncio.sleep(0)  # the transport reports the loss
        del task
        gc.collect()
        assert errors == []  # no "Future exception was never retrieved"
    finally:
        loop.set_exception_handler(None)
