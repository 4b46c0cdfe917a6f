"""An InferenceGraph through a running platform (process backend, real sockets): its router and
every step start at zero (initial scale 0), and the first request to the graph's host wakes the
router, then each step through the ingress: a Sequence of a transformer-like step and the
built-in sklearn classifier (``$response`` + ``mapPredictionsToInstances``), a Switch into an
Ensemble, with ``x-user`` propagated and one trace id across the steps."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from minikn.api.documents import parse_text
from minikn.platform.server import Platform

from .platform_helpers import running_platform, until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

STEP = Path(__file__).with_name("graph_step.py")
DOCS = """
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {{name: iris}}
spec:
  predictor:
    minReplicas: 0
    model: {{modelFormat: {{name: sklearn}}, storageUri: "file://{model}"}}
---
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {{name: echo-a}}
spec:
  predictor:
    minReplicas: 0
    containers:
    - name: kserve-container
      command: ["{python}", "{step}"]
      env: [{{name: STEP, value: a}}]
---
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {{name: echo-b}}
spec:
  predictor:
    minReplicas: 0
    containers:
    - name: kserve-container
      command: ["{python}", "{step}"]
      env: [{{name: STEP, value: b}}]
---
apiVersion: serving.kserve.io/v1alpha1
kind: InferenceGraph
metadata: {{name: pipeline}}
spec:
  minReplicas: 0
  nodes:
    root:
      routerType: Sequence
      steps:
      - {{name: transform, serviceName: echo-a, mapPredictionsToInstances: false}}
      - name: classify
        serviceName: iris
        data: $response
        mapPredictionsToInstances: true
---
apiVersion: serving.kserve.io/v1alpha1
kind: InferenceGraph
metadata: {{name: router}}
spec:
  minReplicas: 0
  nodes:
    root:
      routerType: Switch
      steps:
      - {{name: to-a, serviceName: echo-a, condition: 'instances.#(==0)'}}
      - {{name: both, nodeName: ens, condition: 'instances.#(==1)'}}
    ens:
      routerType: Ensemble
      steps:
      - {{name: a, serviceName: echo-a}}
      - {{name: b, serviceName: echo-b}}
"""


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[tuple[Platform, Path]]:
    autoscaler = {"initial-scale": 0, "allow-zero-initial-scale": True}
    config = {
        "config-autoscaler": autoscaler,
        "inferenceservice-config": {"router": {"headers": {"propagate": ["(?i)^x-user$"]}}},
    }
    async with running_platform(tmp_path, config) as running:
        yield running


async def test_graphs_from_zero_answer_their_first_request(
    platform: tuple[Platform, Path],
) -> None:
    p, model = platform
    assert p.dataplane is not None
    docs = DOCS.format(model=model, python=sys.executable, step=STEP)
    results = await p.controller.apply(parse_text(docs, "g.yaml"))
    assert [r.revisions for r in results][-2:] == [
        ["pipeline-router-00001"],
        ["router-router-00001"],
    ]
    replicas = p.dataplane.replicas
    live = ["iris-predictor-00001", "echo-a-predictor-00001", "pipeline-router-00001"]
    assert all(replicas.status(r).desired == 0 for r in live)

    url = f"http://127.0.0.1:{p.ingress_port}/"
    async with aiohttp.ClientSession() as session:
        async with session.post(
            url,
            json={"instances": [[6.8, 2.8, 4.8, 1.4]]},
            headers={"Host": "pipeline.default.example.com"},
        ) as resp:
            assert resp.status == 200, await resp.text()
            assert resp.headers["Content-Type"].startswith("application/json")
            assert await resp.json() == {"predictions": [1]}

        async with session.post(
            url, json={"instances": [1]}, headers={"Host": "router.default.example.com",
                                                   "x-user": "ana", "authorization": "t"},
        ) as resp:  # fmt: skip
            assert resp.status == 200, await resp.text()
            merged = await resp.json()
        assert set(merged) == {"a", "b"}
        assert [merged[k]["by"] for k in ("a", "b")] == ["a", "b"]
        assert merged["a"]["x-user"] == "ana"
        trace_ids = {merged[k]["traceparent"].split("-")[1] for k in ("a", "b")}
        spans = {merged[k]["traceparent"].split("-")[2] for k in ("a", "b")}
        assert len(trace_ids) == 1
        assert len(spans) == 2

        async with session.post(
            url, json={"instances": [7]}, headers={"Host": "router.default.example.com"}
        ) as resp:
            assert resp.status == 404
            assert await resp.json() == {
                "error": "Failed to process request",
                "cause": "None of the routes matched with the switch condition",
            }

    graph = p.controller.get("default", "router", kind="InferenceGraph")
    assert graph["status"]["url"] == "http://router.default.example.com"
    await until(
        lambda: any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in p.controller.get("default", "pipeline", kind="InferenceGraph")["status"][
                "conditions"
            ]
        ),
        30,
    )
