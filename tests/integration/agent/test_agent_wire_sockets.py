"""The lean CloudEvents client against real servers on loopback: framing and connection reuse."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from minikn.activator.agent.cloudevents import CloudEvent
from minikn.activator.agent.sender import HttpEventSender, SinkError
from minikn.activator.agent.wire import RawHttpSender


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, list[tuple[str, bytes, int]]]]:
    """Answers by path: /ok (202), /chunked, /close; records (path, body, peer port)."""
    seen: list[tuple[str, bytes, int]] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        seen.append((request.path, await request.read(), peer[1] if peer else 0))
        if request.path == "/chunked":
            resp = web.StreamResponse(status=200)
            resp.enable_chunked_encoding()
            await resp.prepare(request)
            await resp.write(b"part1")
            await resp.write(b"part2")
            await resp.write_eof()
            return resp
        if request.path == "/close":
            resp = web.Response(status=503, text="down")
            resp.force_close()
            return resp
        return web.Response(status=202)

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}", seen
    finally:
        await runner.cleanup()


def _event(url: str, body: bytes = b"payload") -> CloudEvent:
    return CloudEvent(url, {"Ce-Id": "1", "Content-Type": "application/json"}, body)


async def test_keepalive_connection_is_reused(
    server: tuple[str, list[tuple[str, bytes, int]]],
) -> None:
    base, seen = server
    sender = RawHttpSender(base + "/ok")
    assert await sender.send_batch([_event(base, b"a")]) == [202]
    assert await sender.send_batch([_event(base, b"b"), _event(base, b"c")]) == [202, 202]
    await sender.close()
    assert [body for _, body, _ in seen] == [b"a", b"b", b"c"]
    assert len({port for _, _, port in seen}) == 1  # one kept-alive connection, pipelined


async def test_chunked_and_closing_answers_are_read_whole(
    server: tuple[str, list[tuple[str, bytes, int]]],
) -> None:
    base, seen = server
    chunked = RawHttpSender(base + "/chunked")
    closing = RawHttpSender(base + "/close")
    assert await chunked.send_batch([_event(base), _event(base)]) == [200, 200]
    assert await chunked.send_batch([_event(base)]) == [200]
    assert await closing.send_batch([_event(base)]) == [503]
    [first, second] = await closing.send_batch([_event(base), _event(base)])
    assert first == 503
    assert isinstance(second, SinkError)  # closed after the first answer: not delivered
    await chunked.close()
    await closing.close()
    ports = {path: {port for p, _, port in seen if p == path} for path in ("/chunked", "/close")}
    assert len(ports["/chunked"]) == 1
    assert len(ports["/close"]) == 2
    assert len([p for p, _, _ in seen if p == "/close"]) == 2  # the pipelined second is lost


async def test_refused_connection_is_a_sink_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sender = RawHttpSender(f"http://127.0.0.1:{port}/")
    [result] = await sender.send_batch([_event("x")])
    assert isinstance(result, SinkError)
    await sender.close()


async def test_aiohttp_sender_used_for_tls_sinks_reports_statuses_and_errors(
    server: tuple[str, list[tuple[str, bytes, int]]],
) -> None:
    base, seen = server
    sender = HttpEventSender(timeout_s=5.0)
    await sender.start()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        refused = f"http://127.0.0.1:{s.getsockname()[1]}/"
    ok, closed, down = await sender.send_batch(
        [_event(base + "/ok", b"a"), _event(base + "/close", b"b"), _event(refused)]
    )
    await sender.close()
    assert (ok, closed) == (202, 503)
    assert isinstance(down, SinkError)
    assert sorted(body for _, body, _ in seen) == [b"a", b"b"]


async def test_pipelined_answers_in_one_segment_with_mixed_framing() -> None:
    """A sink answering a whole batch in one write: length-framed, chunked and erroring answers
    are split correctly, in order."""
    answers = (
        b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n"
        b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\nok"
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
        b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 3\r\n\r\nbad"
    )

    class Sink(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport
            self.received = b""

        def data_received(self, data: bytes) -> None:
            self.received += data
            if self.received.count(b"POST ") == 4 and self.received.endswith(b"p4"):
                assert isinstance(self.transport, asyncio.WriteTransport)
                self.transport.write(answers)

    loop = asyncio.get_running_loop()
    server = await loop.create_server(Sink, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    sender = RawHttpSender(url)
    try:
        events = [_event(url, b"p%d" % i) for i in range(1, 5)]
        assert await sender.send_batch(events) == [202, 202, 200, 500]
    finally:
        await sender.close()
        server.close()
        await server.wait_closed()
