"""Payload-logger benchmark: latency added per request with ``logger: {mode: all}`` against no
logger, same run, at concurrency 10 (goal: under 5 %).

    python bench/agent_logger.py [--via router|activator|direct] [--requests 4000] [--runs 3]

The replica (``--cost-ms`` per request, concurrent) and the CloudEvents sink (answers 202) are
separate processes on loopback. ``--via direct`` calls the agent chain itself (``Agent.handle``
around an ``HttpUpstream``) against the bare ``HttpUpstream``; ``--via activator`` sends the same
requests through minikn's ``Activator.handle`` with the trace and agent middlewares (as ``minikn
serve`` wires them) for a revision with the logger against one without it (no router, no client
socket). ``--via router`` is end to end, as users run it: ``wrk`` (C, its own process) sends
the requests over HTTP to minikn's router in another process (router, activator, trace and agent
middlewares as ``minikn serve`` wires them), to an ISVC with the logger and to one without it,
both backed by the same replica. Off and on alternate in blocks (order flipped every
block) so drift on a shared machine hits both. Prints mean, p50 and p99 latency off and on, the
added mean latency, the process CPU per request (the logger's senders included) and the events
sent/dropped per run, then the medians.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import psutil
from agent_common import background, percentile, replica, sink, use_uvloop
from wrk import wrk

from minikn.activator import Activator, BodyStream, ProxyRequest
from minikn.activator.agent import (
    Agent,
    AgentMiddleware,
    BufferSink,
    HttpUpstream,
    PayloadLogger,
    trace_middleware,
)
from minikn.config import Settings
from minikn.core.clock import SystemClock
from minikn.core.endpoints import DiscardStats, Endpoint
from minikn.core.revision import ContainerSpec, LoggerSpec, RevisionSpec
from minikn.telemetry.metrics import Metrics

PATH = "/v1/models/m:predict"
LABELS = {"namespace": "default", "isvc": "m", "revision": "m-predictor-00001"}
Call = Callable[[bytes], Awaitable[int]]
"""Send one request body; the answer's status."""


async def _load(call: Call, requests: int, concurrency: int) -> list[float]:
    latencies: list[float] = []
    todo = iter(range(requests))

    async def worker() -> None:
        for i in todo:
            body = json.dumps({"instances": [[i, 1.0, 2.0, 3.0]]}).encode()
            started = time.perf_counter()
            status = await call(body)
            latencies.append(time.perf_counter() - started)
            if status != 200:
                raise RuntimeError(f"request {i} failed: {status}")

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


async def _measure(
    call: Call, logger: PayloadLogger | None, requests: int, concurrency: int
) -> tuple[list[float], float]:
    """Latencies, and process CPU seconds including the logger's sending of what was queued."""
    cpu = time.process_time()
    latencies = await _load(call, requests, concurrency)
    if logger is not None:
        await logger.drain(timeout_s=30)
    return latencies, time.process_time() - cpu


