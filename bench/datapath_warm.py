"""Warm-path benchmark: one load generator (wrk) against a trivial replica, directly and through
minikn's router + activator, in the same run, at concurrency 1, 10 and 50. The activator has the
trace and agent middlewares, wired as ``minikn serve`` wires them (the revision sets no logger or
batcher).

    python bench/datapath_warm.py [--duration 5] [--runs 3]
        [--upstream raw|aiohttp|modelserver|kserve]

Prints, per concurrency, throughput direct and through minikn, their ratio, and the added p50/p99
latency (medians over the runs), plus the ratio a straightforward aiohttp client+server proxy
reaches against the same replica in the same run (the yardstick the issue names).
Needs ``wrk`` on PATH (``apt-get install wrk``).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time

import psutil
from loopback import serve_fixed_answer, use_uvloop
from wrk import wrk

_BODY = b'{"predictions": [1]}'
_RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%b" % (
    len(_BODY),
    _BODY,
)


_IRIS = b'{"instances": [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]}'
"""The V1 request sent to the model-server replicas (POST); the others get a bodyless GET."""


def serve_upstream(port: int, kind: str) -> None:
    if kind in ("modelserver", "kserve"):
        _exec_model_server(port, kind)
    use_uvloop()
    if kind == "aiohttp":
        from aiohttp import web

        async def hello(request: web.Request) -> web.Response:
            await request.read()
            return web.Response(body=_BODY, content_type="application/json")

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", hello)
        web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)
        return

    serve_fixed_answer(port, _RESPONSE)


def _exec_model_server(port: int, kind: str) -> None:
    """Become a model server serving the example sklearn iris model as ``hello``: minikn's own,
    or KServe's ModelServer (its ``kserve`` package in another virtualenv: ``KSERVE_PYTHON``)."""
    import tempfile
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root))
    from minikn.modelserver.examples import ensure_example_models

    models = ensure_example_models(Path(tempfile.mkdtemp(prefix="minikn-bench-")), ["sklearn-iris"])
    args = ["--model_name", "hello", "--model_dir", str(models["sklearn-iris"])]
    args += ["--http_port", str(port)]
    if kind == "modelserver":
        os.execv(sys.executable, [sys.executable, "-m", "minikn.modelserver", *args])
    python = os.environ.get("KSERVE_PYTHON")
    if not python:
        sys.exit("--upstream kserve needs KSERVE_PYTHON: a python with kserve and scikit-learn")
    os.execv(python, [python, str(root / "bench" / "modelserver_kserve_model.py"), *args])


def serve_minikn(
    port: int, upstream_port: int, tracing_endpoint: str | None = None, rate: float = 1.0
) -> None:
    """``tracing_endpoint``: export the hops' spans there over OTLP/HTTP (sampled at ``rate``)."""
    use_uvloop()

    async def main() -> None:
        await start_data_path(port, upstream_port, tracing_endpoint, rate)
        await asyncio.Event().wait()

    asyncio.run(main())


async def start_data_path(
    port: int, upstream_port: int, tracing_endpoint: str | None = None, rate: float = 1.0
) -> tuple[object, object]:
    """Router + activator on ``port`` for one revision whose replica listens on ``upstream_port``,
    wired as ``minikn serve`` wires them; returns them (keep them referenced).
    ``tracing_endpoint``: export the hops' spans there over OTLP/HTTP (sampled at ``rate``)."""
    from minikn.activator import Activator
    from minikn.activator.agent import AgentMiddleware, TraceMiddleware, trace_middleware
    from minikn.config import Settings
    from minikn.core.clock import SystemClock
    from minikn.core.endpoints import DiscardStats, Endpoint
    from minikn.core.revision import ContainerSpec, RevisionSpec
    from minikn.core.routes import ComponentRoute, IsvcRoute, RouteTable, TrafficTarget
    from minikn.router import Router
    from minikn.telemetry.metrics import Metrics
    from minikn.telemetry.tracing import new_tracer

    settings, clock, metrics, sink = Settings(), SystemClock(), Metrics(), DiscardStats()
    spec = RevisionSpec(
        name="hello-predictor-00001",
        isvc="hello",
        component="predictor",
        generation=1,
        container=ContainerSpec(),
    )
    # The middlewares exactly as ``minikn serve`` wires them (minikn.platform.dataplane).
    agents = AgentMiddleware(metrics=metrics, clock=clock)
    traces = trace_middleware
    if tracing_endpoint:
        tracer = new_tracer("http/protobuf", tracing_endpoint, rate, service="minikn")
        traces = TraceMiddleware(tracer=tracer)
    activator = Activator(
        settings,
        clock=clock,
        stats=sink,
        poker=sink,
        metrics=metrics,
        middlewares=[traces, agents],
    )
    activator.upsert_revision(spec)
    activator.set_endpoints(spec.name, [Endpoint("r1", "127.0.0.1", upstream_port)])
    router = Router(settings, activator, clock=clock, metrics=metrics)
    target = TrafficTarget(revision=spec.name, percent=100)
    comp = ComponentRoute(component="predictor", targets=(target,))
    router.update_routes(RouteTable(isvcs=(IsvcRoute(name="hello", components=(comp,)),)))
    await activator.start()
    await router.start("127.0.0.1", port)
    return router, activator


