"""The warm path's fast lane (minikn.activator.exchange) over real sockets: it is taken once a
pooled connection is idle, and its timeout, client disconnects and replays behave exactly as on
the coroutine path."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from minikn.activator.agent import AgentMiddleware, trace_middleware
from minikn.activator.exchange import Exchange
from minikn.activator.upstream import UpstreamConnection, UpstreamPool
from minikn.core.clock import FakeClock, SystemClock
from minikn.core.endpoints import Endpoint
from minikn.core.revision import LoggerSpec, RevisionSpec
from minikn.telemetry.metrics import Metrics
from minikn.testing.datapath import StartedReplica, running_datapath
from minikn.testing.fake_replicas import Seen, aiohttp_factory, isvc_route, revision, table, to

PREDICT = "/v1/models/fast:predict"


@pytest.fixture
def exchanges(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The target of every request sent on the fast path (a spy around ``Exchange.send``)."""
    sent: list[bytes] = []
    real = Exchange.send

    def spy(self: Exchange, data: bytes, transport: asyncio.Transport) -> None:
        sent.append(data.split(b" ", 2)[1])
        real(self, data, transport)

    monkeypatch.setattr(Exchange, "send", spy)
    return sent


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[Endpoint]:
    """Every connection the activator opened to a replica (a spy around the pool's connect)."""
    endpoints: list[Endpoint] = []
    real = UpstreamPool.connect

    async def spy(self: UpstreamPool, endpoint: Endpoint) -> UpstreamConnection:
        endpoints.append(endpoint)
        return await real(self, endpoint)

    monkeypatch.setattr(UpstreamPool, "connect", spy)
    return endpoints


async def _not_done_soon(task: asyncio.Future[object]) -> bool:
    """True when ``task`` is still pending after the deadline sweeper ran a few times (it runs
    every 50 ms of loop time and reads the fake clock)."""
    done, _ = await asyncio.wait({task}, timeout=0.3)
    return not done


async def test_warm_requests_take_the_fast_path_with_the_trace_layer(
    client: aiohttp.ClientSession, seen: Seen, exchanges: list[bytes], opened: list[Endpoint]
) -> None:
    rev = revision("fast")
    routes = table(isvc_route("fast", predictor=[to(rev)]))
    async with running_datapath(
        routes, [rev], aiohttp_factory(seen), warm=[rev.name], middlewares=[trace_middleware]
    ) as dp:
        for i in range(20):
            async with client.post(dp.url + PREDICT, json={"i": i}) as resp:
                assert resp.status == 200
                assert (await resp.json())["bytes"] == len(f'{{"i": {i}}}')
        # Each request found an idle pooled connection and took the fast lane, or had to open a
        # connection (the coroutine lane does): none took the slow lane while warm.
        assert len(exchanges) + len(opened) == 20
        assert len(exchanges) >= 1
        assert exchanges[-1] == PREDICT.encode()  # the last one certainly found one
        assert all(h["traceparent"].startswith("00-") for h in seen.headers)
        assert dp.activator.in_flight(rev.name) == 0
        assert dp.metrics.registry.get_sample_value(
            "activator_request_count_total",
            {"namespace": "default", "isvc": "fast", "component": "predictor",
             "revision": rev.name, "code": "200"},
        ) == 20  # fmt: skip


async def test_fast_path_timeout_answers_504_and_frees_the_slot(
    client: aiohttp.ClientSession, seen: Seen, exchanges: list[bytes]
) -> None:
    clock = FakeClock()
    rev = revision("fast", timeout_seconds=1, container_concurrency=1)
    routes = table(isvc_route("fast", predictor=[to(rev)]))
    async with running_datapath(
        routes, [rev], aiohttp_factory(seen), warm=[rev.name], clock=clock
    ) as dp:
        async with client.post(dp.url + PREDICT, data=b"{}") as resp:  # pools a connection
            assert resp.status == 200
        held = asyncio.ensure_future(client.post(dp.url + "/v1/models/fast/hold", data=b"{}"))
        await asyncio.wait_for(seen.started.wait(), 5)
        assert exchanges == [b"/v1/models/fast/hold"]  # on the fast lane
        await clock.advance(0.9)
        assert await _not_done_soon(held)  # before the revision's timeout: still waiting
        await clock.advance(0.2)
        async with await asyncio.wait_for(held, 5) as resp:  # past it: 504 at the next sweep
            assert resp.status == 504
            assert await resp.json() == {"error": "activator request timeout"}
        assert dp.activator.in_flight(rev.name) == 0
        seen.release.set()
        async with asyncio.timeout(5):  # the slot came back (else this waits in the buffer)
            async with client.post(dp.url + PREDICT, data=b"{}") as resp:
                assert resp.status == 200


