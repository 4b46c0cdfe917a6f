"""Pick the replica backend: ``docker``, ``process``, or ``auto``; auto = Docker when it answers."""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from typing import Any, Literal

from minikn.config.loader import Settings
from minikn.core.errors import Unavailable
from minikn.replicas.backend import ReplicaBackend, default_state_dir, platform_id
from minikn.replicas.docker_backend import DockerBackend
from minikn.replicas.process_backend import ProcessBackend

__all__ = ["docker_client_or_none", "select_backend"]

log = logging.getLogger("minikn.replicas.select")

PING_TIMEOUT = 2


def docker_client_or_none(timeout: int = PING_TIMEOUT) -> Any:
    """A Docker client whose engine answered a ping within ``timeout`` seconds, else None.

    Blocking: callers on the event loop run it in a thread.
    """
    if _unix_socket_refuses(os.environ.get("DOCKER_HOST", _DEFAULT_HOST), timeout):
        log.debug("no Docker engine answers: its socket refuses connections")
        return None
    try:
        from docker.client import from_env

        client = from_env(timeout=timeout)
        client.ping()
    except Exception as exc:  # no socket, refused, timeout, bad DOCKER_HOST
        log.debug("no Docker engine answers: %s", exc)
        return None
    client.api.timeout = 60  # pings are quick; builds, stops and logs are not
    return client


_DEFAULT_HOST = "unix:///var/run/docker.sock"


def _unix_socket_refuses(host: str, timeout: float) -> bool:
    """The engine's unix socket is missing or nobody listens on it (a stopped ``dockerd`` leaves
    the file behind). Checked before docker-py, whose client asks the engine for its version
    while it is built and leaves that connection's socket open when the engine is not there."""
    if not host.startswith("unix://"):
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(timeout)
        try:
            probe.connect(host.removeprefix("unix://"))
        except OSError:
            return True
    return False


def _state_dir(state_dir: Path | None) -> Path:
    return state_dir if state_dir is not None else default_state_dir()


def select_backend(
    kind: Literal["auto", "docker", "process"],
    settings: Settings,
    *,
    state_dir: Path | None = None,
) -> ReplicaBackend:
    """The backend for ``kind``; ``auto`` logs which one it chose and why. Its replicas carry
    the identity of the state dir's platform (:func:`platform_id`)."""
    config = settings.minikn.replicas
    if kind == "process":
        return ProcessBackend(_state_dir(state_dir), images=config.process_images)
    client = docker_client_or_none()
    if client is not None:
        if kind == "auto":
            log.info("replica backend: docker (an engine answered)")
        return DockerBackend(config, client=client, platform=platform_id(_state_dir(state_dir)))
    if kind == "docker":
        raise Unavailable(
            "replica backend docker: no Docker engine answers "
            "(start one, or use --backend process)",
            reason="NoDockerEngine",
        )
    log.info("replica backend: process (no Docker engine answers)")
    return ProcessBackend(_state_dir(state_dir), images=config.process_images)
