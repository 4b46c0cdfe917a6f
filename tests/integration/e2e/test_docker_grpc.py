"""gRPC on the Docker backend: a ``protocolVersion: grpc-v2`` ISVC at zero gets its first call from
``tritonclient.grpc`` through the ingress; the call is held while a real model-server container
starts, then reaches the container's gRPC port (8081) and answers."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.grpc.aio as grpcaio

from minikn.api.documents import parse_text
from minikn.config import Settings
from minikn.modelserver.examples import ensure_example_models
from minikn.platform.server import Platform
from minikn.replicas.types import LABEL_ISVC

from .platform_helpers import started_platform

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(600)]

NETWORK = "minikn-test-grpc"
IRIS = np.array([[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]], dtype=np.float32)


@pytest.fixture(scope="module")
def image_tag(docker_client: Any) -> str:
    """This checkout's model-server image, by its hash tag (``runtimeVersion`` pins it), so
    ``minikn/modelserver:latest`` is left as other checkouts tagged it."""
    from minikn.replicas.images import build_model_server_image

    repo = "minikn/modelserver"
    try:
        before = docker_client.images.get(f"{repo}:latest").id
    except Exception:  # no :latest yet
        before = None
    base = os.environ.get("MINIKN_BASE_IMAGE", "python:3.11-slim")  # as tests/conftest.py
    tag = build_model_server_image(base_image=base, client=docker_client)
    if before is not None:
        docker_client.images.get(before).tag(repo, "latest")
    return tag.rsplit(":", 1)[1]


@pytest.fixture
def isvc(docker_client: Any, session_networks: set[str]) -> Iterator[str]:
    session_networks.add(NETWORK)  # removed at the end of the session
    name = f"grpc{secrets.token_hex(3)}"
    yield name
    for c in docker_client.containers.list(
        ignore_removed=True, all=True, filters={"label": f"{LABEL_ISVC}={name}"}
    ):
        c.remove(force=True)


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[tuple[Platform, Path]]:
    models = tmp_path / "models"
    models.mkdir()
    models.chmod(0o755)
    ensure_example_models(models, ["sklearn-iris"])
    settings = Settings.model_validate({
        "config-autoscaler": {"allow-zero-initial-scale": True},
        "minikn": {
            "replicas": {"dockerNetwork": NETWORK, "stopGrace": "2s"},
            "storage": {"allowedRoots": [str(models)]},
        },
    })  # fmt: skip
    async with started_platform(tmp_path, settings, "docker") as p:
        yield p, models / "sklearn-iris"


async def test_a_grpc_call_starts_a_docker_replica_from_zero_and_reaches_its_grpc_port(
    platform: tuple[Platform, Path], isvc: str, image_tag: str, docker_client: Any
) -> None:
    p, model = platform
    doc = f"""
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: {isvc}
  annotations: {{autoscaling.knative.dev/initial-scale: "0"}}
spec:
  predictor:
    minReplicas: 0
    model:
      modelFormat: {{name: sklearn}}
      protocolVersion: grpc-v2
      runtimeVersion: "{image_tag}"
      storageUri: file://{model}
"""
    await p.controller.apply(parse_text(doc, "grpc.yaml"))
    assert not docker_client.containers.list(
        ignore_removed=True, filters={"label": f"{LABEL_ISVC}={isvc}"}
    )
    client = grpcaio.InferenceServerClient(
        f"127.0.0.1:{p.ingress_port}",
        channel_args=[("grpc.default_authority", f"{isvc}.default.example.com")],
    )
    tensor = grpcclient.InferInput("input-0", list(IRIS.shape), "FP32")
    tensor.set_data_from_numpy(IRIS)
    try:
        result = await client.infer(isvc, [tensor], client_timeout=300)
        assert result.as_numpy("output-0").tolist() == [1, 1]
        assert await client.is_model_ready(isvc)
    finally:
        await client.close()
    (container,) = docker_client.containers.list(
        ignore_removed=True, filters={"label": f"{LABEL_ISVC}={isvc}"}
    )
    assert any(t.endswith(f":{image_tag}") for t in container.image.tags)
    assert container.labels["minikn.io/grpc-port"] == "8081"
