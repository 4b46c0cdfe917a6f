"""The replica manager against the in-tree fake backend, on a fake clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

import pytest

from minikn.config.loader import Settings
from minikn.core.clock import FakeClock
from minikn.core.endpoints import Endpoint
from minikn.core.events import EventSink
from minikn.core.listeners import RecordingListener
from minikn.core.revision import ContainerSpec, ModelRef, ResourceSpec, RevisionSpec
from minikn.replicas.gpus import GpuAllocator
from minikn.replicas.manager import ReplicaManager
from minikn.replicas.types import ImageNotFound, NoGPURuntime, ReplicaHandle
from minikn.telemetry.metrics import Metrics
from minikn.testing.fake_backend import FakeBackend


class Store:
    def __init__(self) -> None:
        self.fetched: list[str] = []

    async def fetch(self, uri: str) -> Path:
        self.fetched.append(uri)
        return Path("/cache") / uri.rsplit("/", 1)[-1]


async def until(cond: Callable[[], bool]) -> None:
    async with asyncio.timeout(5):
        while not cond():
            await asyncio.sleep(0.001)


async def advance_until(clock: FakeClock, cond: Callable[[], bool], step: float = 0.5) -> None:
    """Move the fake clock until ``cond`` holds: the manager's backoff sleep may register only
    after the test resumes, so one advance could pass before anyone sleeps on it."""
    async with asyncio.timeout(5):
        while not cond():
            await clock.advance(step)
            await asyncio.sleep(0.001)


def rev(gen: int = 1, *, gpus: int = 0, image: str = "img", isvc: str = "m") -> RevisionSpec:
    return RevisionSpec(
        name=f"{isvc}-predictor-{gen:05d}", isvc=isvc, component="predictor", generation=gen,
        container=ContainerSpec(image=image, resources=ResourceSpec(gpus=gpus)),
        model=ModelRef(name=isvc, format="sklearn", storage_uri=f"s3://bucket/{isvc}"),
    )  # fmt: skip


class Harness:
    def __init__(self, gpus: Sequence[str] = ()) -> None:
        self.backend = FakeBackend()
        self.clock = FakeClock()
        self.listener = RecordingListener()
        self.events = EventSink()
        self.metrics = Metrics()
        self.store = Store()
        self.manager = ReplicaManager(
            self.backend, settings=Settings(), clock=self.clock, store=self.store,
            gpus=GpuAllocator(gpus), listener=self.listener, events=self.events,
            metrics=self.metrics,
        )  # fmt: skip

    def endpoints(self, name: str) -> tuple[Endpoint, ...]:
        return self.listener.endpoints.get(name, ())


@pytest.fixture
async def h() -> AsyncIterator[Harness]:
    harness = Harness(gpus=["GPU-0"])
    yield harness
    await harness.manager.close()


async def test_model_is_fetched_and_replicas_become_endpoints(h: Harness) -> None:
    spec = rev()
    await h.manager.start([spec])
    h.manager.set_desired(spec.name, 2)
    await until(lambda: len(h.endpoints(spec.name)) == 2)
    assert h.store.fetched == ["s3://bucket/m", "s3://bucket/m"]
    assert [c[1] for c in h.backend.created] == [Path("/cache/m")] * 2
    assert h.listener.ready == [spec.name]
    assert h.manager.ready_count(spec.name) == 2


async def test_stopping_replica_leaves_the_endpoints_before_it_is_stopped(h: Harness) -> None:
    spec = rev()
    await h.manager.start([spec])
    h.manager.set_desired(spec.name, 1)
    await until(lambda: len(h.endpoints(spec.name)) == 1)
    seen_at_stop: list[tuple[Endpoint, ...]] = []

    def record(handle: ReplicaHandle) -> None:
        seen_at_stop.append(h.endpoints(spec.name))

    h.backend.on_stop = record
    h.manager.set_desired(spec.name, 0)
    await until(lambda: bool(h.backend.stopped))
    assert seen_at_stop == [()]


async def test_missing_image_fails_the_revision_until_it_appears(h: Harness) -> None:
    spec = rev()
    h.backend.refuse = lambda s: ImageNotFound("minikn/modelserver:latest")
    await h.manager.start([spec])
    h.manager.set_desired(spec.name, 1)
    await until(lambda: bool(h.listener.failed))
    name, reason, message = h.listener.failed[0]
    assert (name, reason) == (spec.name, "ImageNotFound")
    assert "minikn images build" in message
    status = h.manager.status(spec.name)
    assert (status.desired, status.ready, status.pending, status.reason) == (
        1,
        0,
        1,
        "ImageNotFound",
    )
    assert len(h.listener.failed) == 1  # the listener (the controller) records the one event
    assert h.events.recent("default", "m") == []
    h.backend.refuse = lambda s: None
    await advance_until(h.clock, lambda: len(h.endpoints(spec.name)) == 1)  # backoff: 1 s
    assert h.listener.recovered == [spec.name]
    assert h.manager.status(spec.name).reason is None


async def test_no_gpu_runtime_is_a_condition_not_a_crash(h: Harness) -> None:
    spec = rev(gpus=1)
    h.backend.refuse = lambda s: NoGPURuntime()
    await h.manager.start([spec])
    h.manager.set_desired(spec.name, 1)
    await until(lambda: bool(h.listener.failed))
    _, reason, message = h.listener.failed[0]
    assert (reason, message) == ("NoGPURuntime", str(NoGPURuntime()))
    assert message.startswith("no GPU runtime: the Docker engine has no NVIDIA runtime")
    await until(lambda: h.manager.status(spec.name).replicas == ())  # its GPU was released
    h.backend.refuse = lambda s: None
    await advance_until(h.clock, lambda: len(h.endpoints(spec.name)) == 1)
    assert h.backend.created[-1][2] == ("GPU-0",)


async def test_crashed_replica_is_replaced(h: Harness) -> None:
    spec = rev()
    await h.manager.start([spec])
    h.manager.set_desired(spec.name, 1)
    await until(lambda: len(h.endpoints(spec.name)) == 1)
    (old,) = h.endpoints(spec.name)
    await h.backend.crash(old.replica_id)
    await until(lambda: len(h.endpoints(spec.name)) == 1 and h.endpoints(spec.name) != (old,))
    assert "ReplicaCrashed" in [e.reason for e in h.events.recent("default", "m")]
    assert (
        h.metrics.registry.get_sample_value(
            "minikn_backend_errors_total", {"backend": "fake", "operation": "crash"}
        )
        == 1
    )


async def test_revision_no_longer_live_is_scaled_to_zero_and_forgotten(h: Harness) -> None:
    old, new = rev(1), rev(2)
    await h.manager.start([old])
    h.manager.set_desired(old.name, 1)
    await until(lambda: len(h.endpoints(old.name)) == 1)
    h.manager.sync([new])
    await until(lambda: h.endpoints(old.name) == () and len(h.backend.stopped) == 1)
    await h.clock.advance(1.0)
    await until(lambda: h.manager.status(old.name).desired == 0)
    h.manager.set_desired(old.name, 3)  # too late: not live any more
    assert h.manager.status(old.name).replicas == ()


async def test_start_adopts_matching_replicas_and_removes_the_rest() -> None:
    h = Harness()
    keep, changed, gone = rev(1), rev(2), rev(3)
    kept = await h.backend.create(keep, "keep-1", model_dir=None)
    await h.backend.create(changed, "changed-1", model_dir=None)
    await h.backend.create(gone, "gone-1", model_dir=None)
    changed_now = changed.model_copy(update={"container": ContainerSpec(image="img:v2")})
    try:
        await h.manager.start([keep, changed_now])
        await until(lambda: len(h.endpoints(keep.name)) == 1)
        assert h.endpoints(keep.name) == (Endpoint("keep-1", kept.host, kept.port),)
        assert sorted(h.backend.stopped) == ["changed-1", "gone-1"]
        assert len(h.backend.created) == 3  # nothing restarted
        assert h.manager.usage(keep.name).replicas == 0  # no sample yet
        await h.clock.advance(2.0)
        await until(lambda: h.manager.usage(keep.name).replicas == 1)
        assert h.manager.usage(keep.name).cpu_cores == 0.5
    finally:
        await h.manager.close()
    assert "keep-1" in h.backend.stopped


async def test_logs_of_every_replica_are_prefixed_with_its_id(h: Harness) -> None:
    spec = rev()
    await h.manager.start([spec])
    h.manager.set_desired(spec.name, 2)
    await until(lambda: len(h.endpoints(spec.name)) == 2)
    ports = {e.replica_id: e.port for e in h.endpoints(spec.name)}
    expected = sorted(f"[{r}] fake replica {r} on port {p}" for r, p in ports.items())
    for follow in (False, True):
        lines = [line async for line in h.manager.logs(spec.name, follow=follow)]
        assert sorted(lines) == expected


async def test_model_that_fails_to_load_fails_the_revision_with_the_servers_message(
    h: Harness,
) -> None:
    spec = rev()
    last_words = ["INFO listening on 0.0.0.0:8080", "ModelLoadFailed: model m: bad pickle"]
    h.backend.fail_start = lambda s: (1, last_words)
    await h.manager.start([spec])
    h.manager.set_desired(spec.name, 1)
    await until(lambda: bool(h.listener.failed))
    assert h.listener.failed == [(spec.name, "ModelLoadFailed", "model m: bad pickle")]
    status = h.manager.status(spec.name)
    assert (status.ready, status.reason, status.message) == (
        0,
        "ModelLoadFailed",
        "model m: bad pickle",
    )
    # It crash-loops with backoff (1 s, 2 s, ...): the reason stays, one CrashLoopBackOff event.
    await advance_until(h.clock, lambda: len(h.backend.created) == 4)
    await until(lambda: h.manager.status(spec.name).replicas == ())
    assert h.listener.failed == [(spec.name, "ModelLoadFailed", "model m: bad pickle")]
    assert h.manager.status(spec.name).reason == "ModelLoadFailed"
    events = h.events.recent("default", "m")
    assert [(e.type, e.reason) for e in events] == [("Warning", "CrashLoopBackOff")]
    assert "ModelLoadFailed" in events[0].message
    h.backend.fail_start = lambda s: None
    await advance_until(h.clock, lambda: len(h.endpoints(spec.name)) == 1)
    assert h.listener.recovered == [spec.name]


async def test_storage_initializer_marker_names_the_reason(h: Harness) -> None:
    spec = rev()
    h.backend.fail_start = lambda s: (1, ["StorageFailed: cannot fetch s3://bucket/m: 403"])
    await h.manager.start([spec])
    h.manager.set_desired(spec.name, 1)
    await until(lambda: bool(h.listener.failed))
    assert h.listener.failed == [(spec.name, "StorageFailed", "cannot fetch s3://bucket/m: 403")]


async def test_crash_before_ready_without_a_stated_reason_is_crash_loop_back_off(
    h: Harness,
) -> None:
    spec = rev()
    h.backend.fail_start = lambda s: (3, ["Traceback ...", "KeyError: 'x'"])
    await h.manager.start([spec])
    h.manager.set_desired(spec.name, 1)
    await until(lambda: bool(h.listener.failed))
    ((name, reason, message),) = h.listener.failed
    assert (name, reason) == (spec.name, "CrashLoopBackOff")
    assert "exited (code 3) before it was ready" in message
    assert message.endswith("Traceback ... | KeyError: 'x'")
    assert h.events.recent("default", "m") == []  # the controller records the failure's event