async def test_client_leaving_a_fast_path_request_frees_the_slot_and_the_replica(
    client: aiohttp.ClientSession, seen: Seen, exchanges: list[bytes]
) -> None:
    rev = revision("fast", container_concurrency=1)
    routes = table(isvc_route("fast", predictor=[to(rev)]))
    async with running_datapath(routes, [rev], aiohttp_factory(seen), warm=[rev.name]) as dp:
        async with client.get(dp.url + PREDICT) as resp:
            assert resp.status == 200
        _reader, writer = await asyncio.open_connection("127.0.0.1", dp.port)
        writer.write(b"GET /v1/models/fast/hold HTTP/1.1\r\nHost: x\r\n\r\n")
        await asyncio.wait_for(seen.started.wait(), 5)
        assert exchanges == [b"/v1/models/fast/hold"]  # on the fast lane
        writer.close()
        async with asyncio.timeout(5):
            while dp.activator.in_flight(rev.name) or seen.in_flight:
                await asyncio.sleep(0.02)  # the replica saw its connection close
        async with asyncio.timeout(5), client.get(dp.url + PREDICT) as resp:
            assert resp.status == 200


async def test_chunked_body_whole_at_hand_reaches_the_replica_framed(
    seen: Seen, exchanges: list[bytes]
) -> None:
    """A chunked request that arrived whole in one read goes out on the fast lane framed by its
    length (not its bare bytes under ``transfer-encoding: chunked``, which the replica would
    parse as chunk sizes)."""
    rev = revision("fast")
    routes = table(isvc_route("fast", predictor=[to(rev)]))
    async with running_datapath(routes, [rev], aiohttp_factory(seen), warm=[rev.name]) as dp:
        host, port = dp.url.removeprefix("http://").rsplit(":", 1)
        for _ in range(3):
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(
                b"POST " + PREDICT.encode() + b" HTTP/1.1\r\nHost: fast.default.example.com\r\n"
                b"content-type: application/json\r\ntransfer-encoding: chunked\r\n"
                b'connection: close\r\n\r\n8\r\n{"i": 1}\r\n0\r\n\r\n'
            )
            answer = await reader.read()
            writer.close()
            assert answer.startswith(b"HTTP/1.1 200 "), answer
            assert b'"bytes": 8' in answer
        assert exchanges  # the warm ones took the fast lane


@pytest.fixture
async def answers_once() -> AsyncIterator[Endpoint]:
    """A replica that answers the first request of each connection with keep-alive, then closes
    the connection on the next request without answering (a replica's idle timeout racing the
    reuse of a pooled connection)."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    yield Endpoint("once-1", "127.0.0.1", int(server.sockets[0].getsockname()[1]))
    server.close()


async def test_reused_connection_closed_before_answering_is_replayed(
    client: aiohttp.ClientSession,
    answers_once: Endpoint,
    exchanges: list[bytes],
    opened: list[Endpoint],
) -> None:
    rev = revision("fast")
    routes = table(isvc_route("fast", predictor=[to(rev)]))

    async def start(spec: RevisionSpec, replica_id: str) -> StartedReplica:
        async def nothing() -> None:
            pass

        return StartedReplica(answers_once, nothing)

    async with running_datapath(routes, [rev], start, warm=[rev.name]) as dp:
        for _ in range(5):
            async with client.get(dp.url + PREDICT) as resp:
                assert resp.status == 200
                assert await resp.read() == b"ok"
        # Each request that found a pooled connection tried it on the fast lane, found it
        # closed, and was replayed on a new connection: all five answered, none went missing.
        assert len(exchanges) >= 1
        assert len(opened) == 1 + len(exchanges)
        assert dp.activator.in_flight(rev.name) == 0


@pytest.fixture
async def echoes_once() -> AsyncIterator[Endpoint]:
    """A replica that echoes the body of the first request of each connection with keep-alive,
    then drops the connection when the next one comes, without a byte of answer (a replica that
    died, or whose idle timeout raced the reuse of a pooled connection)."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        body = await reader.readexactly(length)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%b" % (len(body), body))
        await reader.readuntil(b"\r\n\r\n")
        writer.transport.abort()  # a reset, as from a killed process

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    yield Endpoint("echo-1", "127.0.0.1", int(server.sockets[0].getsockname()[1]))
    server.close()


