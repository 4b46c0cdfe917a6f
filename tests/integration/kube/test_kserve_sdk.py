"""The KServe Python SDK (``KServeClient``) against a real ``minikn serve``, in a virtualenv of
its own (created once under ``~/.cache/minikn-test``, reused): create with an SDK-built object,
get, patch, replace, delete, ``wait_isvc_ready`` watching and polling, ``is_isvc_ready``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.kube.conftest import Served

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

KSERVE_VERSION = "0.21"
PINS = ("kubernetes<33", "python-dateutil<3")
"""kserve 0.21's ``KServeClient`` passes its model objects to the kubernetes client, which
refuses them from 37 on (it validates bodies as dicts); its dateutil pin is kserve's own."""
SCRIPT = Path(__file__).parent / "sdk" / "kserve_sdk_calls.py"


def _sdk_python() -> Path:
    """The SDK's virtualenv's python, made (``pip install kserve==0.21.*``) when missing."""
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "minikn-test"
    venv = cache / f"kserve-venv-{KSERVE_VERSION}"
    python = venv / "bin" / "python"
    ok = venv / ".installed"
    """Written once the install succeeded (a half-made virtualenv is made again)."""
    if not ok.exists():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
        done = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", f"kserve=={KSERVE_VERSION}.*", *PINS],
            capture_output=True, text=True, timeout=1800, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            pytest.fail(f"cannot install kserve=={KSERVE_VERSION}.*: {done.stderr[-2000:]}")
        ok.write_text("")
    return python


def test_kserve_client_drives_isvcs(served: Served) -> None:
    python = _sdk_python()
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
