"""InferenceGraph benchmark: a 3-step Sequence's added latency over calling the same three steps
one after another, in the same run, against a real platform (process backend, warm replicas).

    python bench/graph_sequence.py [--requests 300] [--runs 3]

Both paths go through minikn's ingress: the baseline client calls step 1, 2 and 3 by their hosts
in turn (passing each response on, as the Sequence does with ``data: $response``); the graph path
sends one request to the graph's host, whose router calls the same three steps through the ingress.
The difference is the router's hop: one more ingress pass plus the router's work. Requests are
sequential (c=1); each run interleaves blocks of the two paths; prints the median over runs of
p50 and p99 per path, the added p50/p99 and the ratio graph/baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from minikn.api.documents import parse_text
from minikn.config import Settings
from minikn.platform.server import Platform, PlatformOptions

STEP_CODE = """
import json, os
from aiohttp import web
async def handle(request):
    body = json.loads(await request.read() or b"{}")
    return web.json_response({"predictions": body.get("instances", body.get("predictions", []))})
app = web.Application()
app.add_routes([web.route("*", "/{tail:.*}", handle)])
web.run_app(app, host=os.environ["HOST"], port=int(os.environ["PORT"]), print=None,
            access_log=None)
"""

DOCS = """
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {{name: s{i}}}
spec:
  predictor:
    minReplicas: 1
    containers:
    - name: kserve-container
      command: ["{python}", "{step}"]
"""
GRAPH = """
apiVersion: serving.kserve.io/v1alpha1
kind: InferenceGraph
metadata: {name: seq}
spec:
  minReplicas: 1
  nodes:
    root:
      routerType: Sequence
      steps:
      - {serviceName: s1}
      - {serviceName: s2, data: $response, mapPredictionsToInstances: true}
      - {serviceName: s3, data: $response, mapPredictionsToInstances: true}
"""
BODY = b'{"instances": [[6.8, 2.8, 4.8, 1.4]]}'


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def one(session: aiohttp.ClientSession, url: str, host: str, body: bytes) -> bytes:
    async with session.post(
        url, data=body, headers={"Host": host, "Content-Type": "application/json"}
    ) as resp:
        data = await resp.read()
        if resp.status != 200:
            raise RuntimeError(f"{host}: {resp.status} {data[:200]!r}")
        return data


async def direct(session: aiohttp.ClientSession, url: str) -> None:
    body = BODY
    for i in (1, 2, 3):
        path = f"{url}v1/models/s{i}:predict"
        body = await one(session, path, f"s{i}.default.example.com", body)
        body = body.replace(b'"predictions"', b'"instances"', 1)


async def graph(session: aiohttp.ClientSession, url: str) -> None:
    await one(session, url, "seq.default.example.com", BODY)


async def measure(args: argparse.Namespace, url: str) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {"direct": [], "graph": []}
    block = 25
    async with aiohttp.ClientSession() as session:
        for _ in range(5):  # warm both paths
            await direct(session, url)
            await graph(session, url)
        for start in range(0, args.requests, block):
            for name, call in (("direct", direct), ("graph", graph)):
                for _ in range(min(block, args.requests - start)):
                    began = time.perf_counter()
                    await call(session, url)
                    timings[name].append(time.perf_counter() - began)
    return timings


async def wait_ready(p: Platform, names: list[str], kind: list[str]) -> None:
    async with asyncio.timeout(120):
        for name, k in zip(names, kind, strict=True):
            while True:
                conds = p.controller.get("default", name, kind=k)["status"].get("conditions", [])
                if any(c["type"] == "Ready" and c["status"] == "True" for c in conds):
                    break
                await asyncio.sleep(0.2)


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        step = Path(tmp) / "step.py"
        step.write_text(STEP_CODE)
        options = PlatformOptions(
            state_dir=Path(tmp) / "state", api_port=0, ingress_host="127.0.0.1",
            ingress_port=0, backend="process",
        )  # fmt: skip
        p = Platform(Settings.model_validate({}), options)
        await p.start()
        try:
            docs = [DOCS.format(i=i, python=sys.executable, step=step) for i in (1, 2, 3)]
            await p.controller.apply(parse_text("---\n".join([*docs, GRAPH]), "bench.yaml"))
            names = ["s1", "s2", "s3", "seq"]
            await wait_ready(p, names, ["InferenceService"] * 3 + ["InferenceGraph"])
            url = f"http://127.0.0.1:{p.ingress_port}/"
            rows: dict[str, list[float]] = {k: [] for k in ("d50", "d99", "g50", "g99")}
            for run in range(args.runs):
                t = await measure(args, url)
                d50, d99 = pct(t["direct"], 0.5), pct(t["direct"], 0.99)
                g50, g99 = pct(t["graph"], 0.5), pct(t["graph"], 0.99)
                for k, v in zip(rows, (d50, d99, g50, g99), strict=True):
                    rows[k].append(v)
                print(
                    f"run {run + 1}: direct p50 {d50 * 1e3:.2f} ms p99 {d99 * 1e3:.2f} ms; "
                    f"graph p50 {g50 * 1e3:.2f} ms p99 {g99 * 1e3:.2f} ms",
                    flush=True,
                )
        finally:
            await p.close()
    m = {k: statistics.median(v) * 1e3 for k, v in rows.items()}
    print(f"load average {os.getloadavg()[0]:.1f}; medians of {args.runs} runs:")
    print("| path | p50 ms | p99 ms |\n| --- | ---: | ---: |")
    print(f"| 3 steps called in turn (baseline) | {m['d50']:.2f} | {m['d99']:.2f} |")
    print(f"| the 3-step Sequence graph | {m['g50']:.2f} | {m['g99']:.2f} |")
    print(f"| added by the graph | {m['g50'] - m['d50']:.2f} | {m['g99'] - m['d99']:.2f} |")
    print(f"| ratio graph / baseline | {m['g50'] / m['d50']:.2f} | {m['g99'] / m['d99']:.2f} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main(parser.parse_args()))