async def test_post_on_a_pooled_connection_the_replica_dropped_is_sent_again_whole(
    client: aiohttp.ClientSession,
    echoes_once: Endpoint,
    exchanges: list[bytes],
    opened: list[Endpoint],
) -> None:
    rev = revision("fast")
    routes = table(isvc_route("fast", predictor=[to(rev)]))

    async def start(spec: RevisionSpec, replica_id: str) -> StartedReplica:
        async def nothing() -> None:
            pass

        return StartedReplica(echoes_once, nothing)

    async with running_datapath(routes, [rev], start, warm=[rev.name]) as dp:
        for i in range(5):
            payload = json.dumps({"i": i}).encode()
            async with client.post(dp.url + PREDICT, data=payload) as resp:
                assert resp.status == 200, await resp.text()
                assert await resp.read() == payload  # the whole body, on the retry
        # Every POST that went out on the fast lane over a pooled connection met a reset before
        # any answer: it was not served, so it was sent again on a new connection, not a 502.
        assert len(exchanges) >= 1
        assert len(opened) == 1 + len(exchanges)
        assert dp.activator.in_flight(rev.name) == 0


@pytest.fixture
async def sink() -> AsyncIterator[tuple[str, list[tuple[str, bytes]]]]:
    """A CloudEvents sink on loopback: its URL and the (type, body) of each event it got."""
    events: list[tuple[str, bytes]] = []

    async def receive(request: web.Request) -> web.Response:
        events.append((request.headers["Ce-Type"], await request.read()))
        return web.Response(status=202)

    app = web.Application()
    app.router.add_post("/", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/", events
    await runner.cleanup()


async def test_logged_requests_take_the_fast_path_and_log_both_events(
    client: aiohttp.ClientSession,
    seen: Seen,
    exchanges: list[bytes],
    opened: list[Endpoint],
    sink: tuple[str, list[tuple[str, bytes]]],
) -> None:
    url, events = sink
    rev = revision("fast", logger=LoggerSpec(url=url, mode="all"))
    routes = table(isvc_route("fast", predictor=[to(rev)]))
    metrics = Metrics()
    agents = AgentMiddleware(metrics=metrics, clock=SystemClock())
    async with running_datapath(
        routes,
        [rev],
        aiohttp_factory(seen),
        warm=[rev.name],
        middlewares=[trace_middleware, agents],
    ) as dp:
        for i in range(10):
            async with client.post(dp.url + PREDICT, json={"i": i}) as resp:
                assert resp.status == 200
                assert (await resp.json())["bytes"] == len(f'{{"i": {i}}}')
        assert len(exchanges) + len(opened) == 10  # warm ones on the fast lane, logger and all
        assert len(exchanges) >= 1
        async with asyncio.timeout(10):
            while len(events) < 20:
                await asyncio.sleep(0.02)
        await agents.close()
    requests = sorted(json.loads(body)["i"] for kind, body in events if kind.endswith("request"))
    responses = [json.loads(body) for kind, body in events if kind.endswith("response")]
    assert requests == list(range(10))
    assert len(responses) == 10
    assert all(r["revision"] == rev.name for r in responses)
