"""The CLI: offline validate exit codes; apply/get/describe/revisions/delete against a real API."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from minikn.cli.main import main

from .conftest import Api

GOOD = """\
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: iris
spec:
  predictor:
    sklearn:
      storageUri: gs://b/1
"""
BAD = """\
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: broken
spec:
  predictor:
    minReplicas: 3
    maxReplicas: 1
    sklearn:
      storageUri: gs://b/1
"""


def test_validate_valid_file_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "good.yaml").write_text(GOOD)
    assert main(["validate", "-f", str(tmp_path / "good.yaml")]) == 0
    assert (
        capsys.readouterr().out.strip()
        == f"{tmp_path / 'good.yaml'}[0] InferenceService/iris: valid"
    )


def test_validate_directory_one_line_per_document_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.yaml").write_text(GOOD + "---\n" + BAD)
    (tmp_path / "b.yml").write_text("kind: InferenceGraph\nmetadata: {name: g}\n")
    (tmp_path / "notes.txt").write_text("ignored")
    assert main(["validate", "-f", str(tmp_path)]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3
    assert lines[0].endswith("InferenceService/iris: valid")
    assert (
        "a.yaml[1] InferenceService/broken: spec.predictor.minReplicas: "
        "'MinReplicas' cannot be greater than MaxReplicas" in lines[1]
    )
    assert (
        "b.yml[0] InferenceGraph/g: apiVersion: None is not supported (use "
        "serving.kserve.io/v1alpha1)" in lines[2]
    )


async def _cli(*argv: str) -> int:
    return await asyncio.to_thread(main, list(argv))


async def test_apply_get_revisions_describe_delete(
    api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "iris.yaml"
    f.write_text(GOOD)
    server = ("--server", api.url)
    assert await _cli("apply", "-f", str(f), *server) == 0
    assert capsys.readouterr().out.strip() == (
        "inferenceservice.serving.kserve.io/iris created (new revisions: iris-predictor-00001)"
    )
    api.controller.revision_ready("iris-predictor-00001")
    assert await _cli("get", "isvc", *server) == 0
    header, row = capsys.readouterr().out.strip().splitlines()
    assert header.split() == [
        "NAME",
        "URL",
        "READY",
        "PREV",
        "LATEST",
        "PREVROLLEDOUTREVISION",
        "LATESTREADYREVISION",
        "AGE",
    ]
    assert row.split()[:5] == [
        "iris",
        "http://iris.default.example.com",
        "True",
        "100",
        "iris-predictor-00001",
    ]
    assert await _cli("get", "isvc", "iris", "-o", "json", *server) == 0
    assert (
        json.loads(capsys.readouterr().out)["status"]["components"]["predictor"]["traffic"][0][
            "percent"
        ]
        == 100
    )
    assert await _cli("revisions", "iris", *server) == 0
    assert "iris-predictor-00001" in capsys.readouterr().out
    assert await _cli("describe", "isvc", "iris", *server) == 0
    out = capsys.readouterr().out
    assert "RevisionReady" in out
    assert "PredictorReady" in out
    assert await _cli("delete", "-f", str(f), *server) == 0
    assert capsys.readouterr().out.strip() == 'inferenceservice.serving.kserve.io "iris" deleted'
    assert await _cli("get", "isvc", "iris", *server) == 1
    assert 'inferenceservices.serving.kserve.io "iris" not found' in capsys.readouterr().err


async def test_apply_refused_names_the_file_and_exits_1(
    api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(BAD)
    assert await _cli("apply", "-f", str(f), "--server", api.url) == 1
    err = capsys.readouterr().err
    assert (
        f"{f}[0] InferenceService/broken: spec.predictor.minReplicas: "
        "'MinReplicas' cannot be greater than MaxReplicas" in err
    )


async def test_unreachable_server_says_what_to_do(capsys: pytest.CaptureFixture[str]) -> None:
    assert await _cli("get", "isvc", "--server", "http://127.0.0.1:9") == 1
    assert "is `minikn serve` running?" in capsys.readouterr().err


async def test_delete_by_file_deletes_the_rest_after_one_already_gone_and_exits_1(
    api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    for name in ("a", "b", "c"):
        (manifests / f"{name}.yaml").write_text(GOOD.replace("name: iris", f"name: {name}"))
    server = ("--server", api.url)
    assert await _cli("apply", "-f", str(manifests), *server) == 0
    assert await _cli("delete", "isvc", "b", *server) == 0
    capsys.readouterr()
    assert await _cli("delete", "-f", str(manifests), *server) == 1
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        'inferenceservice.serving.kserve.io "a" deleted',
        'inferenceservice.serving.kserve.io "c" deleted',
    ]
    assert err.splitlines() == [
        'Error from server (NotFound): inferenceservices.serving.kserve.io "b" not found'
    ]
    assert api.controller.list_isvcs(None) == []


async def test_apply_resolves_relative_file_uris_against_the_yaml_directory(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "iris.yaml").write_text(GOOD.replace("gs://b/1", "file://./models/iris"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert await _cli("apply", "-f", "../manifests/iris.yaml", "--server", api.url) == 0
    spec = api.controller.get("default", "iris")["spec"]["predictor"]
    assert (spec.get("model") or spec["sklearn"])["storageUri"] == f"file://{manifests}/models/iris"
