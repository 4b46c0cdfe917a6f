"""What a user sees of a running platform (in-process, process backend, real sockets): the
Prometheus ``/metrics`` of the API port, parsed by prometheus-client's own parser, and replica logs
through ``minikn logs``' API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from minikn.api.documents import parse_text
from minikn.platform.server import Platform

from .platform_helpers import running_platform, until_ready

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

ISVC = """
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {{name: obs-iris}}
spec:
  predictor:
    model:
      modelFormat: {{name: sklearn}}
      storageUri: file://{model}
"""


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    async with running_platform(tmp_path) as (p, model):
        await p.controller.apply(parse_text(ISVC.format(model=model), "o.yaml"))
        await until_ready(p, "obs-iris")
        yield p


def _samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


async def test_metrics_count_requests_and_show_the_autoscaler_and_cold_starts(
    platform: Platform,
) -> None:
    url = f"http://127.0.0.1:{platform.ingress_port}/v1/models/obs-iris:predict"
    headers = {"Host": "obs-iris.default.example.com"}
    auth = {"Authorization": f"Bearer {platform.token}"}
    body = {"instances": [[6.8, 2.8, 4.8, 1.4]]}
    async with aiohttp.ClientSession() as session:
        for _ in range(7):
            async with session.post(url, json=body, headers=headers) as r:
                assert r.status == 200
        async with session.post(url, data=b"not json", headers=headers) as r:
            assert r.status == 400
        rev = "obs-iris-predictor-00001"
        # The autoscaler's gauges are set on its 2 s tick (as Knative's are): wait for one.
        async with asyncio.timeout(10):
            while True:
                async with session.get(
                    f"http://127.0.0.1:{platform.api_port}/metrics", headers=auth
                ) as r:
                    assert r.status == 200
                    samples = _samples(await r.text())
                actual = samples.get("autoscaler_actual_pods", [])
                if [v for labels, v in actual if labels["revision"] == rev] == [1.0]:
                    break
                await asyncio.sleep(0.2)
    by_code = {
        labels["code"]: value
        for labels, value in samples["activator_request_count_total"]
        if labels["revision"] == rev and labels["component"] == "predictor"
    }
    assert by_code == {"200": 7.0, "400": 1.0}
    latency_count = [
        v for labels, v in samples["activator_request_latencies_count"] if labels["revision"] == rev
    ]
    assert latency_count == [8.0]
    desired = [v for labels, v in samples["autoscaler_desired_pods"] if labels["revision"] == rev]
    assert desired == [1.0]
    cold = [
        v
        for labels, v in samples["minikn_replica_start_to_ready_seconds_count"]
        if labels["revision"] == rev
    ]
    assert cold == [1.0]


async def test_logs_stream_the_replicas_output(platform: Platform) -> None:
    api = f"http://127.0.0.1:{platform.api_port}/api/v1/namespaces/default/inferenceservices"
    auth = {"Authorization": f"Bearer {platform.token}"}
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{api}/obs-iris/logs?component=predictor", headers=auth) as r:
            assert r.status == 200
            text = await r.text()
        async with session.get(f"{api}/obs-iris/logs?revision=nope", headers=auth) as r:
            assert r.status == 404
    lines = [line for line in text.splitlines() if line]
    assert lines, "the model server printed nothing"
    assert all(line.startswith("[obs-iris-predictor-00001") for line in lines)
