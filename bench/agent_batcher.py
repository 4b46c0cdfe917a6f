"""Batcher benchmark: many small V1 ``:predict`` requests to the same replica, with and without
KServe's ``batcher`` in front, same run.

    python bench/agent_batcher.py [--requests 3000] [--concurrency 64] [--runs 3]

The replica is a separate aiohttp process modelling a single-worker model server: one inference
at a time, costing ``--cost-ms`` per request plus ``--per-instance-ms`` per instance. Clients call
the agent chain directly (``Agent.handle`` around an ``HttpUpstream``), not through the router, so
the figure is the batcher's own effect. Prints instances/s without and with the batcher, the
ratio, p50 latency and the replica requests per run, then the medians.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Mapping

import aiohttp
from agent_common import percentile, replica, use_uvloop

from minikn.activator.agent import Agent, HttpUpstream, Upstream, UpstreamResponse
from minikn.core.clock import SystemClock
from minikn.core.revision import BatcherSpec, ContainerSpec, RevisionSpec
from minikn.telemetry.metrics import Metrics

PATH = "/v1/models/m:predict"


class _Counting:
    def __init__(self, inner: Upstream) -> None:
        self.inner = inner
        self.calls = 0

    async def __call__(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> UpstreamResponse:
        self.calls += 1
        return await self.inner(method, path, headers, body)


async def _load(
    agent: Agent | None, upstream: _Counting, requests: int, concurrency: int
) -> tuple[float, float, int]:
    """(instances per second, p50 latency ms, replica calls) for ``requests`` 1-instance calls."""
    latencies: list[float] = []
    todo = iter(range(requests))
    headers = {"Content-Type": "application/json"}

    async def worker() -> None:
        for i in todo:
            body = json.dumps({"instances": [[i, 1.0, 2.0, 3.0]]}).encode()
            started = time.perf_counter()
            if agent is None:
                answer = await upstream("POST", PATH, headers, body)
            else:
                answer = await agent.handle("POST", PATH, headers, body, upstream)
            latencies.append(time.perf_counter() - started)
            preds = json.loads(answer.body)["predictions"]
            if answer.status != 200 or preds != [[i, 1.0, 2.0, 3.0]]:
                raise RuntimeError(f"wrong answer for {i}: {answer.status} {answer.body[:200]!r}")

    upstream.calls = 0
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return requests / elapsed, percentile(latencies, 0.5) * 1000, upstream.calls


async def _main(args: argparse.Namespace, url: str) -> None:
    spec = RevisionSpec(
        name="m-predictor-00001",
        isvc="m",
        component="predictor",
        generation=1,
        container=ContainerSpec(),
        batcher=BatcherSpec(max_batch_size=args.max_batch_size, max_latency_ms=args.max_latency_ms),
    )
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        upstream = _Counting(HttpUpstream(session, url))
        agent = Agent.for_revision(spec, metrics=Metrics(), clock=SystemClock())
        assert agent is not None
        await agent.start()
        await _load(None, upstream, 200, args.concurrency)  # warm-up: connections, JIT-free paths
        rows = []
        print(
            f"{'run':>3} {'off inst/s':>11} {'on inst/s':>10} {'ratio':>6} "
            f"{'off p50 ms':>10} {'on p50 ms':>9} {'off calls':>9} {'on calls':>8}"
        )
        for run in range(1, args.runs + 1):
            off = await _load(None, upstream, args.requests, args.concurrency)
            on = await _load(agent, upstream, args.requests, args.concurrency)
            rows.append((off, on))
            print(
                f"{run:>3} {off[0]:>11.0f} {on[0]:>10.0f} {on[0] / off[0]:>6.2f} "
                f"{off[1]:>10.2f} {on[1]:>9.2f} {off[2]:>9d} {on[2]:>8d}"
            )
        await agent.close()
    off_tp = statistics.median(r[0][0] for r in rows)
    on_tp = statistics.median(r[1][0] for r in rows)
    print(
        f"median: without batcher {off_tp:.0f} inst/s, with batcher {on_tp:.0f} inst/s, "
        f"ratio {on_tp / off_tp:.2f}x (maxBatchSize {args.max_batch_size}, "
        f"maxLatency {args.max_latency_ms} ms, concurrency {args.concurrency})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cost-ms", type=float, default=2.0)
    parser.add_argument("--per-instance-ms", type=float, default=0.02)
    parser.add_argument("--max-batch-size", type=int, default=32)
    parser.add_argument("--max-latency-ms", type=int, default=10)
    args = parser.parse_args()
    use_uvloop()
    with replica(args.cost_ms, args.per_instance_ms, serial=True) as url:
        asyncio.run(_main(args, url))


if __name__ == "__main__":
    main()
