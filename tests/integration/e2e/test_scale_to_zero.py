"""The whole cycle through a running platform (process backend, real sockets): an ISVC with
``minReplicas: 0`` starts at its initial scale, goes to zero once traffic stops (after the stable
window and the scale-to-zero grace, shortened here through config-autoscaler), and the next
request wakes it: a cold start answered 200 through the activator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from minikn.api.documents import parse_text
from minikn.platform.server import Platform

from .platform_helpers import running_platform, until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]

ISVC = """
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {{name: zero-iris}}
spec:
  predictor:
    minReplicas: 0
    model:
      modelFormat: {{name: sklearn}}
      storageUri: file://{model}
"""
REV = "zero-iris-predictor-00001"


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[tuple[Platform, Path]]:
    autoscaler = {"stable-window": "6s", "scale-to-zero-grace-period": "2s"}
    async with running_platform(tmp_path, {"config-autoscaler": autoscaler}) as running:
        yield running


async def test_scales_to_zero_when_idle_and_back_on_the_next_request(
    platform: tuple[Platform, Path],
) -> None:
    p, model = platform
    assert p.dataplane is not None
    replicas = p.dataplane.replicas
    await p.controller.apply(parse_text(ISVC.format(model=model), "z.yaml"))
    # Initial scale 1 (Knative's default): the revision gets ready once.
    await until(lambda: replicas.ready_count(REV) == 1, 60)

    url = f"http://127.0.0.1:{p.ingress_port}/v1/models/zero-iris:predict"
    headers = {"Host": "zero-iris.default.example.com"}
    body = {"instances": [[6.8, 2.8, 4.8, 1.4]]}
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json=body, headers=headers) as resp:
            assert resp.status == 200
        # Not at once: the replica stays while the stable window (6 s) holds the request.
        assert replicas.status(REV).desired >= 1
        # Idle: the stable window empties, then the grace period (2 s) passes.
        await until(
            lambda: replicas.status(REV).ready == 0 and replicas.status(REV).desired == 0, 40
        )
        status = p.dataplane.autoscaler.status(REV)
        assert status is not None
        assert status.desired == 0

        # The next request: buffered, the autoscaler is poked, a replica cold-starts, 200.
        async with session.post(url, json=body, headers=headers) as resp:
            assert resp.status == 200
            assert await resp.json() == {"predictions": [1]}
        assert replicas.ready_count(REV) == 1
