"""Shared pieces of the agent benchmarks: a model-server-like replica and a CloudEvents sink, each
in its own process on loopback (so their CPU is not charged to the process under test)."""

from __future__ import annotations

import asyncio
import multiprocessing
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager

from aiohttp import web
from loopback import serve_fixed_answer, use_uvloop


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


def _serve_sink(port: int) -> None:
    """A minimal sink answering 202 and keeping nothing: a real sink runs elsewhere, and an aiohttp
    one would take CPU from the process under test, which is not what the logger costs."""
    serve_fixed_answer(port, b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n")


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
