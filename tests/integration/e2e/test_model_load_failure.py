"""A model that does not load, through a running platform (process backend, real model server):
the server exits with ``ModelLoadFailed: <error>``, and the ISVC says so at once: PredictorReady and
Ready False with the server's error, one ModelLoadFailed event, one CrashLoopBackOff event while it
restarts with backoff."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import pytest

from minikn.api.documents import parse_text
from minikn.platform.server import Platform

from .platform_helpers import conditions, describe, event_reasons, running_platform, until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

ISVC = """
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {{name: broken}}
spec:
  predictor:
    model:
      modelFormat: {{name: sklearn}}
      storageUri: file://{model}
"""
REV = "broken-predictor-00001"


async def test_model_that_fails_to_load_fails_the_isvc_with_the_servers_error(
    tmp_path: Path,
) -> None:
    async with running_platform(tmp_path) as (p, iris):
        broken = iris.parent / "broken"
        broken.mkdir()
        (broken / "model.joblib").write_bytes(b"this is not a pickle\n")
        await p.controller.apply(parse_text(ISVC.format(model=broken), "broken.yaml"))

        await until(lambda: conditions(p, "broken").get("Ready", {}).get("status") == "False", 30)
        # The reason is the server's (its first exit), not a progress deadline's.
        conds = conditions(p, "broken")
        for kind in ("PredictorReady", "Ready"):
            assert conds[kind]["status"] == "False"
            assert conds[kind]["reason"] == "ModelLoadFailed"
            message = conds[kind]["message"]
            assert message.startswith(f"{REV}: model broken: ")
            assert "ModelLoadFailed" not in message
        assert p.dataplane is not None
        status = p.dataplane.replicas.status(REV)
        assert (status.ready, status.reason) == (0, "ModelLoadFailed")

        # The second exit (after a 1 s backoff) starts the crash loop: the condition keeps its
        # reason and message, and neither event is recorded again.
        await until(lambda: "CrashLoopBackOff" in event_reasons(p, "broken"), 30)
        assert event_reasons(p, "broken").count("ModelLoadFailed") == 1
        assert event_reasons(p, "broken").count("CrashLoopBackOff") == 1
        assert conditions(p, "broken")["Ready"]["reason"] == "ModelLoadFailed"
        assert p.dataplane.replicas.status(REV).reason == "ModelLoadFailed"


async def test_model_server_exits_1_with_its_reason_when_the_model_does_not_load(
    tmp_path: Path,
) -> None:
    import sys

    (tmp_path / "model.joblib").write_bytes(b"this is not a pickle\n")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "minikn.modelserver", "--model_name=bad",
        f"--model_dir={tmp_path}", "--host=127.0.0.1", "--http_port=0",
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(30):
        _, err = await proc.communicate()
    assert proc.returncode == 1
    last = err.decode().strip().splitlines()[-1]
    assert last.startswith("ModelLoadFailed: model bad: ")


async def test_a_failure_from_before_a_restart_is_cleared_once_the_revision_is_ready(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The failure is saved with the state; after a restart the new replica manager never saw
    it, so it only reports the revision ready: the status and ``describe`` must drop it then."""

    def revision(p: Platform) -> dict[str, Any]:
        [row] = p.controller.revision_states("default", "broken")
        return row

    async with running_platform(tmp_path) as (p, iris):
        broken = iris.parent / "broken"
        broken.mkdir()
        (broken / "model.joblib").write_bytes(b"this is not a pickle\n")
        await p.controller.apply(parse_text(ISVC.format(model=broken), "broken.yaml"))
        await until(
            lambda: conditions(p, "broken").get("Ready", {}).get("reason") == "ModelLoadFailed", 30
        )
    # The same revision (same spec) now loads: its model directory was fixed meanwhile.
    (broken / "model.joblib").unlink()
    shutil.copytree(iris, broken, dirs_exist_ok=True)
    async with running_platform(tmp_path) as (p, _):
        # Restored from the state file, before any replica of this run is ready.
        assert conditions(p, "broken")["Ready"]["reason"] == "ModelLoadFailed"
        await until(lambda: revision(p)["ready"], 60)
        assert revision(p)["failure"] is None
        conds = conditions(p, "broken")
        assert (conds["PredictorReady"]["status"], conds["Ready"]["status"]) == ("True", "True")
        assert "RevisionRecovered" in event_reasons(p, "broken")
        lines = (await describe(p, "broken", monkeypatch, capsys)).splitlines()
        # The revision row has no FAILURE column text; the Ready condition is True.
        row = next(line.split() for line in lines if line.split()[:1] == [REV])  # Revisions
        assert row == [REV, "predictor", "True", "100%", "minikn-sklearnserver"]
        assert ["Ready", "True"] in [line.split()[:2] for line in lines]
        assert not [line for line in lines if "ModelLoadFailed" in line]
