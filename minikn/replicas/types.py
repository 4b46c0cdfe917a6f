"""Value types the replica backends and the replica manager exchange."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from minikn.core.errors import PermanentError, RetryableError

__all__ = [
    "BUILT_HERE",
    "ERR_PULL",
    "LABEL_COMPONENT",
    "LABEL_ISVC",
    "LABEL_MANAGED",
    "LABEL_NAMESPACE",
    "LABEL_PLATFORM",
    "LABEL_REPLICA",
    "LABEL_REVISION",
    "LABEL_SPEC_HASH",
    "PULL_BACKOFF",
    "BackendError",
    "ErrImagePull",
    "ImageNotFound",
    "NoGPURuntime",
    "ReplicaExit",
    "ReplicaHandle",
    "ReplicaSetStatus",
    "ReplicaStartError",
    "ReplicaStatus",
]

LABEL_MANAGED = "minikn.io/managed"
LABEL_ISVC = "minikn.io/isvc"
LABEL_NAMESPACE = "minikn.io/namespace"
LABEL_REVISION = "minikn.io/revision"
LABEL_COMPONENT = "minikn.io/component"
LABEL_REPLICA = "minikn.io/replica"
LABEL_SPEC_HASH = "minikn.io/spec-hash"
LABEL_PLATFORM = "minikn.io/platform"
"""Which platform made a replica or network (:func:`minikn.replicas.backend.platform_id`): a
platform adopts and removes only its own, so several share one Docker engine."""

ReplicaPhase = Literal["Pending", "Creating", "Ready", "Stopping"]


@dataclass(frozen=True, slots=True)
class ReplicaHandle:
    """A running (or just created) replica, as a backend knows it.

    ``host``/``port`` is where the platform reaches the replica's server; ``ref`` is the
    backend's own id (a container id, a pid).
    """

    replica_id: str
    revision: str
    backend: str
    ref: str
    host: str
    port: int
    labels: dict[str, str] = field(default_factory=dict)
    gpus: tuple[str, ...] = ()
    grpc_port: int | None = None
    """Where the platform reaches the replica's gRPC (h2c) server, when it serves one."""
    proxied: bool = False
    """Reached through a port proxy (Docker's published ports): the proxy accepts a connection
    before the replica listens, and closes it at once while nothing does."""

    @property
    def spec_hash(self) -> str:
        return self.labels.get(LABEL_SPEC_HASH, "")


@dataclass(frozen=True, slots=True)
class ReplicaExit:
    """A replica's process ended (crashed, was killed or exited)."""

    replica_id: str
    revision: str
    exit_code: int | None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ReplicaStatus:
    """One replica in :class:`ReplicaSetStatus`."""

    replica_id: str
    phase: ReplicaPhase
    host: str = ""
    port: int = 0
    gpus: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ReplicaSetStatus:
    """A revision's replicas for ``describe``/API: counts, the failure condition, each replica."""

    revision: str
    desired: int = 0
    ready: int = 0
    pending: int = 0
    reason: str | None = None
    message: str | None = None
    replicas: tuple[ReplicaStatus, ...] = ()


class BackendError(RetryableError):
    """The backend failed in a way a retry may fix (engine hiccup, port race)."""


class ReplicaStartError(PermanentError):
    """A replica cannot be created as specified; ``reason`` is the condition reason."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message, reason=reason)


BUILT_HERE = "minikn/modelserver"
"""The repository of the images ``minikn images build`` makes: built locally, never pulled."""


class ImageNotFound(ReplicaStartError):
    """The replica's image is not in the local engine (nothing can be pulled offline)."""

    def __init__(self, image: str) -> None:
        hint = (
            "build it with `minikn images build`"
            if image.startswith(BUILT_HERE)
            else f"build or load it with `docker build -t {image} ...` / `docker load`"
        )
        super().__init__(
            f"image {image} not found in the Docker engine; {hint}", reason="ImageNotFound"
        )
        self.image = image


class ErrImagePull(ReplicaStartError):
    """The engine could not pull the replica's image (Kubernetes' ``ErrImagePull``); the
    message carries the engine's error."""

    def __init__(self, image: str, error: str) -> None:
        super().__init__(f'Failed to pull image "{image}": {clip_error(error)}', reason=ERR_PULL)
        self.image = image


ERR_PULL = "ErrImagePull"
PULL_BACKOFF = "ImagePullBackOff"


def clip_error(error: str, limit: int = 1000) -> str:
    """An engine's error, one line and at most ``limit`` characters."""
    line = " ".join(error.split())
    return line if len(line) <= limit else line[:limit] + "..."


class NoGPURuntime(ReplicaStartError):
    """The replica asks for GPUs but the engine cannot hand them out."""

    def __init__(self) -> None:
        super().__init__(
            "no GPU runtime: the Docker engine has no NVIDIA runtime "
            "(install nvidia-container-toolkit)",
            reason="NoGPURuntime",
        )
