"""End to end on the real Docker engine: the whole platform, real model-server containers.

- Scale from zero: an ISVC at zero replicas gets 1,000 concurrent requests during its cold start;
  every one returns 200 with its own prediction, and the replica served exactly 1,000 predictions
  (none lost, none duplicated).
- Adoption: ``kill -9`` of a real ``minikn serve``, then a restart, keeps the running replica (same
  container, not restarted) and leaves no orphan.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from minikn.api.documents import parse_text
from minikn.config import Settings
from minikn.modelserver.examples import ensure_example_models
from minikn.platform.server import Platform
from minikn.replicas.types import LABEL_ISVC

from .platform_helpers import started_platform

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[3]
NETWORK = "minikn-test-e2e"


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    root.chmod(0o755)
    ensure_example_models(root, ["sklearn-iris"])
    return root


@pytest.fixture
def isvc(docker_client: Any, session_networks: set[str]) -> Iterator[str]:
    session_networks.add(NETWORK)  # removed at the end of the session
    name = f"e2e{secrets.token_hex(3)}"
    yield name
    for c in docker_client.containers.list(
        ignore_removed=True, all=True, filters={"label": f"{LABEL_ISVC}={name}"}
    ):
        c.remove(force=True)


def _isvc_yaml(name: str, models: Path, *, min_replicas: int, zero_start: bool) -> str:
    initial = '    autoscaling.knative.dev/initial-scale: "0"\n' if zero_start else ""
    return (
        "apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\n"
        f"metadata:\n  name: {name}\n  annotations:\n{initial}"
        '    minikn.io/test: "e2e"\n'
        f"spec:\n  predictor:\n    minReplicas: {min_replicas}\n    model:\n"
        "      modelFormat: {name: sklearn}\n"
        f"      storageUri: file://{models / 'sklearn-iris'}\n"
    )


def _settings(models: Path) -> Settings:
    return Settings.model_validate(
        {
            "config-autoscaler": {"allow-zero-initial-scale": True},
            "minikn": {
                "replicas": {"dockerNetwork": NETWORK, "stopGrace": "2s"},
                "storage": {"allowedRoots": [str(models)]},
            },
        }
    )


@pytest.fixture
async def platform(
    models: Path, tmp_path: Path, model_server_image: str
) -> AsyncIterator[Platform]:
    async with started_platform(tmp_path, _settings(models), "docker") as p:
        yield p


def _replica_predicts(docker_client: Any, isvc: str, model: str) -> float:
    """How many predictions the replicas of ``isvc`` served, summed from their own /metrics.

    The burst makes the autoscaler panic and add replicas; one still starting has served none.
    """
    total = 0.0
    for container in docker_client.containers.list(
        ignore_removed=True, filters={"label": f"{LABEL_ISVC}={isvc}"}
    ):
        ip = next(iter(container.attrs["NetworkSettings"]["Networks"].values()))["IPAddress"]
        try:
            with urllib.request.urlopen(f"http://{ip}:8080/metrics", timeout=5) as resp:
                text = resp.read().decode()
        except OSError:
            continue  # not listening yet: it served nothing
        pattern = rf'request_predict_seconds_count{{model_name="{model}"}} (\S+)'
        match = re.search(pattern, text)
        total += float(match.group(1)) if match else 0.0
    return total


async def test_1000_requests_during_a_docker_cold_start_all_succeed_exactly_once(
    platform: Platform, isvc: str, models: Path, docker_client: Any
) -> None:
    doc = _isvc_yaml(isvc, models, min_replicas=0, zero_start=True)
    await platform.controller.apply(parse_text(doc, "e2e.yaml"))
    assert not docker_client.containers.list(
        ignore_removed=True, filters={"label": f"{LABEL_ISVC}={isvc}"}
    )

    url = f"http://127.0.0.1:{platform.ingress_port}/v1/models/{isvc}:predict"
    host = {"Host": f"{isvc}.default.example.com"}
    # Each request carries a distinct instance, so each caller must get its own prediction back:
    # setosa-like rows (class 0) for even i, virginica-like rows (class 2) for odd i.
    rows = {0: [5.1, 3.5, 1.4, 0.2], 2: [7.7, 3.0, 6.1, 2.3]}

    async def one(session: aiohttp.ClientSession, i: int) -> tuple[int, Any, str]:
        want = 0 if i % 2 == 0 else 2
        async with session.post(url, json={"instances": [rows[want]]}, headers=host) as resp:
            body = await resp.json(content_type=None)
            return resp.status, (body, want), resp.headers.get("x-minikn-revision", "")

    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=240)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        results = await asyncio.gather(*(one(session, i) for i in range(1000)))
    statuses = [status for status, _, _ in results]
    assert statuses.count(200) == 1000, {s: statuses.count(s) for s in set(statuses)}
    for _, (body, want), revision in results:
        assert body == {"predictions": [want]}
        assert revision == f"{isvc}-predictor-00001"
    # The replicas served every request exactly once (cold start and panic scale-up included).
    assert await asyncio.to_thread(_replica_predicts, docker_client, isvc, isvc) == 1000


def _serve(state: Path, models: Path, watch: Path) -> tuple[subprocess.Popen[str], str, str]:
    config = state.parent / "minikn.yaml"
    config.write_text(json.dumps(_settings(models).model_dump(by_alias=True, mode="json")))
    env = {k: v for k, v in os.environ.items() if k != "MINIKN_API_TOKEN"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "minikn.cli.main", "serve", "--backend", "docker",
         "--state-dir", str(state), "--config", str(config), "--watch", str(watch),
         "--api-port", "0", "--port", "0", "--host", "127.0.0.1", "--log-level", "WARNING"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    assert proc.stdout is not None
    api = ingress = ""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (api and ingress):
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        if m := re.search(r"API on (http://\S+)", line):
            api = m.group(1)
        if m := re.search(r"ingress on http://\S+:(\d+)", line):
            ingress = f"http://127.0.0.1:{m.group(1)}"
    if not (api and ingress):
        proc.kill()
        pytest.fail("minikn serve did not start")
    return proc, api, ingress


def _predict(ingress: str, isvc: str) -> int:
    req = urllib.request.Request(
        f"{ingress}/v1/models/{isvc}:predict",
        data=json.dumps({"instances": [[6.8, 2.8, 4.8, 1.4]]}).encode(),
        headers={"Host": f"{isvc}.default.example.com"},
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return int(resp.status)
    except OSError:
        return 0


def _running(docker_client: Any, isvc: str) -> list[tuple[str, str]]:
    found = docker_client.containers.list(
        ignore_removed=True, all=True, filters={"label": f"{LABEL_ISVC}={isvc}"}
    )
    return [(c.id, c.attrs["State"]["StartedAt"]) for c in found]


def _until(predicate: Any, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.2)  # polling real processes and containers, bounded by the deadline


def test_kill_9_and_restart_adopts_the_replica_and_leaves_no_orphan(
    isvc: str, models: Path, tmp_path: Path, docker_client: Any, model_server_image: str
) -> None:
    state, watch = tmp_path / "state", tmp_path / "isvcs"
    watch.mkdir()
    (watch / "isvc.yaml").write_text(_isvc_yaml(isvc, models, min_replicas=1, zero_start=False))
    procs: list[subprocess.Popen[str]] = []
    try:
        proc, _, ingress = _serve(state, models, watch)
        procs.append(proc)
        _until(lambda: _predict(ingress, isvc) == 200, 120)
        before = _running(docker_client, isvc)
        assert len(before) == 1

        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        assert _running(docker_client, isvc) == before  # the replica outlives the platform

        proc2, _, ingress2 = _serve(state, models, watch)
        procs.append(proc2)
        _until(lambda: _predict(ingress2, isvc) == 200, 60)
        # Same container, same start time: adopted, not restarted; nothing else appeared.
        assert _running(docker_client, isvc) == before

        proc2.send_signal(signal.SIGTERM)
        assert proc2.wait(60) == 0
        # A graceful stop takes its replicas with it.
        _until(lambda: not docker_client.containers.list(
            all=True, filters={"label": f"{LABEL_ISVC}={isvc}"}), 30)  # fmt: skip
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait(10)
            if p.stdout:
                p.stdout.close()
