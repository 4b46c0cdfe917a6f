"""The real ingress on loopback against hostile clients: huge heads, slowloris, endless bodies,
upgrades. Every one gets an answer with the reason (or a silent close where HTTP has none) and its
connection is closed; the ingress keeps serving everyone else meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from typing import Any

import aiohttp

from minikn.config.loader import settings_from_mapping
from minikn.testing.datapath import running_datapath
from minikn.testing.fake_replicas import Seen, aiohttp_factory, isvc_route, revision, table, to

IRIS = revision("iris")
ROUTES = table(isvc_route("iris", predictor=[to(IRIS)]))
PREDICT = b"POST /v1/models/iris:predict HTTP/1.1\r\nHost: x\r\n"


def limits(**router: Any) -> Any:
    """Small limits so the tests see timeouts fire; the sweep runs every 20 ms."""
    defaults = {"timeoutResolution": "20ms", "lingeringTime": "200ms"}
    return settings_from_mapping(
        {"minikn": {"activator": {"maxBodyBytes": 64 * 1024}, "router": defaults | router}}
    )


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, str]:
    """Status and ``error`` of one ``{"error": ...}`` answer."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = int(re.search(rb"content-length: (\d+)", head, re.IGNORECASE).group(1))  # type: ignore[union-attr]
    return status, json.loads(await reader.readexactly(length))["error"]


async def closed(reader: asyncio.StreamReader) -> bool:
    """True once the server ends the connection (EOF, or a reset after lingering)."""
    try:
        return await reader.read() == b""
    except ConnectionResetError:
        return True


async def test_endless_header_stream_gets_431_and_the_connection_closes() -> None:
    async with running_datapath(ROUTES, [IRIS], aiohttp_factory(Seen()), settings=limits()) as dp:
        reader, writer = await asyncio.open_connection("127.0.0.1", dp.port)

        async def flood() -> None:  # up to 1 GiB, until the server stops reading
            writer.write(b"GET / HTTP/1.1\r\nX-Flood: ")
            with contextlib.suppress(ConnectionError):
                for _ in range(16 * 1024):
                    writer.write(b"a" * 65536)
                    await writer.drain()

        flooding = asyncio.create_task(flood())
        status, error = await read_answer(reader)
        assert (status, error) == (431, "request head larger than 61440 bytes")
        assert await closed(reader)
        await flooding
        assert dp.router._conns == set()  # nothing of it is kept
        writer.close()


async def test_thousand_slow_heads_are_closed_after_the_head_timeout_while_others_are_served(
    client: aiohttp.ClientSession,
) -> None:
    # Long enough that every slow head's first bytes are read before it runs out, even on a
    # loaded machine (a connection that sent nothing is closed silently, without a 408).
    settings = limits(requestHeadTimeout="5s")
    factory = aiohttp_factory(Seen())
    async with running_datapath(
        ROUTES, [IRIS], factory, settings=settings, warm=["iris-predictor-00001"]
    ) as dp:
        slow = [await asyncio.open_connection("127.0.0.1", dp.port) for _ in range(1000)]
        for _, writer in slow:
            writer.write(b"GET /v1/models/iris HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        async with client.get(dp.url + "/v1/models/iris") as resp:
            assert resp.status == 200  # served while the slow heads are held
        answers = await asyncio.gather(*(read_answer(reader) for reader, _ in slow))
        assert set(answers) == {(408, "request head not received within 5 s")}
        assert all(await asyncio.gather(*(closed(reader) for reader, _ in slow)))
        for _, writer in slow:
            writer.close()


async def test_endless_chunked_body_gets_413_once_over_max_body_and_the_connection_closes() -> None:
    async with running_datapath(ROUTES, [IRIS], aiohttp_factory(Seen()), settings=limits()) as dp:
        reader, writer = await asyncio.open_connection("127.0.0.1", dp.port)

        async def endless() -> None:
            writer.write(PREDICT + b"Transfer-Encoding: chunked\r\n\r\n")
            with contextlib.suppress(ConnectionError):
                while True:
                    writer.write(b"1000\r\n" + b"x" * 4096 + b"\r\n")
                    await writer.drain()

        sending = asyncio.create_task(endless())
        assert await read_answer(reader) == (413, "request body larger than 65536 bytes")
        assert await closed(reader)
        await sending
        writer.close()


async def test_chunked_body_that_stops_arriving_gets_408_and_the_connection_closes() -> None:
    settings = limits(bodyIdleTimeout="300ms")
    async with running_datapath(
        ROUTES, [IRIS], aiohttp_factory(Seen()), settings=settings, warm=["iris-predictor-00001"]
    ) as dp:
        reader, writer = await asyncio.open_connection("127.0.0.1", dp.port)
        writer.write(PREDICT + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
        assert await read_answer(reader) == (408, "request body stalled: no bytes for 0.3 s")
        assert await closed(reader)
        writer.close()


async def test_websocket_upgrade_gets_501_and_connect_gets_405() -> None:
    async with running_datapath(ROUTES, [IRIS], aiohttp_factory(Seen()), settings=limits()) as dp:
        for raw, expected in [
            (
                b"GET /v1/models/iris HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                b"Sec-WebSocket-Version: 13\r\n\r\n",
                (501, "protocol upgrades (websocket) are not supported; use HTTP/1.1"),
            ),
            (
                b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
                (405, "CONNECT is not supported: minikn is not a forward proxy"),
            ),
        ]:
            reader, writer = await asyncio.open_connection("127.0.0.1", dp.port)
            writer.write(raw)
            assert await read_answer(reader) == expected
            assert await closed(reader)
            writer.close()


async def test_malformed_requests_get_400_with_the_parser_reason() -> None:
    async with running_datapath(ROUTES, [IRIS], aiohttp_factory(Seen()), settings=limits()) as dp:
        for raw, reason in [
            (b"G@T / HTTP/1.1\r\n\r\n", "Invalid method"),
            (b"GET /\r\n\r\n", "HTTP/0.9"),
            (PREDICT + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n", "chunk size"),
            (b"GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n", "header value"),
        ]:
            reader, writer = await asyncio.open_connection("127.0.0.1", dp.port)
            writer.write(raw)
            status, error = await read_answer(reader)
            assert status == 400
            assert reason in error
            assert await closed(reader)
            writer.close()


async def test_non_ascii_header_values_are_passed_on_not_refused(
    client: aiohttp.ClientSession,
) -> None:
    async with running_datapath(
        ROUTES, [IRIS], aiohttp_factory(Seen()), settings=limits(), warm=["iris-predictor-00001"]
    ) as dp:
        reader, writer = await asyncio.open_connection("127.0.0.1", dp.port)
        writer.write("GET /v1/models/iris HTTP/1.1\r\nHost: x\r\nX-Name: héllo\r\n\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ")
        writer.close()
