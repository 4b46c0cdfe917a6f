"""``minikn demo`` (what ``make demo`` runs): the commands it prints work as printed."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def test_the_demo_prints_a_get_command_that_finds_its_api_and_token(tmp_path: Path) -> None:
    # The demo keeps its own state dir, so the CLI's default token file is not its token:
    # the printed `minikn get isvc` once answered 401.
    env = {k: v for k, v in os.environ.items() if k not in ("MINIKN_API_TOKEN", "MINIKN_SERVER")}
    env["MINIKN_STATE_DIR"] = str(tmp_path / "elsewhere")  # the CLI's default points elsewhere
    with subprocess.Popen(
        [sys.executable, "-m", "minikn.cli.main", "demo", "--port", "0", "--api-port", "0",
         "--state-dir", str(tmp_path / "demo")],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    ) as demo:  # fmt: skip
        try:
            assert demo.stdout is not None
            printed: list[str] = []
            for line in demo.stdout:
                printed.append(line)
                if line.startswith("Ctrl-C stops"):
                    break
            output = "".join(printed)
            assert "prediction through the ingress: 200" in output, output
            get = next(line.strip() for line in printed if "minikn get isvc" in line)
            words = shlex.split(get)
            at = words.index("minikn")
            assignments = dict(w.split("=", 1) for w in words[:at])
            result = subprocess.run(
                [sys.executable, "-m", "minikn.cli.main", *words[at + 1 :]],
                cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
                env={**env, **assignments},
            )  # fmt: skip
            assert result.returncode == 0, result.stdout + result.stderr
            assert "sklearn-iris" in result.stdout
            assert demo.poll() is None
        finally:
            demo.terminate()
            demo.wait(timeout=60)