async def _run(
    off_call: Call, on_call: Call, logger: PayloadLogger, args: argparse.Namespace
) -> tuple[list[float], list[float], float, float]:
    """All latencies and CPU seconds per request, off and on, over alternating blocks."""
    off: list[float] = []
    on: list[float] = []
    cpu_off = cpu_on = 0.0
    per_block = max(1, args.requests // args.blocks)
    for block in range(args.blocks):
        for logging_on in (False, True) if block % 2 == 0 else (True, False):
            if logging_on:
                lat, cpu = await _measure(on_call, logger, per_block, args.concurrency)
                on.extend(lat)
                cpu_on += cpu
            else:
                lat, cpu = await _measure(off_call, None, per_block, args.concurrency)
                off.extend(lat)
                cpu_off += cpu
    n = per_block * args.blocks
    return off, on, cpu_off / n, cpu_on / n


def _sample(metrics: Metrics, name: str) -> float:
    return metrics.registry.get_sample_value(name, LABELS) or 0.0


def _activator_call(act: Activator, revision: str) -> Call:
    headers = b"host: m.default.example.com\r\ncontent-type: application/json\r\nx-user: bench\r\n"

    async def call(body: bytes) -> int:
        stream = BodyStream(None)
        stream.feed(body)
        stream.feed_eof()
        request = ProxyRequest(b"POST", PATH.encode(), headers, "r", stream, len(body))
        out = BufferSink()
        await act.handle(revision, request, out)
        return out.status

    return call


def _logged_spec(sink_url: str) -> RevisionSpec:
    """The revision under test: ISVC ``m``, logging everything to ``sink_url``."""
    return RevisionSpec(
        name="m-predictor-00001",
        isvc="m",
        component="predictor",
        generation=1,
        container=ContainerSpec(),
        logger=LoggerSpec(url=sink_url, mode="all", metadata_headers=("X-User",)),
    )


async def _main(args: argparse.Namespace, replica_url: str, sink_url: str) -> None:
    spec = _logged_spec(sink_url)
    metrics = Metrics()
    clock = SystemClock()
    headers = {"Content-Type": "application/json", "X-User": "bench"}
    closers: list[Callable[[], Awaitable[None]]] = []
    off_call: Call
    on_call: Call
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        if args.via == "direct":
            upstream = HttpUpstream(session, replica_url)
            agent = Agent.for_revision(spec, metrics=metrics, clock=clock)
            assert agent is not None
            assert agent.logger is not None
            logger = agent.logger

            async def direct(body: bytes) -> int:
                return (await upstream("POST", PATH, headers, body)).status

            async def through_agent(body: bytes) -> int:
                return (await agent.handle("POST", PATH, headers, body, upstream)).status

            off_call, on_call = direct, through_agent

            closers.append(agent.close)
        else:
            port = int(replica_url.rsplit(":", 1)[1])
            endpoint = [Endpoint("r0", "127.0.0.1", port)]
            # Both activators as ``minikn serve`` wires them (trace, then agent middleware); only
            # the second one's revision sets a logger.
            agents = AgentMiddleware(metrics=metrics, clock=clock)
            plain = AgentMiddleware(metrics=metrics, clock=clock)
            acts = []
            for middlewares, rev in (
                ((trace_middleware, plain), spec.model_copy(update={"logger": None})),
                ((trace_middleware, agents), spec),
            ):
                act = Activator(
                    Settings(),
                    clock=clock,
                    stats=DiscardStats(),
                    poker=DiscardStats(),
                    metrics=metrics,
                    middlewares=middlewares,
                )
                act.upsert_revision(rev)
                act.set_endpoints(rev.name, endpoint)
                acts.append(act)
            off_call = _activator_call(acts[0], spec.name)
            on_call = _activator_call(acts[1], spec.name)
            await on_call(b'{"instances": [1]}')
            entry = agents.agent(spec.name)
            assert entry is not None
            assert entry.logger is not None
            logger = entry.logger
            closers.extend([agents.close, plain.close, acts[0].close, acts[1].close])
        await _load(on_call, 300, args.concurrency)  # warm-up, both paths
        await _load(off_call, 300, args.concurrency)
        rows = []
        print(
            f"{'run':>3} {'off mean':>8} {'on mean':>8} {'added':>7} {'off p50':>7} "
            f"{'on p50':>7} {'off p99':>7} {'on p99':>7} {'cpu off us':>10} {'cpu on us':>9} "
            f"{'sent':>6} {'dropped':>7}"
        )
        for run in range(1, args.runs + 1):
            sent0 = _sample(metrics, "minikn_logger_events_sent_total")
            drop0 = _sample(metrics, "minikn_logger_events_dropped_total")
            off, on, cpu_off, cpu_on = await _run(off_call, on_call, logger, args)
            sent = _sample(metrics, "minikn_logger_events_sent_total") - sent0
            dropped = _sample(metrics, "minikn_logger_events_dropped_total") - drop0
            off_mean, on_mean = statistics.fmean(off) * 1e3, statistics.fmean(on) * 1e3
            added = on_mean / off_mean - 1
            added_p50 = percentile(on, 0.5) / percentile(off, 0.5) - 1
            rows.append((off_mean, on_mean, added, cpu_off * 1e6, cpu_on * 1e6, added_p50))
            print(
                f"{run:>3} {off_mean:>8.3f} {on_mean:>8.3f} {added:>+7.1%} "
                f"{percentile(off, 0.5) * 1e3:>7.3f} {percentile(on, 0.5) * 1e3:>7.3f} "
                f"{percentile(off, 0.99) * 1e3:>7.3f} {percentile(on, 0.99) * 1e3:>7.3f} "
                f"{cpu_off * 1e6:>10.0f} {cpu_on * 1e6:>9.0f} {sent:>6.0f} {dropped:>7.0f}"
            )
        for close in closers:
            await close()
    med = [statistics.median(r[i] for r in rows) for i in range(6)]
    print(
        f"median ({args.via}): mean latency off {med[0]:.3f} ms, on {med[1]:.3f} ms, added "
        f"{med[2]:+.1%} (p50 added {med[5]:+.1%}); CPU per request off {med[3]:.0f} us, "
        f"on {med[4]:.0f} us "
        f"(concurrency {args.concurrency}, replica cost {args.cost_ms} ms)"
    )


def _serve_router(port: int, replica_port: int, sink_url: str, counts: str) -> None:
    """minikn's data path on ``port``: ISVC ``m`` logs to ``sink_url``, ISVC ``plain`` does not;
    on SIGTERM the logger's sent/dropped counts are written to ``counts``."""
    from minikn.core.routes import ComponentRoute, IsvcRoute, RouteTable, TrafficTarget
    from minikn.router import Router

    use_uvloop()
    Path(counts).with_name("pid").write_text(str(os.getpid()))

    async def main() -> tuple[float, float]:
        settings, clock, metrics = Settings(), SystemClock(), Metrics()
        logged = _logged_spec(sink_url)
        plain = logged.model_copy(
            update={"name": "plain-predictor-00001", "isvc": "plain", "logger": None}
        )
        activator = Activator(
            settings,
            clock=clock,
            stats=DiscardStats(),
            poker=DiscardStats(),
            metrics=metrics,
            middlewares=[trace_middleware, AgentMiddleware(metrics=metrics, clock=clock)],
        )
        isvcs = []
        for spec in (logged, plain):
            activator.upsert_revision(spec)
            activator.set_endpoints(spec.name, [Endpoint("r0", "127.0.0.1", replica_port)])
            target = TrafficTarget(revision=spec.name, percent=100)
            comp = ComponentRoute(component="predictor", targets=(target,))
            isvcs.append(IsvcRoute(name=spec.isvc, components=(comp,)))
        router = Router(settings, activator, clock=clock, metrics=metrics)
        router.update_routes(RouteTable(isvcs=tuple(isvcs)))
        await activator.start()
        await router.start("127.0.0.1", port)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        await router.close(grace=1.0)
        await activator.close()
        sent = _sample(metrics, "minikn_logger_events_sent_total")
        return sent, _sample(metrics, "minikn_logger_events_dropped_total")

    sent, dropped = asyncio.run(main())
    Path(counts).write_text(f"{sent:.0f} {dropped:.0f}")


def _main_router(args: argparse.Namespace, replica_url: str, sink_url: str) -> None:
    """End to end: wrk against the router, logger on (ISVC m) and off (ISVC plain)."""
    replica_port = int(replica_url.rsplit(":", 1)[1])
    counts = Path(tempfile.mkdtemp(prefix="minikn-bench-")) / "counts"
    body = json.dumps({"instances": [[1.0, 2.0, 3.0, 4.0]]}).encode()

    def load(host: str, seconds: float) -> tuple[float, float, float, int]:
        headers = {"Host": host, "Content-Type": "application/json", "X-User": "bench"}
        r = wrk(url + PATH, args.concurrency, seconds, method="POST", body=body, headers=headers)
        if r.non_2xx:
            raise RuntimeError(f"{r.non_2xx} requests to {host} failed")
        # A closed loop of c connections: mean latency = c / throughput (Little's law).
        return args.concurrency / r.rps * 1e3, r.p50_ms, r.p99_ms, r.requests

    with background(_serve_router, replica_port, sink_url, str(counts)) as url:
        server = psutil.Process(int(counts.with_name("pid").read_text()))
        off_host, on_host = "plain.default.example.com", "m.default.example.com"
        load(on_host, 1.0)  # warm-up: pooled connections, the logger's senders
        load(off_host, 1.0)
        rows = []
        print(
            f"{'run':>3} {'off mean':>8} {'on mean':>8} {'added':>7} {'off p50':>7} "
            f"{'on p50':>7} {'off p99':>7} {'on p99':>7} {'cpu off us':>10} {'cpu on us':>9}"
        )
        for run in range(1, args.runs + 1):
            got: dict[bool, list[tuple[float, float, float, int, float]]] = {False: [], True: []}
            for block in range(args.blocks):
                for on in (False, True) if block % 2 == 0 else (True, False):
                    cpu = server.cpu_times()
                    mean, p50, p99, n = load(on_host if on else off_host, args.block_seconds)
                    after = server.cpu_times()
                    spent = after.user + after.system - cpu.user - cpu.system
                    got[on].append((mean, p50, p99, n, spent / n * 1e6))
            off, on_ = (
                [statistics.median(b[i] for b in got[k]) for i in (0, 1, 2, 4)]
                for k in (False, True)
            )
            added = on_[0] / off[0] - 1
            rows.append((off[0], on_[0], added, off[3], on_[3], on_[1] / off[1] - 1))
            print(
                f"{run:>3} {off[0]:>8.3f} {on_[0]:>8.3f} {added:>+7.1%} {off[1]:>7.3f} "
                f"{on_[1]:>7.3f} {off[2]:>7.3f} {on_[2]:>7.3f} {off[3]:>10.0f} {on_[3]:>9.0f}"
            )
    sent, dropped = counts.read_text().split()
    med = [statistics.median(r[i] for r in rows) for i in range(6)]
    print(
        f"median (router): mean latency off {med[0]:.3f} ms, on {med[1]:.3f} ms, added "
        f"{med[2]:+.1%} (p50 added {med[5]:+.1%}); minikn CPU per request off {med[3]:.0f} us, "
        f"on {med[4]:.0f} us (concurrency {args.concurrency}, replica cost {args.cost_ms} ms); "
        f"events sent {sent}, dropped {dropped}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--via", choices=("direct", "activator", "router"), default="router")
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--blocks", type=int, default=10)
    parser.add_argument("--cost-ms", type=float, default=2.0)
    parser.add_argument(
        "--block-seconds", type=float, default=2.0, help="wrk run per block (--via router)"
    )
    args = parser.parse_args()
    use_uvloop()
    with replica(args.cost_ms, 0.0, serial=False) as replica_url, sink() as sink_url:
        if args.via == "router":
            _main_router(args, replica_url, sink_url)
        else:
            asyncio.run(_main(args, replica_url, sink_url))


if __name__ == "__main__":
    main()
