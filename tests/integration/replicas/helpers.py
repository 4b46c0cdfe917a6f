"""A recording RevisionListener, a fake model store and a manager factory for the tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from minikn.config.loader import Settings
from minikn.core.clock import SystemClock
from minikn.core.events import EventSink
from minikn.core.listeners import RecordingListener
from minikn.replicas.backend import ReplicaBackend
from minikn.replicas.gpus import GpuAllocator
from minikn.replicas.manager import ReplicaManager
from minikn.telemetry.metrics import Metrics


async def until(cond: Callable[[], bool], timeout: float = 20.0) -> None:
    """Poll ``cond`` every 10 ms until it holds; TimeoutError after ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        while not cond():
            await asyncio.sleep(0.01)


class DirStore:
    """A ModelStore that maps every URI to one local directory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fetched: list[str] = []

    async def fetch(self, uri: str) -> Path:
        self.fetched.append(uri)
        return self.path


def make_manager(
    backend: ReplicaBackend,
    settings: Settings,
    listener: RecordingListener,
    store: DirStore,
    gpus: GpuAllocator | None = None,
) -> tuple[ReplicaManager, EventSink, Metrics]:
    events, metrics = EventSink(), Metrics()
    manager = ReplicaManager(
        backend, settings=settings, clock=SystemClock(), store=store,
        gpus=gpus or GpuAllocator([]), listener=listener, events=events, metrics=metrics,
    )  # fmt: skip
    return manager, events, metrics
