"""KServe SDK containers, from the YAML a KServe user writes, on the process backend.

The predictor and transformer are ``kserve.Model`` programs run by KServe's own ``ModelServer``
(kserve 0.21 in a virtualenv of its own); the platform maps their image to that virtualenv and
the directory holding the scripts (``minikn.replicas.processImages``). Nothing in the YAML is
minikn's: the backend gives each replica free HTTP and gRPC ports as KServe's arguments, and the
transformer finds the predictor through the ``--predictor_host`` minikn appends, as KServe does.
A predictor whose container port is named ``h2c`` serves gRPC: it gets the replica's port as
``--grpc_port``, and KServe's own ``InferenceGRPCClient`` calls it through the ingress.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from minikn.platform.server import Platform
from tests.integration.kserve_env import kserve_virtualenv

from .kserve_sdk_checks import ZERO_ALLOWED, apply_and_check_sdk_apps
from .platform_helpers import running_platform

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

APPS = Path(__file__).parent / "kserve_apps"
IMAGE = "registry.example.com/team/kserve-sdk-app:v1"


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    venv = kserve_virtualenv()
    app = tmp_path / "app"
    shutil.copytree(APPS, app)
    images = {IMAGE: {"virtualenv": str(venv), "workingDir": str(app)}}
    config: dict[str, Any] = {
        "minikn": {"replicas": {"processImages": images}},
        "config-autoscaler": ZERO_ALLOWED,
    }
    async with running_platform(tmp_path, config) as (p, _):
        yield p


async def test_kserve_sdk_predictor_and_transformer_answer_v1_v2_and_grpc_through_the_ingress(
    platform: Platform,
) -> None:
    await apply_and_check_sdk_apps(platform, IMAGE, kserve_virtualenv() / "bin" / "python")
