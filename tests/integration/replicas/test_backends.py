"""The same behaviour on both backends: start, ready, answer, stop; crashes; logs; usage."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from typing import Any

import pytest

from minikn.core.clock import SystemClock
from minikn.core.revision import ProbeSpec
from minikn.replicas.backend import ReplicaBackend
from minikn.replicas.probe import default_probe, probe_once, wait_ready
from minikn.replicas.types import ReplicaExit, ReplicaHandle

from .conftest import http_spec

pytestmark = pytest.mark.docker


async def _ready(backend: ReplicaBackend, handle: ReplicaHandle, probe: ProbeSpec) -> None:
    clock = SystemClock()
    await wait_ready(
        handle, probe, clock=clock, exited=asyncio.Event(), deadline=clock.monotonic() + 20,
        exec_=lambda h, cmd, t: backend.exec(h, cmd, limit_s=t),
    )  # fmt: skip


async def _get(host: str, port: int, path: str = "/") -> bytes:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    data = await reader.read()
    writer.close()
    return data


async def test_replica_starts_answers_and_stops(
    backend: ReplicaBackend, kind: str, isvc_name: str
) -> None:
    spec = http_spec(kind, isvc_name)
    handle = await backend.create(spec, f"{spec.name}-a", model_dir=None)
    await _ready(backend, handle, default_probe(spec))
    assert (await _get(handle.host, handle.port)).startswith(b"HTTP/1.0 200")
    assert [h.replica_id for h in await backend.list_replicas()] == [handle.replica_id]
    await backend.stop(handle, grace=2)
    assert await backend.list_replicas() == []
    assert not await probe_once(handle, default_probe(spec), backend.exec)  # type: ignore[arg-type]


async def test_http_and_exec_readiness_probes(
    backend: ReplicaBackend, kind: str, isvc_name: str
) -> None:
    spec = http_spec(kind, isvc_name)
    handle = await backend.create(spec, f"{spec.name}-a", model_dir=None)
    await _ready(backend, handle, ProbeSpec(kind="http", path="/", timeout_seconds=0.5))
    assert await backend.exec(handle, ["sh", "-c", "exit 0"], limit_s=10) == 0
    assert await backend.exec(handle, ["sh", "-c", "exit 3"], limit_s=10) == 3


async def test_crash_is_reported_within_a_second(
    backend: ReplicaBackend, kind: str, isvc_name: str, docker_client: Any
) -> None:
    spec = http_spec(kind, isvc_name)
    handle = await backend.create(spec, f"{spec.name}-a", model_dir=None)
    await _ready(backend, handle, default_probe(spec))
    exits = backend.exits()
    if kind == "docker":
        await asyncio.to_thread(docker_client.containers.get(handle.ref).kill)
    else:
        os.kill(int(handle.ref), signal.SIGKILL)
    async with asyncio.timeout(1.0):
        ex = await anext(exits)
    assert ex == ReplicaExit(handle.replica_id, spec.name, ex.exit_code, ex.reason)
    assert ex.exit_code == 137 or (ex.exit_code is not None and ex.exit_code < 0)


async def test_logs_and_usage_are_read(backend: ReplicaBackend, kind: str, isvc_name: str) -> None:
    spec = http_spec(
        kind,
        isvc_name,
        script="echo hello-$GREETING-$K_REVISION; exec {py} -m http.server --bind {bind} $PORT",
    )
    handle = await backend.create(spec, f"{spec.name}-a", model_dir=None)
    await _ready(backend, handle, default_probe(spec))
    lines = [line async for line in backend.logs(handle, follow=False)]
    assert f"hello-hi-{spec.name}" in lines
    usage = await backend.usage(handle)
    assert usage.memory_bytes > 1_000_000
    assert usage.replicas == 1


async def test_logs_follow_new_lines_until_the_replica_stops(
    backend: ReplicaBackend, kind: str, isvc_name: str
) -> None:
    script = "echo first; sleep 0.3; echo second; exec {py} -m http.server --bind {bind} $PORT"
    spec = http_spec(kind, isvc_name, script=script)
    handle = await backend.create(spec, f"{spec.name}-a", model_dir=None)
    seen: list[str] = []
    async with asyncio.timeout(15), contextlib.aclosing(backend.logs(handle, follow=True)) as lines:
        async for line in lines:
            seen.append(line)
            if line == "second":
                break
    assert seen[:2] == ["first", "second"]


async def test_process_replicas_do_not_inherit_platform_secrets(
    isvc_name: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from minikn.replicas.process_backend import ProcessBackend

    monkeypatch.setenv("MINIKN_API_TOKEN", "s3cret")
    monkeypatch.setenv("SOME_PASSWORD", "s3cret")
    backend = ProcessBackend(tmp_path)
    await backend.start()
    script = "env; exec {py} -m http.server --bind {bind} $PORT"
    spec = http_spec("process", isvc_name, script=script)
    handle = await backend.create(spec, f"{spec.name}-a", model_dir=None)
    try:
        await _ready(backend, handle, default_probe(spec))
        lines = [line async for line in backend.logs(handle, follow=False)]
        assert f"PORT={handle.port}" in lines
        assert "CUDA_VISIBLE_DEVICES=" in lines
        assert "HOST=127.0.0.1" in lines  # where a host process should listen
        assert not any("s3cret" in line for line in lines)
    finally:
        await backend.stop(handle, grace=1)
        await backend.close()


async def test_process_backend_leaves_another_platforms_pid_files_alone(
    isvc_name: str, tmp_path: Any
) -> None:
    """A state dir copied (or shared) by another platform: its replicas are not adopted, and
    their pid files are not removed as stale."""
    from minikn.replicas.process_backend import ProcessBackend

    ours = ProcessBackend(tmp_path, platform="ours")
    theirs = ProcessBackend(tmp_path, platform="theirs")
    await ours.start()
    await theirs.start()
    spec = http_spec("process", isvc_name)
    handle = await ours.create(spec, f"{spec.name}-a", model_dir=None)
    try:
        assert handle.labels["minikn.io/platform"] == "ours"
        assert await theirs.list_replicas() == []
        assert [h.replica_id for h in await ours.list_replicas()] == [handle.replica_id]
    finally:
        await ours.stop(handle, grace=1)
        await ours.close()
        await theirs.close()
