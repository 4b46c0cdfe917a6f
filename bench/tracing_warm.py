"""Warm-path throughput with OpenTelemetry tracing at sample rates 1 and 0.1 vs off, same run.

    python bench/tracing_warm.py [--duration 5] [--runs 3] [--concurrency 10]

Three minikn data paths (router + activator, wired as ``minikn serve``) in front of the same raw
replica: one with tracing off (the default), two exporting their hops' spans (sample rate 1 and
0.1) over OTLP/HTTP to a loopback receiver that decodes the export requests (as a collector does)
and counts the spans. wrk loads each in turn (a different one first in each run, so a drift of
the machine's load hits all), ``--runs`` times; prints the median throughput of each, their
ratio to off (goal: rate 1 within 10 % of off) and the spans received against the spans the
traced requests made.

The receiver stands in for a collector running elsewhere, so it runs at a lower priority
(``os.nice(10)``) throughout, in the off runs as in the traced ones: it still decodes every
export request, on the CPU the data path leaves.
Needs ``wrk`` on PATH.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import urllib.request

import psutil
from datapath_warm import _free_port, _wait_port, serve_minikn, serve_upstream
from wrk import wrk


def serve_sink(port: int) -> None:
    """An OTLP/HTTP receiver that decodes every export, counts its spans (``GET /count``) and
    answers with an empty success."""
    from aiohttp import web
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    os.nice(10)  # a collector elsewhere: it gets the CPU the data path leaves
    received = [0]

    async def export(request: web.Request) -> web.Response:
        msg = ExportTraceServiceRequest()
        msg.ParseFromString(await request.read())
        received[0] += sum(len(ss.spans) for rs in msg.resource_spans for ss in rs.scope_spans)
        return web.Response(body=b"", content_type="application/x-protobuf")

    async def count(request: web.Request) -> web.Response:
        return web.Response(text=str(received[0]))

    app = web.Application(client_max_size=64 * 1024**2)
    app.router.add_post("/v1/traces", export)
    app.router.add_get("/count", count)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def _cpu(proc: psutil.Process) -> float:
    """CPU seconds the process (all its threads) has used."""
    times = proc.cpu_times()
    return times.user + times.system


def _settled_count(url: str, deadline_s: float = 60.0) -> int:
    """The receiver's span count once the exports behind the load have arrived (unchanged for
    two seconds), or at the deadline."""
    end = time.monotonic() + deadline_s
    last, same_since = -1, time.monotonic()
    while time.monotonic() < end:
        with urllib.request.urlopen(url, timeout=10) as r:
            count = int(r.read())
        if count != last:
            last, same_since = count, time.monotonic()
        elif time.monotonic() - same_since >= 2.0:
            break
        time.sleep(0.5)
    return last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--serve-upstream", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve-minikn", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--serve-sink", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_upstream is not None:
        serve_upstream(args.serve_upstream, "raw")
        return
    if args.serve_minikn is not None:
        port, up, *traced = args.serve_minikn
        if traced:
            serve_minikn(int(port), int(up), traced[0], float(traced[1]))
        else:
            serve_minikn(int(port), int(up))
        return
    if args.serve_sink is not None:
        serve_sink(args.serve_sink)
        return
    up, off, on, tenth, sink = (_free_port() for _ in range(5))
    me = os.path.abspath(__file__)
    endpoint = f"http://127.0.0.1:{sink}/v1/traces"
    procs = [
        subprocess.Popen([sys.executable, me, "--serve-upstream", str(up)]),
        subprocess.Popen([sys.executable, me, "--serve-sink", str(sink)]),
        subprocess.Popen([sys.executable, me, "--serve-minikn", str(off), str(up)]),
        subprocess.Popen([sys.executable, me, "--serve-minikn", str(on), str(up), endpoint, "1"]),
        subprocess.Popen(
            [sys.executable, me, "--serve-minikn", str(tenth), str(up), endpoint, "0.1"]
        ),
    ]
    try:
        for port in (up, sink, off, on, tenth):
            _wait_port(port)
        urls = {
            name: f"http://127.0.0.1:{port}/v1/models/hello:predict"
            for name, port in (("off", off), ("rate 1", on), ("rate 0.1", tenth))
        }
        sent: dict[str, int] = {name: wrk(url, 10, 1.0).requests for name, url in urls.items()}
        rps: dict[str, list[float]] = {name: [] for name in urls}
        cpu: dict[str, list[float]] = {name: [] for name in urls}
        loops = {n: psutil.Process(p.pid) for n, p in zip(urls, procs[2:], strict=True)}
        exporters = [*loops["rate 1"].children(), *loops["rate 0.1"].children()]
        helpers = [psutil.Process(procs[1].pid), *exporters]
        helpers_before = sum(_cpu(p) for p in helpers)
        names = list(urls)
        for run in range(args.runs):
            for name in names[run % 3 :] + names[: run % 3]:  # each path first in turn
                before = _cpu(loops[name])
                result = wrk(urls[name], args.concurrency, args.duration)
                cpu[name].append((_cpu(loops[name]) - before) / max(1, result.requests) * 1e6)
                rps[name].append(result.rps)
                sent[name] += result.requests
        median = {name: statistics.median(runs) for name, runs in rps.items()}
        print(f"concurrency {args.concurrency}, median of {args.runs} runs")
        for name, value in median.items():
            ratio = value / median["off"]
            runs = " ".join(f"{r:.0f}" for r in rps[name])
            print(f"tracing {name:<9} {value:>8.0f} rps  ratio {ratio:.2f}  runs: {runs}")
        for name in ("rate 1", "rate 0.1"):
            same = [on / off for on, off in zip(rps[name], rps["off"], strict=True)]
            text = " ".join(f"{r:.2f}" for r in same)
            print(f"same-run ratio {name:<8} median {statistics.median(same):.2f}  runs: {text}")
        loop_cpu = {name: statistics.median(c) for name, c in cpu.items()}
        print(
            "data-path process CPU per request: "
            + ", ".join(f"{n} {c:.1f} us" for n, c in loop_cpu.items())
            + f" (rate 1 / off {loop_cpu['rate 1'] / loop_cpu['off']:.3f})"
        )
        received = _settled_count(f"http://127.0.0.1:{sink}/count")
        helpers_cpu = sum(_cpu(p) for p in helpers) - helpers_before
        traced = sent["rate 1"] + sent["rate 0.1"] / 10
        print(
            f"exporters and receiver CPU per traced request {helpers_cpu / traced * 1e6:.1f} us "
            "(the export processes and the receiver, at nice 10; a rate 0.1 request counts 0.1)"
        )
        # rate 1: 2 spans a request (ingress, proxy; no wait span when warm); rate 0.1: ~1 in 10
        made = 2 * sent["rate 1"] + round(0.2 * sent["rate 0.1"])
        print(f"spans received     {received:>8d} of ~{made} the traced requests made")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=10)


if __name__ == "__main__":
    main()
