"""Payload-logger benchmark: latency added per request with ``logger: {mode: all}`` against no
logger, same run, at concurrency 10 (goal: under 5 %).

    python bench/agent_logger.py [--requests 4000] [--concurrency 10] [--runs 3]

The replica (``--cost-ms`` per request, concurrent) and the CloudEvents sink (answers 202) are
separate aiohttp processes on loopback. Clients call the agent chain directly (``Agent.handle``
around an ``HttpUpstream``), not through the router; the logger's sender tasks share the clients'
event loop, as they share the activator's. Prints mean and p50/p99 latency off and on, the added
mean latency, and the events sent/dropped per run, then the medians.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

import aiohttp
from agent_common import percentile, replica, sink, use_uvloop

from minikn.activator.agent import Agent, HttpUpstream
from minikn.core.clock import SystemClock
from minikn.core.metrics import Metrics
from minikn.core.revision import ContainerSpec, LoggerSpec, RevisionSpec

PATH = "/v1/models/m:predict"
LABELS = {"namespace": "default", "isvc": "m", "revision": "m-predictor-00001"}


async def _load(
    agent: Agent | None, upstream: HttpUpstream, requests: int, concurrency: int
) -> list[float]:
    latencies: list[float] = []
    todo = iter(range(requests))
    headers = {"Content-Type": "application/json", "X-User": "bench"}

    async def worker() -> None:
        for i in todo:
            body = json.dumps({"instances": [[i, 1.0, 2.0, 3.0]]}).encode()
            started = time.perf_counter()
            if agent is None:
                answer = await upstream("POST", PATH, headers, body)
            else:
                answer = await agent.handle("POST", PATH, headers, body, upstream)
            latencies.append(time.perf_counter() - started)
            if answer.status != 200:
                raise RuntimeError(f"request {i} failed: {answer.status}")

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


def _sample(metrics: Metrics, name: str) -> float:
    return metrics.registry.get_sample_value(name, LABELS) or 0.0


async def _measure(
    agent: Agent | None, upstream: HttpUpstream, requests: int, concurrency: int
) -> tuple[list[float], float]:
    """Latencies, and process CPU seconds including the logger's sending of what was queued."""
    cpu = time.process_time()
    latencies = await _load(agent, upstream, requests, concurrency)
    if agent is not None and agent.logger is not None:
        await agent.logger.drain(timeout_s=30)
    return latencies, time.process_time() - cpu


async def _run(
    agent: Agent, upstream: HttpUpstream, args: argparse.Namespace
) -> tuple[list[float], list[float], float, float]:
    """Alternate off/on blocks (order flipped every block) so drift on a shared machine hits both
    sides alike; returns all latencies and CPU seconds per request, off and on."""
    off: list[float] = []
    on: list[float] = []
    cpu_off = cpu_on = 0.0
    per_block = max(1, args.requests // args.blocks)
    for block in range(args.blocks):
        order = (False, True) if block % 2 == 0 else (True, False)
        for logging_on in order:
            lat, cpu = await _measure(
                agent if logging_on else None, upstream, per_block, args.concurrency
            )
            if logging_on:
                on.extend(lat)
                cpu_on += cpu
            else:
                off.extend(lat)
                cpu_off += cpu
    n = per_block * args.blocks
    return off, on, cpu_off / n, cpu_on / n


async def _main(args: argparse.Namespace, replica_url: str, sink_url: str) -> None:
    spec = RevisionSpec(
        name="m-predictor-00001",
        isvc="m",
        component="predictor",
        generation=1,
        container=ContainerSpec(),
        logger=LoggerSpec(url=sink_url, mode="all", metadata_headers=("X-User",)),
    )
    metrics = Metrics()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        upstream = HttpUpstream(session, replica_url)
        agent = Agent.for_revision(spec, metrics=metrics, clock=SystemClock())
        assert agent is not None
        await agent.start()
        await _load(agent, upstream, 300, args.concurrency)  # warm-up, both paths
        await _load(None, upstream, 300, args.concurrency)
        rows = []
        print(
            f"{'run':>3} {'off mean':>8} {'on mean':>8} {'added':>7} {'off p50':>7} "
            f"{'on p50':>7} {'off p99':>7} {'on p99':>7} {'cpu off us':>10} {'cpu on us':>9} "
            f"{'sent':>6} {'dropped':>7}"
        )
        for run in range(1, args.runs + 1):
            sent0 = _sample(metrics, "minikn_logger_events_sent_total")
            drop0 = _sample(metrics, "minikn_logger_events_dropped_total")
            off, on, cpu_off, cpu_on = await _run(agent, upstream, args)
            sent = _sample(metrics, "minikn_logger_events_sent_total") - sent0
            dropped = _sample(metrics, "minikn_logger_events_dropped_total") - drop0
            off_mean, on_mean = statistics.fmean(off) * 1e3, statistics.fmean(on) * 1e3
            added = on_mean / off_mean - 1
            rows.append((off_mean, on_mean, added, cpu_off * 1e6, cpu_on * 1e6))
            print(
                f"{run:>3} {off_mean:>8.3f} {on_mean:>8.3f} {added:>+7.1%} "
                f"{percentile(off, 0.5) * 1e3:>7.3f} {percentile(on, 0.5) * 1e3:>7.3f} "
                f"{percentile(off, 0.99) * 1e3:>7.3f} {percentile(on, 0.99) * 1e3:>7.3f} "
                f"{cpu_off * 1e6:>10.0f} {cpu_on * 1e6:>9.0f} {sent:>6.0f} {dropped:>7.0f}"
            )
        await agent.close()
    med = [statistics.median(r[i] for r in rows) for i in range(5)]
    print(
        f"median: mean latency off {med[0]:.3f} ms, on {med[1]:.3f} ms, added {med[2]:+.1%}; "
        f"CPU per request off {med[3]:.0f} us, on {med[4]:.0f} us "
        f"(concurrency {args.concurrency}, replica cost {args.cost_ms} ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--blocks", type=int, default=10)
    parser.add_argument("--cost-ms", type=float, default=2.0)
    args = parser.parse_args()
    use_uvloop()
    with replica(args.cost_ms, 0.0, serial=False) as replica_url, sink() as sink_url:
        asyncio.run(_main(args, replica_url, sink_url))


if __name__ == "__main__":
    main()
