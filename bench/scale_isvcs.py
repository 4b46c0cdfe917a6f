"""Scale benchmark: what N zero-scale ISVCs cost one platform (issue 21), at several N.

    python bench/scale_isvcs.py [--sizes 10,100,1000,10000] [--singles 50] [--runs 1]
        [--wrk-seconds 3]

A real platform in-process (process backend, API and ingress on loopback sockets, a fresh state
dir), config ``allow-zero-initial-scale: true``; every ISVC has ``minReplicas: 0`` and
``autoscaling.knative.dev/initial-scale: "0"``. One ISVC (``warm``, one replica of the built-in
sklearn iris server) is applied first and kept warm. Per N:

* apply all N in one file (one POST /api/v1/apply), and the median of ``--singles`` applies of one
  more ISVC each among the N;
* platform RSS per ISVC (RSS after minus RSS before, over N);
* list: the whole namespace in one GET, and paged (``limit=500``, following ``continue``);
* one autoscaler tick over every revision; one activator stats report (every second); the
  store's write time per single apply; a route lookup by Host (the router's index);
* the longest garbage collection from the apply of all N to the report (gc.callbacks): what a
  full collection of the grown heap stalls the event loop for;
* warm-path throughput of ``warm`` (wrk, POST iris, 10 connections; median of 3 runs) before the
  N are applied and after: the same-run baseline ratio; and the platform's CPU time per warm
  request after against before (this process is the platform: the figure the machine's noise
  moves least);
* restart: a new platform on the same state dir, time until ``start`` returns (routes published
  to the ingress), and the route of the last ISVC checked.

The API's body and node limits are raised for the run so 10,000 documents fit one request (the
defaults, 3 MiB, fit about 9,000 of these). Needs ``wrk`` on PATH.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import psutil
from wrk import wrk

from minikn.config import Settings
from minikn.modelserver.examples import ensure_example_models
from minikn.platform.server import Platform, PlatformOptions

ZERO = """apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: {name}
  annotations: {{autoscaling.knative.dev/initial-scale: "0"}}
spec:
  predictor:
    minReplicas: 0
    model:
      modelFormat: {{name: sklearn}}
      storageUri: file://{model}
