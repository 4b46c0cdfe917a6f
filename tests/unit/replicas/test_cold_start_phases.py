"""The replica manager measures each cold start by phase (storage, create, load, gpu) and hands
the phases to the data path with the replica's endpoint."""

from __future__ import annotations

import asyncio
from pathlib import Path

from minikn.config.loader import Settings
from minikn.core.clock import FakeClock
from minikn.core.coldstart import ColdStart, server_timing
from minikn.core.events import EventSink
from minikn.core.listeners import RecordingListener
from minikn.core.revision import ContainerSpec, ModelRef, RevisionSpec
from minikn.replicas.gpus import GpuAllocator
from minikn.replicas.manager import ReplicaManager
from minikn.telemetry.metrics import Metrics
from minikn.testing.fake_backend import FakeBackend


class SlowStore:
    def __init__(self, clock: FakeClock, seconds: float) -> None:
        self.clock = clock
        self.seconds = seconds

    async def fetch(self, uri: str) -> Path:
        await self.clock.advance(self.seconds)
        return Path("/cache/m")


def spec() -> RevisionSpec:
    return RevisionSpec(
        name="m-predictor-00001", isvc="m", component="predictor", generation=1,
        container=ContainerSpec(image="img"),
        model=ModelRef(name="m", format="sklearn", storage_uri="s3://bucket/m"),
    )  # fmt: skip


async def test_a_ready_replica_carries_its_start_phases_and_the_histogram_has_them() -> None:
    clock = FakeClock()
    listener = RecordingListener()
    metrics = Metrics()
    manager = ReplicaManager(
        FakeBackend(), settings=Settings(), clock=clock, store=SlowStore(clock, 2.5),
        gpus=GpuAllocator(()), listener=listener, events=EventSink(), metrics=metrics,
    )  # fmt: skip
    s = spec()
    await manager.start([s])
    try:
        manager.set_desired(s.name, 1)
        async with asyncio.timeout(5):
            while manager.ready_count(s.name) < 1:
                await asyncio.sleep(0.001)
        (endpoint,) = listener.endpoints[s.name]
        cold = endpoint.cold_start
        assert cold is not None
        assert cold == manager.last_cold_start(s.name)
        assert (cold.gpu, cold.storage) == (0.0, 2.5)
        assert cold.replica_id == endpoint.replica_id
        assert cold.ready_at == clock.monotonic()
        labels = {"namespace": "default", "isvc": "m", "component": "predictor"}
        storage = metrics.registry.get_sample_value(
            "minikn_cold_start_phase_seconds_sum",
            {**labels, "revision": s.name, "phase": "storage"},
        )
        assert storage == 2.5
    finally:
        await manager.close()


def test_server_timing_lists_the_phases_in_milliseconds_in_order() -> None:
    cold = ColdStart("r", gpu=0.0, storage=0.0123, create=1.5, load=2.0, ready_at=10.0)
    assert server_timing(cold.phases(0.004)) == (
        b"gpu;dur=0.0, storage;dur=12.3, create;dur=1500.0, load;dur=2000.0, handover;dur=4.0"
    )
    assert cold.total == 0.0 + 0.0123 + 1.5 + 2.0


def test_endpoints_differing_only_in_cold_start_are_the_same_replica() -> None:
    from minikn.core.endpoints import Endpoint

    cold = ColdStart("r", gpu=0.0, storage=0.0, create=1.0, load=1.0, ready_at=1.0)
    assert Endpoint("r", "h", 1, cold_start=cold) == Endpoint("r", "h", 1)
    assert len({Endpoint("r", "h", 1, cold_start=cold), Endpoint("r", "h", 1)}) == 1
