"""`minikn simulate` end to end in a child process: ISVC + CSV trace -> summary, CSV, PNG."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

ISVC = """\
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: iris
spec:
  predictor:
    minReplicas: 0
    maxReplicas: 4
    scaleTarget: 2
    containerConcurrency: 2
    model:
      modelFormat: {name: sklearn}
      storageUri: file:///models/iris
"""


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """``minikn simulate ARGS`` as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "minikn.cli.main", "simulate", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )


def figure(stdout: str, name: str) -> list[float]:
    """(min, median, max) of one figure in the printed summary."""
    line = next(ln for ln in stdout.splitlines() if ln.strip().startswith(name))
    return [float(x) for x in line.removeprefix(f"  {name}").split()]


def test_several_runs_report_a_range_of_first_scale_ups(tmp_path: Path) -> None:
    # Ten draws of the tick phase: the first scale above one replica comes at the first tick
    # with enough demand, somewhere in (0, 4] s, not at exactly 2 s every time.
    isvc = tmp_path / "isvc.yaml"
    isvc.write_text(ISVC)
    trace = tmp_path / "trace.csv"
    trace.write_text("".join(f"{i / 8},1.0\n" for i in range(160)))
    res = run("--isvc", str(isvc), "--trace", str(trace), "--start-time", "3")
    assert res.returncode == 0, res.stderr
    assert "10 run(s)" in res.stdout
    lo, _, hi = figure(res.stdout, "first scale-up (s)")
    assert 0.0 < lo < hi <= 4.0


def test_simulate_writes_summary_csv_and_plot(tmp_path: Path) -> None:
    isvc = tmp_path / "isvc.yaml"
    isvc.write_text(ISVC)
    trace = tmp_path / "trace.csv"
    trace.write_text("arrival,service\n" + "".join(f"{i / 4},1.0\n" for i in range(40)))
    out = tmp_path / "out"
    args = ("--isvc", str(isvc), "--trace", str(trace), "--start-time", "3", "--ideal-timing",
            "--out", str(out))  # fmt: skip
    first = run(*args)
    assert first.returncode == 0, first.stderr
    assert "revision iris-predictor-00001: metric concurrency, target 1.4/replica" in first.stdout
    assert "starting at rest (as a load test finds it), 1 run(s)" in first.stdout
    assert figure(first.stdout, "cold starts (requests that found no ready replica)") == [12] * 3
    assert figure(first.stdout, "max replicas") == [4] * 3
    rows = list(csv.reader((out / "simulation.csv").read_text().splitlines()))
    assert rows[0] == ["time", "concurrency", "desired", "ready", "queued", "panic"]
    assert max(int(r[2]) for r in rows[1:]) == 4  # maxReplicas caps the panic decision
    assert (out / "simulation.png").read_bytes()[:4] == b"\x89PNG"
    assert f"wrote {out / 'simulation.csv'}" in first.stdout  # --out names what it wrote
    decisions = list(csv.reader((out / "decisions.csv").read_text().splitlines()))
    assert f"wrote {out / 'decisions.csv'}" in first.stdout
    assert decisions[:2] == [
        ["time", "desired", "applied", "stable", "panic", "ready", "panic_mode"],
        ["0.000", "1", "1", "0.017", "0.167", "0", "0"],  # the first request's poke, at rest
    ]
    summary = [line for line in first.stdout.splitlines() if not line.startswith("wrote ")]
    assert run(*args[:-2]).stdout.splitlines() == summary  # deterministic (no plot this time)


def test_simulate_refuses_out_of_range_annotations(tmp_path: Path) -> None:
    isvc = tmp_path / "isvc.yaml"
    isvc.write_text(
        ISVC.replace(
            "  name: iris\n",
            "  name: iris\n  annotations:\n    autoscaling.knative.dev/window: 2s\n",
        )
    )
    res = run("--isvc", str(isvc), "--trace", "builtin:step")
    assert res.returncode == 2
    assert "autoscaling.knative.dev/window: 2s: must be in [6s, 1h]" in res.stderr
