"""InferenceGraph routing end to end (process backend, real replicas over loopback, every step
through the ingress): a seeded Splitter follows its draws, the last step's Server-Sent Events
stream through as produced, a ``serviceUrl`` step is called directly, ``Hard`` failures end a
Sequence and ``Soft`` ones do not, and a graph comes back after a platform restart."""

from __future__ import annotations

import asyncio
import random
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from minikn.api.documents import parse_text
from minikn.graph.decide import draw_point, pick_split
from minikn.graph.spec import parse_graph_json
from minikn.platform.server import Platform

from .platform_helpers import running_platform

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

STEP = Path(__file__).with_name("graph_step.py")
SEED = 20240611
STEPS = """
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {{name: {name}}}
spec:
  predictor:
    containers:
    - name: kserve-container
      command: ["{python}", "{step}"]
      env: [{{name: STEP, value: {name}}}{env}]
"""
CONFIG: dict[str, Any] = {"inferenceservice-config": {"router": {"splitterSeed": SEED}}}


def step_isvc(name: str, **env: str) -> str:
    extra = "".join(f", {{name: {k}, value: '{v}'}}" for k, v in env.items())
    return STEPS.format(name=name, python=sys.executable, step=STEP, env=extra)


async def apply(p: Platform, *docs: str) -> None:
    await p.controller.apply(parse_text("---\n".join(docs), "g.yaml"))


async def post(
    session: aiohttp.ClientSession, p: Platform, host: str, body: Any, path: str = "/"
) -> tuple[int, Any]:
    url = f"http://127.0.0.1:{p.ingress_port}{path}"
    async with session.post(url, json=body, headers={"Host": host}) as resp:
        return resp.status, await resp.json(content_type=None)


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    async with running_platform(tmp_path, CONFIG) as (p, _):
        yield p


async def test_a_seeded_splitter_sends_each_request_where_its_draw_falls(
    platform: Platform,
) -> None:
    graph = """
apiVersion: serving.kserve.io/v1alpha1
kind: InferenceGraph
metadata: {name: ab}
spec:
  maxReplicas: 1
  nodes:
    root:
      routerType: Splitter
      steps:
      - {serviceName: a, weight: 30}
      - {serviceName: b, weight: 70}
"""
    await apply(platform, step_isvc("a"), step_isvc("b"), graph)
    steps = parse_graph_json(
        {"nodes": {"root": {"routerType": "Splitter", "steps": [
            {"serviceUrl": "http://a", "weight": 30}, {"serviceUrl": "http://b", "weight": 70}]}}}
    ).nodes["root"].steps  # fmt: skip
    rng = random.Random(SEED)
    expected = []
    for _ in range(60):
        picked = pick_split(steps, draw_point(rng))
        assert picked is not None
        expected.append(picked.service_url.removeprefix("http://"))
    got = []
    async with aiohttp.ClientSession() as session:
        for _ in range(60):
            status, body = await post(
                session, platform, "ab.default.example.com", {"instances": []}
            )
            assert status == 200, body
            got.append(body["by"])
    assert got == expected
    assert {by: got.count(by) for by in "ab"} == {by: expected.count(by) for by in "ab"}
    assert 0 < got.count("a") < got.count("b")


async def test_the_last_steps_events_reach_the_client_before_it_sends_the_last(
    platform: Platform,
) -> None:
    graph = """
apiVersion: serving.kserve.io/v1alpha1
kind: InferenceGraph
metadata: {name: chat}
spec:
  nodes:
    root:
      routerType: Sequence
      steps:
      - {name: prep, serviceName: prep}
      - {name: generate, serviceName: gen, data: $response}
"""
    await apply(platform, step_isvc("prep"), step_isvc("gen", MODE="sse"), graph)
    url = f"http://127.0.0.1:{platform.ingress_port}/"
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            url, json={"instances": [1]}, headers={"Host": "chat.default.example.com"}
        ) as resp,
    ):
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        async with asyncio.timeout(60):  # a graph that buffers the stream fails here
            first = await resp.content.readuntil(b"\n\n")
        assert first == b"data: first from gen\n\n"
        # only now may the step produce its last event: a buffered graph never gets here
        status, _ = await post(session, platform, "gen.default.example.com", None, "/release")
        assert status == 200
        rest = await resp.content.read()
    assert rest == b"data: last from gen\n\n"


