"""KServe's agent features through the whole platform (``minikn serve`` in-process, process
backend, real sockets): an ISVC with ``logger`` and ``batcher`` logs each caller's request and
response as CloudEvents to a real sink, and merges concurrent calls into batches."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from minikn.api.documents import parse_text
from minikn.platform.server import Platform

from .platform_helpers import running_platform, until_ready

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

SETOSA, VIRGINICA = [5.1, 3.5, 1.4, 0.2], [7.7, 3.0, 6.1, 2.3]


@pytest.fixture
async def sink() -> AsyncIterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    events: list[tuple[dict[str, str], bytes]] = []

    async def receive(request: web.Request) -> web.Response:
        events.append((dict(request.headers), await request.read()))
        return web.Response(status=202)

    app = web.Application()
    app.router.add_post("/", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/", events
    finally:
        await runner.cleanup()


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[tuple[Platform, Path]]:
    async with running_platform(tmp_path) as running:
        yield running


async def test_logger_and_batcher_work_through_the_platform(
    platform: tuple[Platform, Path], sink: tuple[str, list[tuple[dict[str, str], bytes]]]
) -> None:
    p, model = platform
    url, events = sink
    doc = f"""
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {{name: agent-iris}}
spec:
  predictor:
    logger: {{mode: all, url: "{url}"}}
    batcher: {{maxBatchSize: 8, maxLatency: 2000}}
    model:
      modelFormat: {{name: sklearn}}
      storageUri: file://{model}
"""
    await p.controller.apply(parse_text(doc, "agent.yaml"))
    await until_ready(p, "agent-iris")
    target = f"http://127.0.0.1:{p.ingress_port}/v1/models/agent-iris:predict"
    headers = {"Host": "agent-iris.default.example.com"}

    async def call(session: aiohttp.ClientSession, i: int) -> dict[str, Any]:
        row, want = (SETOSA, 0) if i % 2 == 0 else (VIRGINICA, 2)
        async with session.post(target, json={"instances": [row]}, headers=headers) as resp:
            assert resp.status == 200
            body: dict[str, Any] = await resp.json()
            assert body["predictions"] == [want]
            return body

    async with aiohttp.ClientSession() as session:
        bodies = await asyncio.gather(*(call(session, i) for i in range(8)))
    # Eight concurrent callers, maxBatchSize 8: one batch, one id, each its own prediction.
    assert len({b["batchId"] for b in bodies}) == 1

    async with asyncio.timeout(10):
        while len(events) < 16:
            await asyncio.sleep(0.05)
    types = sorted(h["Ce-Type"] for h, _ in events)
    assert (
        types
        == ["org.kubeflow.serving.inference.request"] * 8
        + ["org.kubeflow.serving.inference.response"] * 8
    )
    for h, _ in events:
        assert h["Ce-Inferenceservicename"] == "agent-iris"
        assert h["Ce-Namespace"] == "default"
        assert h["Ce-Component"] == "predictor"
    # A request and its response share the CloudEvent id.
    ids: dict[str, list[str]] = {}
    for h, _ in events:
        ids.setdefault(h["Ce-Id"], []).append(h["Ce-Type"].rsplit(".", 1)[1])
    assert all(sorted(kinds) == ["request", "response"] for kinds in ids.values())
    assert len(ids) == 8