"""
WARM = ZERO.replace('  annotations: {{autoscaling.knative.dev/initial-scale: "0"}}\n', "").replace(
    "minReplicas: 0", "minReplicas: 1"
)
IRIS = b'{"instances": [[6.8, 2.8, 4.8, 1.4]]}'
LIST = "/apis/serving.kserve.io/v1beta1/namespaces/default/inferenceservices"


def _settings(models: Path) -> Settings:
    return Settings.model_validate(
        {
            "config-autoscaler": {"allow-zero-initial-scale": True},
            "minikn": {
                "storage": {"allowedRoots": [str(models)]},
                "api": {"maxBodyBytes": 64 << 20, "maxDocumentNodes": 10_000_000},
            },
        }
    )


def _options(state: Path) -> PlatformOptions:
    return PlatformOptions(
        state_dir=state,
        api_port=0,
        ingress_host="127.0.0.1",
        ingress_port=0,
        backend="process",
        prestart_parser=True,  # as `minikn serve` does
    )


def _rss() -> int:
    gc.collect()
    return int(psutil.Process().memory_info().rss)


class _Api:
    def __init__(self, session: aiohttp.ClientSession, p: Platform) -> None:
        self.s, self.base = session, f"http://127.0.0.1:{p.api_port}"
        self.h = {"Authorization": f"Bearer {p.token}", "Content-Type": "application/yaml"}

    async def apply(self, text: str) -> float:
        t = time.perf_counter()
        async with self.s.post(f"{self.base}/api/v1/apply", data=text, headers=self.h) as r:
            if r.status != 200:
                raise RuntimeError(f"apply: {r.status} {(await r.text())[:500]}")
            await r.read()
        return time.perf_counter() - t

    async def list(self, limit: int | None) -> tuple[float, int]:
        t, n, token = time.perf_counter(), 0, ""
        while True:
            params = {} if limit is None else {"limit": str(limit), "continue": token}
            async with self.s.get(self.base + LIST, params=params, headers=self.h) as r:
                body = await r.json()
                if r.status != 200:
                    raise RuntimeError(f"list: {r.status} {body}")
            n += len(body["items"])
            token = body.get("metadata", {}).get("continue") or ""
            if limit is None or not token:
                return time.perf_counter() - t, n


async def _until_warm(p: Platform) -> None:
    async with asyncio.timeout(120):
        while True:
            conds = p.controller.get("default", "warm")["status"].get("conditions", [])
            if any(c["type"] == "Ready" and c["status"] == "True" for c in conds):
                return
            await asyncio.sleep(0.1)


def _timed_store(p: Platform) -> list[float]:
    """Wrap the store's write methods: each call's duration goes to the returned list."""
    spent: list[float] = []
    for name in ("save", "append", "write_change", "compact"):
        orig = getattr(p.store, name, None)
        if orig is None:
            continue

        def timed(*a: Any, _orig: Callable[..., Any] = orig, **kw: Any) -> Any:
            t = time.perf_counter()
            try:
                return _orig(*a, **kw)
            finally:
                spent.append(time.perf_counter() - t)

        setattr(p.store, name, timed)
    return spent


async def _warm_rps(p: Platform, seconds: float, runs: int = 3) -> tuple[float, float]:
    """The warm ISVC's throughput (median of ``runs`` wrk runs) and the platform's CPU time per
    request over them (this process is the platform; wrk and the replica are other processes),
    which the machine's noise moves far less than throughput."""
    url = f"http://127.0.0.1:{p.ingress_port}/v1/models/warm:predict"
    headers = {"Host": "warm.default.example.com", "Content-Type": "application/json"}
    rates, cpu, served = [], 0.0, 0.0
    me = psutil.Process()
    for _ in range(runs):
        before = me.cpu_times()
        res = await asyncio.to_thread(
            wrk, url, 10, seconds, method="POST", body=IRIS, headers=headers
        )
        after = me.cpu_times()
        if res.non_2xx:
            raise RuntimeError(f"warm path: {res.non_2xx} non-2xx answers")
        rates.append(res.rps)
        cpu += (after.user - before.user) + (after.system - before.system)
        served += res.rps * max(1, round(seconds))
    return statistics.median(rates), cpu / max(1.0, served) * 1e6


class _GcPauses:
    """The longest garbage collection while installed (gc.callbacks), in seconds."""

    def __init__(self) -> None:
        self.longest, self._t = 0.0, 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._t = time.perf_counter()
        else:
            self.longest = max(self.longest, time.perf_counter() - self._t)

    def install(self) -> _GcPauses:
        gc.callbacks.append(self)
        return self

    def remove(self) -> None:
        gc.callbacks.remove(self)


