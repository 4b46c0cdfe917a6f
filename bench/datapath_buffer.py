"""Buffering benchmark: N requests (default 10,000) buffered during one cold start, then served.

    python bench/datapath_buffer.py [--requests 10000] [--memory-requests 1000]

The load generator is a child process (one connection per request). Reports how long buffering N
took, the time from the replica becoming ready to the last answer, whether every request was
answered exactly once (counted at the replica), and the memory the data path holds per buffered
request: the process's RSS growth while buffering, and (second, smaller run, since tracemalloc
slows everything down) the Python allocations made by minikn's code.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time
import tracemalloc
from asyncio.subprocess import PIPE

import psutil
from aiohttp import web

from minikn.config.loader import settings_from_mapping
from minikn.core.endpoints import Endpoint
from minikn.core.revision import RevisionSpec
from minikn.testing.datapath import StartedReplica, running_datapath
from minikn.testing.fake_replicas import isvc_route, revision, table, to

_REQUEST = b"POST /v1/models/buf:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"


async def load_generator(port: int, n: int) -> None:
    """Child process: open ``n`` connections, send one request on each, print the 200 count."""
    sem = asyncio.Semaphore(200)  # connect rate limit

    async def client(i: int) -> bytes:
        async with sem:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(_REQUEST.replace(b"\r\n\r\n", b"\r\nX-Request-Id: %d\r\n\r\n" % i, 1))
        head = await reader.readuntil(b"\r\n\r\n")
        writer.close()
        return head[:12]

    heads = await asyncio.gather(*(client(i) for i in range(n)))
    print(sum(1 for h in heads if h == b"HTTP/1.1 200"), flush=True)


async def main_async(n: int, *, trace: bool) -> None:
    gate = asyncio.Event()
    ids: list[str] = []

    async def factory(spec: RevisionSpec, replica_id: str) -> StartedReplica:
        del spec
        await gate.wait()

        async def hello(request: web.Request) -> web.Response:
            ids.append(request.headers["x-request-id"])
            await request.read()
            return web.json_response({})

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", hello)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
        await site.start()
        port = int(runner.addresses[0][1])
        return StartedReplica(Endpoint(replica_id, "127.0.0.1", port), runner.cleanup)

    # containerConcurrency 100 keeps the replica's side to 100 connections while draining.
    spec = revision("buf", container_concurrency=100)
    routes = table(isvc_route("buf", predictor=[to(spec)]))
    settings = settings_from_mapping({"minikn": {"activator": {"maxBufferedRequests": n}}})
    async with running_datapath(routes, [spec], factory, settings=settings) as dp:
        if trace:
            tracemalloc.start(1)
        before = _server_bytes() if trace else 0
        rss_before = psutil.Process().memory_info().rss
        started = time.perf_counter()
        child = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--load", str(dp.port), str(n), stdout=PIPE
        )
        while dp.activator.buffered(spec.name) < n:
            assert child.returncode is None, "the load generator died"
            await asyncio.sleep(0.05)
        buffered_in = time.perf_counter() - started
        held = _server_bytes() - before if trace else 0
        rss = psutil.Process().memory_info().rss - rss_before
        tracemalloc.stop()
        ready = time.perf_counter()
        gate.set()
        out, _ = await child.communicate()
        drained = time.perf_counter() - ready
        ok = int(out.strip() or 0)
        exactly_once = sorted(ids) == sorted(str(i) for i in range(n))
    memory = f"{held / n / 1024:.2f}" if trace else "-"
    print(
        f"{n:>8} {buffered_in:>13.2f} {drained:>12.2f} {ok:>6} {exactly_once!s:>12} "
        f"{memory:>13} {rss / n / 1024:>8.2f}"
    )


def _server_bytes() -> int:
    """Bytes allocated directly by minikn's code (the allocating frame is in minikn): tasks,
    futures, parsed heads and body buffers of the data path; the load generator's own
    allocations are made from this file or asyncio's streams and do not count."""
    snap = tracemalloc.take_snapshot().filter_traces(
        [
            tracemalloc.Filter(True, "*/minikn/*"),
            tracemalloc.Filter(False, "*/minikn/testing/fake_replicas.py"),
            tracemalloc.Filter(False, "*/minikn/testing/datapath.py"),
        ]
    )
    return sum(s.size for s in snap.statistics("filename"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--memory-requests", type=int, default=1000)
    parser.add_argument("--load", type=int, nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - optional speedup
        pass
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if args.load is not None:
        asyncio.run(load_generator(*args.load))
        return
    if hard < args.requests + 500:
        raise SystemExit(f"need {args.requests + 500} file descriptors, the limit is {hard}")
    print(
        f"{'requests':>8} {'buffered in s':>13} {'drained in s':>12} {'200s':>6} "
        f"{'exactly once':>12} {'KiB/req (tm)':>13} {'KiB/req (RSS)':>8}"
    )
    asyncio.run(main_async(args.requests, trace=False))
    asyncio.run(main_async(args.memory_requests, trace=True))


if __name__ == "__main__":
    main()
