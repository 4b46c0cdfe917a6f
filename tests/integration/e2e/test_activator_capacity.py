"""The activator under a flood and a dying replica, through a running platform (process backend,
real sockets): a 10,000-request burst on a cold ``containerConcurrency: 0`` revision is answered
200 throughout while the replica never holds more connections than ``maxConnectionsPerReplica``;
a replica killed with SIGKILL between requests fails none of the requests sent after it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import pytest

from minikn.api.documents import parse_text
from minikn.config import Settings
from minikn.modelserver.examples import ensure_example_models
from minikn.platform.server import Platform

from .platform_helpers import started_platform, until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

BURST = 10_000
BOUND = 100

ISVC = """
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {{name: {name}}}
spec:
  predictor:
    minReplicas: {min}
    maxReplicas: {max}
    containerConcurrency: 0
    model:
      modelFormat: {{name: sklearn}}
      storageUri: file://{model}
"""

BURST_CLIENT = Path(__file__).parents[1] / "burst_client.py"


@asynccontextmanager
async def _platform(
    tmp_path: Path, activator: dict[str, Any]
) -> AsyncIterator[tuple[Platform, Path]]:
    models = tmp_path / "models"
    ensure_example_models(models, ["sklearn-iris"])
    data: dict[str, Any] = {
        "minikn": {"storage": {"allowedRoots": [str(models)]}, "activator": activator},
        # Cold: the revision starts at zero replicas and the burst wakes it.
        "config-autoscaler": {"initial-scale": 0, "allow-zero-initial-scale": True},
    }
    async with started_platform(tmp_path, Settings.model_validate(data)) as p:
        yield p, models / "sklearn-iris"


def _replica_processes() -> list[psutil.Process]:
    found = []
    for child in psutil.Process().children(recursive=True):
        with suppress(psutil.Error):  # one that exits meanwhile is not a replica any more
            if "minikn.modelserver" in " ".join(child.cmdline()):
                found.append(child)
    return found


async def test_cold_burst_of_10000_requests_is_all_200_within_the_connection_bound(
    tmp_path: Path,
) -> None:
    async with _platform(tmp_path, {"maxConnectionsPerReplica": BOUND}) as (p, model):
        assert p.dataplane is not None
        activator = p.dataplane.activator
        rev = "burst-predictor-00001"
        doc = ISVC.format(name="burst", min=0, max=1, model=model)
        await p.controller.apply(parse_text(doc, "b.yaml"))
        assert p.dataplane.replicas.ready_count(rev) == 0

        peak_fds, peak_held = 0, 0
        client = await asyncio.create_subprocess_exec(
            sys.executable, str(BURST_CLIENT), str(p.ingress_port), "burst.default.example.com",
            str(BURST), stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        done = asyncio.ensure_future(client.communicate())
        while not done.done():
            peak_held = max(peak_held, activator.in_flight(rev))
            for proc in _replica_processes():
                with suppress(psutil.Error):
                    peak_fds = max(peak_fds, proc.num_fds())
            await asyncio.sleep(0.05)
        out, _ = await done
        assert json.loads(out) == {"200": BURST}
        assert peak_held > BOUND  # requests did wait in the activator beyond the bound
        # The model server's own files (interpreter, logs, listener: ~30) plus at most BOUND.
        assert 0 < peak_fds <= BOUND + 64


async def test_replica_killed_between_requests_fails_none_of_the_next_requests(
    tmp_path: Path,
) -> None:
    async with _platform(tmp_path, {}) as (p, model):
        assert p.dataplane is not None
        replicas = p.dataplane.replicas
        rev = "die-predictor-00001"
        doc = ISVC.format(name="die", min=1, max=1, model=model)
        await p.controller.apply(parse_text(doc, "d.yaml"))
        await until(lambda: replicas.ready_count(rev) == 1, 60)
        url = f"http://127.0.0.1:{p.ingress_port}/v1/models/die"
        headers = {"Host": "die.default.example.com"}
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

            async def get() -> int:
                async with session.get(url, headers=headers) as resp:
                    await resp.read()
                    return resp.status

            # Warm: pooled keep-alive connections to the replica.
            assert await asyncio.gather(*(get() for _ in range(20))) == [200] * 20
            (victim,) = _replica_processes()
            os.kill(victim.pid, signal.SIGKILL)
            # Sent at once, while the activator still lists the dead replica (the replica manager
            # notices an exit within 0.1 s): none of them reached it, so each is retried or waits
            # in the buffer and gets the replacement's answer.
            statuses = await asyncio.gather(*(get() for _ in range(50)))
            victim.wait(timeout=10)
        assert statuses == [200] * 50
        assert [proc.pid for proc in _replica_processes()] != [victim.pid]
