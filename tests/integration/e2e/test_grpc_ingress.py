"""gRPC end to end (process backend, real sockets): ``tritonclient.grpc`` calls an ISVC with
``protocolVersion: grpc-v2`` through the ingress with nothing but the ingress address and the
ISVC's host as ``:authority``: warm calls, the first call to a revision at zero held in the
activator until a replica is ready, a deadline that runs out, an unknown host; a transformer
with ``--protocol grpc-v2`` calling its predictor over gRPC through the ingress; KServe's own
``InferenceGRPCClient`` (its package in a virtualenv of its own) on a revision at zero."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.grpc.aio as grpcaio
from prometheus_client import generate_latest
from tritonclient.utils import InferenceServerException

from minikn.api.documents import parse_text
from minikn.modelserver.examples import IrisTransformer
from minikn.platform.server import Platform
from tests.integration.kserve_env import kserve_virtualenv

from .kserve_sdk_checks import kserve_grpc_client
from .platform_helpers import running_platform, until, until_ready

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

ISVC = """
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {{name: {name}}}
spec:
  predictor:
    minReplicas: {min}
    model:
      modelFormat: {{name: sklearn}}
      protocolVersion: grpc-v2
      storageUri: file://{model}
"""
IRIS = np.array([[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]], dtype=np.float32)


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[tuple[Platform, Path]]:
    autoscaler = {
        "stable-window": "6s",
        "scale-to-zero-grace-period": "2s",
        "allow-zero-initial-scale": True,
    }
    async with running_platform(tmp_path, {"config-autoscaler": autoscaler}) as running:
        yield running


def _client(p: Platform, host: str) -> grpcaio.InferenceServerClient:
    # The ISVC's host travels as :authority (the channel's default authority).
    return grpcaio.InferenceServerClient(
        f"127.0.0.1:{p.ingress_port}", channel_args=[("grpc.default_authority", host)]
    )


def _inputs() -> list[grpcclient.InferInput]:
    tensor = grpcclient.InferInput("input-0", list(IRIS.shape), "FP32")
    tensor.set_data_from_numpy(IRIS)
    return [tensor]


async def test_grpc_calls_reach_a_grpc_v2_isvc_through_the_ingress(
    platform: tuple[Platform, Path],
) -> None:
    p, model = platform
    assert p.dataplane is not None
    await p.controller.apply(parse_text(ISVC.format(name="iris", min=1, model=model), "i.yaml"))
    rev = "iris-predictor-00001"
    await until(lambda: p.dataplane is not None and p.dataplane.replicas.ready_count(rev) == 1, 60)
    client = _client(p, "iris.default.example.com")
    try:
        assert await client.is_server_live()
        assert await client.is_model_ready("iris")
        meta = await client.get_model_metadata("iris", as_json=True)
        assert meta["name"] == "iris"
        result = await client.infer("iris", _inputs())
        assert result.as_numpy("output-0").tolist() == [1, 1]
        # An async stream of calls multiplexed on one connection.
        results = await asyncio.gather(*(client.infer("iris", _inputs()) for _ in range(20)))
        assert all(r.as_numpy("output-0").tolist() == [1, 1] for r in results)
        # The -predictor host reaches the same component.
        direct = _client(p, "iris-predictor.default.example.com")
        assert await direct.is_model_ready("iris")
        await direct.close()
    finally:
        await client.close()
    text = generate_latest(p.metrics.registry).decode()
    counted = [
        line
        for line in text.splitlines()
        if "request" in line and f'revision="{rev}"' in line and 'code="200"' in line
    ]
    # The 25 calls above counted as 200s of the revision.
    assert counted, text
    assert counted[0].endswith(" 25.0"), counted


async def test_an_unknown_host_is_not_found(platform: tuple[Platform, Path]) -> None:
    p, _ = platform
    client = _client(p, "nope.default.example.com")
    try:
        with pytest.raises(InferenceServerException) as err:
            await client.is_server_live()
        assert "NOT_FOUND" in str(err.value.status())
        assert "no InferenceService serves host" in err.value.message()
    finally:
        await client.close()


async def test_the_first_call_to_a_revision_at_zero_waits_for_its_replica(
    platform: tuple[Platform, Path],
) -> None:
    p, model = platform
    assert p.dataplane is not None
    replicas = p.dataplane.replicas
    await p.controller.apply(parse_text(ISVC.format(name="cold", min=0, model=model), "c.yaml"))
    rev = "cold-predictor-00001"
    await until(lambda: replicas.ready_count(rev) == 1, 60)
    await until(lambda: replicas.status(rev).ready == 0 and replicas.status(rev).desired == 0, 60)
    client = _client(p, "cold.default.example.com")
    try:
        result = await client.infer("cold", _inputs(), client_timeout=60)
        assert result.as_numpy("output-0").tolist() == [1, 1]
        assert replicas.ready_count(rev) == 1
        # A deadline shorter than the call can take: DEADLINE_EXCEEDED, from the replica or from
        # minikn (the call is held while the replica is stopped below).
        await until(lambda: replicas.status(rev).ready == 0, 60)
        with pytest.raises(InferenceServerException) as err:
            await client.infer("cold", _inputs(), client_timeout=0.05)
        assert "DEADLINE_EXCEEDED" in str(err.value.status())
    finally:
        await client.close()


CHAIN = """
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {{name: chain}}
spec:
  transformer:
    containers:
      - name: kserve-container
        command: ["{python}", "-m", "minikn.modelserver"]
        args: [--model_class=minikn.modelserver.examples:IrisTransformer, --protocol=grpc-v2]
  predictor:
    model:
      modelFormat: {{name: sklearn}}
      protocolVersion: grpc-v2
      storageUri: file://{model}