def serve_aiohttp_proxy(port: int, upstream_port: int) -> None:
    """The issue's yardstick: a straightforward aiohttp server + pooled aiohttp client proxy."""
    from aiohttp import ClientSession, TCPConnector, web

    use_uvloop()
    upstream = f"http://127.0.0.1:{upstream_port}"

    async def main() -> None:
        session = ClientSession(connector=TCPConnector(limit=0))

        async def proxy(request: web.Request) -> web.Response:
            body = await request.read()
            async with session.request(
                request.method, upstream + request.path_qs, data=body, headers=request.headers
            ) as resp:
                return web.Response(
                    status=resp.status, body=await resp.read(), content_type=resp.content_type
                )

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", proxy)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        await asyncio.Event().wait()

    asyncio.run(main())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, deadline: float = 20.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument(
        "--upstream",
        choices=["raw", "aiohttp", "modelserver", "kserve"],
        default="raw",
        help="the replica: a raw asyncio protocol (fastest), an aiohttp hello app, minikn's model "
        "server or KServe's ModelServer (KSERVE_PYTHON) serving the sklearn iris example",
    )
    parser.add_argument("--serve-upstream", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve-minikn", type=int, nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--serve-aiohttp-proxy", type=int, nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_aiohttp_proxy is not None:
        serve_aiohttp_proxy(*args.serve_aiohttp_proxy)
        return
    if args.serve_upstream is not None:
        serve_upstream(args.serve_upstream, args.upstream)
        return
    if args.serve_minikn is not None:
        serve_minikn(*args.serve_minikn)
        return
    if shutil.which("wrk") is None:
        sys.exit("wrk not found: apt-get install wrk")
    up_port, kn_port, px_port = _free_port(), _free_port(), _free_port()
    me = os.path.abspath(__file__)
    procs = [
        subprocess.Popen(
            [sys.executable, me, "--serve-upstream", str(up_port), "--upstream", args.upstream]
        ),
        subprocess.Popen([sys.executable, me, "--serve-minikn", str(kn_port), str(up_port)]),
        subprocess.Popen([sys.executable, me, "--serve-aiohttp-proxy", str(px_port), str(up_port)]),
    ]
    try:
        _wait_port(up_port, 60.0)
        _wait_port(kn_port)
        _wait_port(px_port)
        if args.upstream in ("modelserver", "kserve"):
            load = functools.partial(
                wrk, method="POST", body=_IRIS, headers={"Content-Type": "application/json"}
            )
        else:
            load = wrk
        proxy_url = f"http://127.0.0.1:{px_port}/v1/models/hello:predict"
        load(proxy_url, 10, 1.0)
        direct_url = f"http://127.0.0.1:{up_port}/v1/models/hello:predict"
        minikn_url = f"http://127.0.0.1:{kn_port}/v1/models/hello:predict"
        load(minikn_url, 10, 1.0)  # warm-up: pooled connections, caches
        minikn_proc = psutil.Process(procs[1].pid)
        rows = []
        for c in args.concurrency:
            runs = []
            for _ in range(args.runs):
                d = load(direct_url, c, args.duration)
                cpu = minikn_proc.cpu_times()
                k = load(minikn_url, c, args.duration)
                after = minikn_proc.cpu_times()
                spent = (after.user + after.system) - (cpu.user + cpu.system)
                us_per_request = spent / k.requests * 1e6
                px = load(proxy_url, c, args.duration)
                runs.append(
                    (
                        (d.rps, d.p50_ms, d.p99_ms),
                        (k.rps, k.p50_ms, k.p99_ms),
                        k.rps / d.rps,
                        k.p50_ms - d.p50_ms,
                        k.p99_ms - d.p99_ms,
                        us_per_request,
                        px.rps / d.rps,
                    )
                )
            med = [statistics.median(r[i][j] for r in runs) for i in (0, 1) for j in (0, 1, 2)]
            ratio, add50, add99, cpu_us, px_ratio = (
                statistics.median(r[i] for r in runs) for i in (2, 3, 4, 5, 6)
            )
            rows.append((c, med, ratio, add50, add99, cpu_us, px_ratio))
        print(
            f"{'conc':>4} {'direct rps':>11} {'minikn rps':>11} {'ratio':>6} "
            f"{'direct p50':>10} {'minikn p50':>10} {'added p50':>9} {'added p99':>9} "
            f"{'minikn CPU/request':>18} {'aiohttp-proxy ratio':>19}"
        )
        for c, med, ratio, add50, add99, cpu_us, px_ratio in rows:
            print(
                f"{c:>4} {med[0]:>11.0f} {med[3]:>11.0f} {ratio:>6.2f} "
                f"{med[1]:>8.3f}ms {med[4]:>8.3f}ms {add50:>7.3f}ms {add99:>7.3f}ms "
                f"{cpu_us:>16.0f}us {px_ratio:>19.2f}"
            )
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=10)


if __name__ == "__main__":
    main()
