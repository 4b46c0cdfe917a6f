"""A real ``minikn serve``: its ingress survives a header flood and a thousand slow connections,
answers them, closes them on time and gives the flood's memory back."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

CONFIG = """\
minikn:
  router:
    requestHeadTimeout: 2s
    lingeringTime: 200ms
    timeoutResolution: 50ms
"""


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[tuple[int, int]]:
    """(pid, ingress port) of a ``minikn serve`` on the process backend, no ISVC applied."""
    config = tmp_path / "minikn.yaml"
    config.write_text(CONFIG)
    env = {**os.environ, "MINIKN_API_TOKEN": ""}
    proc = subprocess.Popen(
        [sys.executable, "-m", "minikn.cli.main", "serve", "--state-dir", str(tmp_path / "s"),
         "--backend", "process", "--api-port", "0", "--port", "0", "--host", "127.0.0.1",
         "--config", str(config), "--log-level", "WARNING"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    assert proc.stdout is not None
    port = 0
    deadline = time.monotonic() + 60
    while not port and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        m = re.search(r"ingress on http://\S+:(\d+)", line)
        port = int(m.group(1)) if m else 0
    if not port:
        proc.kill()
        pytest.fail(f"minikn serve did not start: {proc.stdout.read()}")
    try:
        yield proc.pid, port
    finally:
        proc.kill()
        proc.wait(10)
        proc.stdout.close()


async def _status(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1])


async def _until_closed(reader: asyncio.StreamReader) -> None:
    with contextlib.suppress(ConnectionError):
        while await reader.read(1 << 16):
            pass


async def _flood(port: int, connections: int, per_connection: int) -> list[int]:
    """Send ``per_connection`` header bytes on each of ``connections``; the answers' statuses."""

    async def one() -> int:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)

        async def send() -> None:
            writer.write(b"GET / HTTP/1.1\r\nX-Flood: ")
            with contextlib.suppress(ConnectionError):
                for _ in range(per_connection // 65536):
                    writer.write(b"a" * 65536)
                    await writer.drain()

        sending = asyncio.create_task(send())
        status = await _status(reader)
        await _until_closed(reader)
        await sending
        writer.close()
        return status

    return list(await asyncio.gather(*(one() for _ in range(connections))))


async def _normal_request(port: int) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /v1/models/none HTTP/1.1\r\nHost: none.example\r\nConnection: close\r\n\r\n")
    status = await _status(reader)
    writer.close()
    return status


def test_header_flood_is_refused_and_its_memory_returned(serve: tuple[int, int]) -> None:
    pid, port = serve
    process = psutil.Process(pid)
    asyncio.run(_flood(port, 8, 1 << 20))  # warm up the allocator and the loop
    before = process.memory_info().rss
    statuses = asyncio.run(_flood(port, 64, 1 << 20))  # 64 MiB of header bytes
    after = process.memory_info().rss
    assert statuses == [431] * 64
    assert after - before < 32 * 1024 * 1024, f"RSS grew {(after - before) >> 20} MiB"
    assert asyncio.run(_normal_request(port)) == 404


async def _gib_stream(port: int) -> tuple[int, int, bool]:
    """Stream up to 1 GiB of header bytes on one connection until the server closes it: the
    answer's status, the bytes sent, and whether the server's close cut the stream off."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sent, cut_off = 0, False

    async def send() -> None:
        nonlocal sent, cut_off
        writer.write(b"GET / HTTP/1.1\r\nX-Flood: ")
        chunk = b"a" * 65536
        try:
            for _ in range((1 << 30) // len(chunk)):
                writer.write(chunk)
                await writer.drain()
                sent += len(chunk)
        except ConnectionError:
            cut_off = True

    sending = asyncio.create_task(send())
    status = await _status(reader)
    await _until_closed(reader)
    await sending
    writer.close()
    return status, sent, cut_off


def test_gib_header_stream_on_one_connection_is_cut_off_with_431(serve: tuple[int, int]) -> None:
    """The server stops parsing after ~60 KiB, answers 431, discards what still arrives while it
    lingers (200 ms here) and then closes: the client never gets the GiB out, and the server keeps
    none of it. (How much gets out depends on the link's speed over ``lingeringTime``: on loopback
    about 200 MiB here; with the default 5 s a loopback client can get the whole GiB out, all of
    it discarded, as with nginx's lingering close.)"""
    pid, port = serve
    process = psutil.Process(pid)
    asyncio.run(_flood(port, 8, 1 << 20))  # warm up the allocator and the loop
    before = process.memory_info().rss
    status, sent, cut_off = asyncio.run(_gib_stream(port))
    after = process.memory_info().rss
    assert status == 431
    assert cut_off, f"the server took all {sent >> 20} MiB"
    assert sent < 1 << 30
    assert after - before < 32 * 1024 * 1024, f"RSS grew {(after - before) >> 20} MiB"
    assert asyncio.run(_normal_request(port)) == 404


def test_thousand_slow_connections_are_closed_while_the_ingress_answers(
    serve: tuple[int, int],
) -> None:
    _, port = serve

    async def scenario() -> tuple[int, list[int]]:
        slow = [await asyncio.open_connection("127.0.0.1", port) for _ in range(1000)]
        for _, writer in slow:
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        normal = await _normal_request(port)
        statuses = await asyncio.gather(*(_status(reader) for reader, _ in slow))
        await asyncio.gather(*(_until_closed(reader) for reader, _ in slow))
        for _, writer in slow:
            writer.close()
        return normal, list(statuses)

    normal, statuses = asyncio.run(scenario())
    assert normal == 404
    assert statuses == [408] * 1000
