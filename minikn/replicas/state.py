"""The replica manager's bookkeeping: one record per revision and per replica."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from minikn.core.coldstart import ColdStart
from minikn.core.endpoints import Endpoint
from minikn.core.revision import RevisionSpec
from minikn.replicas.plan import ObservedReplica, RevisionView
from minikn.replicas.types import ReplicaHandle, ReplicaSetStatus, ReplicaStatus

__all__ = ["ModelStore", "ReplicaRecord", "RevisionRecord", "backoff_seconds"]

BACKOFF_BASE = 1.0
BACKOFF_MAX = 30.0


class ModelStore(Protocol):
    """The storage initializer: a storage URI -> a local directory holding the model."""

    async def fetch(self, uri: str) -> Path: ...


def backoff_seconds(failures: int) -> float:
    """CrashLoopBackOff-like delay after ``failures`` consecutive start failures: 1, 2, 4 ... 30."""
    if failures <= 0:
        return 0.0
    return float(min(BACKOFF_MAX, BACKOFF_BASE * 2 ** (failures - 1)))


@dataclass
class ReplicaRecord:
    replica_id: str
    phase: Literal["Creating", "Ready", "Stopping"]
    created: float
    gpus: tuple[str, ...] = ()
    handle: ReplicaHandle | None = None
    exited: asyncio.Event = field(default_factory=asyncio.Event)
    exit_code: int | None = None
    task: asyncio.Task[None] | None = None
    phases: dict[str, float] = field(default_factory=dict)
    """Seconds per cold-start phase as they complete (gpu, storage, create, load)."""
    cold_start: ColdStart | None = None
    """Set when the replica became ready (None for an adopted replica)."""

    def endpoint(self) -> Endpoint | None:
        if self.phase != "Ready" or self.handle is None:
            return None
        handle = self.handle
        return Endpoint(
            self.replica_id,
            handle.host,
            handle.port,
            grpc_port=handle.grpc_port,
            cold_start=self.cold_start,
        )


@dataclass
class RevisionRecord:
    spec: RevisionSpec
    live: bool = True
    desired: int | None = None
    replicas: dict[str, ReplicaRecord] = field(default_factory=dict)
    failure: tuple[str, str] | None = None
    failures: int = 0
    backoff_until: float = 0.0
    ever_ready: bool = False
    endpoints: tuple[Endpoint, ...] = ()
    gpu_wait_since: float | None = None
    """When the revision began waiting for GPUs for a replica it wants (None: not waiting)."""
    last_cold_start: ColdStart | None = None

    def view(self) -> RevisionView:
        return RevisionView(
            revision=self.spec.name,
            live=self.live,
            desired=self.desired,
            gpus_per_replica=self.spec.container.resources.gpus,
            replicas=tuple(
                ObservedReplica(r.replica_id, r.phase, r.created) for r in self.replicas.values()
            ),
            backoff_until=self.backoff_until,
        )

    def ready_endpoints(self) -> tuple[Endpoint, ...]:
        eps = (r.endpoint() for r in self.replicas.values())
        return tuple(sorted((e for e in eps if e is not None), key=lambda e: e.replica_id))

    def status(self) -> ReplicaSetStatus:
        replicas: Sequence[ReplicaRecord] = sorted(
            self.replicas.values(), key=lambda r: r.replica_id
        )
        ready = sum(1 for r in replicas if r.phase == "Ready")
        pending = sum(1 for r in replicas if r.phase == "Creating")
        if self.desired is not None and self.failure is not None:
            pending = max(pending, self.desired - ready)
        return ReplicaSetStatus(
            revision=self.spec.name,
            desired=self.desired if self.desired is not None else ready + pending,
            ready=ready,
            pending=pending,
            reason=self.failure[0] if self.failure else None,
            message=self.failure[1] if self.failure else None,
            replicas=tuple(
                ReplicaStatus(
                    r.replica_id,
                    r.phase,
                    r.handle.host if r.handle else "",
                    r.handle.port if r.handle else 0,
                    r.gpus,
                )
                for r in replicas
            ),
        )
