"""Expected failures of real ``minikn`` processes: one clear line, a non-zero exit, no traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port some other program listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def _minikn(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MINIKN_API_TOKEN": "", "MINIKN_SERVER": ""}
    return subprocess.run(
        [sys.executable, "-m", "minikn.cli.main", *argv],
        check=False, capture_output=True, text=True, env=env, timeout=60, cwd=cwd,
    )  # fmt: skip


def _one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, output
    return errors[0]


@pytest.mark.parametrize("flag", ["--api-port", "--port", "--kube-port"])
def test_serve_on_a_port_in_use_says_which_flag_to_change(
    busy_port: int, flag: str, tmp_path: Path
) -> None:
    ports = {"--port": "0", "--api-port": "0", "--kube-port": "-1", flag: str(busy_port)}
    result = _minikn(
        "serve", "--backend", "process", "--state-dir", str(tmp_path), "--host", "127.0.0.1",
        *(a for kv in ports.items() for a in kv), "--log-level", "WARNING",
    )  # fmt: skip
    assert _one_error_line(result) == (
        f"error: port {busy_port} is in use: another minikn serve? choose a free one with {flag}"
    )


def test_demo_on_a_port_in_use_says_which_flag_to_change(busy_port: int, tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[3]  # the demo runs from the repository root
    result = _minikn(
        "demo", "--state-dir", str(tmp_path), "--port", "0", "--api-port", str(busy_port),
        "--once", cwd=repo,
    )  # fmt: skip
    assert _one_error_line(result) == (
        f"error: port {busy_port} is in use: another minikn serve? choose a free one with "
        "--api-port"
    )


def test_client_command_without_a_server_says_to_start_one() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        free = sock.getsockname()[1]
    result = _minikn("get", "isvc", "--server", f"http://127.0.0.1:{free}")
    line = _one_error_line(result)
    assert line.startswith(f"error: cannot reach the minikn API at http://127.0.0.1:{free}")
    assert "is `minikn serve` running?" in line


def test_serve_on_a_state_dir_another_serve_runs_on_is_refused_and_leaves_it_alone(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    env = {**os.environ, "MINIKN_API_TOKEN": ""}
    with subprocess.Popen(
        [sys.executable, "-m", "minikn.cli.main", "serve", "--backend", "process",
         "--state-dir", str(state), "--host", "127.0.0.1", "--port", "0", "--api-port", "0",
         "--log-level", "WARNING"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    ) as first:  # fmt: skip
        try:
            assert first.stdout is not None
            for line in first.stdout:  # it prints its addresses once it listens
                if line.startswith("minikn: ingress on"):
                    break
            assert first.poll() is None, "the first minikn serve exited"
            token = (state / "api-token").read_text()
            kubeconfig = (state / "kubeconfig").read_text()
            result = _minikn(
                "serve", "--backend", "process", "--state-dir", str(state),
                "--host", "127.0.0.1", "--port", "0", "--api-port", "0", "--log-level", "WARNING",
            )  # fmt: skip
            line = _one_error_line(result)
            assert line.startswith(f"error: state dir {state} is in use by another running")
            assert "--state-dir" in line
            # The first platform's token and kubeconfig are as it wrote them; it still runs.
            assert (state / "api-token").read_text() == token
            assert (state / "kubeconfig").read_text() == kubeconfig
            assert first.poll() is None
        finally:
            first.terminate()
            first.wait(timeout=60)
