"""`docker compose up` as a user runs it: the README's curl gets a prediction, the CLI reaches the
API with the token, a DNS-rebinding page does not, `down` cleans up; without a token compose
refuses to start.

Exactly the user's steps, with the names that could clash with a platform already running on
this machine moved aside: another compose project name, free host ports (through the compose
file's own MINIKN_INGRESS_PORT/MINIKN_API_PORT), and an override file that renames the network
and the state volume (and points the platform's config at that network).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from minikn.loadtest.target import IsvcInfo, example_body, find_isvc_yaml, model_path

ROOT = Path(__file__).resolve().parents[3]
PROJECT = "minikn-ctest"
NETWORK = "minikn-ctest"
TOKEN = secrets.token_urlsafe(32)  # what make compose-up writes to .minikn-compose.env
READY_DEADLINE_S = 300.0

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(1500)]


def _compose_command() -> list[str]:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    if probe.returncode == 0:
        return ["docker", "compose"]
    pytest.fail(
        "neither docker-compose nor `docker compose` is installed "
        "(scripts/start-docker.sh installs docker-compose)"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(cmd: list[str], *, env: dict[str, str], timeout: float) -> str:
    __tracebackhide__ = True  # keep the environment out of failure reports
    proc = subprocess.run(
        cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def _example() -> tuple[IsvcInfo, bytes]:
    """The example ISVC the README curls (sklearn-iris), with its example input."""
    examples = ROOT / "config" / "examples"
    info = find_isvc_yaml("sklearn-iris", namespace="default", examples_dir=examples)
    assert info is not None, "config/examples has no sklearn-iris InferenceService"
    body = example_body(info)
    assert body is not None, "config/examples has no example input for sklearn-iris"
    return info, body


@dataclass
class Stack:
    compose: list[str]
    env: dict[str, str]
    ingress: int
    api: int

    def __call__(self, *args: str, timeout: float = 600) -> str:
        return _run([*self.compose, *args], env=self.env, timeout=timeout)


@pytest.fixture
def stack(tmp_path: Path, docker_client: Any) -> Iterator[Stack]:
    settings = yaml.safe_load((ROOT / "config" / "minikn.yaml").read_text())
    settings["minikn"]["replicas"]["dockerNetwork"] = NETWORK
    (tmp_path / "minikn.yaml").write_text(yaml.safe_dump(settings))
    override = {
        "version": "3.8",
        "services": {
            "minikn": {
                "volumes": [f"{tmp_path / 'minikn.yaml'}:/etc/minikn/minikn.yaml:ro"],
                "command": [
                    "serve",
                    "--host=0.0.0.0",
                    "--api-host=0.0.0.0",
                    "--watch=/isvcs",
                    "--state-dir=/state",
                    "--backend=docker",
                    "--config=/etc/minikn/minikn.yaml",
                ],
            }
        },
        "networks": {"default": {"name": NETWORK}},
        "volumes": {"minikn-state": {"name": f"{PROJECT}-state"}},
    }
    (tmp_path / "override.yml").write_text(yaml.safe_dump(override))
    ingress, api = _free_port(), _free_port()
    env = {
        **os.environ,
        "MINIKN_INGRESS_PORT": str(ingress),
        "MINIKN_API_PORT": str(api),
        "MINIKN_API_TOKEN": TOKEN,
        "COMPOSE_PROJECT_NAME": PROJECT,
    }
    files = ["-f", str(ROOT / "docker-compose.yml"), "-f", str(tmp_path / "override.yml")]
    s = Stack([*_compose_command(), *files], env, ingress, api)
    try:
        yield s
    finally:
        logs = subprocess.run(
            [*s.compose, "logs", "--no-color", "--tail=80"],
            cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=60,
        )  # fmt: skip
        print(logs.stdout[-8000:])
        subprocess.run(
            [*s.compose, "down", "-v", "--timeout", "60"],
            cwd=ROOT, env=env, capture_output=True, check=False, timeout=180,
        )  # fmt: skip


def _predict(stack: Stack, info: IsvcInfo, body: bytes) -> dict[str, Any] | None:
    """The README's curl; None until it answers 200."""
    req = urllib.request.Request(
        f"http://127.0.0.1:{stack.ingress}{model_path(info.name, info.protocol)}",
        data=body,
        headers={"Host": f"{info.name}.{info.namespace}.example.com"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            answer: dict[str, Any] = json.loads(resp.read())
            return answer
    except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError):
        return None


def _rebound_page_apply(stack: Stack) -> int:
    """A page on evil.example whose name was rebound to 127.0.0.1: its own Host and Origin, and
    (as if it had guessed it) the token."""
    host = f"evil.example:{stack.api}"
    isvc = b"apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata: {name: x}\n"
    req = urllib.request.Request(
        f"http://127.0.0.1:{stack.api}/api/v1/apply",
        data=isvc + b"spec: {predictor: {sklearn: {storageUri: 'gs://b/m'}}}\n",
        headers={
            "Host": host,
            "Origin": f"http://{host}",
            "Authorization": f"Bearer {TOKEN}",
            "Content-Type": "application/yaml",
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_compose_refuses_to_start_without_a_token(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MINIKN_API_TOKEN"}
    proc = subprocess.run(
        [*_compose_command(), "-f", str(ROOT / "docker-compose.yml"), "config"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "set MINIKN_API_TOKEN" in proc.stderr


def _network_containers(docker_client: Any) -> set[str]:
    net = docker_client.networks.get(NETWORK)
    net.reload()
    return set(net.attrs.get("Containers") or {})


def test_compose_up_serves_the_example_and_down_leaves_no_replica(
    stack: Stack, docker_client: Any
) -> None:
    info, body = _example()
    py = Path(sys.executable)
    build_env = {**stack.env, "PYTHON": str(py)}
    # The user's preparation (make compose-up): example models, wheels, the model-server image.
    _run([str(py), str(ROOT / "config" / "examples" / "train.py")], env=stack.env, timeout=600)
    _run([str(ROOT / "scripts" / "build-platform-image.sh"), "--wheels-only"], env=build_env,
         timeout=600)  # fmt: skip
    _run([str(py.parent / "minikn"), "images", "build"], env=stack.env, timeout=900)
    stack("up", "-d", "--build", timeout=900)

    deadline = time.monotonic() + READY_DEADLINE_S
    answer = _predict(stack, info, body)
    while answer is None and time.monotonic() < deadline:
        time.sleep(1.0)  # polling the user-visible endpoint, bounded by the deadline
        answer = _predict(stack, info, body)
    assert answer is not None, f"no prediction within {READY_DEADLINE_S:.0f}s"
    assert "predictions" in answer or "outputs" in answer, answer

    [platform] = stack("ps", "-q", "minikn").split()
    # The API is published on loopback only, the CLI reaches it with the token, a page does not.
    published = docker_client.containers.get(platform).attrs["NetworkSettings"]["Ports"]
    assert {b["HostIp"] for b in published["8081/tcp"]} == {"127.0.0.1"}, published
    cli = [str(py.parent / "minikn"), "get", "isvc", "--server", f"http://127.0.0.1:{stack.api}"]
    assert info.name in _run(cli, env=stack.env, timeout=60)
    assert _rebound_page_apply(stack) == 403

    replicas = {c for c in _network_containers(docker_client) if c[:12] != platform[:12]}
    assert replicas, "the prediction came back but no replica container is on the network"

    stack("down", "--timeout", "60", timeout=300)
    left = {
        c.id
        for c in docker_client.containers.list(ignore_removed=True, all=True)
        if c.id in replicas
    }
    assert not left, f"replica containers left behind by `down`: {sorted(left)}"
