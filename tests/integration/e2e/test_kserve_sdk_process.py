"""KServe SDK containers, from the YAML a KServe user writes, on the process backend.

The predictor and transformer are ``kserve.Model`` programs run by KServe's own ``ModelServer``
(kserve 0.21 in a virtualenv of its own); the platform maps their image to that virtualenv and
the directory holding the scripts (``minikn.replicas.processImages``). Nothing in the YAML is
minikn's: the backend gives each replica free HTTP and gRPC ports as KServe's arguments, and the
transformer finds the predictor through the ``--predictor_host`` minikn appends, as KServe does.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from minikn.platform.server import Platform
from tests.integration.kserve_env import kserve_virtualenv

from .platform_helpers import running_platform, until_ready

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

APPS = Path(__file__).parent / "kserve_apps"
IMAGE = "registry.example.com/team/kserve-sdk-app:v1"

ISVCS = f"""
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: doubler
spec:
  predictor:
    containers:
      - name: kserve-container
        image: {IMAGE}
        command: ["python"]
        args: ["predictor.py", "--model_name=doubler"]
---
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: pipeline
spec:
  predictor:
    containers:
      - name: kserve-container
        image: {IMAGE}
        command: ["python"]
        args: ["predictor.py", "--model_name=pipeline"]
  transformer:
    containers:
      - name: kserve-container
        image: {IMAGE}
        command: ["python"]
        args: ["transformer.py", "--model_name=pipeline"]
"""


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    venv = kserve_virtualenv()
    app = tmp_path / "app"
    shutil.copytree(APPS, app)
    images = {IMAGE: {"virtualenv": str(venv), "workingDir": str(app)}}
    config: dict[str, Any] = {"minikn": {"replicas": {"processImages": images}}}
    async with running_platform(tmp_path, config) as (p, _):
        yield p


async def _post(
    session: aiohttp.ClientSession, p: Platform, isvc: str, path: str, body: dict[str, Any]
) -> tuple[int, Any, aiohttp.typedefs.LooseHeaders]:
    url = f"http://127.0.0.1:{p.ingress_port}{path}"
    headers = {"Host": f"{isvc}.default.example.com"}
    async with session.post(url, json=body, headers=headers) as resp:
        return resp.status, await resp.json(), resp.raw_headers


async def test_kserve_sdk_predictor_and_transformer_answer_v1_and_v2_through_the_ingress(
    platform: Platform,
) -> None:
    p = platform
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"http://127.0.0.1:{p.api_port}/api/v1/apply",
            data=ISVCS,
            headers={"Authorization": f"Bearer {p.token}", "Content-Type": "application/yaml"},
        ) as resp:
            assert resp.status == 200, await resp.text()
        await until_ready(p, "doubler", 180)
        await until_ready(p, "pipeline", 180)

        status, body, _ = await _post(
            session, p, "doubler", "/v1/models/doubler:predict", {"instances": [[1, 2]]}
        )
        assert (status, body) == (200, {"predictions": [[2, 4]]})

        v2 = {
            "id": "r1",
            "inputs": [{"name": "input-0", "shape": [2], "datatype": "FP32", "data": [1, 2]}],
        }
        status, body, _ = await _post(session, p, "doubler", "/v2/models/doubler/infer", v2)
        assert status == 200, body
        assert (body["model_name"], body["id"]) == ("doubler", "r1")
        assert body["outputs"][0]["data"] == [2, 4]

        status, body, raw = await _post(
            session, p, "pipeline", "/v1/models/pipeline:predict", {"instances": [[1, 2]]}
        )
        assert (status, body) == (200, {"predictions": [[4, 6]], "transformed_by": "pipeline"})
        names = [k.lower() for k, _ in raw]
        assert names.count(b"date") == 1
        assert names.count(b"server") <= 1
