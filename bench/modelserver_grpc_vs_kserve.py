"""minikn's built-in model server's gRPC ModelInfer vs KServe's own model server's gRPC, same model.

    .venv/bin/python bench/modelserver_grpc_vs_kserve.py --kserve-python KSERVE_VENV/bin/python \\
        [--runs 3] [--seconds 10] [--warmup 2] [--concurrency 1 32] [--clients 2]

Both servers serve the same sklearn iris model with one worker process each: ``python -m
minikn.modelserver --grpc_port G`` and KServe's ``ModelServer`` with its gRPC server enabled
(bench/modelserver_kserve_model.py ``--grpc_port G``: a ``kserve.Model`` with sklearnserver's
predict path, under a separate virtualenv holding ``kserve``). Both are up at once and the runs
interleave (KServe, minikn, KServe, ...) so a change in background load hits both alike.

The same ``inference.GRPCInferenceService/ModelInfer`` call goes to both: a 2x4 FP32 tensor as
``raw_input_contents`` (tritonclient's default), serialized once. Load: closed loops of
``grpc.aio`` calls on one channel per process, in processes of their own (one at concurrency 1,
``--clients`` above), so the generator's CPU is never the server's. Each server's first answer is
decoded and the two must predict the same classes.

The table shows medians of throughput, p50/p99 and the server's CPU per call (user+system, all
threads: the steadiest measure on a busy machine), and the medians of the same-run minikn/KServe
ratios. Goal (issue 16 (b)): >= 2x KServe's throughput, lower p50.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
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
METHOD = "/inference.GRPCInferenceService/ModelInfer"


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


def request_bytes() -> bytes:
    import numpy as np

    from minikn.modelserver.grpc import grpc_predict_v2_pb2 as pb

    request = pb.ModelInferRequest(model_name="iris")
    request.inputs.add(name="input-0", datatype="FP32", shape=[2, 4])
    request.raw_input_contents.append(np.asarray(IRIS, dtype="<f4").tobytes())
    return request.SerializeToString()


# -- the load generator (child processes: --client) -----------------------------------------
async def client(target: str, c: int, seconds: float, warmup: float) -> None:
    """C calls in flight on one channel; prints START/END marks (the parent samples the server's
    CPU at each), then the measured latencies as JSON."""
    from grpc import aio

    body = request_bytes()
    async with aio.insecure_channel(target) as channel:
        infer = channel.unary_unary(METHOD)
        await infer(body)
        latencies: list[float] = []
        start = time.perf_counter()
        measure_from, stop_at = start + warmup, start + warmup + seconds

        async def worker() -> None:
            while (t0 := time.perf_counter()) < stop_at:
                await infer(body)
                if t0 >= measure_from:
                    latencies.append(time.perf_counter() - t0)

        async def marks() -> None:
            await asyncio.sleep(warmup)
            print("START", flush=True)
            await asyncio.sleep(seconds)
            print("END", flush=True)

        await asyncio.gather(marks(), *(worker() for _ in range(c)))
    print(json.dumps(latencies), flush=True)


# -- the parent ------------------------------------------------------------------------------
def cpu_seconds(proc: psutil.Process) -> float:
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            times = p.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


async def load(
    target: str, c: int, args: argparse.Namespace, server: psutil.Process, processes: int
) -> Result:
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--client",
            target,
            str(c // processes),
            str(args.seconds),
            str(args.warmup),
            stdout=asyncio.subprocess.PIPE,
            limit=2**26,
        )
        for _ in range(processes)
    ]
    marks: list[float] = []
    latencies: list[float] = []

    async def read(proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        async for line in proc.stdout:
            text = line.decode().strip()
            if text in ("START", "END"):
                marks.append(cpu_seconds(server))
            elif text.startswith("["):
                latencies.extend(json.loads(text))
        if await proc.wait() != 0:
            raise RuntimeError(f"a client of {target} failed")

    await asyncio.gather(*(read(p) for p in procs))
    latencies.sort()
    n = len(latencies)
    return Result(
        rps=n / args.seconds,
        p50_ms=latencies[n // 2] * 1e3,
        p99_ms=latencies[int(n * 0.99)] * 1e3,
        cpu_us=(max(marks) - min(marks)) / n * 1e6,
    )


async def predictions(target: str, deadline_s: float = 120.0) -> list[int]:
    """The classes a server predicts for IRIS, once its gRPC face answers (waits for it)."""
    import grpc
    import numpy as np
    from grpc import aio

    from minikn.modelserver.grpc import grpc_predict_v2_pb2 as pb

    end = time.monotonic() + deadline_s
    async with aio.insecure_channel(target) as channel:
        infer = channel.unary_unary(METHOD)
        while True:
            try:
                reply = pb.ModelInferResponse.FromString(await infer(request_bytes(), timeout=5))
                break
            except grpc.RpcError:
                if time.monotonic() > end:
                    raise
                await asyncio.sleep(0.2)
    out = reply.outputs[0]
    dtype = {"INT64": "<i8", "INT32": "<i4", "FP32": "<f4", "FP64": "<f8"}[out.datatype]
    if reply.raw_output_contents:
        return [int(v) for v in np.frombuffer(reply.raw_output_contents[0], dtype=dtype)]
    contents = out.contents
    values = {
        "INT64": contents.int64_contents,
        "INT32": contents.int_contents,
        "FP32": contents.fp32_contents,
        "FP64": contents.fp64_contents,
    }[out.datatype]
    return [int(v) for v in values]


def median(results: list[Result]) -> Result:
    return Result(
        rps=statistics.median(r.rps for r in results),
        p50_ms=statistics.median(r.p50_ms for r in results),
        p99_ms=statistics.median(r.p99_ms for r in results),
        cpu_us=statistics.median(r.cpu_us for r in results),
    )


async def parent(args: argparse.Namespace) -> None:
    from minikn.modelserver.examples import ensure_example_models

    models = ensure_example_models(Path(tempfile.mkdtemp(prefix="minikn-bench-")), ["sklearn-iris"])
    model_dir = str(models["sklearn-iris"])
    ports = {name: (free_port(), free_port()) for name in ("kserve", "minikn")}
    cmds = {
        "kserve": [
            args.kserve_python, str(ROOT / "bench" / "modelserver_kserve_model.py"),
            "--model_name", "iris", "--model_dir", model_dir,
            "--http_port", str(ports["kserve"][0]), "--grpc_port", str(ports["kserve"][1]),
        ],
        "minikn": [
            sys.executable, "-m", "minikn.modelserver",
            "--model_name", "iris", "--model_dir", model_dir, "--host", "127.0.0.1",
            "--http_port", str(ports["minikn"][0]), "--grpc_port", str(ports["minikn"][1]),
        ],
    }  # fmt: skip
    procs = {
        name: await asyncio.create_subprocess_exec(
            *cmd, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
        )
        for name, cmd in cmds.items()
    }
    targets = {name: f"127.0.0.1:{grpc}" for name, (_, grpc) in ports.items()}
    out: dict[str, dict[int, list[Result]]] = {n: {c: [] for c in args.concurrency} for n in procs}
    try:
        classes = {name: await predictions(target) for name, target in targets.items()}
        if classes["kserve"] != classes["minikn"]:
            raise RuntimeError(f"the servers disagree: {classes}")
        print(f"both predict {classes['minikn']}", flush=True)
        for run in range(args.runs):
            for c in args.concurrency:
                processes = 1 if c == 1 else args.clients
                for name, proc in procs.items():
                    r = await load(targets[name], c, args, psutil.Process(proc.pid), processes)
                    out[name][c].append(r)
                    print(
                        f"  {name} run {run + 1} c={c}: {r.rps:.0f} calls/s p50 {r.p50_ms:.2f} "
                        f"ms p99 {r.p99_ms:.2f} ms server cpu {r.cpu_us:.0f} us/call "
                        f"(load avg {os.getloadavg()[0]:.1f})",
                        flush=True,
                    )
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            await proc.wait()
    print(
        f"\nmedian of {args.runs} runs, {args.seconds:g} s each after {args.warmup:g} s warm-up; "
        "ratios are medians of same-run ratios"
    )
    print(
        f"{'c':>3} | {'KServe calls/s':>14} | {'minikn calls/s':>14} | {'ratio':>5} | "
        f"{'KServe p50/p99 ms':>17} | {'minikn p50/p99 ms':>17} | {'p50 ratio':>9} | "
        "server CPU us/call KServe/minikn"
    )
    for c in args.concurrency:
        ks, mk = out["kserve"][c], out["minikn"][c]
        k, m = median(ks), median(mk)
        ratio = statistics.median(b.rps / a.rps for a, b in zip(ks, mk, strict=True))
        p50_ratio = statistics.median(b.p50_ms / a.p50_ms for a, b in zip(ks, mk, strict=True))
        print(
            f"{c:>3} | {k.rps:>14.0f} | {m.rps:>14.0f} | {ratio:>5.2f} | "
            f"{k.p50_ms:>7.2f} / {k.p99_ms:>7.2f} | {m.p50_ms:>7.2f} / {m.p99_ms:>7.2f} | "
            f"{p50_ratio:>9.2f} | {k.cpu_us:>6.0f} / {m.cpu_us:<6.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--kserve-python",
        default=os.environ.get("KSERVE_PYTHON"),
        help="python of a separate venv with kserve and scikit-learn (default $KSERVE_PYTHON)",
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--clients", type=int, default=2, help="client processes above c=1")
    parser.add_argument("--client", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        target, c, seconds, warmup = args.client
        asyncio.run(client(target, int(c), float(seconds), float(warmup)))
        return
    if not args.kserve_python:
        sys.exit(
            "needs KServe in its own venv: python3 -m venv VENV && VENV/bin/pip install "
            "'kserve==0.21.*' scikit-learn joblib; then --kserve-python VENV/bin/python "
            "(or KSERVE_PYTHON)"
        )
    asyncio.run(parent(args))


if __name__ == "__main__":
    main()
