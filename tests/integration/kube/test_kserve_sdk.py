"""The KServe Python SDK (``KServeClient``) against a real ``minikn serve``, in a virtualenv of
its own (``tests.integration.kserve_env``: created once, reused): create with an SDK-built object,
get, patch, replace, delete, ``wait_isvc_ready`` watching and polling, ``is_isvc_ready``."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.integration.kserve_env import kserve_virtualenv
from tests.integration.kube.conftest import Served

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

SCRIPT = Path(__file__).parent / "sdk" / "kserve_sdk_calls.py"


def test_kserve_client_drives_isvcs(served: Served) -> None:
    python = kserve_virtualenv() / "bin" / "python"
    done = subprocess.run(
        [str(python), str(SCRIPT), str(served.kubeconfig), "sdk", f"file://{served.model}"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    result_line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert result_line is not None, done.stdout[-3000:] + done.stderr[-3000:]
    got = json.loads(result_line.removeprefix("RESULT "))
    assert got["created_uid"]
    assert got["ready_after_watch"] is True
    assert got["url"] == "http://sdk-a.sdk.example.com"
    assert got["patched_label"] == "sdk"
    assert got["replaced_generation"] == 2
    assert got["ready_after_poll"] is True
    # the watch really waits for its timeout (3 s) before giving up on the ISVC
    assert got["never_watch_waited_s"] >= 2.5
    assert got["never_poll"].startswith("RuntimeError: Timeout")
    assert got["never_ready"] is False
    assert got["after_delete"] == "Not Found"
