"""Warm-path throughput with OpenTelemetry tracing at sample rate 1 vs off, in the same run.

    python bench/tracing_warm.py [--duration 5] [--runs 3] [--concurrency 10]

Two minikn data paths (router + activator, wired as ``minikn serve``) in front of the same raw
replica: one with tracing off (the default), one exporting every hop's spans over OTLP/HTTP to a
loopback receiver that accepts and discards them. wrk loads each in turn, ``--runs`` times;
prints the median throughput of each and their ratio (goal: traced within 10 % of off).
Needs ``wrk`` on PATH.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

from datapath_warm import _free_port, _wait_port, serve_minikn, serve_upstream
from wrk import wrk


def serve_sink(port: int) -> None:
    """An OTLP/HTTP receiver that answers every export with an empty success."""
    from aiohttp import web

    async def export(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=b"", content_type="application/x-protobuf")

    app = web.Application(client_max_size=64 * 1024**2)
    app.router.add_post("/v1/traces", export)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


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
        port, up, *endpoint = args.serve_minikn
        serve_minikn(int(port), int(up), endpoint[0] if endpoint else None)
        return
    if args.serve_sink is not None:
        serve_sink(args.serve_sink)
        return
    up, off, on, sink = (_free_port() for _ in range(4))
    me = os.path.abspath(__file__)
    endpoint = f"http://127.0.0.1:{sink}/v1/traces"
    procs = [
        subprocess.Popen([sys.executable, me, "--serve-upstream", str(up)]),
        subprocess.Popen([sys.executable, me, "--serve-sink", str(sink)]),
        subprocess.Popen([sys.executable, me, "--serve-minikn", str(off), str(up)]),
        subprocess.Popen([sys.executable, me, "--serve-minikn", str(on), str(up), endpoint]),
    ]
    try:
        for port in (up, sink, off, on):
            _wait_port(port)
        urls = {
            name: f"http://127.0.0.1:{port}/v1/models/hello:predict"
            for name, port in (("off", off), ("traced", on))
        }
        for url in urls.values():
            wrk(url, 10, 1.0)  # warm-up
        rps: dict[str, list[float]] = {"off": [], "traced": []}
        for _ in range(args.runs):
            for name, url in urls.items():
                rps[name].append(wrk(url, args.concurrency, args.duration).rps)
        off_rps, on_rps = (statistics.median(rps[n]) for n in ("off", "traced"))
        print(f"concurrency {args.concurrency}, median of {args.runs} runs")
        print(f"tracing off        {off_rps:>10.0f} rps")
        print(f"tracing rate 1     {on_rps:>10.0f} rps")
        print(f"ratio traced/off   {on_rps / off_rps:>10.2f}")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=10)


if __name__ == "__main__":
    main()
