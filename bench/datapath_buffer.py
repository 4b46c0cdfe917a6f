"""Buffering benchmark: N requests (default 10,000) buffered during one cold start, then served.

    python bench/datapath_buffer.py [--requests 10000] [--memory-requests 1000]

Reports how long buffering N took, the time from the replica becoming ready to the last answer,
and whether every request was answered exactly once (counted at the replica). A second, smaller
run measures the memory the data path holds per buffered request with tracemalloc (allocations
with a minikn or asyncio frame, i.e. the server side, not the load generator in the same process;
tracemalloc slows everything down, so it is off in the timed run).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import time
import tracemalloc

from aiohttp import web

from minikn.config.loader import settings_from_mapping
from minikn.core.endpoints import Endpoint
from minikn.core.revision import RevisionSpec
from minikn.router.fake_replicas import isvc_route, revision, table, to
from minikn.router.testing import StartedReplica, running_datapath

_REQUEST = b"POST /v1/models/buf:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"


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

    spec = revision("buf")
    routes = table(isvc_route("buf", predictor=[to(spec)]))
    settings = settings_from_mapping({"minikn": {"activator": {"maxBufferedRequests": n}}})
    async with running_datapath(routes, [spec], factory, settings=settings) as dp:
        sem = asyncio.Semaphore(200)  # connect rate limit for the load generator

        async def client(i: int) -> bytes:
            async with sem:
                reader, writer = await asyncio.open_connection("127.0.0.1", dp.port)
            writer.write(_REQUEST.replace(b"\r\n\r\n", b"\r\nX-Request-Id: %d\r\n\r\n" % i, 1))
            head = await reader.readuntil(b"\r\n\r\n")
            writer.close()
            return head[:12]

        if trace:
            tracemalloc.start(1)
        before = _server_bytes() if trace else 0
        started = time.perf_counter()
        tasks = [asyncio.create_task(client(i)) for i in range(n)]
        while dp.activator.buffered(spec.name) < n:  # noqa: ASYNC110 - polling a counter
            await asyncio.sleep(0.05)
        buffered_in = time.perf_counter() - started
        held = _server_bytes() - before if trace else 0
        tracemalloc.stop()
        ready = time.perf_counter()
        gate.set()
        heads = await asyncio.gather(*tasks)
        drained = time.perf_counter() - ready
        ok = sum(1 for h in heads if h == b"HTTP/1.1 200")
        exactly_once = sorted(ids) == sorted(str(i) for i in range(n))
    memory = f"{held / n / 1024:.2f}" if trace else "-"
    print(f"{n:>8} {buffered_in:>13.2f} {drained:>12.2f} {ok:>6} {exactly_once!s:>12} {memory:>24}")


def _server_bytes() -> int:
    """Bytes allocated directly by minikn's code (the allocating frame is in minikn): tasks,
    futures, parsed heads and body buffers of the data path; the load generator's own
    allocations are made from this file or asyncio's streams and do not count."""
    snap = tracemalloc.take_snapshot().filter_traces(
        [
            tracemalloc.Filter(True, "*/minikn/*"),
            tracemalloc.Filter(False, "*/minikn/router/fake_replicas.py"),
            tracemalloc.Filter(False, "*/minikn/router/testing.py"),
        ]
    )
    return sum(s.size for s in snap.statistics("filename"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--memory-requests", type=int, default=1000)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - optional speedup
        pass
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < 2 * args.requests + 100:
        raise SystemExit(f"need {2 * args.requests + 100} file descriptors, the limit is {hard}")
    print(
        f"{'requests':>8} {'buffered in s':>13} {'drained in s':>12} {'200s':>6} "
        f"{'exactly once':>12} {'KiB per buffered request':>24}"
    )
    asyncio.run(main_async(args.requests, trace=False))
    asyncio.run(main_async(args.memory_requests, trace=True))


if __name__ == "__main__":
    main()
