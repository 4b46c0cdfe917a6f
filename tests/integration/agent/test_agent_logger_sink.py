"""The payload logger against a real CloudEvents sink (aiohttp on loopback)."""

from __future__ import annotations

import asyncio
import json
import re
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web

from minikn.activator.agent import Agent, HttpUpstream
from minikn.core.clock import SystemClock
from minikn.core.revision import ContainerSpec, LoggerSpec, RevisionSpec
from minikn.telemetry.metrics import Metrics

LABELS = {"namespace": "kserve-test", "isvc": "iris", "revision": "iris-predictor-00001"}
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


@dataclass
class Sink:
    url: str
    events: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)


async def _serve(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    state = Sink(url="")

    async def receive(request: web.Request) -> web.Response:
        state.events.append((dict(request.headers), await request.read()))
        state.arrived.set()
        return web.Response(status=202)

    app = web.Application()
    app.router.add_post("/", receive)
    async for url in _serve(app):
        state.url = url + "/"
        yield state


@pytest.fixture
async def replica() -> AsyncIterator[str]:
    async def predict(request: web.Request) -> web.Response:
        doc = await request.json()
        if doc.get("fail"):
            return web.json_response({"error": "boom"}, status=500)
        return web.json_response({"predictions": [sum(x) for x in doc["instances"]]})

    app = web.Application()
    app.router.add_post("/v1/models/iris:predict", predict)
    async for url in _serve(app):
        yield url


def _spec(url: str) -> RevisionSpec:
    return RevisionSpec(
        name="iris-predictor-00001",
        isvc="iris",
        namespace="kserve-test",
        component="predictor",
        generation=1,
        container=ContainerSpec(),
        logger=LoggerSpec(url=url, mode="all", metadata_headers=("X-User", "x-tenant")),
    )


async def _wait_events(sink: Sink, n: int) -> None:
    async with asyncio.timeout(10):
        while len(sink.events) < n:
            sink.arrived.clear()
            await sink.arrived.wait()


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


async def test_request_and_response_events_carry_every_kserve_field(
    sink: Sink, replica: str
) -> None:
    metrics = Metrics()
    agent = Agent.for_revision(
        _spec(sink.url), metrics=metrics, clock=SystemClock(), source="http://iris-pod"
    )
    assert agent is not None
    await agent.start()
    body = b'{"instances": [[1, 2], [3, 4]]}'
    headers = {
        "Content-Type": "application/json",
        "X-User": "alice",
        "x-tenant": "t1",
        "X-Ignored": "no",
    }
    async with aiohttp.ClientSession() as session:
        answer = await agent.handle(
            "POST", "/v1/models/iris:predict", headers, body, HttpUpstream(session, replica)
        )
        assert answer.status == 200
        assert json.loads(answer.body) == {"predictions": [3, 7]}
        await _wait_events(sink, 2)
    await agent.close()

    by_type = {h["Ce-Type"]: (h, b) for h, b in sink.events}
    req_headers, req_body = by_type["org.kubeflow.serving.inference.request"]
    resp_headers, resp_body = by_type["org.kubeflow.serving.inference.response"]
    assert req_body == body
    assert json.loads(resp_body) == {"predictions": [3, 7]}
    for h in (req_headers, resp_headers):
        assert h["Ce-Specversion"] == "1.0"
        assert h["Ce-Source"] == "http://iris-pod"
        assert h["Ce-Inferenceservicename"] == "iris"
        assert h["Ce-Namespace"] == "kserve-test"
        assert h["Ce-Component"] == "predictor"
        assert h["Ce-Endpoint"] == ""
        assert json.loads(h["Ce-Metadata"]) == {"X-User": ["alice"], "X-Tenant": ["t1"]}
        assert RFC3339.match(h["Ce-Time"])
        assert h["Content-Type"] == "application/json"  # the request's, for both events
    assert req_headers["Ce-Id"] == resp_headers["Ce-Id"]
    assert re.fullmatch(r"[0-9a-f-]{36}", req_headers["Ce-Id"])
    assert metrics.registry.get_sample_value("minikn_logger_events_sent_total", LABELS) == 2


async def test_failed_inference_logs_only_the_request(sink: Sink, replica: str) -> None:
    agent = Agent.for_revision(_spec(sink.url), metrics=Metrics(), clock=SystemClock())
    assert agent is not None
    await agent.start()
    async with aiohttp.ClientSession() as session:
        answer = await agent.handle(
            "POST",
            "/v1/models/iris:predict",
            {"Content-Type": "application/json", "Ce-Id": "caller-id"},
            b'{"fail": true}',
            HttpUpstream(session, replica),
        )
    await agent.close()  # drains what is queued
    assert answer.status == 500
    assert [(h["Ce-Type"], h["Ce-Id"]) for h, _ in sink.events] == [
        ("org.kubeflow.serving.inference.request", "caller-id")
    ]


async def test_sink_down_never_fails_requests_and_counts_drops(replica: str) -> None:
    metrics = Metrics()
    agent = Agent.for_revision(_spec(_closed_port_url()), metrics=metrics, clock=SystemClock())
    assert agent is not None
    await agent.start()
    n = 20
    async with aiohttp.ClientSession() as session:
        upstream = HttpUpstream(session, replica)
        answers = await asyncio.gather(
            *(
                agent.handle(
                    "POST",
                    "/v1/models/iris:predict",
                    {"Content-Type": "application/json"},
                    json.dumps({"instances": [[i, 1]]}).encode(),
                    upstream,
                )
                for i in range(n)
            )
        )
    assert [json.loads(a.body)["predictions"] for a in answers] == [[i + 1] for i in range(n)]
    await agent.close(drain_s=5.0)
    dropped = metrics.registry.get_sample_value("minikn_logger_events_dropped_total", LABELS)
    sent = metrics.registry.get_sample_value("minikn_logger_events_sent_total", LABELS)
    assert dropped == 2 * n
    assert sent in (None, 0.0)
