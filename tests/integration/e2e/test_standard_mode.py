"""A Standard (raw) mode ISVC on a running platform: requests go straight to ready replicas (503
at once while none is ready, never held in a buffer), and ``minReplicas: 0`` still runs one
replica (an HPA never scales to zero)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from minikn.platform.server import Platform

from .platform_helpers import running_platform, until_ready

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

NEVER_READY = f"""
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: starting
  annotations: {{serving.kserve.io/deploymentMode: RawDeployment}}
spec:
  predictor:
    timeout: 120
    containers:
      - name: kserve-container
        image: example.com/never-ready:v1
        command: ["{sys.executable}", "-c", "import time; time.sleep(600)"]
"""
IRIS = """
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: iris
  annotations: {{serving.kserve.io/deploymentMode: Standard}}
spec:
  predictor:
    minReplicas: 0
    model:
      modelFormat: {{name: sklearn}}
      storageUri: file://{model}
"""


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[tuple[Platform, Path]]:
    async with running_platform(tmp_path) as running:
        yield running


async def _apply(session: aiohttp.ClientSession, p: Platform, text: str) -> None:
    headers = {"Authorization": f"Bearer {p.token}", "Content-Type": "application/yaml"}
    url = f"http://127.0.0.1:{p.api_port}/api/v1/apply"
    async with session.post(url, data=text, headers=headers) as resp:
        assert resp.status == 200, await resp.text()


async def test_standard_mode_never_buffers_and_never_runs_at_zero(
    platform: tuple[Platform, Path],
) -> None:
    p, model = platform
    assert p.dataplane is not None
    async with aiohttp.ClientSession() as session:
        await _apply(session, p, NEVER_READY)
        url = f"http://127.0.0.1:{p.ingress_port}/v1/models/starting:predict"
        host = {"Host": "starting.default.example.com"}
        async with session.post(url, json={"instances": [[1]]}, headers=host) as resp:
            # Knative mode would hold this request (timeout 120 s) for the starting replica.
            assert resp.status == 503
            assert "no ready replica" in await resp.text()
        assert p.dataplane.activator.buffered("starting-predictor-00001") == 0

        await _apply(session, p, IRIS.format(model=model))
        await until_ready(p, "iris")
        url = f"http://127.0.0.1:{p.ingress_port}/v1/models/iris:predict"
        host = {"Host": "iris.default.example.com"}
        async with session.post(url, json={"instances": [[6.8, 2.8, 4.8, 1.4]]}, headers=host) as r:
            assert (r.status, await r.json()) == (200, {"predictions": [1]})
    assert p.dataplane.replicas.status("iris-predictor-00001").desired == 1
    assert p.controller.get("default", "iris")["status"]["deploymentMode"] == "Standard"
