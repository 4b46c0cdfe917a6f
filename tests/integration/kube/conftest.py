"""A real ``minikn serve`` (process backend, ports 0, its own state dir) with a kubeconfig for it,
and the example iris model allowed as a storage root, for kubectl and Kubernetes clients."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from minikn.modelserver.examples import ensure_example_models


@dataclass
class Served:
    url: str
    kube_url: str
    kubeconfig: Path
    state: Path
    model: Path
    proc: subprocess.Popen[str]

    def kubectl(
        self, *args: str, check: bool = True, timeout: float = 90
    ) -> subprocess.CompletedProcess[str]:
        kubectl = shutil.which("kubectl")
        assert kubectl is not None
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
        out = subprocess.run(
            [kubectl, *args], capture_output=True, text=True, env=env, timeout=timeout, check=False
        )
        if check and out.returncode != 0:
            pytest.fail(f"kubectl {' '.join(args)} failed ({out.returncode}): {out.stderr}")
        return out

    def watch_sees_a_label(self, resource: str, name: str) -> None:
        """``kubectl get RESOURCE NAME -w`` prints the header and the row, then, after a label
        is set, the object's row again (the MODIFIED event)."""
        kubectl = shutil.which("kubectl")
        assert kubectl is not None
        with subprocess.Popen(
            [kubectl, "get", resource, name, "-w", "--request-timeout=60s"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            env={**os.environ, "KUBECONFIG": str(self.kubeconfig)},
        ) as watch:  # fmt: skip
            try:
                assert watch.stdout is not None
                assert watch.stdout.readline().split()[0] == "NAME"
                assert watch.stdout.readline().split()[0] == name
                self.kubectl("label", resource, name, "changed=yes")
                assert watch.stdout.readline().split()[0] == name  # the MODIFIED event, as a row
            finally:
                watch.kill()


def need_kubectl() -> None:
    """kubectl is required in CI (it fails there when missing); skipped only on a developer
    machine without it."""
    if shutil.which("kubectl") is None:
        if os.environ.get("CI"):
            pytest.fail("kubectl is not on PATH (CI installs it: .ci/run)")
        pytest.skip("kubectl is not on PATH")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("kube")
    models = tmp / "models"
    ensure_example_models(models, ["sklearn-iris"])
    config = tmp / "minikn.yaml"
    config.write_text(yaml.safe_dump({"minikn": {"storage": {"allowedRoots": [str(models)]}}}))
    state = tmp / "state"
    env = {**os.environ, "MINIKN_API_TOKEN": "", "MINIKN_SKIP_DOCKER": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "minikn.cli.main", "serve", "--state-dir", str(state),
         "--config", str(config), "--backend", "process", "--api-port", "0", "--kube-port", "0",
         "--port", "0", "--host", "127.0.0.1", "--log-level", "WARNING"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    assert proc.stdout is not None
    url = kube_url = ""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (url and kube_url):
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        if m := re.search(r"API on (http://\S+)", line):
            url = m.group(1)
        if m := re.search(r"Kubernetes API on (https://\S+)", line):
            kube_url = m.group(1)
    if not (url and kube_url):
        proc.kill()
        pytest.fail(f"minikn serve did not start: {proc.stdout.read()}")
    try:
        yield Served(url, kube_url, state / "kubeconfig", state, models / "sklearn-iris", proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()
