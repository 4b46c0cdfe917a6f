"""The replica manager keeps each component's recent exact start-to-ready times (for
``minikn simulate --start-model measured``)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from minikn.config.loader import Settings
from minikn.core.clock import FakeClock
from minikn.core.events import EventSink
from minikn.core.listeners import RecordingListener
from minikn.core.revision import ContainerSpec, ModelRef, RevisionSpec
from minikn.replicas.gpus import GpuAllocator
from minikn.replicas.manager import ReplicaManager
from minikn.telemetry.metrics import Metrics
from minikn.testing.fake_backend import FakeBackend


class SlowStore:
    """Each fetch takes the next of ``durations`` seconds on the fake clock."""

    def __init__(self, clock: FakeClock, durations: list[float]) -> None:
        self.clock = clock
        self.durations = durations

    async def fetch(self, uri: str) -> Path:
        await self.clock.advance(self.durations.pop(0))
        return Path("/cache/m")


def spec(isvc: str = "m") -> RevisionSpec:
    return RevisionSpec(
        name=f"{isvc}-predictor-00001", isvc=isvc, component="predictor", generation=1,
        container=ContainerSpec(image="img"),
        model=ModelRef(name=isvc, format="sklearn", storage_uri=f"s3://bucket/{isvc}"),
    )  # fmt: skip


async def test_start_times_are_the_exact_durations_of_the_latest_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("minikn.replicas.manager.START_TIMES_KEPT", 2)
    clock = FakeClock()
    durations = [1.25, 2.5, 3.125]
    manager = ReplicaManager(
        FakeBackend(), settings=Settings(), clock=clock, store=SlowStore(clock, list(durations)),
        gpus=GpuAllocator(()), listener=RecordingListener(), events=EventSink(),
        metrics=Metrics(),
    )  # fmt: skip
    s = spec()
    await manager.start([s])
    try:
        for n in range(1, len(durations) + 1):  # one start at a time: each took its fetch
            manager.set_desired(s.name, n)
            async with asyncio.timeout(5):
                while manager.ready_count(s.name) < n:
                    await asyncio.sleep(0.001)
        assert manager.start_times("default", "m", "predictor") == [2.5, 3.125]  # the latest 2
        assert manager.start_times("default", "m", "transformer") == []
        assert manager.start_times("other", "m", "predictor") == []
    finally:
        await manager.close()
