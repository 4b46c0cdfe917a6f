"""KServe's Python SDK in a virtualenv of its own (never the test environment's), created once per
version under the test cache (``MINIKN_TEST_CACHE``, else ``~/.cache/minikn-tests``) and shared by
later runs; a file lock keeps concurrent sessions from building it twice."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

KSERVE_VERSION = "0.21"
PINS = ("kubernetes<33", "python-dateutil<3")
"""kserve 0.21's ``KServeClient`` passes its model objects to the kubernetes client, which
refuses them from 37 on (it validates bodies as dicts); its dateutil pin is kserve's own."""
INSTALL_LIMIT_S = 1800


def _cache_root() -> Path:
    env = os.environ.get("MINIKN_TEST_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "minikn-tests"


def _run(argv: list[str]) -> None:
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=INSTALL_LIMIT_S, check=False
    )
    if done.returncode != 0:
        tail = (done.stdout + done.stderr)[-2000:]
        pytest.fail(f"kserve {KSERVE_VERSION} cannot be installed: {tail}")


def kserve_virtualenv() -> Path:
    """The virtualenv with ``kserve==<KSERVE_VERSION>.*``, built on first use."""
    root = _cache_root()
    venv = root / f"kserve-{KSERVE_VERSION}-pinned"
    marker = venv / ".installed"
    if marker.is_file():
        return venv
    root.mkdir(parents=True, exist_ok=True)
    with (root / f"kserve-{KSERVE_VERSION}-pinned.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.is_file():
            return venv
        shutil.rmtree(venv, ignore_errors=True)
        base = getattr(sys, "_base_executable", sys.executable)
        _run([base, "-m", "venv", str(venv)])
        python = str(venv / "bin" / "python")
        # The pip that ``venv`` bundles can be too old to resolve kserve's dependencies.
        _run([python, "-m", "pip", "install", "-q", "-U", "pip"])
        _run([python, "-m", "pip", "install", "-q", f"kserve=={KSERVE_VERSION}.*", *PINS])
        marker.touch()
    return venv


def kserve_wheels() -> Path:
    """A directory of wheels for ``kserve==<KSERVE_VERSION>.*`` and its dependencies (with
    ``PINS``), built on the host by the SDK virtualenv's pip once per version and shared by later
    runs: an image installs them with ``pip install --no-index`` (a container may not reach an
    index or verify TLS to it). The host's Python must match the image's for compiled wheels."""
    root = _cache_root()
    wheels = root / f"kserve-{KSERVE_VERSION}-wheels"
    marker = wheels / ".built"
    if marker.is_file():
        return wheels
    python = str(kserve_virtualenv() / "bin" / "python")
    with (root / f"kserve-{KSERVE_VERSION}-wheels.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.is_file():
            return wheels
        shutil.rmtree(wheels, ignore_errors=True)
        wheels.mkdir(parents=True)
        _run([python, "-m", "pip", "wheel", "-q", "--disable-pip-version-check",
              "--wheel-dir", str(wheels), f"kserve=={KSERVE_VERSION}.*", *PINS])  # fmt: skip
        marker.touch()
    return wheels
