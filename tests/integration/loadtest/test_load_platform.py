"""``minikn load`` against the real platform and a zero-replica ISVC (process backend).

The user's flow: ``minikn serve`` watching a directory with an ISVC whose initial scale is 0,
then ``minikn load`` on it. The report must count every request sent, see that the revision
started at zero, and put the requests that arrived during the cold start in the cold bucket.
"""

from __future__ import annotations

import csv
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from minikn.apiserver.client import TOKEN_FILE
from minikn.modelserver.examples import ensure_example_models

ROOT = Path(__file__).resolve().parents[3]
REQUESTS = 24
WORKERS = 4

_ISVC = """\
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: sklearn-iris
  annotations:
    autoscaling.knative.dev/initial-scale: "0"
    minikn.io/example-input: '{"instances": [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]}'
spec:
  predictor:
    minReplicas: 0
    model:
      modelFormat: {name: sklearn}
      storageUri: file://{models}/sklearn-iris
"""

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Platform:
    ingress: str
    api: str
    examples: Path
    state: Path


def _get(url: str, token: str | None = None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, headers=headers), timeout=5
        ) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0


def _wait_for(
    url: str,
    status: int,
    deadline_s: float,
    proc: subprocess.Popen[bytes],
    token: str | None = None,
) -> None:
    deadline = time.monotonic() + deadline_s
    while _get(url, token) != status:
        assert proc.poll() is None, "minikn serve exited early"
        assert time.monotonic() < deadline, f"{url} did not answer {status} in {deadline_s}s"
        time.sleep(0.2)  # polling a subprocess's endpoint, bounded by the deadline


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    ensure_example_models(ROOT / "config" / "examples" / "models", ["sklearn-iris"])
    settings = yaml.safe_load((ROOT / "config" / "minikn.yaml").read_text())
    settings["config-autoscaler"]["allow-zero-initial-scale"] = True
    (tmp_path / "minikn.yaml").write_text(yaml.safe_dump(settings))
    examples = tmp_path / "isvcs"
    examples.mkdir()
    # The watched directory is elsewhere: the model by its absolute path (a relative one would
    # be relative to the YAML file).
    models = ROOT / "config" / "examples" / "models"
    (examples / "sklearn-iris.yaml").write_text(_ISVC.replace("{models}", str(models)))
    ingress, api = _free_port(), _free_port()
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "minikn.cli.main", "serve",
            f"--port={ingress}", f"--api-port={api}", "--host=127.0.0.1",
            "--backend=process", f"--watch={examples}", f"--state-dir={tmp_path / 'state'}",
            f"--config={tmp_path / 'minikn.yaml'}",
        ],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        env={k: v for k, v in os.environ.items() if k != "MINIKN_API_TOKEN"},
    )  # fmt: skip
    try:
        api_url = f"http://127.0.0.1:{api}"
        _wait_for(f"{api_url}/healthz", 200, 60, proc)
        isvc = f"{api_url}/apis/serving.kserve.io/v1beta1/namespaces/default/inferenceservices"
        # serve made a token and wrote it in its state dir (it is up: the file is there)
        token = (tmp_path / "state" / TOKEN_FILE).read_text().strip()
        _wait_for(f"{isvc}/sklearn-iris", 200, 60, proc, token)
        yield Platform(f"http://127.0.0.1:{ingress}", api_url, examples, tmp_path / "state")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        print((tmp_path / "serve.log").read_text(errors="replace")[-6000:])


def test_load_sees_the_cold_start_of_a_zero_replica_isvc(
    platform: Platform, tmp_path: Path
) -> None:
    out_csv = tmp_path / "run.csv"
    proc = subprocess.run(
        [
            sys.executable, "-m", "minikn.loadtest", "sklearn-iris",
            "-n", str(REQUESTS), "-c", str(WORKERS), "--timeout", "120s",
            "--ingress", platform.ingress, "--server", platform.api,
            "--examples-dir", str(platform.examples), "--poll-interval", "100ms",
            "--csv", str(out_csv), "--max-error-rate", "0",
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=240, check=False,
        # the load tool finds serve's token in the state dir by itself
        env={**{k: v for k, v in os.environ.items() if k != "MINIKN_API_TOKEN"},
             "MINIKN_STATE_DIR": str(platform.state)},
    )  # fmt: skip
    report = proc.stdout
    assert proc.returncode == 0, report + proc.stderr
    assert f"{REQUESTS} requests" in report
    assert f"{REQUESTS} ok, 0 failed" in report
    assert "started at zero: yes" in report, report
    with out_csv.open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == REQUESTS
    assert {r["status"] for r in rows} == {"200"}
    assert {r["revision"] for r in rows} == {"sklearn-iris-predictor-00001"}
    cold = [r for r in rows if r["cold_start"] == "1"]
    # Every worker's first request was sent while the revision had no replica.
    assert len(cold) >= WORKERS
    assert f"requests that waited on a cold start: {len(cold)}" in report
    warm = [float(r["latency_s"]) for r in rows if r["cold_start"] == "0"]
    assert warm, "no request ran after the replica was ready"
    assert min(float(r["latency_s"]) for r in cold) > max(warm) / 2


def test_a_sweep_reports_each_level_and_writes_its_csv_and_chart(
    platform: Platform, tmp_path: Path
) -> None:
    out_csv, out_png = tmp_path / "sweep.csv", tmp_path / "sweep.png"
    proc = subprocess.run(
        [
            sys.executable, "-m", "minikn.loadtest", "sklearn-iris",
            "--sweep", "1,4", "-n", "12", "--timeout", "120s",
            "--ingress", platform.ingress, "--server", platform.api,
            "--examples-dir", str(platform.examples), "--poll-interval", "100ms",
            "--csv", str(out_csv), "--plot", str(out_png), "--max-error-rate", "0",
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=240, check=False,
        env={**{k: v for k, v in os.environ.items() if k != "MINIKN_API_TOKEN"},
             "MINIKN_STATE_DIR": str(platform.state)},
    )  # fmt: skip
    report = proc.stdout
    assert proc.returncode == 0, report + proc.stderr
    assert "Concurrency sweep" in report
    assert "24 requests" in report  # both levels in the overall report
    with out_csv.open() as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["concurrency"], r["requests"], r["errors"]) for r in rows] == [
        ("1", "12", "0"),
        ("4", "12", "0"),
    ]
    assert all(float(r["throughput_rps"]) > 0 for r in rows)
    assert all(float(r["p99_ms"]) >= float(r["p50_ms"]) > 0 for r in rows)
    assert rows[1]["replicas_max"] not in ("", "0")  # the platform's replica counts were read
    assert float(rows[1]["start_s"]) >= float(rows[0]["end_s"])  # one level after the other
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
