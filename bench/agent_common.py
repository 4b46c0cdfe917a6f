"""Shared pieces of the agent benchmarks: a model-server-like replica and a CloudEvents sink, each
in its own process on loopback (so their CPU is not charged to the process under test)."""

from __future__ import annotations

import asyncio
import multiprocessing
import re
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import cast

from aiohttp import web


def use_uvloop() -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # optional speedup
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _replica_app(cost_ms: float, per_instance_ms: float, serial: bool) -> web.Application:
    """Answers ``:predict`` with each instance echoed back, after a fixed per-request cost plus a
    per-instance cost; ``serial`` runs one inference at a time, as a single-worker model server."""
    lock = asyncio.Lock()

    async def infer(n: int) -> None:
        await asyncio.sleep((cost_ms + per_instance_ms * n) / 1000.0)

    async def predict(request: web.Request) -> web.Response:
        instances = (await request.json())["instances"]
        if serial:
            async with lock:
                await infer(len(instances))
        else:
            await infer(len(instances))
        return web.json_response({"predictions": instances})

    app = web.Application()
    app.router.add_post("/v1/models/m:predict", predict)
    return app


def _serve_replica(port: int, cost_ms: float, per_instance_ms: float, serial: bool) -> None:
    use_uvloop()
    web.run_app(
        _replica_app(cost_ms, per_instance_ms, serial),
        host="127.0.0.1",
        port=port,
        print=None,
        access_log=None,
    )


class _Sink(asyncio.Protocol):
    """A minimal keep-alive HTTP/1.1 sink: reads each request, answers 202, keeps nothing.

    A real sink runs elsewhere; on a small bench machine an aiohttp sink would take CPU from the
    process under test and the replica, which is not what the logger costs the data path.
    """

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            m = re.search(rb"content-length:\s*(\d+)", self.buf[:end].lower())
            length = int(m.group(1)) if m else 0
            if len(self.buf) < end + 4 + length:
                return
            self.buf = self.buf[end + 4 + length :]
            self.transport.write(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n")


def _serve_sink(port: int) -> None:
    use_uvloop()

    async def run() -> None:
        server = await asyncio.get_running_loop().create_server(_Sink, "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    asyncio.run(run())


def _wait_port(port: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server on port {port} did not start")


@contextmanager
def background(target: object, *args: object) -> Iterator[str]:
    """Run ``target(port, *args)`` in a child process; yield its base URL; stop it after."""
    port = free_port()
    proc = multiprocessing.Process(target=target, args=(port, *args), daemon=True)  # type: ignore[arg-type]
    proc.start()
    try:
        _wait_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.join(5)


@contextmanager
def replica(cost_ms: float, per_instance_ms: float, *, serial: bool) -> Iterator[str]:
    with background(_serve_replica, cost_ms, per_instance_ms, serial) as url:
        yield url


@contextmanager
def sink() -> Iterator[str]:
    with background(_serve_sink) as url:
        yield url + "/"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
