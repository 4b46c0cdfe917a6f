"""KServe SDK containers, from the YAML a KServe user writes, on the Docker backend.

The same predictor and transformer (``kserve_apps/``) and the same YAML as on the process
backend, in an image built offline for the test: kserve 0.21 installed from wheels built on the
host (``kserve_wheels``), the apps in the image's working directory, tagged by a hash of what it
is built from. KServe's server listens on its own 8080/8081 in each container; the transformer
reaches the predictor through minikn's ingress under ``minikn-ingress`` (``--predictor_host``);
the predictor whose port is named ``h2c`` answers KServe's ``InferenceGRPCClient`` on 8081.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from minikn.config import Settings
from minikn.platform.server import Platform
from minikn.replicas.backend import platform_id
from minikn.replicas.types import LABEL_COMPONENT, LABEL_ISVC, LABEL_PLATFORM
from tests.integration.kserve_env import KSERVE_VERSION, PINS, kserve_virtualenv, kserve_wheels

from .kserve_sdk_checks import ZERO_ALLOWED, apply_and_check_sdk_apps
from .platform_helpers import started_platform

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(1800)]

APPS = Path(__file__).parent / "kserve_apps"
REPO = "minikn-test/kserve-sdk-app"
NETWORK = "minikn-test-kserve-sdk"
DOCKERFILE = f"""\
ARG BASE_IMAGE
FROM ${{BASE_IMAGE}}
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH=/opt/venv/bin:$PATH HOME=/tmp
COPY wheels/ /wheels/
RUN python3 -m venv /opt/venv \\
 && /opt/venv/bin/pip install --no-cache-dir --no-index --find-links /wheels \\
    "kserve=={KSERVE_VERSION}.*" {" ".join(f'"{p}"' for p in PINS)} \\
 && rm -rf /wheels \\
 && python -c "import kserve"
COPY app/ /app/
WORKDIR /app
USER 65534:65534
"""


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy(src, dst)


@pytest.fixture(scope="module")
def sdk_image(docker_client: Any, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The test image's tag: a hash of the base image, the Dockerfile, the wheels and the apps
    (an unchanged image is reused; other checkouts' tags are left alone)."""
    base = os.environ.get("MINIKN_BASE_IMAGE", "python:3.11-slim")  # as tests/conftest.py
    wheels = kserve_wheels()
    apps = sorted(p for p in APPS.glob("*.py"))
    h = hashlib.sha256()
    h.update(f"{base}\0{docker_client.images.get(base).id}\0{DOCKERFILE}\0".encode())
    for whl in sorted(wheels.glob("*.whl")):
        h.update(whl.name.encode() + b"\0")
    for app in apps:
        h.update(app.name.encode() + b"\0" + app.read_bytes() + b"\0")
    tag = f"{REPO}:{h.hexdigest()[:12]}"
    if docker_client.images.list(name=tag):
        return tag
    context = tmp_path_factory.mktemp("kserve-sdk-image")
    (context / "Dockerfile").write_text(DOCKERFILE)
    (context / "wheels").mkdir()
    for whl in wheels.glob("*.whl"):
        _link_or_copy(whl, context / "wheels" / whl.name)
    (context / "app").mkdir()
    for app in apps:
        shutil.copy(app, context / "app" / app.name)
    log: list[str] = []
    for chunk in docker_client.api.build(
        path=str(context), tag=tag, buildargs={"BASE_IMAGE": base}, rm=True, decode=True,
        pull=False,
    ):  # fmt: skip
        if "error" in chunk:
            pytest.fail(f"building {tag} failed: {chunk['error']}\n{''.join(log[-40:])}")
        log.append(str(chunk.get("stream", "")))
    return tag


@pytest.fixture
def cleanup(docker_client: Any, session_networks: set[str]) -> Iterator[None]:
    session_networks.add(NETWORK)  # removed at the end of the session
    yield
    for name in ("doubler", "pipeline", "grpc-doubler"):
        found = docker_client.containers.list(
            ignore_removed=True, all=True, filters={"label": f"{LABEL_ISVC}={name}"}
        )
        for c in found:
            c.remove(force=True)


@pytest.fixture
async def platform(tmp_path: Path, cleanup: None) -> AsyncIterator[Platform]:
    settings = Settings.model_validate(
        {
            "minikn": {"replicas": {"dockerNetwork": NETWORK, "stopGrace": "2s"}},
            "config-autoscaler": ZERO_ALLOWED,
        }
    )
    # The ingress on loopback only: the transformer's container still reaches it (on Linux the
    # platform listens on the Docker network's gateway too, the address ``minikn-ingress`` names).
    async with started_platform(tmp_path, settings, "docker") as p:
        yield p


async def test_kserve_sdk_predictor_and_transformer_in_containers_answer_v1_v2_and_grpc(
    platform: Platform, sdk_image: str, docker_client: Any, tmp_path: Path
) -> None:
    await apply_and_check_sdk_apps(platform, sdk_image, kserve_virtualenv() / "bin" / "python")
    # Every answer came from the test image's containers: both predictors and the transformer.
    ours = f"{LABEL_PLATFORM}={platform_id(tmp_path / 'state')}"
    running = docker_client.containers.list(ignore_removed=True, filters={"label": ours})
    components = sorted(
        (c.labels[LABEL_ISVC], c.labels[LABEL_COMPONENT]) for c in running
        if sdk_image in c.image.tags
    )  # fmt: skip
    assert components == [
        ("doubler", "predictor"), ("grpc-doubler", "predictor"), ("pipeline", "predictor"),
        ("pipeline", "transformer"),
    ]  # fmt: skip