async def one_size(n: int, singles: int, wrk_s: float, models: Path) -> dict[str, float]:
    model = models / "sklearn-iris"
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "state"
        settings = _settings(models)
        p = Platform(settings, _options(state))
        await p.start()
        async with aiohttp.ClientSession() as session:
            api = _Api(session, p)
            await api.apply(WARM.format(name="warm", model=model))
            await _until_warm(p)
            out["warm_rps_1"], out["warm_cpu_1"] = await _warm_rps(p, wrk_s)
            rss0 = _rss()
            pauses = _GcPauses().install()
            text = "---\n".join(ZERO.format(name=f"m-{i:05d}", model=model) for i in range(n))
            out["apply_all_s"] = await api.apply(text)
            await asyncio.sleep(0.5)  # let the publisher and persister settle
            out["rss_per_isvc_kib"] = (_rss() - rss0) / n / 1024
            store_times = _timed_store(p)
            one: list[float] = []
            for i in range(singles):
                store_times.clear()
                one.append(await api.apply(ZERO.format(name=f"one-{i:03d}", model=model)))
            out["apply_one_ms"] = statistics.median(one) * 1000
            await asyncio.sleep(0.2)
            out["store_write_ms"] = sum(store_times) * 1000 / max(1, len(store_times))
            out["list_all_s"] = statistics.median([(await api.list(None))[0] for _ in range(3)])
            paged = [await api.list(500) for _ in range(3)]
            if paged[0][1] != n + singles + 1:
                raise RuntimeError(f"paged list returned {paged[0][1]} items")
            out["list_paged_s"] = statistics.median(t for t, _ in paged)
            assert p.dataplane is not None
            scaler = p.dataplane.autoscaler
            ticks = []
            for _ in range(5):
                t = time.perf_counter()
                scaler.tick(p.clock.monotonic())
                ticks.append(time.perf_counter() - t)
            out["tick_ms"] = statistics.median(ticks) * 1000
            reports = []
            for _ in range(5):  # the activator's per-second stats report
                t = time.perf_counter()
                p.dataplane.activator.report()
                reports.append(time.perf_counter() - t)
            out["report_ms"] = statistics.median(reports) * 1000
            pauses.remove()
            out["gc_max_ms"] = pauses.longest * 1000
            index = p.dataplane.router._index  # the lookup, timed alone
            host, path = f"m-{n // 2:05d}.default.example.com", "/v1/models/x:predict"
            reps = 100_000
            t = time.perf_counter()
            for _ in range(reps):
                index.match(host, path)
            out["lookup_us"] = (time.perf_counter() - t) / reps * 1e6
            out["warm_rps_n"], out["warm_cpu_n"] = await _warm_rps(p, wrk_s)
        await p.close()
        gc.collect()
        t = time.perf_counter()
        p2 = Platform(settings, _options(state))
        await p2.start()
        out["restart_s"] = time.perf_counter() - t
        assert p2.dataplane is not None
        p2.dataplane.router._index.match(f"m-{n - 1:05d}.default.example.com", "/")
        await p2.close()
    return out


COLUMNS = [
    ("apply_all_s", "apply all (s)", "{:.2f}"),
    ("apply_one_ms", "apply one (ms)", "{:.1f}"),
    ("rss_per_isvc_kib", "RSS/ISVC (KiB)", "{:.1f}"),
    ("list_all_s", "list all (s)", "{:.3f}"),
    ("list_paged_s", "list paged (s)", "{:.3f}"),
    ("tick_ms", "tick (ms)", "{:.2f}"),
    ("report_ms", "report (ms)", "{:.2f}"),
    ("gc_max_ms", "longest GC (ms)", "{:.0f}"),
    ("store_write_ms", "store write (ms)", "{:.2f}"),
    ("lookup_us", "lookup (us)", "{:.2f}"),
    ("warm_ratio", "warm rps N/1", "{:.3f}"),
    ("warm_cpu_ratio", "CPU/request N/1", "{:.3f}"),
    ("restart_s", "restart (s)", "{:.2f}"),
]


async def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10,100,1000,10000")
    ap.add_argument("--singles", type=int, default=50)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--wrk-seconds", type=float, default=3.0)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        models = Path(tmp) / "models"
        ensure_example_models(models, ["sklearn-iris"])
        print("| N | " + " | ".join(c[1] for c in COLUMNS) + " |")
        print("|---" * (len(COLUMNS) + 1) + "|")
        for n in (int(s) for s in args.sizes.split(",")):
            runs = []
            for _ in range(args.runs):
                r = await one_size(n, args.singles, args.wrk_seconds, models)
                r["warm_ratio"] = r["warm_rps_n"] / r["warm_rps_1"]
                r["warm_cpu_ratio"] = r["warm_cpu_n"] / r["warm_cpu_1"]
                runs.append(r)
            med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            cells = [fmt.format(med[k]) for k, _, fmt in COLUMNS]
            print(f"| {n:,} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(asyncio.run(main(sys.argv[1:])))
