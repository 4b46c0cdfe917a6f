"""Shared fixtures. Docker tests fail (never skip) when no engine answers, unless the user opts
out explicitly with MINIKN_SKIP_DOCKER=1 on a machine without Docker."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from minikn.core.clock import FakeClock


def _docker_client() -> Any:
    import docker

    client = docker.from_env(timeout=30)
    client.ping()
    return client


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    """A connected Docker SDK client; start one with scripts/start-docker.sh."""
    if os.environ.get("MINIKN_SKIP_DOCKER") == "1":
        pytest.skip("MINIKN_SKIP_DOCKER=1")
    try:
        client = _docker_client()
    except Exception as exc:  # any failure to reach the engine
        pytest.fail(
            f"no Docker engine answers ({exc}); run scripts/start-docker.sh "
            "(or set MINIKN_SKIP_DOCKER=1 to skip Docker tests on a machine without one)"
        )
    yield client
    client.close()


@pytest.fixture(scope="session")
def model_server_image(docker_client: Any) -> str:
    """``minikn/modelserver:latest`` built from this checkout on MINIKN_BASE_IMAGE (skipped when
    its inputs are unchanged, so only the first session on a machine pays for the build)."""
    from minikn.replicas.images import build_model_server_image

    build_model_server_image(base_image=base_image(), client=docker_client)
    return "minikn/modelserver:latest"


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


def base_image() -> str:
    """Base image for test builds: MINIKN_BASE_IMAGE (CI: the local debootstrap image)."""
    return os.environ.get("MINIKN_BASE_IMAGE", "python:3.11-slim")
