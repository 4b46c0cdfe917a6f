"""The interface every replica backend implements (Docker containers, local processes)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Protocol

from minikn.core.revision import RevisionSpec
from minikn.core.usage import ResourceUsage
from minikn.replicas.types import (
    LABEL_COMPONENT,
    LABEL_ISVC,
    LABEL_MANAGED,
    LABEL_NAMESPACE,
    LABEL_PLATFORM,
    LABEL_REPLICA,
    LABEL_REVISION,
    LABEL_SPEC_HASH,
    ReplicaExit,
    ReplicaHandle,
)

__all__ = [
    "LABEL_GPUS",
    "LABEL_GRPC_PORT",
    "LABEL_PORT",
    "ReplicaBackend",
    "default_state_dir",
    "platform_id",
    "replica_env",
    "replica_labels",
    "spec_hash",
]

LABEL_GPUS = "minikn.io/gpus"
LABEL_PORT = "minikn.io/port"
LABEL_GRPC_PORT = "minikn.io/grpc-port"
"""The container's gRPC (h2c) port, on replicas that serve gRPC."""


class ReplicaBackend(Protocol):
    """Starts, stops, lists and watches replicas. Every method is safe on the event loop."""

    name: str
    """``docker`` or ``process`` (metric label, logs)."""

    async def start(self) -> None:
        """Open connections and start watching for replica exits."""
        ...

    async def close(self) -> None:
        """Stop watching; replicas keep running."""
        ...

    async def create(
        self,
        spec: RevisionSpec,
        replica_id: str,
        *,
        model_dir: Path | None,
        gpus: Sequence[str] = (),
    ) -> ReplicaHandle:
        """Create and start one replica; raises ReplicaStartError for a permanent refusal."""
        ...

    async def stop(self, handle: ReplicaHandle, *, grace: float) -> None:
        """SIGTERM, then kill after ``grace`` seconds; remove what the replica left behind."""
        ...

    async def list_replicas(self) -> list[ReplicaHandle]:
        """Every replica minikn started that still exists (for adoption after a restart)."""
        ...

    async def exec(self, handle: ReplicaHandle, command: Sequence[str], *, limit_s: float) -> int:
        """Run an exec readiness probe in the replica; returns its exit code."""
        ...

    def logs(self, handle: ReplicaHandle, *, follow: bool, tail: int = 200) -> AsyncIterator[str]:
        """The replica's output lines (the last ``tail``, then new ones while ``follow``)."""
        ...

    async def usage(self, handle: ReplicaHandle) -> ResourceUsage:
        """CPU cores and memory bytes the replica uses now."""
        ...

    def exits(self) -> AsyncIterator[ReplicaExit]:
        """Replica exits and crashes, each reported within a second (one consumer)."""
        ...


def spec_hash(spec: RevisionSpec) -> str:
    """A short hash of what a replica runs; a replica is adopted only when it still matches."""
    body = spec.model_dump_json(exclude={"created_at", "annotations", "labels"})
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def default_state_dir() -> Path:
    """``MINIKN_STATE_DIR``, else ``~/.minikn`` (``minikn serve``'s default)."""
    env = os.environ.get("MINIKN_STATE_DIR")
    return Path(env) if env else Path.home() / ".minikn"


def platform_id(state_dir: Path) -> str:
    """A platform's identity: a short hash of its resolved state dir (stable across restarts,
    different for two platforms on one machine). Replicas and networks carry it as a label."""
    resolved = str(state_dir.expanduser().resolve())
    return hashlib.sha256(resolved.encode()).hexdigest()[:12]


def replica_labels(
    spec: RevisionSpec, replica_id: str, gpus: Sequence[str], *, platform: str = ""
) -> dict[str, str]:
    """The labels that identify a replica (Docker labels; the process backend's pid file)."""
    labels = {
        LABEL_MANAGED: "true",
        LABEL_ISVC: spec.isvc,
        LABEL_NAMESPACE: spec.namespace,
        LABEL_REVISION: spec.name,
        LABEL_COMPONENT: spec.component,
        LABEL_REPLICA: replica_id,
        LABEL_SPEC_HASH: spec_hash(spec),
    }
    if platform:
        labels[LABEL_PLATFORM] = platform
    if gpus:
        labels[LABEL_GPUS] = ",".join(gpus)
    return labels


def replica_env(spec: RevisionSpec, port: int) -> dict[str, str]:
    """Knative's container env (PORT, K_SERVICE, K_REVISION, K_CONFIGURATION) + the spec's."""
    service = f"{spec.isvc}-{spec.component}"
    env = dict(spec.container.env)
    # Knative sets these itself and refuses user values for PORT.
    env.update(
        {
            "PORT": str(port),
            "K_SERVICE": service,
            "K_REVISION": spec.name,
            "K_CONFIGURATION": service,
        }
    )
    return env