"""


async def test_a_grpc_v2_transformer_calls_its_predictor_over_grpc_through_the_ingress(
    platform: tuple[Platform, Path],
) -> None:
    p, model = platform
    assert p.dataplane is not None
    activator = p.dataplane.activator
    served = activator.serve_grpc
    grpc_calls: list[str] = []

    def spy(revision: str, *args: Any) -> Any:  # the real activator, its gRPC calls recorded
        grpc_calls.append(revision)
        return served(revision, *args)

    activator.serve_grpc = spy  # type: ignore[method-assign]
    await p.controller.apply(parse_text(CHAIN.format(python=sys.executable, model=model), "c.yaml"))
    await until_ready(p, "chain")
    rows = [dict(zip(IrisTransformer.FEATURES, map(float, row), strict=True)) for row in IRIS]
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"http://127.0.0.1:{p.ingress_port}/v1/models/chain:predict",
            json={"instances": rows},
            headers={"Host": "chain.default.example.com"},
        ) as resp,
    ):
        body = await resp.json()
        assert resp.status == 200, body
    assert body == {"predictions": [1, 1], "labels": ["versicolor", "versicolor"]}
    # The transformer's call reached the predictor as a gRPC call through the ingress.
    assert grpc_calls == ["chain-predictor-00001"]


@pytest.fixture(scope="session")
def kserve_python() -> Path:
    """A Python with KServe's own package, in the shared SDK virtualenv (made once)."""
    return kserve_virtualenv() / "bin" / "python"


ZERO = """
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: {name}
  annotations: {{autoscaling.knative.dev/initial-scale: "0"}}
spec:
  predictor:
    minReplicas: 0
    model:
      modelFormat: {{name: sklearn}}
      protocolVersion: grpc-v2
      storageUri: file://{model}
"""


async def test_kserves_own_grpc_client_reaches_a_revision_at_zero_with_its_first_call(
    platform: tuple[Platform, Path], kserve_python: Path
) -> None:
    p, model = platform
    assert p.dataplane is not None
    await p.controller.apply(parse_text(ZERO.format(name="kgrpc", model=model), "k.yaml"))
    rev = "kgrpc-predictor-00001"
    await until(lambda: p.controller.get("default", "kgrpc")["status"].get("conditions"), 30)
    assert p.dataplane.replicas.ready_count(rev) == 0
    got = await kserve_grpc_client(kserve_python, p, "kgrpc")
    assert got == {"predictions": [1, 1], "server_ready": True, "model_ready": True}
    assert p.dataplane.replicas.ready_count(rev) == 1  # the call started it
