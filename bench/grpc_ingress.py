"""gRPC through minikn (router h2c + activator + h2c upstream) vs the same replica called directly.

    .venv/bin/python bench/grpc_ingress.py [--runs 3] [--seconds 5] [--warmup 1]
        [--concurrency 1 64] [--clients 2] [--replica modelserver|grpcio]

The replica (``--replica``) runs in its own process: ``modelserver`` is minikn's model server
(sklearn iris, ``--grpc_port``); ``grpcio`` is a server on grpcio's own ``grpc.aio`` stack, the
one KServe's model server and most Python gRPC containers run on, answering every ModelInfer
with the same prepared response and doing no work (the gRPC counterpart of section 5's aiohttp
hello replica). minikn is
the router and activator wired as ``minikn serve`` wires them (trace and agent middlewares) in
another, its revision's endpoint the replica's gRPC port. The same ``ModelInferRequest`` (2x4 FP32,
``raw_input_contents``) goes direct to the replica and through minikn with the ISVC's host as
``:authority``. Load: closed loops of ``grpc.aio`` calls (the request serialized once, the answer
read as bytes) in ``--clients`` processes of their own (one at concurrency 1), each on one
channel, so the generator's CPU is never the server's. ``h2load`` cannot frame gRPC and ``ghz`` is
not packaged for Debian, so the generator is Python; at saturation it adds processes, not
concurrency in one.

Each configuration runs ``--runs`` times, direct and minikn interleaved; the table shows medians of
throughput, of their same-run ratio and of the added p50/p99 (minikn's minus direct's, same run),
and minikn's CPU per call. Goals (issue 16): added p50 < 1 ms at concurrency 1, throughput >= 50 %
of direct at saturation.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HOST = "hello.default.example.com"
IRIS = [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]
METHOD = "/inference.GRPCInferenceService/ModelInfer"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, deadline: float = 60.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def wait_ready(http_port: int, deadline: float = 120.0) -> None:
    """Until the replica's model is loaded (V2 ready)."""
    import urllib.error
    import urllib.request

    end = time.monotonic() + deadline
    url = f"http://127.0.0.1:{http_port}/v2/health/ready"
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the replica on {http_port} never became ready")


# -- the servers (child processes) ----------------------------------------------------------
def serve_replica(http_port: int, grpc_port: int) -> None:
    from minikn.modelserver.examples import ensure_example_models

    models = ensure_example_models(Path(tempfile.mkdtemp(prefix="minikn-bench-")), ["sklearn-iris"])
    args = ["--model_name", "hello", "--model_dir", str(models["sklearn-iris"])]
    args += ["--http_port", str(http_port), "--grpc_port", str(grpc_port)]
    os.execv(sys.executable, [sys.executable, "-m", "minikn.modelserver", *args])


def serve_grpcio_replica(grpc_port: int) -> None:
    import grpc
    import numpy as np
    from grpc import aio

    from minikn.modelserver.grpc import grpc_predict_v2_pb2 as pb

    answer = pb.ModelInferResponse(
        model_name="hello",
        outputs=[
            pb.ModelInferResponse.InferOutputTensor(name="output-0", datatype="INT64", shape=[2])
        ],
        raw_output_contents=[np.array([1, 1], dtype=np.int64).tobytes()],
    ).SerializeToString()

    async def infer(request: bytes, context: object) -> bytes:
        return answer

    handler = grpc.method_handlers_generic_handler(
        "inference.GRPCInferenceService", {"ModelInfer": grpc.unary_unary_rpc_method_handler(infer)}
    )

    async def main() -> None:
        server = aio.server()
        server.add_generic_rpc_handlers((handler,))
        server.add_insecure_port(f"127.0.0.1:{grpc_port}")
        await server.start()
        await server.wait_for_termination()

    asyncio.run(main())


def serve_minikn(port: int, http_port: int, grpc_port: int) -> None:
    from loopback import use_uvloop

    use_uvloop()
    from minikn.activator import Activator
    from minikn.activator.agent import AgentMiddleware, trace_middleware
    from minikn.config import Settings
    from minikn.core.clock import SystemClock
    from minikn.core.endpoints import DiscardStats, Endpoint
    from minikn.core.revision import ContainerSpec, RevisionSpec
    from minikn.core.routes import ComponentRoute, IsvcRoute, RouteTable, TrafficTarget
    from minikn.router import Router
    from minikn.telemetry.metrics import Metrics

    async def main() -> None:
        settings, clock, metrics, sink = Settings(), SystemClock(), Metrics(), DiscardStats()
        spec = RevisionSpec(
            name="hello-predictor-00001", isvc="hello", component="predictor", generation=1,
            container=ContainerSpec(grpc_port=8081),
        )  # fmt: skip
        agents = AgentMiddleware(metrics=metrics, clock=clock)
        activator = Activator(settings, clock=clock, stats=sink, poker=sink, metrics=metrics,
                              middlewares=[trace_middleware, agents])  # fmt: skip
        activator.upsert_revision(spec)
        endpoint = Endpoint("r1", "127.0.0.1", http_port, grpc_port=grpc_port)
        activator.set_endpoints(spec.name, [endpoint])
        router = Router(settings, activator, clock=clock, metrics=metrics)
        comp = ComponentRoute(
            component="predictor", targets=(TrafficTarget(revision=spec.name, percent=100),)
        )
        router.update_routes(RouteTable(isvcs=(IsvcRoute(name="hello", components=(comp,)),)))
        await activator.start()
        await router.start("127.0.0.1", port)
        await asyncio.Event().wait()

    asyncio.run(main())


