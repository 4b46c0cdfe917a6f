"""Warm path while 1,000 slowloris connections are held open, against the same load without them,
in the same run (issue 12's goal: within 10 %).

    python bench/datapath_slowloris.py [--duration 5] [--runs 3] [--slow 1000] [--concurrency 10]

The router + activator and the raw replica are those of ``datapath_warm.py``. A holder process
keeps ``--slow`` connections open, each with a partial request head that gains one header byte a
second (classic slowloris); connections the ingress closes at its head timeout are reopened, so
the count stays up. Each run measures wrk without the holder, then with it; the medians over the
runs of throughput and p50 and their ratios (with / without) are printed, and the median of each
run's own ratio (steadier when the machine's load drifts), minikn's CPU time per request in
each arm (what the held connections cost it) and the holder's own CPU use (what the attack takes
from a shared machine).
Needs ``wrk`` on PATH (``apt-get install wrk``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time

import psutil
from datapath_warm import _free_port, _wait_port, serve_minikn, serve_upstream
from loopback import use_uvloop
from wrk import wrk


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def hold_slowloris(port: int, count: int) -> None:
    """Keep ``count`` slow connections open against ``port`` until killed."""
    use_uvloop()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, count + 256)), hard))

    async def one() -> None:
        while True:
            with contextlib.suppress(OSError):
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(b"GET / HTTP/1.1\r\nHost: slow\r\nX-Slow: ")
                while not reader.at_eof():
                    writer.write(b"a")
                    await writer.drain()
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(reader.read(65536), 1.0)
                writer.close()

    async def main() -> None:
        tasks = [asyncio.create_task(one()) for _ in range(count)]
        await asyncio.sleep(1.0)
        print("holding", flush=True)
        await asyncio.gather(*tasks)

    asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--slow", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--serve-upstream", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve-minikn", type=int, nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--hold", type=int, nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_upstream is not None:
        serve_upstream(args.serve_upstream, "raw")
        return
    if args.serve_minikn is not None:
        serve_minikn(*args.serve_minikn)
        return
    if args.hold is not None:
        hold_slowloris(*args.hold)
        return
    if shutil.which("wrk") is None:
        sys.exit("wrk not found: apt-get install wrk")
    me = os.path.abspath(__file__)
    up_port, kn_port = _free_port(), _free_port()
    procs = [
        subprocess.Popen([sys.executable, me, "--serve-upstream", str(up_port)]),
        subprocess.Popen([sys.executable, me, "--serve-minikn", str(kn_port), str(up_port)]),
    ]
    url = f"http://127.0.0.1:{kn_port}/v1/models/hello:predict"
    without, held = [], []
    cpu_without: list[float] = []  # minikn's CPU µs per request, per run
    cpu_held: list[float] = []
    holder_cores: list[float] = []  # the holder's CPU use while held, in cores
    try:
        _wait_port(up_port)
        _wait_port(kn_port)
        wrk(url, args.concurrency, 1.0)  # warm-up
        minikn = psutil.Process(procs[1].pid)
        for _ in range(args.runs):
            before = _cpu(minikn)
            without.append(wrk(url, args.concurrency, args.duration))
            cpu_without.append((_cpu(minikn) - before) / without[-1].requests * 1e6)
            holder = subprocess.Popen(
                [sys.executable, me, "--hold", str(kn_port), str(args.slow)],
                stdout=subprocess.PIPE,
                text=True,
            )
            assert holder.stdout is not None
            holder.stdout.readline()  # "holding"
            try:
                before, holder_before = _cpu(minikn), _cpu(psutil.Process(holder.pid))
                started = time.monotonic()
                held.append(wrk(url, args.concurrency, args.duration))
                cpu_held.append((_cpu(minikn) - before) / held[-1].requests * 1e6)
                holder_cpu = _cpu(psutil.Process(holder.pid)) - holder_before
                holder_cores.append(holder_cpu / (time.monotonic() - started))
            finally:
                holder.kill()
                holder.wait(10)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=10)
    rps0 = statistics.median(r.rps for r in without)
    rps1 = statistics.median(r.rps for r in held)
    p50_0 = statistics.median(r.p50_ms for r in without)
    p50_1 = statistics.median(r.p50_ms for r in held)
    print(f"{'':>22} {'rps':>8} {'p50':>9}")
    print(f"{'without slowloris':>22} {rps0:>8.0f} {p50_0:>7.3f}ms")
    print(f"{f'{args.slow} slowloris held':>22} {rps1:>8.0f} {p50_1:>7.3f}ms")
    print(f"{'ratio (held/without)':>22} {rps1 / rps0:>8.2f} {p50_1 / p50_0:>9.2f}")
    per_run_rps = statistics.median(b.rps / a.rps for a, b in zip(without, held, strict=True))
    per_run_p50 = statistics.median(b.p50_ms / a.p50_ms for a, b in zip(without, held, strict=True))
    print(f"{'median per-run ratio':>22} {per_run_rps:>8.2f} {per_run_p50:>9.2f}")
    print(
        f"minikn CPU per request: {statistics.median(cpu_without):.0f} us without, "
        f"{statistics.median(cpu_held):.0f} us held; the holder used "
        f"{statistics.median(holder_cores):.2f} cores"
    )


if __name__ == "__main__":
    main()
