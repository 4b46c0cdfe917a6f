"""Warm-path throughput with the live dashboard open vs closed, in the same run.

    python bench/dashboard_warm.py [--duration 5] [--runs 3] [--concurrency 10]
        [--isvcs 1000] [--dashboards 3]

One process holds, on one event loop as ``minikn serve`` does: the data path (router + activator
with their middlewares, wired as ``bench/datapath_warm.py`` wires them) in front of a raw replica,
and the API with the dashboard's state endpoint over a controller holding ``--isvcs`` ISVCs (each
revision with replica and autoscaler status: the first :data:`WARM` warm, the rest at zero, as
ISVCs with ``minReplicas: 0`` and no requests are). wrk loads the data path with the dashboard
closed (nobody polls) and open (``--dashboards`` clients poll ``GET /api/v1/dashboard/state``
every second with the token, as the page does), alternating (closed first in odd runs, open first
in even ones, so a drift of the machine's load hits both), ``--runs`` times; prints the median
throughput of each and their ratio (goal: open within 5 %), and the minikn process's CPU time per
request in each (the cost of the open dashboard to the loop, less sensitive to the shared
machine's load than the throughput).
Each poller behaves as the page does: it names the catalog version, the tick and the newest event
it holds and the revision it charts, and sends the last ETag. The pollers run in a process of
their own (as a browser does), not in this one.
Needs ``wrk`` on PATH.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import psutil
from datapath_warm import _free_port, _wait_port, serve_upstream
from loopback import use_uvloop
from wrk import wrk

TOKEN = "bench-token"
WARM = 10
"""ISVCs whose revision is reported warm (one ready replica); the rest are at zero."""
ISVC = """---
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {{name: isvc-{i:04d}}}
spec:
  predictor:
    minReplicas: 0
    model: {{modelFormat: {{name: sklearn}}, storageUri: "file:///models/iris"}}