# -- the load generator (child processes) ---------------------------------------------------
def request_bytes() -> bytes:
    import numpy as np

    from minikn.modelserver.grpc import grpc_predict_v2_pb2 as pb

    request = pb.ModelInferRequest(model_name="hello")
    request.inputs.add(name="input-0", datatype="FP32", shape=[2, 4])
    request.raw_input_contents.append(np.asarray(IRIS, dtype="<f4").tobytes())
    return request.SerializeToString()


async def client(target: str, authority: str | None, c: int, seconds: float, warmup: float) -> None:
    """C calls in flight on one channel; prints START/END marks (the parent samples minikn's CPU
    at each), then the measured latencies as JSON."""
    from grpc import aio

    from minikn.modelserver.grpc import grpc_predict_v2_pb2 as pb

    body = request_bytes()
    options = [("grpc.default_authority", authority)] if authority else []
    async with aio.insecure_channel(target, options=options) as channel:
        infer = channel.unary_unary(METHOD)
        reply = pb.ModelInferResponse.FromString(await infer(body))
        if reply.outputs[0].name != "output-0":
            raise RuntimeError(f"unexpected response {reply}")
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
    times = proc.cpu_times()
    return float(times.user + times.system)


async def load(
    target: str, authority: str | None, c: int, args: argparse.Namespace, minikn: psutil.Process,
    *, processes: int,
) -> tuple[float, float, float, float]:  # fmt: skip
    """(calls/s, p50 ms, p99 ms, minikn CPU µs per call) of one run."""
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--client",
            target,
            authority or "",
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
                marks.append(cpu_seconds(minikn))
            elif text.startswith("["):
                latencies.extend(json.loads(text))
        if await proc.wait() != 0:
            raise RuntimeError("a client failed")

    await asyncio.gather(*(read(p) for p in procs))
    latencies.sort()
    n = len(latencies)
    cpu = (max(marks) - min(marks)) / n * 1e6 if marks else 0.0
    return n / args.seconds, latencies[n // 2] * 1e3, latencies[int(n * 0.99)] * 1e3, cpu


async def bench(
    args: argparse.Namespace, ports: tuple[int, int, int], minikn: psutil.Process
) -> None:
    kn_port, _, grpc_port = ports
    direct, through = f"127.0.0.1:{grpc_port}", f"127.0.0.1:{kn_port}"
    await load(through, HOST, 4, argparse.Namespace(seconds=1.0, warmup=0.5), minikn, processes=1)
    rows = []
    for c in args.concurrency:
        processes = 1 if c == 1 else args.clients
        runs = []
        for _ in range(args.runs):
            d = await load(direct, None, c, args, minikn, processes=processes)
            k = await load(through, HOST, c, args, minikn, processes=processes)
            runs.append((d, k, k[0] / d[0], k[1] - d[1], k[2] - d[2]))
            print(
                f"  c={c}: direct {d[0]:.0f}/s p50 {d[1]:.2f} ms, minikn {k[0]:.0f}/s p50 "
                f"{k[1]:.2f} ms, ratio {k[0] / d[0]:.2f}, added p50 {k[1] - d[1]:.2f} ms, "
                f"minikn cpu {k[3]:.0f} us/call (load avg {os.getloadavg()[0]:.1f})",
                flush=True,
            )
        med = statistics.median
        rows.append((
            c, processes, med(r[0][0] for r in runs), med(r[1][0] for r in runs),
            med(r[2] for r in runs), med(r[0][1] for r in runs), med(r[1][1] for r in runs),
            med(r[3] for r in runs), med(r[4] for r in runs), med(r[1][3] for r in runs),
        ))  # fmt: skip
    print(
        f"{'conc':>4} {'procs':>5} {'direct/s':>9} {'minikn/s':>9} {'ratio':>6} "
        f"{'direct p50':>10} {'minikn p50':>10} {'added p50':>9} {'added p99':>9} {'cpu/call':>9}"
    )
    for c, p, drps, krps, ratio, dp50, kp50, add50, add99, cpu in rows:
        print(
            f"{c:>4} {p:>5} {drps:>9.0f} {krps:>9.0f} {ratio:>6.2f} {dp50:>8.2f}ms "
            f"{kp50:>8.2f}ms {add50:>7.2f}ms {add99:>7.2f}ms {cpu:>7.0f}µs"
        )
    print(f"(medians of {args.runs} runs, {args.seconds:g}s each; ratio and added are same-run)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--clients", type=int, default=2, help="client processes above c=1")
    parser.add_argument("--replica", choices=["modelserver", "grpcio"], default="modelserver")
    parser.add_argument("--serve-replica", type=int, nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--serve-grpcio", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve-minikn", type=int, nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--client", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_replica:
        serve_replica(*args.serve_replica)
        return
    if args.serve_grpcio:
        serve_grpcio_replica(args.serve_grpcio)
        return
    if args.serve_minikn:
        serve_minikn(*args.serve_minikn)
        return
    if args.client:
        target, authority, c, seconds, warmup = args.client
        asyncio.run(client(target, authority or None, int(c), float(seconds), float(warmup)))
        return
    ports = (free_port(), free_port(), free_port())
    kn_port, http_port, grpc_port = ports
    me = str(Path(__file__).resolve())
    replica = (
        ["--serve-replica", str(http_port), str(grpc_port)]
        if args.replica == "modelserver"
        else ["--serve-grpcio", str(grpc_port)]
    )
    procs = [
        subprocess.Popen(
            [sys.executable, me, *replica],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
        subprocess.Popen(
            [sys.executable, me, "--serve-minikn", str(kn_port), str(http_port), str(grpc_port)]
        ),
    ]
    try:
        if args.replica == "modelserver":
            wait_ready(http_port)
        else:
            wait_port(grpc_port)
        wait_port(kn_port)
        asyncio.run(bench(args, ports, psutil.Process(procs[1].pid)))
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=10)


if __name__ == "__main__":
    main()
