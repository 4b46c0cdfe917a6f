"""The agent features plugged into the real activator as middlewares: a replica and a CloudEvents
sink on loopback, requests through ``Activator.handle`` as the router sends them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from minikn.activator import Activator, BodyStream, ProxyRequest
from minikn.activator.agent.adapters import BufferSink
from minikn.activator.agent.middleware import AgentMiddleware, trace_middleware
from minikn.activator.agent.trace import parse_traceparent
from minikn.config import Settings
from minikn.core.clock import SystemClock
from minikn.core.endpoints import DiscardStats, Endpoint
from minikn.core.revision import BatcherSpec, ContainerSpec, LoggerSpec, RevisionSpec
from minikn.telemetry.metrics import Metrics

PATH = "/v1/models/m:predict"
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


@dataclass
class Servers:
    replica_port: int = 0
    sink_url: str = ""
    batches: list[list[object]] = field(default_factory=list)
    traceparents: list[str | None] = field(default_factory=list)
    events: list[tuple[str, bytes]] = field(default_factory=list)
    event_arrived: asyncio.Event = field(default_factory=asyncio.Event)


@pytest.fixture
async def servers() -> AsyncIterator[Servers]:
    state = Servers()

    async def predict(request: web.Request) -> web.Response:
        instances = (await request.json())["instances"]
        state.batches.append(instances)
        state.traceparents.append(request.headers.get("traceparent"))
        return web.json_response({"predictions": instances})

    async def receive(request: web.Request) -> web.Response:
        state.events.append((request.headers["Ce-Type"], await request.read()))
        state.event_arrived.set()
        return web.Response(status=202)

    app = web.Application()
    app.router.add_post(PATH, predict)
    app.router.add_post("/sink", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    state.replica_port = port
    state.sink_url = f"http://127.0.0.1:{port}/sink"
    try:
        yield state
    finally:
        await runner.cleanup()


def _request(i: int) -> ProxyRequest:
    body = json.dumps({"instances": [i]}).encode()
    stream = BodyStream(None)
    stream.feed(body)
    stream.feed_eof()
    headers = (
        f"host: m-predictor.default.example.com\r\ncontent-type: application/json\r\n"
        f"traceparent: 00-{TRACE}-00f067aa0ba902b7-01\r\n"
    ).encode()
    return ProxyRequest(
        method=b"POST",
        target=PATH.encode(),
        headers=headers,
        request_id=f"r{i}",
        body=stream,
        content_length=len(body),
    )


async def test_activator_with_agent_middlewares_batches_logs_and_traces(
    servers: Servers,
) -> None:
    spec = RevisionSpec(
        name="m-predictor-00001",
        isvc="m",
        component="predictor",
        generation=1,
        container=ContainerSpec(),
        logger=LoggerSpec(url=servers.sink_url, mode="all"),
        batcher=BatcherSpec(max_batch_size=4, max_latency_ms=200),
    )
    metrics = Metrics()
    agents = AgentMiddleware(metrics=metrics, clock=SystemClock())
    act = Activator(
        Settings(),
        clock=SystemClock(),
        stats=DiscardStats(),
        poker=DiscardStats(),
        metrics=metrics,
        middlewares=[trace_middleware, agents],
    )
    act.upsert_revision(spec)
    act.upsert_revision(spec)  # a repeated upsert keeps the same agent
    act.set_endpoints(spec.name, [Endpoint("r0", "127.0.0.1", servers.replica_port)])
    sinks = [BufferSink() for _ in range(8)]
    await asyncio.gather(*(act.handle(spec.name, _request(i), sinks[i]) for i in range(8)))

    for i, sink in enumerate(sinks):
        assert sink.status == 200
        doc = json.loads(sink.response().body)
        assert doc["predictions"] == [i]
        assert doc["message"] == ""
    assert sorted(len(b) for b in servers.batches) == [4, 4]
    for forwarded in servers.traceparents:
        parsed = parse_traceparent(forwarded)
        assert parsed is not None
        assert parsed.trace_id == TRACE

    async with asyncio.timeout(10):
        while len(servers.events) < 16:
            servers.event_arrived.clear()
            await servers.event_arrived.wait()
    kinds = sorted(kind.rsplit(".", 1)[1] for kind, _ in servers.events)
    assert kinds == ["request"] * 8 + ["response"] * 8
    await agents.close()
    await act.close()


async def test_logger_only_revision_streams_the_answer_and_logs_both_events(
    servers: Servers,
) -> None:
    spec = RevisionSpec(
        name="m-predictor-00002",
        isvc="m",
        component="predictor",
        generation=2,
        container=ContainerSpec(),
        logger=LoggerSpec(url=servers.sink_url, mode="all"),
    )
    metrics = Metrics()
    agents = AgentMiddleware(metrics=metrics, clock=SystemClock())
    act = Activator(
        Settings(),
        clock=SystemClock(),
        stats=DiscardStats(),
        poker=DiscardStats(),
        metrics=metrics,
        middlewares=[agents],
    )
    act.upsert_revision(spec)
    act.set_endpoints(spec.name, [Endpoint("r0", "127.0.0.1", servers.replica_port)])
    sink = BufferSink()
    await act.handle(spec.name, _request(7), sink)
    assert sink.status == 200
    assert json.loads(sink.response().body) == {"predictions": [7]}  # the replica's own answer
    assert servers.batches == [[7]]
    async with asyncio.timeout(10):
        while len(servers.events) < 2:
            servers.event_arrived.clear()
            await servers.event_arrived.wait()
    logged = {kind.rsplit(".", 1)[1]: json.loads(body) for kind, body in servers.events}
    assert logged == {"request": {"instances": [7]}, "response": {"predictions": [7]}}
    await agents.close()
    await act.close()
