"""``minikn simulate`` glue in-process: the ISVC read by the control plane's loader, the injectable
loader, errors, outputs."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from minikn.cli.commands.simulate import load_revision
from minikn.config.loader import Settings
from minikn.sim import cli
from minikn.sim.cli import (
    RevisionInputs,
    add_simulate_arguments,
    simulate_command,
    write_outputs,
)
from minikn.sim.simulate import SimDecision, SimResult, SimRow

ISVC = """\
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: iris
  annotations:
    autoscaling.knative.dev/minScale: "7"
    autoscaling.knative.dev/window: 30s
spec:
  predictor:
    maxReplicas: 5
    scaleTarget: 3
    scaleMetric: rps
    containerConcurrency: 4
    model:
      modelFormat: {name: sklearn}
      resources:
        limits: {cpu: 500m, memory: 1Gi}
        requests: {cpu: 250m}
"""


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_simulate_arguments(parser)
    return parser.parse_args(list(argv))


def test_the_platform_loader_applies_kserve_mapping(tmp_path: Path) -> None:
    f = tmp_path / "isvc.yaml"
    f.write_text(ISVC)
    name, ann, cc, cpu, mem = load_revision(f, Settings(), "predictor")
    assert name == "iris-predictor-00001"
    assert cc == 4
    # minReplicas absent -> min-scale 1 (KServe's default); the user's minScale is replaced.
    assert ann == {
        "autoscaling.knative.dev/class": "kpa.autoscaling.knative.dev",
        "autoscaling.knative.dev/window": "30s",
        "autoscaling.knative.dev/min-scale": "1",
        "autoscaling.knative.dev/max-scale": "5",
        "autoscaling.knative.dev/target": "3",
        "autoscaling.knative.dev/metric": "rps",
    }
    assert (cpu, mem) == (0.25, 1024**3)  # requests over limits


def test_simulate_command_prints_the_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "isvc.yaml"
    f.write_text(ISVC)
    args = parse("--isvc", str(f), "--trace", "builtin:spike:duration=60", "--seed", "3")
    assert simulate_command(args, load_revision=load_revision) == 0
    out = capsys.readouterr().out
    assert "revision iris-predictor-00001: metric rps, target 2.1/replica" in out
    assert "replica start fixed:2.5" in out
    assert "queue wait p99 (s)" in out


def test_an_injected_loader_replaces_the_built_in_reader(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[str] = []

    def loader(path: Path, settings: Settings, component: str) -> RevisionInputs:
        seen.append(component)
        return "x-transformer-00002", {}, 0, None, None

    args = parse("--isvc", str(tmp_path / "absent.yaml"), "--trace", "builtin:ramp:duration=30",
                 "--component", "transformer", "--start-time", "1")  # fmt: skip
    assert simulate_command(args, load_revision=loader) == 0
    assert seen == ["transformer"]
    assert "revision x-transformer-00002" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("isvc", "trace", "message"),
    [
        (None, "builtin:step", "cannot read"),
        (
            "kind: ConfigMap\n",
            "builtin:step",
            "kind: ConfigMap is not supported (expected InferenceService",
        ),
        (
            "apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\n"
            "metadata: {name: x}\nspec: {}\n",
            "builtin:step",
            "spec.predictor: required field is missing",
        ),
        (
            ISVC.replace(
                "  annotations:\n", "  annotations:\n    autoscaling.knative.dev/metric: cpu\n"
            ).replace("    scaleMetric: rps\n", ""),
            "builtin:step",
            "autoscaling.knative.dev/metric: cpu: must be concurrency or rps",
        ),
        (
            ISVC.replace("scaleMetric: rps", "scaleMetric: memory"),
            "builtin:step",
            "[memory] is not a supported metric for class kpa.autoscaling.knative.dev",
        ),
        (
            ISVC.replace("scaleMetric: rps", "scaleMetric: memory").replace(
                "  annotations:\n",
                "  annotations:\n    autoscaling.knative.dev/class: hpa.autoscaling.knative.dev\n",
            ),
            "builtin:step",
            "models KPA",
        ),
        (ISVC, "builtin:square", "unknown shape"),
    ],
)
def test_errors_exit_2_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], isvc: str | None, trace: str, message: str
) -> None:
    f = tmp_path / "isvc.yaml"
    if isvc is not None:
        f.write_text(isvc)
    assert (
        simulate_command(parse("--isvc", str(f), "--trace", trace), load_revision=load_revision)
        == 2
    )
    assert message in capsys.readouterr().err


def test_overhead_and_idle_are_printed_and_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "isvc.yaml"
    f.write_text(ISVC)
    base = ("--isvc", str(f), "--trace", "builtin:ramp:duration=30", "--runs", "2")
    assert simulate_command(parse(*base, "--overhead", "uniform:0.01,0.02", "--idle", "5"),
                            load_revision=load_revision) == 0  # fmt: skip
    assert "request overhead uniform:0.01,0.02 (buffered uniform:0.01,0.02)" in (
        capsys.readouterr().out
    )
    lanes = ("--overhead", "0.01", "--buffered-overhead", "samples:0.04,0.05", "--report-lag",
             "0.01,0.1", "--tick-lateness", "samples:0,0.02", "--handover",
             "samples:1@1,0@2")  # fmt: skip
    assert simulate_command(parse(*base, *lanes), load_revision=load_revision) == 0
    assert (
        "request overhead fixed:0.01 (buffered samples:0.04,0.05), tick lateness samples:0,0.02, "
        "handover samples:1@1,0@2" in capsys.readouterr().out
    )
    for bad, message in [
        (("--overhead", "fixed:1+together:1"), "--overhead fixed:1+together:1: no +together"),
        (("--overhead", "gamma:1"), "use fixed, uniform, lognormal or samples"),
        (("--idle", "-1"), "--idle: seconds >= 0"),
        (("--buffered-overhead", "samples:1@2"), "--buffered-overhead samples:1@2: no +together"),
        (("--report-lag", "0.5,0.1"), "--report-lag 0.5,0.1: expected A,B seconds"),
        (("--report-lag", "x"), "--report-lag x: expected A,B seconds"),
        (("--tick-lateness", "samples:1@2"), "--tick-lateness samples:1@2: no +together"),
        (("--handover", "samples:1@0"), "give SECONDS@COUNT (COUNT >= 1)"),
        (("--idle", "3", "--from-created"), "only for a revision at rest"),
    ]:
        assert simulate_command(parse(*base, *bad), load_revision=load_revision) == 2
        assert message in capsys.readouterr().err


def test_write_outputs_csv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The PNG (matplotlib, slow to import) is checked by the integration test.
    monkeypatch.setattr(cli, "_plot", lambda result, path: None)
    res = SimResult(
        rows=[SimRow(1, 0.5, 1, 0, 2, False), SimRow(2, 3.25, 2, 1, 0, True)],
        decisions=[SimDecision(0.25, 1, 1, 0.1, 0.5, 0, False)],
    )
    written = write_outputs(res, tmp_path / "out")
    assert [p.name for p in written] == ["simulation.csv", "decisions.csv"]
    assert (tmp_path / "out" / "decisions.csv").read_text().splitlines() == [
        "time,desired,applied,stable,panic,ready,panic_mode",
        "0.250,1,1,0.100,0.500,0,0",
    ]
    assert (tmp_path / "out" / "simulation.csv").read_text().splitlines() == [
        "time,concurrency,desired,ready,queued,panic",
        "1,0.500,1,0,2,0",
        "2,3.250,2,1,0,1",
    ]
