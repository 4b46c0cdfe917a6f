"""The replica manager on both backends: scaling, crash replacement, crash loops, adoption."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from minikn.core.listeners import RecordingListener
from minikn.replicas.backend import ReplicaBackend
from minikn.replicas.gpus import GpuAllocator
from minikn.replicas.process_backend import ProcessBackend

from .conftest import TEST_NETWORK, docker_backend_in, http_spec, settings
from .helpers import DirStore, make_manager, until

pytestmark = pytest.mark.docker


def _kill(kind: str, ref: str, docker_client: Any) -> None:
    if kind == "docker":
        docker_client.containers.get(ref).kill()
    else:
        os.kill(int(ref), signal.SIGKILL)


async def test_scales_up_publishes_endpoints_and_scales_to_zero(
    backend: ReplicaBackend, kind: str, isvc_name: str, tmp_path: Path
) -> None:
    listener = RecordingListener()
    manager, events, metrics = make_manager(backend, settings(), listener, DirStore(tmp_path))
    spec = http_spec(kind, isvc_name)
    await manager.start([spec])
    try:
        manager.set_desired(spec.name, 2)
        await until(lambda: len(listener.endpoints.get(spec.name, ())) == 2)
        assert listener.ready == [spec.name]
        status = manager.status(spec.name)
        assert (status.desired, status.ready, status.pending, status.reason) == (2, 2, 0, None)
        assert manager.ready_count(spec.name) == 2
        assert [e.reason for e in events.recent("default", isvc_name)] == ["ReplicaReady"] * 2
        observed = metrics.registry.get_sample_value(
            "minikn_replica_start_to_ready_seconds_count",
            {"namespace": "default", "isvc": isvc_name, "revision": spec.name, "backend": kind},
        )
        assert observed == 2
        manager.set_desired(spec.name, 0)
        await until(lambda: listener.endpoints[spec.name] == ())
        await until(lambda: manager.status(spec.name).replicas == ())
        assert await backend.list_replicas() == []
    finally:
        await manager.close()


async def test_crashed_ready_replica_is_removed_and_replaced(
    backend: ReplicaBackend, kind: str, isvc_name: str, tmp_path: Path, docker_client: Any
) -> None:
    listener = RecordingListener()
    manager, events, _ = make_manager(backend, settings(), listener, DirStore(tmp_path))
    spec = http_spec(kind, isvc_name)
    await manager.start([spec])
    try:
        manager.set_desired(spec.name, 1)
        await until(lambda: len(listener.endpoints.get(spec.name, ())) == 1)
        (first,) = manager.status(spec.name).replicas
        ref = next(h.ref for h in await backend.list_replicas())
        _kill(kind, ref, docker_client)
        await until(lambda: listener.endpoints[spec.name] == (), timeout=1.0)
        await until(lambda: len(listener.endpoints[spec.name]) == 1)
        (second,) = listener.endpoints[spec.name]
        assert second.replica_id != first.replica_id
        assert "ReplicaCrashed" in [e.reason for e in events.recent("default", isvc_name)]
    finally:
        await manager.close()


async def test_replica_stating_model_load_failed_fails_the_revision_with_its_message(
    backend: ReplicaBackend, kind: str, isvc_name: str, tmp_path: Path
) -> None:
    listener = RecordingListener()
    manager, _, _ = make_manager(backend, settings(), listener, DirStore(tmp_path))
    script = "echo loading; echo 'ModelLoadFailed: model m: bad pickle' >&2; exit 1"
    spec = http_spec(kind, isvc_name, script=script)
    await manager.start([spec])
    try:
        manager.set_desired(spec.name, 1)
        await until(lambda: bool(listener.failed))
        assert listener.failed[0] == (spec.name, "ModelLoadFailed", "model m: bad pickle")
        assert manager.status(spec.name).reason == "ModelLoadFailed"
    finally:
        await manager.close()


async def test_replica_exiting_before_ready_is_a_crash_loop(
    backend: ReplicaBackend, kind: str, isvc_name: str, tmp_path: Path
) -> None:
    listener = RecordingListener()
    manager, _, _ = make_manager(backend, settings(), listener, DirStore(tmp_path))
    spec = http_spec(kind, isvc_name, script="echo model failed to load; exit 3")
    await manager.start([spec])
    try:
        manager.set_desired(spec.name, 1)
        await until(lambda: bool(listener.failed))
        ((revision, reason, message),) = listener.failed[:1]
        assert (revision, reason) == (spec.name, "CrashLoopBackOff")
        assert "code 3" in message
        assert "model failed to load" in message
        status = manager.status(spec.name)
        assert (status.reason, status.ready, status.pending) == ("CrashLoopBackOff", 0, 1)
    finally:
        await manager.close()


async def test_second_manager_adopts_live_replicas_without_restart_and_removes_the_rest(
    kind: str, isvc_name: str, tmp_path: Path, docker_client: Any
) -> None:
    def new_backend() -> ReplicaBackend:
        if kind == "docker":
            return docker_backend_in(tmp_path, docker_client)
        return ProcessBackend(tmp_path)

    keep, drop = http_spec(kind, isvc_name, generation=2), http_spec(kind, isvc_name, generation=1)
    first = RecordingListener()
    m1, _, _ = make_manager(new_backend(), settings(), first, DirStore(tmp_path))
    await m1.start([keep, drop])
    m1.set_desired(keep.name, 1)
    m1.set_desired(drop.name, 1)
    await until(lambda: all(len(first.endpoints.get(s.name, ())) == 1 for s in (keep, drop)))
    await m1.close(stop_replicas=False)  # the platform goes away; its replicas stay

    b2 = new_backend()
    before = {h.replica_id: h.ref for h in await b2.list_replicas()}
    assert len(before) == 2
    second = RecordingListener()
    m2, _, _ = make_manager(b2, settings(), second, DirStore(tmp_path))
    await m2.start([keep])
    try:
        await until(lambda: len(second.endpoints.get(keep.name, ())) == 1)
        (endpoint,) = second.endpoints[keep.name]
        assert endpoint == first.endpoints[keep.name][0]  # same replica, same address
        after = {h.replica_id: h.ref for h in await b2.list_replicas()}
        assert after == {endpoint.replica_id: before[endpoint.replica_id]}
    finally:
        await m2.close()
    assert await b2.list_replicas() == []


async def test_gpu_replica_waits_for_a_free_gpu_and_starts_when_one_frees(
    isvc_name: str, tmp_path: Path
) -> None:
    backend = ProcessBackend(tmp_path)
    listener = RecordingListener()
    gpus = GpuAllocator(["GPU-0"])
    manager, _, _ = make_manager(backend, settings(), listener, DirStore(tmp_path), gpus)
    script = "echo cuda=$CUDA_VISIBLE_DEVICES; exec {py} -m http.server --bind {bind} $PORT"
    a = http_spec("process", isvc_name, generation=1, gpus=1, script=script)
    b = http_spec("process", isvc_name, generation=2, gpus=1, script=script)
    await manager.start([a, b])
    try:
        manager.set_desired(a.name, 1)
        await until(lambda: len(listener.endpoints.get(a.name, ())) == 1)
        manager.set_desired(b.name, 1)
        await until(lambda: manager.status(b.name).reason == "InsufficientGPU")
        assert listener.failed[0][:2] == (b.name, "InsufficientGPU")
        assert (manager.status(b.name).pending, manager.status(b.name).ready) == (1, 0)
        assert len(listener.failed) == 1  # reported once; the listener records its event
        manager.set_desired(a.name, 0)
        await until(lambda: len(listener.endpoints.get(b.name, ())) == 1)
        assert listener.recovered == [b.name]
        assert manager.status(b.name).replicas[0].gpus == ("GPU-0",)
        lines = [line async for line in manager.logs(b.name, follow=False)]
        assert any(line.endswith("cuda=GPU-0") for line in lines)
    finally:
        await manager.close()


async def test_restart_after_kill_9_adopts_live_replicas_and_leaves_no_orphan(
    kind: str, isvc_name: str, tmp_path: Path, docker_client: Any
) -> None:
    keep, drop = http_spec(kind, isvc_name, generation=2), http_spec(kind, isvc_name, generation=1)
    script = Path(__file__).with_name("manager_process.py")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(script), kind, str(tmp_path), TEST_NETWORK,
        keep.model_dump_json(), drop.model_dump_json(), stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    ready: set[str] = set()
    async with asyncio.timeout(30):
        while len(ready) < 2:
            line = (await proc.stdout.readline()).decode()
            assert line, "the platform process ended early"
            if line.startswith("ready "):
                ready.add(line.split()[1])
    proc.kill()  # kill -9: no shutdown hook runs
    await proc.wait()

    backend = (
        docker_backend_in(tmp_path, docker_client) if kind == "docker" else ProcessBackend(tmp_path)
    )
    before = {h.replica_id: h.ref for h in await backend.list_replicas()}
    assert set(before) == ready
    listener = RecordingListener()
    manager, _, _ = make_manager(backend, settings(), listener, DirStore(tmp_path))
    await manager.start([keep])
    try:
        await until(lambda: len(listener.endpoints.get(keep.name, ())) == 1)
        (endpoint,) = listener.endpoints[keep.name]
        assert endpoint.replica_id.startswith(keep.name)
        after = {h.replica_id: h.ref for h in await backend.list_replicas()}
        assert after == {endpoint.replica_id: before[endpoint.replica_id]}  # not restarted
    finally:
        await manager.close()
