"""Warm path while a ~3 MiB document is applied through the API again and again, against the same
load without it, in the same run (issue 12's goal: within 10 %).

    python bench/api_apply_under_load.py [--duration 5] [--runs 3] [--concurrency 10]
        [--entries 15000] [--content-type application/yaml] [--parse-in-thread]
        [--interval 0] [--vary]

One process holds what ``minikn serve`` holds on one event loop: the router + activator of
``datapath_warm.py`` (raw replica) and the REST API over a controller with a temporary state dir.
A thread of this script POSTs the document to ``/api/v1/apply`` (token, ``Content-Type``
``application/yaml``) back to back while wrk measures the warm path; each run measures wrk
without the applier, then with it. The document is one InferenceService whose predictor carries
``--entries`` env variables (five YAML nodes each, so 15,000 entries are ~75,000 nodes, under
``minikn.api.maxDocumentNodes``, and about 2.9 MiB, under ``maxBodyBytes``). Prints the medians
of throughput and p50 and their ratios (with / without; also the median of each run's own
ratio, steadier when the machine's load drifts), and the applies' count and p50.
``--parse-in-thread`` parses every body in a thread, as before the process pool
(``minikn.api.parseInProcessBytes`` out of reach), for comparison. By default the same document
is applied back to back (after the first, a no-op: the API recognises the body); ``--interval``
paces the applies (one started every N s), ``--vary`` adds a new label to each (a changed
object: parsed, validated, planned and stored every time).
Needs ``wrk`` on PATH (``apt-get install wrk``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml
from datapath_warm import _free_port, _wait_port, serve_upstream, start_data_path
from loopback import use_uvloop
from wrk import wrk

TOKEN = "bench-token"


def big_isvc(entries: int) -> bytes:
    """One InferenceService of about 200 bytes of YAML per env entry."""
    env = [{"name": f"SETTING_{i:06d}", "value": f"{i:06d}-" + "x" * 150} for i in range(entries)]
    doc = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": "big", "namespace": "default"},
        "spec": {"predictor": {"sklearn": {"storageUri": "gs://bucket/model", "env": env}}},
    }
    return yaml.safe_dump(doc, sort_keys=False).encode()


def serve_platform(
    port: int, upstream_port: int, api_port: int, state_dir: str, in_thread: bool
) -> None:
    """The data path and the API on one loop, as in ``minikn serve``."""
    use_uvloop()
    from aiohttp import web

    from minikn.api.runtimes import default_registry
    from minikn.apiserver.rest import create_api_app
    from minikn.config import Settings
    from minikn.controlplane.controller import Controller
    from minikn.controlplane.store import StateStore
    from minikn.core.clock import SystemClock
    from minikn.core.events import EventSink

    async def main() -> None:
        keep = await start_data_path(port, upstream_port)
        api = {"parseInProcessBytes": 2**62} if in_thread else {}
        ctl = Controller(
            Settings.model_validate({"minikn": {"api": api}}),
            clock=SystemClock(),
            store=StateStore(Path(state_dir)),
            registry=default_registry(),
            events=EventSink(),
        )
        await ctl.start()
        runner = web.AppRunner(create_api_app(ctl, token=TOKEN), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", api_port).start()
        await asyncio.Event().wait()
        del keep

    asyncio.run(main())


class Applier:
    """POSTs the body to the API in a thread until stopped: back to back, or one apply started
    every ``interval`` seconds; ``vary`` changes a label each time (a new object to store, no
    new revision), so every apply is parsed, validated and planned."""

    def __init__(
        self, url: str, body: bytes, content_type: str, *, interval: float = 0.0, vary: bool = False
    ) -> None:
        self._count = 0

        def req() -> urllib.request.Request:
            self._count += 1
            data = body
            if vary:
                data = body.replace(
                    b"name: big\n", f"name: big\n  labels: {{n: '{self._count}'}}\n".encode(), 1
                )
            return urllib.request.Request(
                url,
                data=data,
                method="POST",
                headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": content_type},
            )

        self._req = req
        self._interval = interval
        self._stop = threading.Event()
        self.seconds: list[float] = []
        self.errors: list[str] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def once(self) -> None:
        with urllib.request.urlopen(self._req(), timeout=120) as resp:
            resp.read()

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            if self.seconds and self._interval > 0:
                pause = self._interval - self.seconds[-1]
                if pause > 0 and self._stop.wait(pause):
                    return
                started = time.perf_counter()
            try:
                self.once()
            except (urllib.error.URLError, OSError) as exc:
                self.errors.append(str(exc))
                continue
            self.seconds.append(time.perf_counter() - started)

    def __enter__(self) -> Applier:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(130)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--entries", type=int, default=15_000)
    parser.add_argument("--content-type", default="application/yaml")
    parser.add_argument("--serve-upstream", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--parse-in-thread", action="store_true")
    parser.add_argument(
        "--interval", type=float, default=0.0, help="start one apply every N s (0: back to back)"
    )
    parser.add_argument(
        "--vary", action="store_true", help="a new label each apply: every apply does the work"
    )
    parser.add_argument("--serve-platform", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_upstream is not None:
        serve_upstream(args.serve_upstream, "raw")
        return
    if args.serve_platform is not None:
        port, upstream, api, state = args.serve_platform
        serve_platform(int(port), int(upstream), int(api), state, args.parse_in_thread)
        return
    if shutil.which("wrk") is None:
        sys.exit("wrk not found: apt-get install wrk")
    body = big_isvc(args.entries)
    me = os.path.abspath(__file__)
    up_port, kn_port, api_port = _free_port(), _free_port(), _free_port()
    state = tempfile.mkdtemp(prefix="minikn-bench-")
    platform = [me, "--serve-platform", str(kn_port), str(up_port), str(api_port), state]
    if args.parse_in_thread:
        platform.append("--parse-in-thread")
    procs = [
        subprocess.Popen([sys.executable, me, "--serve-upstream", str(up_port)]),
        subprocess.Popen([sys.executable, *platform]),
    ]
    url = f"http://127.0.0.1:{kn_port}/v1/models/hello:predict"
    applier_url = f"http://127.0.0.1:{api_port}/api/v1/apply"
    without, loaded, applies = [], [], []
    try:
        _wait_port(up_port)
        _wait_port(kn_port)
        _wait_port(api_port)
        Applier(applier_url, body, args.content_type).once()  # the first apply creates it
        wrk(url, args.concurrency, 1.0)  # warm-up
        for _ in range(args.runs):
            without.append(wrk(url, args.concurrency, args.duration))
            applier = Applier(
                applier_url, body, args.content_type, interval=args.interval, vary=args.vary
            )
            with applier:
                loaded.append(wrk(url, args.concurrency, args.duration))
            if applier.errors:
                sys.exit(f"apply failed: {applier.errors[0]}")
            applies.append(applier.seconds)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=10)
        shutil.rmtree(state, ignore_errors=True)
    rps0 = statistics.median(r.rps for r in without)
    rps1 = statistics.median(r.rps for r in loaded)
    p50_0 = statistics.median(r.p50_ms for r in without)
    p50_1 = statistics.median(r.p50_ms for r in loaded)
    count = statistics.median(len(a) for a in applies)
    apply_p50 = statistics.median(s for a in applies for s in a) if any(applies) else float("nan")
    where = "a thread" if args.parse_in_thread else "a worker process"
    pace = f"one every {args.interval:g} s" if args.interval > 0 else "back to back"
    print(
        f"document: {len(body) / 2**20:.2f} MiB, {args.entries} env entries, "
        f"{args.content_type}, parsed in {where}; applies {pace}"
        + (", a new label each" if args.vary else ", the same document each")
    )
    print(f"{'':>24} {'rps':>8} {'p50':>9}")
    print(f"{'without applies':>24} {rps0:>8.0f} {p50_0:>7.3f}ms")
    print(f"{'while applying':>24} {rps1:>8.0f} {p50_1:>7.3f}ms")
    print(f"{'ratio (with/without)':>24} {rps1 / rps0:>8.2f} {p50_1 / p50_0:>9.2f}")
    per_run_rps = statistics.median(b.rps / a.rps for a, b in zip(without, loaded, strict=True))
    per_run_p50 = statistics.median(
        b.p50_ms / a.p50_ms for a, b in zip(without, loaded, strict=True)
    )
    print(f"{'median of per-run ratios':>24} {per_run_rps:>8.2f} {per_run_p50:>9.2f}")
    print(f"applies per run (median): {count:.0f}; apply p50 {apply_p50 * 1000:.0f} ms")


if __name__ == "__main__":
    main()
