"""The batcher and trace context over real sockets: an echo replica and a front server on
loopback, wired the way the data path wires them."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web

from minikn.activator.agent import Agent, HttpUpstream, parse_traceparent, start_hop
from minikn.core.clock import SystemClock
from minikn.core.revision import BatcherSpec, ContainerSpec, RevisionSpec
from minikn.telemetry.metrics import Metrics

PATH = "/v1/models/m:predict"


@dataclass
class Replica:
    url: str = ""
    batch_sizes: list[int] = field(default_factory=list)
    traceparents: list[str | None] = field(default_factory=list)


async def _serve(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def replica() -> AsyncIterator[Replica]:
    """Echoes each instance back as its prediction and counts requests and instances."""
    state = Replica()

    async def predict(request: web.Request) -> web.Response:
        instances = (await request.json())["instances"]
        state.batch_sizes.append(len(instances))
        state.traceparents.append(request.headers.get("traceparent"))
        return web.json_response({"predictions": instances})

    async def metadata(request: web.Request) -> web.Response:
        return web.json_response({"name": "m", "ready": True})

    app = web.Application()
    app.router.add_post(PATH, predict)
    app.router.add_get("/v1/models/m", metadata)
    async for url in _serve(app):
        state.url = url
        yield state


def _spec(batcher: BatcherSpec) -> RevisionSpec:
    return RevisionSpec(
        name="m-predictor-00001",
        isvc="m",
        component="predictor",
        generation=1,
        container=ContainerSpec(),
        batcher=batcher,
    )


@pytest.fixture
async def front(replica: Replica) -> AsyncIterator[str]:
    """A minimal data path: trace hop, then the revision's agent chain, then the replica."""
    spec = _spec(BatcherSpec(max_batch_size=8, max_latency_ms=200))
    agent = Agent.for_revision(spec, metrics=Metrics(), clock=SystemClock())
    assert agent is not None
    await agent.start()
    session = aiohttp.ClientSession()
    upstream = HttpUpstream(session, replica.url)
    ids = random.Random(0)

    async def handle(request: web.Request) -> web.Response:
        started = time.monotonic()
        hop = start_hop(
            request.headers,
            isvc=spec.isvc,
            namespace=spec.namespace,
            component=spec.component,
            revision=spec.name,
            rng=ids,
        )
        headers = hop.forward_headers(request.headers)
        answer = await agent.handle(
            request.method, request.path_qs, headers, await request.read(), upstream
        )
        hop.record(replica="r0", status=answer.status, duration_s=time.monotonic() - started)
        return web.Response(status=answer.status, body=answer.body, headers=answer.headers)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    try:
        async for url in _serve(app):
            yield url
    finally:
        await agent.close()
        await session.close()


async def test_concurrent_callers_are_batched_and_each_gets_its_own_predictions(
    front: str, replica: Replica
) -> None:
    n = 24
    async with aiohttp.ClientSession() as client:

        async def call(i: int) -> dict[str, object]:
            body = {"instances": [[i, 0], [i, 1]] if i % 3 == 0 else [[i, 0]]}
            async with client.post(front + PATH, json=body) as resp:
                assert resp.status == 200
                doc: dict[str, object] = await resp.json()
                return doc

        answers = await asyncio.gather(*(call(i) for i in range(n)))

    for i, doc in enumerate(answers):
        expected = [[i, 0], [i, 1]] if i % 3 == 0 else [[i, 0]]
        assert doc["predictions"] == expected
        assert doc["message"] == ""
        assert isinstance(doc["batchId"], str)
        assert len(doc["batchId"]) == 36
    total = sum(2 if i % 3 == 0 else 1 for i in range(n))
    assert sum(replica.batch_sizes) == total
    assert len(replica.batch_sizes) < n  # fewer, larger requests
    assert max(replica.batch_sizes) > 1
    assert len({doc["batchId"] for doc in answers}) == len(replica.batch_sizes)


async def test_non_predict_passes_through_with_trace_continued(
    front: str, replica: Replica
) -> None:
    incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    async with aiohttp.ClientSession() as client:
        async with client.get(front + "/v1/models/m", headers={"traceparent": incoming}) as resp:
            assert resp.status == 200
            assert await resp.json() == {"name": "m", "ready": True}
        async with client.post(
            front + PATH, json={"instances": [1]}, headers={"traceparent": incoming}
        ) as resp:
            assert (await resp.json())["predictions"] == [1]
    assert replica.batch_sizes == [1]
    [forwarded] = replica.traceparents
    parsed = parse_traceparent(forwarded)
    assert parsed is not None
    assert parsed.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert parsed.span_id != "00f067aa0ba902b7"


async def test_bad_body_is_400_from_the_batcher(front: str, replica: Replica) -> None:
    async with (
        aiohttp.ClientSession() as client,
        client.post(front + PATH, data=b"{bad") as resp,
    ):
        assert resp.status == 400
        assert await resp.text() == "can't Unmarshal body\n"
    assert replica.batch_sizes == []
