"""Fixtures for replica backend tests: both backends, specs of a tiny HTTP server, cleanup."""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from minikn.config.loader import Settings
from minikn.core.revision import ContainerSpec, ProbeSpec, ResourceSpec, RevisionSpec
from minikn.replicas.backend import ReplicaBackend, platform_id
from minikn.replicas.docker_backend import DockerBackend
from minikn.replicas.process_backend import ProcessBackend
from minikn.replicas.types import LABEL_ISVC

TEST_NETWORK = "minikn-test-replicas"


def test_image() -> str:
    return os.environ.get("MINIKN_BASE_IMAGE", "python:3.11-slim")


def settings(**replicas: Any) -> Settings:
    return Settings.model_validate(
        {"minikn": {"replicas": {"dockerNetwork": TEST_NETWORK, "stopGrace": "2s", **replicas}}}
    )


def http_spec(
    kind: str,
    isvc: str,
    *,
    generation: int = 1,
    gpus: int = 0,
    probe: ProbeSpec | None = None,
    script: str = "exec {py} -m http.server --bind {bind} $PORT",
) -> RevisionSpec:
    """A revision whose replica is ``python -m http.server`` on $PORT (no model)."""
    if kind == "docker":
        cmd = script.format(py="python3", bind="0.0.0.0")
    else:
        cmd = script.format(py=sys.executable, bind="127.0.0.1")
    return RevisionSpec(
        name=f"{isvc}-predictor-{generation:05d}",
        isvc=isvc,
        component="predictor",
        generation=generation,
        container=ContainerSpec(
            image=test_image(),
            command=("sh", "-c", cmd),
            resources=ResourceSpec(cpu=0.5, memory=256 * 1024 * 1024, gpus=gpus),
            readiness_probe=probe,
            env=(("GREETING", "hi"),),
        ),
    )


def docker_backend_in(state_dir: Path, client: Any, **replicas: Any) -> DockerBackend:
    """The Docker backend of a platform whose state dir is ``state_dir`` (its own identity:
    a test never adopts or removes another's, or a running platform's, containers)."""
    return DockerBackend(
        settings(**replicas).minikn.replicas, client=client, platform=platform_id(state_dir)
    )


@pytest.fixture
def isvc_name(docker_client: Any, session_networks: set[str]) -> Iterator[str]:
    """A unique ISVC name; its containers are removed afterwards, whatever the test did (and the
    test networks at the end of the session)."""
    session_networks.update({TEST_NETWORK, f"{TEST_NETWORK}-internal"})
    name = f"t{secrets.token_hex(4)}"
    yield name
    for c in docker_client.containers.list(
        ignore_removed=True, all=True, filters={"label": f"{LABEL_ISVC}={name}"}
    ):
        c.remove(force=True)


@pytest.fixture(params=["docker", "process"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def backend(kind: str, docker_client: Any, tmp_path: Path) -> AsyncIterator[ReplicaBackend]:
    b: ReplicaBackend = (
        docker_backend_in(tmp_path, docker_client) if kind == "docker" else ProcessBackend(tmp_path)
    )
    await b.start()
    yield b
    for h in await b.list_replicas():
        await b.stop(h, grace=0)
    await b.close()
