"""minikn's built-in sklearn server vs KServe's own Python ModelServer, same model, same load.

    .venv/bin/python bench/modelserver_vs_kserve.py --kserve-python /path/to/kserve-venv/bin/python

The KServe side runs bench/modelserver_kserve_model.py (a kserve.Model with sklearnserver's
predict path) under a separate virtualenv holding ``kserve`` and the same scikit-learn version.
Load: a closed-loop aiohttp client (keep-alive), each of C workers sending V1 iris predictions
back to back; throughput and p50/p99 latency at concurrency 1 and 16. Each configuration runs
--runs times; the table shows the medians and the minikn/KServe ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from minikn.modelserver.examples import ensure_example_models  # noqa: E402

BODY = json.dumps({"instances": [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]}).encode()


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us: float = 0.0
    """Server CPU time per request (user+system, all threads): robust to a busy machine."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_ready(url: str, deadline_s: float = 60.0) -> None:
    end = time.monotonic() + deadline_s
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < end:
            try:
                async with session.get(url) as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} never became ready")


def cpu_seconds(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


async def load(
    url: str, concurrency: int, seconds: float, warmup: float, server: psutil.Process
) -> Result:
    latencies: list[float] = []
    cpu_marks: list[float] = []
    connector = aiohttp.TCPConnector(limit=concurrency)
    headers = {"Content-Type": "application/json"}
    async with aiohttp.ClientSession(connector=connector) as session:
        start = time.perf_counter()
        stop_at = start + warmup + seconds

        async def worker() -> None:
            while True:
                t0 = time.perf_counter()
                if t0 >= stop_at:
                    return
                async with session.post(url, data=BODY, headers=headers) as resp:
                    await resp.read()
                    if resp.status != 200:
                        raise RuntimeError(f"{url}: HTTP {resp.status}")
                t1 = time.perf_counter()
                if t0 >= start + warmup:
                    latencies.append(t1 - t0)

        async def mark_cpu() -> None:
            await asyncio.sleep(warmup)
            cpu_marks.append(cpu_seconds(server))

        await asyncio.gather(mark_cpu(), *(worker() for _ in range(concurrency)))
        cpu_marks.append(cpu_seconds(server))
    latencies.sort()
    return Result(
        rps=len(latencies) / seconds,
        p50_ms=latencies[len(latencies) // 2] * 1000,
        p99_ms=latencies[int(len(latencies) * 0.99)] * 1000,
        cpu_us=(cpu_marks[1] - cpu_marks[0]) / max(len(latencies), 1) * 1e6,
    )


async def load_wrk(
    url: str, concurrency: int, seconds: float, warmup: float, server: psutil.Process
) -> Result:
    """The same load from ``wrk`` (C): the client then costs far less than either server."""
    from wrk import wrk  # bench/wrk.py

    headers = {"Content-Type": "application/json"}
    await asyncio.to_thread(wrk, url, concurrency, warmup, method="POST", body=BODY,
                            headers=headers)  # fmt: skip
    before = cpu_seconds(server)
    r = await asyncio.to_thread(wrk, url, concurrency, seconds, method="POST", body=BODY,
                                headers=headers)  # fmt: skip
    if r.non_2xx:
        raise RuntimeError(f"{url}: {r.non_2xx} non-2xx answers")
    cpu = cpu_seconds(server) - before
    return Result(rps=r.rps, p50_ms=r.p50_ms, p99_ms=r.p99_ms, cpu_us=cpu / r.requests * 1e6)


async def start(cmd: list[str], ready_url: str) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    await wait_ready(ready_url)
    return proc


async def bench_all(
    servers: dict[str, tuple[list[str], int]], args: argparse.Namespace
) -> dict[str, dict[int, list[Result]]]:
    """Both servers up at once; runs interleave (KServe, minikn, KServe, ...) so a change in
    background load hits both alike."""
    procs = [
        await start(cmd, f"http://127.0.0.1:{port}/v1/models/iris")
        for cmd, port in servers.values()
    ]
    out: dict[str, dict[int, list[Result]]] = {
        label: {c: [] for c in args.concurrency} for label in servers
    }
    try:
        for run in range(args.runs):
            for c in args.concurrency:
                for (label, (_, port)), proc in zip(servers.items(), procs, strict=True):
                    url = f"http://127.0.0.1:{port}/v1/models/iris:predict"
                    run_load = load_wrk if args.client == "wrk" else load
                    r = await run_load(url, c, args.seconds, args.warmup, psutil.Process(proc.pid))
                    out[label][c].append(r)
                    print(
                        f"  {label} run {run + 1} c={c}: {r.rps:.0f} req/s "
                        f"p50 {r.p50_ms:.2f} ms p99 {r.p99_ms:.2f} ms cpu {r.cpu_us:.0f} us/req",
                        flush=True,
                    )
    finally:
        for proc in procs:
            proc.terminate()
            await proc.wait()
    return out


def median(results: list[Result]) -> Result:
    return Result(
        rps=statistics.median(r.rps for r in results),
        p50_ms=statistics.median(r.p50_ms for r in results),
        p99_ms=statistics.median(r.p99_ms for r in results),
        cpu_us=statistics.median(r.cpu_us for r in results),
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--kserve-python",
        default=os.environ.get("KSERVE_PYTHON"),
        help="python of a separate venv with kserve (default $KSERVE_PYTHON)",
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    parser.add_argument(
        "--client",
        choices=["wrk", "aiohttp"],
        default="wrk" if shutil.which("wrk") else "aiohttp",
        help="load generator: wrk (C; default when installed) or a Python aiohttp client, which "
        "on a 2-core machine takes CPU from the server under test",
    )
    args = parser.parse_args()
    if not args.kserve_python:
        sys.exit(
            "needs KServe in its own venv: python3 -m venv /tmp/kserve-venv && /tmp/kserve-venv/"
            "bin/pip install kserve scikit-learn joblib; then --kserve-python "
            "/tmp/kserve-venv/bin/python (or KSERVE_PYTHON)"
        )
    sys.path.insert(0, str(ROOT / "bench"))
    models = ensure_example_models(Path(tempfile.mkdtemp(prefix="minikn-bench-")), ["sklearn-iris"])
    model_dir = str(models["sklearn-iris"])
    p1, p2 = free_port(), free_port()
    minikn_cmd = [
        sys.executable,
        "-m",
        "minikn.modelserver",
        "--model_name",
        "iris",
        "--model_dir",
        model_dir,
        "--http_port",
        str(p1),
        "--host",
        "127.0.0.1",
    ]
    kserve_cmd = [
        args.kserve_python,
        str(ROOT / "bench" / "modelserver_kserve_model.py"),
        "--model_name",
        "iris",
        "--model_dir",
        model_dir,
        "--http_port",
        str(p2),
    ]
    results = await bench_all({"kserve": (kserve_cmd, p2), "minikn": (minikn_cmd, p1)}, args)
    kserve, minikn = results["kserve"], results["minikn"]
    print()
    print(
        f"median of {args.runs} runs, {args.seconds:.0f} s each "
        f"(after {args.warmup:.0f} s warm-up), client {args.client}"
    )
    print(
        f"{'c':>3} | {'KServe req/s':>12} | {'minikn req/s':>12} | {'ratio':>5} | "
        f"{'KServe p50/p99 ms':>17} | {'minikn p50/p99 ms':>17} | "
        f"{'CPU us/req KServe/minikn':>24}"
    )
    for c in args.concurrency:
        k, m = median(kserve[c]), median(minikn[c])
        print(
            f"{c:>3} | {k.rps:>12.0f} | {m.rps:>12.0f} | {m.rps / k.rps:>5.2f} | "
            f"{k.p50_ms:>7.2f} / {k.p99_ms:>7.2f} | {m.p50_ms:>7.2f} / {m.p99_ms:>7.2f} | "
            f"{k.cpu_us:>11.0f} / {m.cpu_us:<10.0f}"
        )


if __name__ == "__main__":
    asyncio.run(main())