"""


def serve_minikn(port: int, upstream_port: int, api_port: int, isvcs: int) -> None:
    use_uvloop()
    import asyncio

    from aiohttp import web

    from minikn.activator import Activator
    from minikn.activator.agent import AgentMiddleware, trace_middleware
    from minikn.api.documents import parse_text
    from minikn.api.runtimes import default_registry
    from minikn.apiserver.dashboard.routes import add_dashboard_routes
    from minikn.apiserver.rest import create_api_app
    from minikn.config import Settings
    from minikn.controlplane.controller import Controller
    from minikn.controlplane.store import StateStore
    from minikn.core.clock import SystemClock
    from minikn.core.endpoints import DiscardStats, Endpoint
    from minikn.core.events import EventSink
    from minikn.core.revision import ContainerSpec, RevisionSpec
    from minikn.core.routes import ComponentRoute, IsvcRoute, RouteTable, TrafficTarget
    from minikn.router import Router
    from minikn.telemetry.metrics import Metrics

    async def main() -> None:
        settings, clock, metrics, sink = Settings(), SystemClock(), Metrics(), DiscardStats()
        spec = RevisionSpec(
            name="hello-predictor-00001",
            isvc="hello",
            component="predictor",
            generation=1,
            container=ContainerSpec(),
        )
        agents = AgentMiddleware(metrics=metrics, clock=clock)
        activator = Activator(
            settings,
            clock=clock,
            stats=sink,
            poker=sink,
            metrics=metrics,
            middlewares=[trace_middleware, agents],
        )
        activator.upsert_revision(spec)
        activator.set_endpoints(spec.name, [Endpoint("r1", "127.0.0.1", upstream_port)])
        router = Router(settings, activator, clock=clock, metrics=metrics)
        target = TrafficTarget(revision=spec.name, percent=100)
        comp = ComponentRoute(component="predictor", targets=(target,))
        router.update_routes(RouteTable(isvcs=(IsvcRoute(name="hello", components=(comp,)),)))

        state_dir = Path(tempfile.mkdtemp(prefix="minikn-bench-dash-"))
        controller = Controller(
            settings,
            clock=clock,
            store=StateStore(state_dir),
            registry=default_registry(),
            events=EventSink(),
        )
        # What the data plane reports per revision in ``minikn serve`` (replicas, autoscaler):
        # the ISVCs have minReplicas 0 and get no requests, so most are at zero; the first
        # ``WARM`` are kept warm (one ready replica, the autoscaler active).
        warm = {f"isvc-{i:04d}-predictor-00001" for i in range(WARM)}

        def extras(rev: str) -> dict[str, object]:
            up = 1 if rev in warm else 0
            return {
                "replicas": {"desired": up, "ready": up, "pending": 0, "reason": "",
                             "message": ""},
                "autoscaler": {"metric": "concurrency", "stable": 1.5 * up, "panic": 2.0 * up,
                               "target": 100.0, "panic_mode": False,
                               "active": "active" if up else "inactive", "reason": "stable"},
            }  # fmt: skip

        controller.status_extras = extras
        await controller.start()
        text = "".join(ISVC.format(i=i) for i in range(isvcs))
        await controller.apply(parse_text(text, "bench.yaml"))
        api = create_api_app(controller, token=TOKEN)
        add_dashboard_routes(
            api, controller=controller, requests=metrics.requests, buffered=activator.buffered
        )
        runner = web.AppRunner(api, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", api_port).start()
        await activator.start()
        await router.start("127.0.0.1", port)
        await asyncio.Event().wait()

    asyncio.run(main())


def _poll(url: str, stop: threading.Event, sizes: list[int]) -> None:
    """One open dashboard: the state every second, as the page polls it (naming the catalog
    version, the tick and the newest event it holds and the revision it charts, with the last
    ETag)."""
    version, tick, events, etag = "", "", 0, ""
    while not stop.is_set():
        started = time.monotonic()
        query = urllib.parse.urlencode(
            {"catalog": version, "since": tick, "events": events,
             "revision": "isvc-0000-predictor-00001"}
        )  # fmt: skip
        headers = {"Authorization": f"Bearer {TOKEN}", "If-None-Match": etag}
        req = urllib.request.Request(f"{url}?{query}", headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                body = r.read()
                etag = r.headers.get("ETag", "")
        except urllib.error.HTTPError as e:
            if e.code != 304:
                raise
            body = b""
        sizes.append(len(body))
        if body:
            snap = json.loads(body)
            version, tick = snap["catalogVersion"], snap["tick"]
            if snap["events"]:
                events = snap["events"][-1]["seq"]
        stop.wait(max(0.0, 1.0 - (time.monotonic() - started)))


def run_pollers(url: str, count: int, seconds: float) -> None:
    """``count`` open dashboards for ``seconds``, in this process (a browser is a process of
    its own); prints the body sizes they received as JSON."""
    stop = threading.Event()
    sizes: list[int] = []
    pollers = [
        threading.Thread(target=_poll, args=(url, stop, sizes), daemon=True) for _ in range(count)
    ]
    for t in pollers:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in pollers:
        t.join(timeout=15)
    print(json.dumps(sizes))


def _cpu(proc: psutil.Process) -> float:
    """CPU seconds the process (all its threads) has used."""
    times = proc.cpu_times()
    return times.user + times.system


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--isvcs", type=int, default=1000)
    parser.add_argument("--dashboards", type=int, default=3)
    parser.add_argument("--serve-upstream", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve-minikn", type=int, nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--pollers", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.pollers is not None:
        run_pollers(args.pollers[0], int(args.pollers[1]), float(args.pollers[2]))
        return
    if args.serve_upstream is not None:
        serve_upstream(args.serve_upstream, "raw")
        return
    if args.serve_minikn is not None:
        serve_minikn(*args.serve_minikn)
        return
    up, kn, api = (_free_port() for _ in range(3))
    me = os.path.abspath(__file__)
    procs = [
        subprocess.Popen([sys.executable, me, "--serve-upstream", str(up)]),
        subprocess.Popen(
            [sys.executable, me, "--serve-minikn", str(kn), str(up), str(api), str(args.isvcs)]
        ),
    ]
    try:
        _wait_port(up)
        _wait_port(api, 300.0)
        _wait_port(kn, 60.0)
        url = f"http://127.0.0.1:{kn}/v1/models/hello:predict"
        state = f"http://127.0.0.1:{api}/api/v1/dashboard/state"
        wrk(url, 10, 1.0)  # warm-up
        rps: dict[str, list[float]] = {"closed": [], "open": []}
        sizes: list[int] = []
        cpu: dict[str, list[float]] = {"closed": [], "open": []}
        loop = psutil.Process(procs[1].pid)
        for run in range(args.runs):
            for name in ("closed", "open") if run % 2 == 0 else ("open", "closed"):
                pollers = None
                if name == "open":
                    seconds = str(round(args.duration) + 2.0)
                    pollers = subprocess.Popen(
                        [sys.executable, me, "--pollers", state, str(args.dashboards), seconds],
                        stdout=subprocess.PIPE,
                    )
                    time.sleep(1.0)  # the dashboards are open and live before the load starts
                before = _cpu(loop)
                result = wrk(url, args.concurrency, args.duration)
                cpu[name].append((_cpu(loop) - before) / max(1, result.requests) * 1e6)
                rps[name].append(result.rps)
                if pollers is not None:
                    out, _ = pollers.communicate(timeout=60)
                    sizes += json.loads(out)
        closed, opened = (statistics.median(rps[n]) for n in ("closed", "open"))
        size = statistics.median(sizes) if sizes else 0
        print(
            f"concurrency {args.concurrency}, {args.isvcs} ISVCs, {args.dashboards} dashboards "
            f"polling 1/s ({size / 1024:.1f} KiB per poll, the first with the catalog "
            f"{max(sizes, default=0) / 1024:.0f} KiB; {len(sizes)} polls), median of "
            f"{args.runs} runs"
        )
        print(
            f"dashboard closed   {closed:>10.0f} rps  (runs: {[round(r) for r in rps['closed']]})"
        )
        print(f"dashboard open     {opened:>10.0f} rps  (runs: {[round(r) for r in rps['open']]})")
        print(f"ratio open/closed  {opened / closed:>10.3f}")
        same = [o / c for o, c in zip(rps["open"], rps["closed"], strict=True)]
        text = " ".join(f"{r:.2f}" for r in same)
        print(f"same-run ratio     {statistics.median(same):>10.3f}  (runs: {text})")
        closed_cpu, open_cpu = (statistics.median(cpu[n]) for n in ("closed", "open"))
        print(
            f"minikn CPU per request: closed {closed_cpu:.1f} us, open {open_cpu:.1f} us "
            f"(ratio closed/open {closed_cpu / open_cpu:.3f}; runs: "
            f"{[round(c, 1) for c in cpu['closed']]} / {[round(c, 1) for c in cpu['open']]})"
        )
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=10)


if __name__ == "__main__":
    main()
