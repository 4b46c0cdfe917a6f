"""Fixtures shared by the integration tests: Docker networks the session creates are removed."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def session_networks(docker_client: Any) -> Iterator[set[str]]:
    """Names of the Docker networks this session's tests make (add to it); each is removed at the
    end of the session, after the tests' own fixtures removed their containers."""
    import docker.errors

    names: set[str] = set()
    yield names
    for name in sorted(names):
        try:
            docker_client.networks.get(name).remove()
        except docker.errors.NotFound:
            continue
        except docker.errors.APIError as exc:  # a container is still attached
            warnings.warn(f"docker network {name} left behind: {exc}", stacklevel=1)
