"""Replica start-to-ready on both backends, next to the floors measured in the same run.

    python bench/replicas_start.py [--runs 5] [--image minikn/modelserver:latest]

Floors: a bare interpreter start (``python -c pass``), the model server's own load time (a bare
``python -m minikn.modelserver`` until ``GET /v1/models/<name>`` answers 200) and a bare
``docker run --rm --entrypoint true IMAGE``. Goal: Docker start-to-ready <= 1.2x (container start
+ model server load). Needs the image (``minikn images build``) and scikit-learn.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import docker
from minikn.config.loader import Settings
from minikn.core.clock import SystemClock
from minikn.core.revision import ContainerSpec, ModelRef, RevisionSpec
from minikn.modelserver.examples import ensure_example_models
from minikn.replicas.backend import ReplicaBackend, platform_id
from minikn.replicas.docker_backend import DockerBackend
from minikn.replicas.probe import default_probe, wait_ready
from minikn.replicas.process_backend import ProcessBackend
from minikn.replicas.types import ReplicaHandle


def spec(image: str, n: int) -> RevisionSpec:
    return RevisionSpec(
        name=f"bench-predictor-{n:05d}", isvc="bench", component="predictor", generation=n,
        builtin_server=True,
        container=ContainerSpec(
            image=image,
            args=("--model_name=iris", "--model_dir=/mnt/models", "--http_port=8080",
                  "--model_format=sklearn"),
        ),
        model=ModelRef(name="iris", format="sklearn", storage_uri="file:///iris"),
    )  # fmt: skip


def timed_cmd(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def bare_server_load(model_dir: Path) -> float:
    """A bare model server process until its V1 readiness answers 200 (probed every 5 ms)."""
    port = free_port()
    start = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "minikn.modelserver", "--model_name=iris", f"--model_dir={model_dir}",
        f"--http_port={port}", "--host=127.0.0.1", "--model_format=sklearn",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    handle = ReplicaHandle("bare", "bare", "bare", str(proc.pid), "127.0.0.1", port)
    probe = default_probe(spec("x", 1)).model_copy(update={"period_seconds": 0.005})
    clock = SystemClock()

    async def no_exec(h: ReplicaHandle, c: Sequence[str], t: float) -> int:
        return 1

    await wait_ready(
        handle, probe, clock=clock, exec_=no_exec, exited=asyncio.Event(),
        deadline=clock.monotonic() + 60,
    )  # fmt: skip
    took = time.perf_counter() - start
    proc.terminate()
    await proc.wait()
    return took


async def backend_start(backend: ReplicaBackend, rev: RevisionSpec, model_dir: Path) -> float:
    """create() + the manager's readiness probing, as the start_to_ready metric measures."""
    clock = SystemClock()
    start = time.perf_counter()
    handle = await backend.create(rev, f"{rev.name}-r", model_dir=model_dir)
    await wait_ready(
        handle, default_probe(rev), clock=clock, exited=asyncio.Event(),
        exec_=lambda h, c, t: backend.exec(h, c, limit_s=t), deadline=clock.monotonic() + 60,
    )  # fmt: skip
    took = time.perf_counter() - start
    await backend.stop(handle, grace=0)
    return took


def prepare_model() -> tuple[Path, Path]:
    work = Path(tempfile.mkdtemp(prefix="minikn-bench-"))
    work.chmod(0o755)  # the container reads the model as the platform's user
    return work, ensure_example_models(work, ["sklearn-iris"])["sklearn-iris"]


async def main(runs: int, image: str) -> None:
    work, model_dir = await asyncio.to_thread(prepare_model)
    client = docker.from_env(timeout=60)
    settings = Settings()
    dock = DockerBackend(
        settings.minikn.replicas, client=client, platform=platform_id(work / "state")
    )
    proc = ProcessBackend(work / "state")
    await dock.start()
    await proc.start()
    # Warm both paths once (page cache, image layers) so every run measures the same thing.
    await backend_start(dock, spec(image, 999), model_dir)
    await backend_start(proc, spec(image, 998), model_dir)

    # Interleaved: each run measures every row once, so load drift hits all rows alike.
    samples: dict[str, list[float]] = {k: [] for k in ("interp", "run", "load", "proc", "dock")}
    for i in range(runs):
        samples["interp"].append(timed_cmd([sys.executable, "-c", "pass"]))
        samples["run"].append(timed_cmd(["docker", "run", "--rm", "--entrypoint", "true", image]))
        samples["load"].append(await bare_server_load(model_dir))
        samples["proc"].append(await backend_start(proc, spec(image, i + 1), model_dir))
        samples["dock"].append(await backend_start(dock, spec(image, i + 101), model_dir))
    interp, bare_run, load, proc_ready, dock_ready = (
        statistics.median(samples[k]) for k in ("interp", "run", "load", "proc", "dock")
    )
    await dock.close()
    await proc.close()

    goal = bare_run + load
    rows = [
        ("interpreter start (python -c pass)", interp, ""),
        ("model server load (bare process, to ready)", load, ""),
        (f"bare docker run --rm {image} true", bare_run, ""),
        ("process backend start-to-ready", proc_ready, f"{proc_ready / load:.2f}x bare load"),
        ("docker backend start-to-ready", dock_ready, f"{dock_ready / goal:.2f}x (run + load)"),
    ]
    print(f"median of {runs} runs")
    print(f"{'measure':<56} {'seconds':>8}  ratio")
    for name, value, ratio in rows:
        print(f"{name:<56} {value:8.3f}  {ratio}")
    verdict = "met" if dock_ready <= 1.2 * goal else "NOT met"
    print(f"goal docker <= 1.2x (docker run + load) = {1.2 * goal:.3f}s: {verdict}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--image", default="minikn/modelserver:latest")
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.image))