@pytest.fixture
async def outside() -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    """A server outside the platform on a loopback port: (its predict URL, requests' headers)."""
    seen: list[dict[str, str]] = []

    async def predict(request: web.Request) -> web.Response:
        seen.append({**request.headers, "body": (await request.read()).decode()})
        return web.json_response({"predictions": [42]})

    app = web.Application()
    app.add_routes([web.post("/v1/models/ext:predict", predict)])
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/v1/models/ext:predict", seen
    finally:
        await runner.cleanup()


async def test_a_service_url_step_is_called_directly_and_feeds_the_next_step(
    platform: Platform, outside: tuple[str, list[dict[str, str]]]
) -> None:
    ext_url, seen = outside
    graph = f"""
apiVersion: serving.kserve.io/v1alpha1
kind: InferenceGraph
metadata: {{name: mixed}}
spec:
  nodes:
    root:
      routerType: Sequence
      steps:
      - {{name: ext, serviceUrl: "{ext_url}"}}
      - {{name: inside, serviceName: a, data: $response, mapPredictionsToInstances: true}}
"""
    await apply(platform, step_isvc("a"), graph)
    async with aiohttp.ClientSession() as session:
        status, body = await post(session, platform, "mixed.default.example.com", {"x": 1})
    assert status == 200, body
    assert body["by"] == "a"
    assert body["predictions"] == [42]
    assert len(seen) == 1
    assert seen[0]["body"] == '{"x": 1}'
    assert seen[0]["Host"] == ext_url.split("/")[2]
    assert seen[0]["traceparent"].split("-")[1] == body["traceparent"].split("-")[1]

    auth = {"Authorization": f"Bearer {platform.token}"}
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{platform.api_port}/metrics", headers=auth) as resp,
    ):
        assert resp.status == 200
        text = await resp.text()
    counts = [
        line
        for line in text.splitlines()
        if line.startswith("minikn_graph_step_latency_seconds_count{")
        and 'graph="mixed"' in line
        and 'node="root"' in line
        and 'revision="mixed-router-00001"' in line
    ]
    assert sorted('step="ext"' in c for c in counts) == [False, True]
    assert all(c.endswith(" 1.0") for c in counts)


@pytest.mark.parametrize(
    ("dependency", "status", "answer"),
    [
        ("Hard", 500, {"error": "step broken failed"}),
        ("Soft", 200, {"by": "a", "predictions": [5]}),
    ],
)
async def test_a_failing_step_ends_the_sequence_only_when_hard(
    platform: Platform, dependency: str, status: int, answer: dict[str, Any]
) -> None:
    graph = f"""
apiVersion: serving.kserve.io/v1alpha1
kind: InferenceGraph
metadata: {{name: chain}}
spec:
  nodes:
    root:
      routerType: Sequence
      steps:
      - {{name: first, serviceName: broken, dependency: {dependency}}}
      - {{name: second, serviceName: a, data: $request}}
"""
    await apply(platform, step_isvc("broken", STATUS="500"), step_isvc("a"), graph)
    async with aiohttp.ClientSession() as session:
        got, body = await post(session, platform, "chain.default.example.com", {"instances": [5]})
    assert got == status, body
    assert {k: body[k] for k in answer} == answer


async def test_a_graph_answers_after_a_platform_restart_from_its_state_dir(
    tmp_path: Path,
) -> None:
    graph = """
apiVersion: serving.kserve.io/v1alpha1
kind: InferenceGraph
metadata: {name: kept}
spec:
  nodes:
    root:
      routerType: Sequence
      steps:
      - {serviceName: a}
"""
    async with running_platform(tmp_path) as (p, _):
        await apply(p, step_isvc("a"), graph)
        async with aiohttp.ClientSession() as session:
            assert (await post(session, p, "kept.default.example.com", {"instances": [1]}))[
                0
            ] == 200
    async with running_platform(tmp_path) as (p, _):
        assert p.controller.get("default", "kept", kind="InferenceGraph")["spec"]["nodes"]
        async with aiohttp.ClientSession() as session:
            status, body = await post(session, p, "kept.default.example.com", {"instances": [3]})
    assert status == 200, body
    assert body["predictions"] == [3]
