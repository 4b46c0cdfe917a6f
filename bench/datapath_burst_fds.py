"""Peak memory and open files of the platform during a 10,000-request burst, cold vs warm.

    python bench/datapath_burst_fds.py [--requests 10000] [--runs 1]

Each scenario runs a real platform (process backend, the built-in sklearn iris server, one
replica at most, ``containerConcurrency: 0``) in a fresh child process, so the two do not share a
heap: *cold* sends the burst to a revision at zero replicas (every request is buffered while the
replica starts), *warm* to the same revision once its replica is ready. The load generator is
another child process (one connection per request, all sent at once). Sampled every 20 ms: the
platform process's RSS and open file descriptors, and the replica's open file descriptors (bounded
by ``minikn.activator.maxConnectionsPerReplica``, 1024 by default).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import sys
import tempfile
import time
from asyncio.subprocess import PIPE
from pathlib import Path
from typing import Any

import psutil

_ISVC = """
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {{name: burst}}
spec:
  predictor:
    minReplicas: {min}
    maxReplicas: 1
    containerConcurrency: 0
    model:
      modelFormat: {{name: sklearn}}
      storageUri: file://{model}
"""
_REV = "burst-predictor-00001"
_BODY = b'{"instances": [[6.8, 2.8, 4.8, 1.4]]}'
_REQUEST = (
    b"POST /v1/models/burst:predict HTTP/1.1\r\nHost: burst.default.example.com\r\n"
    b"content-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(_BODY), _BODY)
)


async def load_generator(port: int, n: int) -> None:
    """Child process: ``n`` connections at once, one request each; print the status counts."""

    async def one() -> str:
        for _ in range(50):  # connects refused while the listen backlog is full are retried
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                break
            except OSError:
                await asyncio.sleep(0.1)
        else:
            return "connect failed"
        try:
            writer.write(_REQUEST)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            return head.split(b" ", 2)[1].decode()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            return type(exc).__name__
        finally:
            writer.close()

    results = await asyncio.gather(*(one() for _ in range(n)))
    counts: dict[str, int] = {}
    for r in results:
        counts[r] = counts.get(r, 0) + 1
    print(json.dumps(counts), flush=True)


def _replicas() -> list[psutil.Process]:
    found = []
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if "minikn.modelserver" in " ".join(child.cmdline()):
                found.append(child)
    return found


async def scenario(cold: bool, n: int) -> dict[str, Any]:
    """Child process: one platform, one burst; the measurements as a dict."""
    from minikn.api.documents import parse_text
    from minikn.config import Settings  # only the scenario child needs them
    from minikn.modelserver.examples import ensure_example_models
    from minikn.platform.server import Platform, PlatformOptions

    with tempfile.TemporaryDirectory(prefix="minikn-bench-") as tmp:
        models = Path(tmp) / "models"
        ensure_example_models(models, ["sklearn-iris"])
        data: dict[str, Any] = {
            "minikn": {"storage": {"allowedRoots": [str(models)]}},
            "config-autoscaler": {"initial-scale": 0, "allow-zero-initial-scale": True},
        }
        options = PlatformOptions(
            state_dir=Path(tmp) / "state", api_port=0, ingress_host="127.0.0.1", ingress_port=0,
            backend="process",
        )  # fmt: skip
        platform = Platform(Settings.model_validate(data), options)
        await platform.start()
        try:
            assert platform.dataplane is not None
            replicas = platform.dataplane.replicas
            doc = _ISVC.format(min=0 if cold else 1, model=models / "sklearn-iris")
            await platform.controller.apply(parse_text(doc, "burst.yaml"))
            async with asyncio.timeout(120):
                # Polled: the replica manager has no "ready" event to wait on.
                while not cold:
                    if replicas.ready_count(_REV) >= 1:
                        break
                    await asyncio.sleep(0.1)
            me = psutil.Process()
            rss0, fds0 = me.memory_info().rss, me.num_fds()
            peak_rss, peak_fds, peak_replica_fds = rss0, fds0, 0
            started = time.perf_counter()
            child = await asyncio.create_subprocess_exec(
                sys.executable, __file__, "--load", str(platform.ingress_port), str(n),
                stdout=PIPE,
            )  # fmt: skip
            done = asyncio.ensure_future(child.communicate())
            while not done.done():
                peak_rss = max(peak_rss, me.memory_info().rss)
                peak_fds = max(peak_fds, me.num_fds())
                for proc in _replicas():
                    with contextlib.suppress(psutil.Error):
                        peak_replica_fds = max(peak_replica_fds, proc.num_fds())
                await asyncio.sleep(0.02)
            out, _ = await done
            elapsed = time.perf_counter() - started
        finally:
            await platform.close()
    return {
        "scenario": "cold" if cold else "warm",
        "statuses": json.loads(out or b"{}"),
        "seconds": elapsed,
        "rss_before_mib": rss0 / 2**20,
        "rss_peak_mib": peak_rss / 2**20,
        "fds_before": fds0,
        "fds_peak": peak_fds,
        "replica_fds_peak": peak_replica_fds,
    }


async def run(n: int, runs: int) -> None:
    print(
        f"{'scenario':>8} {'200s':>6} {'other':>6} {'seconds':>8} {'RSS MiB before':>14} "
        f"{'RSS MiB peak':>12} {'fds before':>10} {'fds peak':>8} {'replica fds peak':>16}"
    )
    for _ in range(runs):
        for mode in ("warm", "cold"):
            child = await asyncio.create_subprocess_exec(
                sys.executable, __file__, "--scenario", mode, str(n), stdout=PIPE
            )
            out, _ = await child.communicate()
            r = json.loads(out.splitlines()[-1])
            ok = r["statuses"].get("200", 0)
            other = sum(r["statuses"].values()) - ok
            print(
                f"{r['scenario']:>8} {ok:>6} {other:>6} {r['seconds']:>8.2f} "
                f"{r['rss_before_mib']:>14.1f} {r['rss_peak_mib']:>12.1f} {r['fds_before']:>10} "
                f"{r['fds_peak']:>8} {r['replica_fds_peak']:>16}",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--load", type=int, nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--scenario", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    with contextlib.suppress(ImportError):
        import uvloop  # optional speedup

        uvloop.install()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if args.load is not None:
        asyncio.run(load_generator(*args.load))
    elif args.scenario is not None:
        mode, n = args.scenario
        print(json.dumps(asyncio.run(scenario(mode == "cold", int(n)))), flush=True)
    else:
        asyncio.run(run(args.requests, args.runs))


if __name__ == "__main__":
    main()
