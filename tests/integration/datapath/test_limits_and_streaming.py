"""containerConcurrency, body limits, streaming and HTTP/1.x framing through the real router."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web

from minikn.core.revision import RevisionSpec
from minikn.testing.datapath import running_datapath
from minikn.testing.fake_replicas import (
    Seen,
    aiohttp_factory,
    isvc_route,
    revision,
    settings,
    table,
    to,
)

IRIS = revision("iris")
ROUTES = table(isvc_route("iris", predictor=[to(IRIS)]))


async def _slowish(request: web.Request, spec: RevisionSpec, seen: Seen) -> web.Response:
    del spec, seen
    await request.read()
    await asyncio.sleep(0.005)  # a replica doing work, so requests overlap
    return web.json_response({})


async def test_container_concurrency_1_never_lets_a_replica_see_two_requests(
    client: aiohttp.ClientSession, seen: Seen
) -> None:
    rev = revision("one", container_concurrency=1)
    routes = table(isvc_route("one", predictor=[to(rev)]))
    async with running_datapath(routes, [rev], aiohttp_factory(seen, _slowish)) as dp:

        async def one() -> int:
            async with client.post(dp.url + "/v1/models/one:predict", data=b"{}") as resp:
                return resp.status

        statuses = await asyncio.gather(*(one() for _ in range(40)))
        assert statuses == [200] * 40
        assert seen.peak == 1
        assert len(seen.ids) == 40


async def test_streamed_response_reaches_the_client_before_the_replica_finishes(
    client: aiohttp.ClientSession, seen: Seen
) -> None:
    async with (
        running_datapath(ROUTES, [IRIS], aiohttp_factory(seen), warm=[IRIS.name]) as dp,
        client.post(dp.url + "/v1/models/iris/stream", data=b"{}") as resp,
    ):
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "text/event-stream"
        first = await asyncio.wait_for(resp.content.readuntil(b"\n\n"), 10)
        assert first == b"data: first\n\n"
        assert not seen.release.is_set()  # the replica is still holding the stream open
        seen.release.set()
        assert await resp.content.read() == b"data: second\n\n"


async def test_request_body_streams_to_the_replica_chunked(
    client: aiohttp.ClientSession, seen: Seen
) -> None:
    async def chunks() -> object:
        for _ in range(50):
            yield b"x" * 10_000

    async with (
        running_datapath(ROUTES, [IRIS], aiohttp_factory(seen), warm=[IRIS.name]) as dp,
        client.post(dp.url + "/v1/models/iris:predict", data=chunks()) as resp,
    ):
        assert resp.status == 200
        assert (await resp.json())["bytes"] == 500_000


async def test_body_over_the_limit_gets_413(client: aiohttp.ClientSession, seen: Seen) -> None:
    conf = settings(maxBodyBytes=1000)
    async with running_datapath(
        ROUTES, [IRIS], aiohttp_factory(seen), settings=conf, warm=[IRIS.name]
    ) as dp:
        async with client.post(dp.url + "/v1/models/iris:predict", data=b"x" * 1001) as resp:
            assert resp.status == 413
            assert "larger than 1000" in (await resp.json())["error"]
        assert seen.ids == []  # refused on its Content-Length, before any replica

        # A chunked body is refused once it crosses the limit, cutting the replica's copy short.
        async def chunks() -> object:
            for _ in range(3):
                yield b"x" * 600

        async with client.post(dp.url + "/v1/models/iris:predict", data=chunks()) as resp:
            assert resp.status == 413
        async with client.post(dp.url + "/v1/models/iris:predict", data=b"x" * 1000) as resp:
            assert resp.status == 200


async def _raw(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    data = await asyncio.wait_for(reader.read(), 10)  # until the router closes
    writer.close()
    await writer.wait_closed()
    return data


async def test_http_1_0_client_gets_its_answer_and_a_closed_connection(seen: Seen) -> None:
    async with running_datapath(ROUTES, [IRIS], aiohttp_factory(seen), warm=[IRIS.name]) as dp:
        data = await _raw(dp.port, b"GET /v1/models/iris HTTP/1.0\r\n\r\n")
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        assert b"connection: close" in head.lower()
        assert b'"revision": "iris-predictor-00001"' in body


async def test_expect_100_continue_and_pipelined_requests(seen: Seen) -> None:
    async with running_datapath(ROUTES, [IRIS], aiohttp_factory(seen), warm=[IRIS.name]) as dp:
        reader, writer = await asyncio.open_connection("127.0.0.1", dp.port)
        writer.write(
            b"POST /v1/models/iris:predict HTTP/1.1\r\nHost: x\r\n"
            b"Expect: 100-continue\r\nContent-Length: 4\r\n\r\n"
        )
        line = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert line == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(b"abcd")
        writer.write(b"GET /v1/models/iris HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        await writer.wait_closed()
        assert data.count(b"HTTP/1.1 200 OK") == 2
        assert b'"bytes": 4' in data


async def test_replica_removed_from_endpoints_finishes_its_requests_and_gets_no_new_ones(
    client: aiohttp.ClientSession, seen: Seen
) -> None:
    async with running_datapath(ROUTES, [IRIS], aiohttp_factory(seen), warm=[IRIS.name]) as dp:
        held = asyncio.create_task(client.post(dp.url + "/v1/models/iris/hold", data=b"{}"))
        await asyncio.wait_for(seen.started.wait(), 10)
        dp.activator.set_endpoints(IRIS.name, [])  # draining
        waiting = asyncio.create_task(client.post(dp.url + "/v1/models/iris:predict", data=b"{}"))
        async with asyncio.timeout(10):
            while dp.activator.buffered(IRIS.name) < 1:
                await asyncio.sleep(0.01)
        seen.release.set()
        async with await held as resp:
            assert resp.status == 200
        assert len(seen.ids) == 1  # the new request stays buffered: no ready replica
        dp.replicas._publish(IRIS.name)  # ready again
        async with await waiting as resp:
            assert resp.status == 200


async def test_malformed_request_gets_400_and_a_closed_connection(seen: Seen) -> None:
    async with running_datapath(ROUTES, [IRIS], aiohttp_factory(seen), warm=[IRIS.name]) as dp:
        data = await _raw(dp.port, b"NOT HTTP AT ALL\r\n\r\n")
        assert data.startswith(b"HTTP/1.1 400")
        assert b"malformed HTTP request" in data
        assert seen.ids == []


async def test_router_close_lets_requests_in_flight_finish_within_the_grace(
    client: aiohttp.ClientSession, seen: Seen
) -> None:
    async with running_datapath(ROUTES, [IRIS], aiohttp_factory(seen), warm=[IRIS.name]) as dp:
        held = asyncio.create_task(client.post(dp.url + "/v1/models/iris/hold", data=b"{}"))
        await asyncio.wait_for(seen.started.wait(), 10)
        events: list[str] = []
        closing = asyncio.create_task(dp.router.close(grace=30))
        closing.add_done_callback(lambda _: events.append("closed"))
        # Closing with a request in flight waits for it: not over while the replica holds it
        # (without a grace it would cut the connection and return within a few loop turns).
        done, _ = await asyncio.wait({closing, held}, timeout=0.5)
        assert not done
        events.append("released")
        seen.release.set()
        async with await held as resp:
            assert resp.status == 200
            events.append("answered")
        await asyncio.wait_for(closing, 10)
        assert events == ["released", "answered", "closed"]
