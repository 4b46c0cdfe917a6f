"""The built-in model server's gRPC ModelInfer vs its own REST V2 infer, same process, same model.

    .venv/bin/python bench/modelserver_grpc.py --runs 3 --seconds 10 --warmup 2

One ``python -m minikn.modelserver`` (sklearn iris, ``--grpc_port``) serves both faces. The same
2x4 FP32 iris tensor goes as a V2 ``ModelInferRequest`` with ``raw_input_contents`` (tritonclient's
default) and as a V2 JSON ``infer`` body. Load generators, each in its own process so that the
client's CPU is never the server's:

- ``grpc``: ``grpc.aio`` with C calls in flight on one channel, the request serialized once and
  the response read as bytes (the client does as little Python per call as it can);
- ``rest``: the same closed loop with an aiohttp client (keep-alive), the like-for-like baseline;
- ``wrk`` (C) for REST when installed, the baseline whose client costs least.

Each configuration runs --runs times, interleaved (grpc, rest, wrk, grpc, ...); the table shows
medians, the gRPC/REST ratios and the server's CPU per request (user+system, all threads),
which a busy machine disturbs least.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import socket
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

IRIS = [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]
REST_BODY = json.dumps(
    {"inputs": [{"name": "input-0", "shape": [2, 4], "datatype": "FP32", "data": IRIS}]}
).encode()


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us: float


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the load generators (run as child processes: --client-mode) ----------------------------
def grpc_request() -> bytes:
    import numpy as np

    from minikn.modelserver.grpc import grpc_predict_v2_pb2 as pb

    request = pb.ModelInferRequest(model_name="iris")
    request.inputs.add(name="input-0", datatype="FP32", shape=[2, 4])
    request.raw_input_contents.append(np.asarray(IRIS, dtype="<f4").tobytes())
    return request.SerializeToString()


async def closed_loop(call: object, concurrency: int, seconds: float, warmup: float) -> None:
    """C workers calling back to back; prints START/END marks (the parent samples the server's
    CPU at each) and the latencies' summary as JSON."""
    latencies: list[float] = []
    start = time.perf_counter()
    measure_from, stop_at = start + warmup, start + warmup + seconds
    assert callable(call)

    async def worker() -> None:
        while True:
            t0 = time.perf_counter()
            if t0 >= stop_at:
                return
            await call()
            if t0 >= measure_from:
                latencies.append(time.perf_counter() - t0)

    async def marks() -> None:
        await asyncio.sleep(warmup)
        print("START", flush=True)
        await asyncio.sleep(seconds)
        print("END", flush=True)

    await asyncio.gather(marks(), *(worker() for _ in range(concurrency)))
    latencies.sort()
    print(
        json.dumps(
            {
                "count": len(latencies),
                "p50": latencies[len(latencies) // 2],
                "p99": latencies[int(len(latencies) * 0.99)],
            }
        ),
        flush=True,
    )


async def grpc_client(target: str, concurrency: int, seconds: float, warmup: float) -> None:
    from grpc import aio

    from minikn.modelserver.grpc import grpc_predict_v2_pb2 as pb

    body = grpc_request()
    async with aio.insecure_channel(target) as channel:
        infer = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer")
        reply = pb.ModelInferResponse.FromString(await infer(body))
        if reply.outputs[0].name != "output-0":
            raise RuntimeError(f"unexpected response {reply}")

        async def call() -> None:
            await infer(body)

        await closed_loop(call, concurrency, seconds, warmup)


async def rest_client(url: str, concurrency: int, seconds: float, warmup: float) -> None:
    import aiohttp

    headers = {"Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def call() -> None:
            async with session.post(url, data=REST_BODY, headers=headers) as resp:
                await resp.read()
                if resp.status != 200:
                    raise RuntimeError(f"{url}: HTTP {resp.status}")

        await closed_loop(call, concurrency, seconds, warmup)


# -- the parent: server, runs, table ---------------------------------------------------------
def cpu_seconds(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


async def run_client(
    mode: str, target: str, c: int, args: argparse.Namespace, server: psutil.Process
) -> Result:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--client-mode",
        mode,
        "--target",
        target,
        "--concurrency",
        str(c),
        "--seconds",
        str(args.seconds),
        "--warmup",
        str(args.warmup),
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    marks: list[float] = []
    summary: dict[str, float] = {}
    async for line in proc.stdout:
        text = line.decode().strip()
        if text in ("START", "END"):
            marks.append(cpu_seconds(server))
        elif text.startswith("{"):
            summary = json.loads(text)
    if await proc.wait() != 0 or len(marks) != 2 or not summary:
        raise RuntimeError(f"{mode} client failed")
    count = summary["count"]
    return Result(
        rps=count / args.seconds,
        p50_ms=summary["p50"] * 1000,
        p99_ms=summary["p99"] * 1000,
        cpu_us=(marks[1] - marks[0]) / max(count, 1) * 1e6,
    )


async def run_wrk(url: str, c: int, args: argparse.Namespace, server: psutil.Process) -> Result:
    from wrk import wrk  # bench/wrk.py

    headers = {"Content-Type": "application/json"}
    await asyncio.to_thread(wrk, url, c, args.warmup, method="POST", body=REST_BODY,
                            headers=headers)  # fmt: skip
    before = cpu_seconds(server)
    r = await asyncio.to_thread(wrk, url, c, args.seconds, method="POST", body=REST_BODY,
                                headers=headers)  # fmt: skip
    if r.non_2xx:
        raise RuntimeError(f"{url}: {r.non_2xx} non-2xx answers")
    cpu = cpu_seconds(server) - before
    return Result(rps=r.rps, p50_ms=r.p50_ms, p99_ms=r.p99_ms, cpu_us=cpu / r.requests * 1e6)


async def wait_ready(url: str, deadline_s: float = 60.0) -> None:
    import aiohttp

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


def median(results: list[Result]) -> Result:
    return Result(
        rps=statistics.median(r.rps for r in results),
        p50_ms=statistics.median(r.p50_ms for r in results),
        p99_ms=statistics.median(r.p99_ms for r in results),
        cpu_us=statistics.median(r.cpu_us for r in results),
    )


async def parent(args: argparse.Namespace) -> None:
    from minikn.modelserver.examples import ensure_example_models

    sys.path.insert(0, str(ROOT / "bench"))
    models = ensure_example_models(Path(tempfile.mkdtemp(prefix="minikn-bench-")), ["sklearn-iris"])
    http_port, grpc_port = free_port(), free_port()
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "minikn.modelserver",
        "--model_name",
        "iris",
        "--model_dir",
        str(models["sklearn-iris"]),
        "--host",
        "127.0.0.1",
        "--http_port",
        str(http_port),
        "--grpc_port",
        str(grpc_port),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{http_port}/v2/models/iris/infer"
    modes = ["grpc", "rest"] + (["wrk"] if args.wrk else [])
    out: dict[str, dict[int, list[Result]]] = {m: {c: [] for c in args.concurrency} for m in modes}
    try:
        await wait_ready(f"http://127.0.0.1:{http_port}/v2/models/iris/ready")
        ps = psutil.Process(server.pid)
        for run in range(args.runs):
            for c in args.concurrency:
                for mode in modes:
                    if mode == "wrk":
                        r = await run_wrk(url, c, args, ps)
                    else:
                        target = f"127.0.0.1:{grpc_port}" if mode == "grpc" else url
                        r = await run_client(mode, target, c, args, ps)
                    out[mode][c].append(r)
                    print(
                        f"  run {run + 1} c={c} {mode}: {r.rps:.0f} req/s p50 {r.p50_ms:.2f} ms "
                        f"p99 {r.p99_ms:.2f} ms server cpu {r.cpu_us:.0f} us/req",
                        flush=True,
                    )
    finally:
        server.terminate()
        await server.wait()
    print(f"\nmedian of {args.runs} runs, {args.seconds:.0f} s each after {args.warmup:.0f} s")
    print(f"{'c':>3} | {'face (client)':<20} | {'req/s':>6} | {'p50 / p99 ms':>15} | cpu us/req")
    names = {"grpc": "gRPC (grpc.aio)", "rest": "REST V2 (aiohttp)", "wrk": "REST V2 (wrk)"}
    for c in args.concurrency:
        med = {m: median(out[m][c]) for m in modes}
        for m in modes:
            r = med[m]
            print(
                f"{c:>3} | {names[m]:<20} | {r.rps:>6.0f} | {r.p50_ms:>6.2f} / {r.p99_ms:>6.2f} |"
                f" {r.cpu_us:>6.0f}"
            )
        g = med["grpc"]
        for m in modes[1:]:
            b = med[m]
            print(
                f"    gRPC / {names[m]}: throughput {g.rps / b.rps:.2f}x, p50 "
                f"{g.p50_ms / b.p50_ms:.2f}x, server cpu/req {g.cpu_us / b.cpu_us:.2f}x"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 32])
    parser.add_argument(
        "--no-wrk", dest="wrk", action="store_false", help="skip the wrk REST baseline"
    )
    parser.add_argument("--client-mode", choices=["grpc", "rest"], help=argparse.SUPPRESS)
    parser.add_argument("--target", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.wrk and not shutil.which("wrk"):
        args.wrk = False
    if args.client_mode is not None:
        client = grpc_client if args.client_mode == "grpc" else rest_client
        c = args.concurrency[0]
        asyncio.run(client(args.target, c, args.seconds, args.warmup))
        return
    asyncio.run(parent(args))


if __name__ == "__main__":
    main()
