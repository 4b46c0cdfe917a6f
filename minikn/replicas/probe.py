"""Readiness probing, fast as Knative's queue-proxy does it (every 25 ms until the first success).

The probe is the RevisionSpec's readinessProbe when given (http/tcp/exec), else the protocol's
own: V1 ``GET /v1/models/<name>``, V2 ``GET /v2/health/ready``, else a TCP connect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

from minikn.core.clock import Clock
from minikn.core.revision import ProbeSpec, RevisionSpec
from minikn.replicas.types import ReplicaHandle

__all__ = ["ReplicaExited", "default_probe", "probe_once", "wait_ready"]

log = logging.getLogger("minikn.replicas.probe")

AGGRESSIVE_PERIOD = 0.025
"""Knative's queue-proxy probes every 25 ms when periodSeconds is 0 (aggressive probing)."""

Exec = Callable[[ReplicaHandle, Sequence[str], float], Awaitable[int]]


class ReplicaExited(Exception):
    """The replica exited while it was being probed."""


def default_probe(spec: RevisionSpec) -> ProbeSpec:
    """The probe a revision gets when it declares none."""
    if spec.container.readiness_probe is not None:
        return spec.container.readiness_probe
    protocol = spec.model.protocol if spec.model is not None else spec.protocol
    if spec.model is not None and protocol == "v1":
        return ProbeSpec(kind="http", path=f"/v1/models/{spec.model.name}", timeout_seconds=0.5)
    if spec.model is not None and protocol in ("v2", "grpc-v2") and spec.builtin_server:
        return ProbeSpec(kind="http", path="/v2/health/ready", timeout_seconds=0.5)
    if spec.model is not None and protocol == "v2":
        return ProbeSpec(kind="http", path="/v2/health/ready", timeout_seconds=0.5)
    return ProbeSpec(kind="tcp", timeout_seconds=0.5)


async def _http_get(host: str, port: int, path: str) -> int:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: minikn-probe\r\n"
            "K-Network-Probe: queue\r\nConnection: close\r\n\r\n"
        )
        writer.write(request.encode())
        await writer.drain()
        status_line = await reader.readline()
        parts = status_line.split()
        return int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else 0
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


PROXY_SETTLE = 0.05
"""How long a connection through a port proxy must stay open to count as the replica's: the
proxy closes it at once when nothing listens behind it (Docker's published ports)."""


async def _tcp_open(host: str, port: int, *, proxied: bool) -> bool:
    """A TCP connect succeeds; through a proxy, the connection also survives ``PROXY_SETTLE``
    (a listening server neither closes nor resets it before a request)."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        if proxied:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(PROXY_SETTLE):
                    if await reader.read(1) == b"":
                        return False  # closed by the proxy: nothing listens yet
        return True
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def probe_once(handle: ReplicaHandle, probe: ProbeSpec, exec_: Exec) -> bool:
    """One probe attempt: True when the replica answers as ready."""
    timeout = probe.timeout_seconds or 1.0
    port = handle.port
    try:
        async with asyncio.timeout(timeout):
            if probe.kind == "http":
                status = await _http_get(handle.host, port, probe.path or "/")
                return 200 <= status < 400
            if probe.kind == "tcp":
                return await _tcp_open(handle.host, port, proxied=handle.proxied)
            return await exec_(handle, probe.command, timeout) == 0
    except (OSError, TimeoutError, ValueError):
        return False


async def wait_ready(
    handle: ReplicaHandle,
    probe: ProbeSpec,
    *,
    clock: Clock,
    exec_: Exec,
    exited: asyncio.Event,
    deadline: float,
) -> None:
    """Probe until the replica answers; raise ReplicaExited or TimeoutError otherwise."""
    if probe.initial_delay_seconds > 0:
        await clock.sleep(probe.initial_delay_seconds)
    period = probe.period_seconds if probe.period_seconds > 0 else AGGRESSIVE_PERIOD
    while True:
        if exited.is_set():
            raise ReplicaExited(handle.replica_id)
        if await probe_once(handle, probe, exec_):
            return
        if clock.monotonic() >= deadline:
            raise TimeoutError(f"replica {handle.replica_id} not ready before the deadline")
        await clock.sleep(period)
