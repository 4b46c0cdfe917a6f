"""A TCP readiness probe through Docker's published port (its proxy accepts before the replica
listens) is not ready until a server listens behind it; a plain TCP probe is a connect."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from minikn.core.revision import ProbeSpec
from minikn.replicas.probe import probe_once
from minikn.replicas.types import ReplicaHandle

TCP = ProbeSpec(kind="tcp", timeout_seconds=0.5)


async def _no_exec(handle: ReplicaHandle, cmd: Any, limit: float) -> int:
    raise AssertionError("a TCP probe runs nothing")


def _handle(port: int, *, proxied: bool) -> ReplicaHandle:
    return ReplicaHandle(
        replica_id="r", revision="rev", backend="docker", ref="c", host="127.0.0.1", port=port,
        proxied=proxied,
    )  # fmt: skip


@pytest.fixture
async def closes_at_once() -> AsyncIterator[int]:
    """A listener that closes every connection at once, as a proxy with nothing behind it."""

    async def close(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(close, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]


@pytest.fixture
async def holds_open() -> AsyncIterator[int]:
    """A listener that keeps connections open waiting for a request, as a real server does."""

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]


async def test_a_connection_the_proxy_closes_at_once_is_not_ready(closes_at_once: int) -> None:
    assert not await probe_once(_handle(closes_at_once, proxied=True), TCP, _no_exec)
    # Not through a proxy, the probe is Knative's: the connect alone.
    assert await probe_once(_handle(closes_at_once, proxied=False), TCP, _no_exec)


async def test_a_connection_the_server_holds_through_the_proxy_is_ready(holds_open: int) -> None:
    assert await probe_once(_handle(holds_open, proxied=True), TCP, _no_exec)


@pytest.fixture
def sleeper(docker_client: Any) -> Iterator[Any]:
    import os

    base = os.environ.get("MINIKN_BASE_IMAGE", "python:3.11-slim")  # as tests/conftest.py
    container = docker_client.containers.run(
        base, ["sleep", "600"], detach=True, name=f"minikn-test-probe-{secrets.token_hex(3)}",
        ports={"8080/tcp": ("127.0.0.1", None)},
    )  # fmt: skip
    try:
        yield container
    finally:
        container.remove(force=True)


@pytest.mark.docker
async def test_a_docker_published_port_is_ready_only_once_the_container_listens(
    sleeper: Any,
) -> None:
    sleeper.reload()
    port = int(sleeper.attrs["NetworkSettings"]["Ports"]["8080/tcp"][0]["HostPort"])
    handle = _handle(port, proxied=True)
    assert not await probe_once(handle, TCP, _no_exec)  # Docker's proxy accepted; nothing listens
    sleeper.exec_run(["python3", "-m", "http.server", "8080"], detach=True)
    async with asyncio.timeout(60):
        while not await probe_once(handle, TCP, _no_exec):
            await asyncio.sleep(0.05)
