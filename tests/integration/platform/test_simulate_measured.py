"""``minikn simulate --start-model measured`` against a real API: the exact recorded start times
reach the simulator, and ``--out`` says what it wrote."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from minikn.api.documents import parse_text
from minikn.api.runtimes import default_registry
from minikn.apiserver.rest import create_api_app
from minikn.apiserver.starts import add_start_times_route
from minikn.cli.main import main
from minikn.config import Settings
from minikn.controlplane.controller import Controller
from minikn.controlplane.store import StateStore
from minikn.core.clock import FakeClock
from minikn.core.events import EventSink

ISVC = """\
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {name: iris, namespace: team}
spec:
  predictor:
    minReplicas: 0
    sklearn: {storageUri: gs://b/1}
"""


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[str, list[tuple[str, str, str]]]]:
    """The real API app (its error answers included) with the route, iris applied."""
    asked: list[tuple[str, str, str]] = []

    def start_times(ns: str, name: str, component: str) -> list[float]:
        asked.append((ns, name, component))
        return [1.2345]

    ctl = Controller(
        Settings(), clock=FakeClock(), store=StateStore(tmp_path / "state"),
        registry=default_registry(), events=EventSink(),
    )  # fmt: skip
    await ctl.start()
    await ctl.apply(parse_text(ISVC, "iris.yaml"))
    app = create_api_app(ctl, token=None)
    add_start_times_route(app, isvc=ctl.get, start_times=start_times)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}", asked
    await runner.cleanup()
    await ctl.close()


async def test_measured_start_model_uses_the_recorded_seconds_and_out_names_its_files(
    api: tuple[str, list[tuple[str, str, str]]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, asked = api
    (tmp_path / "iris.yaml").write_text(ISVC)
    out_dir = tmp_path / "sim"
    argv = ["simulate", "--isvc", str(tmp_path / "iris.yaml"), "--trace", "builtin:step",
            "--start-model", "measured", "--server", url, "--out", str(out_dir)]  # fmt: skip
    assert await asyncio.to_thread(main, argv) == 0
    out = capsys.readouterr().out
    assert asked == [("team", "iris", "predictor")]
    assert "replica start samples:1.2345" in out
    assert f"wrote {out_dir / 'simulation.csv'}" in out
    assert (out_dir / "simulation.csv").is_file()


async def test_measured_start_model_for_an_unknown_isvc_is_one_line(
    api: tuple[str, list[tuple[str, str, str]]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, _ = api
    (tmp_path / "other.yaml").write_text(ISVC.replace("name: iris", "name: other"))
    argv = ["simulate", "--isvc", str(tmp_path / "other.yaml"), "--trace", "builtin:step",
            "--start-model", "measured", "--server", url]  # fmt: skip
    assert await asyncio.to_thread(main, argv) == 1
    assert capsys.readouterr().err.strip() == (
        'error: --start-model measured: inferenceservices "other" not found in namespace team'
    )
