"""``minikn load`` against a real aiohttp server on loopback that scales from zero.

The fake platform serves both ports' worth of routes on one listener: the ingress path answers
only once its single "replica" is ready (0.3 s after the first request arrives, like a cold
start), and the API's ISVC object reports the replica counts the load generator samples.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from rich.console import Console

from minikn.core.clock import SystemClock
from minikn.loadtest import add_load_arguments, load_command
from minikn.loadtest.cli import run_load
from minikn.telemetry.metrics import Metrics

_ISVC = """\
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: iris
spec:
  predictor:
    model:
      modelFormat: {name: sklearn}
"""
_INPUT = {"instances": [[6.8, 2.8, 4.8, 1.4]]}


@dataclass
class FakePlatform:
    cold_start: float = 0.3
    fail_every: int = 0
    delay: float = 0.0
    report_replicas: bool = True
    metrics_only: bool = False
    """Counts only on /metrics (Knative's autoscaler gauges), none in the ISVC status."""
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    hosts: list[str] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    api_gets: int = 0
    _timer: asyncio.TimerHandle | None = None

    async def infer(self, request: web.Request) -> web.Response:
        self.hosts.append(request.headers["Host"])
        self.paths.append(request.path)
        self.bodies.append(await request.read())
        n = len(self.bodies)
        if self._timer is None and not self.ready.is_set():
            self._timer = asyncio.get_running_loop().call_later(self.cold_start, self.ready.set)
        await self.ready.wait()
        if self.delay:
            await asyncio.sleep(self.delay)
        headers = {"x-minikn-revision": "iris-predictor-00001"}
        if self.fail_every and n % self.fail_every == 0:
            return web.json_response({"error": "boom"}, status=500, headers=headers)
        return web.json_response({"predictions": [1]}, headers=headers)

    def _ready(self) -> int:
        return 1 if self.ready.is_set() else 0

    def _desired(self) -> int:
        return 1 if self._timer is not None or self.ready.is_set() else 0

    async def metrics(self, request: web.Request) -> web.Response:
        if not self.metrics_only:
            return web.Response(status=404)
        m = Metrics(CollectorRegistry())
        m.autoscaler.series("default", "iris", "iris-predictor-00001").actual = self._ready()
        m.autoscaler.series("default", "iris", "iris-predictor-00001").desired = self._desired()
        return web.Response(body=generate_latest(m.registry), content_type="text/plain")

    async def isvc(self, request: web.Request) -> web.Response:
        self.api_gets += 1
        if not self.report_replicas:
            return web.json_response({"error": "not found"}, status=404)
        rev = {"name": "iris-predictor-00001", "ready": self._ready(), "desired": self._desired()}
        if self.metrics_only:
            rev = {"name": "iris-predictor-00001"}
        return web.json_response(
            {
                "kind": "InferenceService",
                "metadata": {
                    "name": "iris",
                    "namespace": "default",
                    "annotations": {"minikn.io/example-input": json.dumps(_INPUT)},
                },
                "status": {
                    "url": "http://iris.default.example.com",
                    "components": {"predictor": {"revisions": [rev]}},
                },
            }
        )


@pytest.fixture
async def platform() -> AsyncIterator[tuple[FakePlatform, str]]:
    fake = FakePlatform()
    app = web.Application()
    app.router.add_post("/v1/models/iris:predict", fake.infer)
    app.router.add_get(
        "/apis/serving.kserve.io/v1beta1/namespaces/default/inferenceservices/iris", fake.isvc
    )
    app.router.add_get("/metrics", fake.metrics)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield fake, f"http://127.0.0.1:{port}"
    await runner.cleanup()


@pytest.fixture
def examples(tmp_path: Path) -> Path:
    folder = tmp_path / "examples"
    folder.mkdir()
    (folder / "iris.yaml").write_text(_ISVC)
    (folder / "iris-input.json").write_text(json.dumps(_INPUT))
    return folder


def _args(base: str, examples: Path, *extra: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_load_arguments(parser)
    return parser.parse_args(
        [
            "iris",
            "--ingress",
            base,
            "--server",
            base,
            "--examples-dir",
            str(examples),
            "--poll-interval",
            "50ms",
            "--no-progress",
            *extra,
        ]
    )


async def _run(args: argparse.Namespace) -> tuple[int, str]:
    console = Console(record=True, width=120, force_terminal=False)
    code = await run_load(args, clock=SystemClock(), console=console)
    return code, console.export_text()


async def test_closed_model_counts_add_up_and_cold_start_is_seen(
    platform: tuple[FakePlatform, str], examples: Path, tmp_path: Path
) -> None:
    fake, base = platform
    out_csv = tmp_path / "run.csv"
    code, text = await _run(_args(base, examples, "-n", "60", "-c", "5", "--csv", str(out_csv)))
    assert code == 0, text
    assert len(fake.bodies) == 60
    assert set(fake.hosts) == {"iris.default.example.com"}
    assert set(fake.paths) == {"/v1/models/iris:predict"}
    assert all(json.loads(b) == _INPUT for b in fake.bodies)
    assert "60 requests" in text
    assert "60 ok, 0 failed" in text
    assert "started at zero: yes" in text
    # Exactly the five first requests (one per worker) arrived before the replica was ready.
    assert "requests that waited on a cold start: 5" in text
    with out_csv.open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 60
    assert {r["status"] for r in rows} == {"200"}
    assert {r["revision"] for r in rows} == {"iris-predictor-00001"}
    assert sum(r["cold_start"] == "1" for r in rows) == 5
    cold = [float(r["latency_s"]) for r in rows if r["cold_start"] == "1"]
    assert min(cold) >= 0.25  # they waited out the 0.3 s cold start


async def test_replica_counts_from_metrics_when_the_status_has_none(
    platform: tuple[FakePlatform, str], examples: Path
) -> None:
    fake, base = platform
    fake.metrics_only = True
    code, text = await _run(_args(base, examples, "-n", "12", "-c", "3"))
    assert code == 0, text
    assert "started at zero: yes" in text
    assert "requests that waited on a cold start: 3" in text
    assert "replicas over time (max ready 1)" in text


async def test_failed_thresholds_exit_non_zero(
    platform: tuple[FakePlatform, str], examples: Path
) -> None:
    fake, base = platform
    fake.fail_every = 4
    code, text = await _run(_args(base, examples, "-n", "40", "-c", "4", "--max-error-rate", "0.1"))
    assert code == 1
    assert "500" in text
    assert "error rate 25.00% is above --max-error-rate" in text
    code, text = await _run(_args(base, examples, "-n", "8", "-c", "2", "--p99-under", "1ms"))
    assert code == 1
    assert "is not under --p99-under" in text
    code, _ = await _run(
        _args(base, examples, "-n", "8", "-c", "2", "--p99-under", "10s", "--max-error-rate", "0.5")
    )
    assert code == 0


async def test_open_model_honors_the_rate(
    platform: tuple[FakePlatform, str], examples: Path, tmp_path: Path
) -> None:
    fake, base = platform
    fake.ready.set()  # warm: the rate, not a cold start, is under test
    fake.delay = 0.2  # slower than the arrival gap: an open model keeps sending anyway
    out_csv = tmp_path / "open.csv"
    code, text = await _run(
        _args(base, examples, "--rate", "50", "-z", "1s", "--csv", str(out_csv))
    )
    assert code == 0, text
    with out_csv.open() as fh:
        starts = [float(r["start_s"]) for r in csv.DictReader(fh)]
    assert 45 <= len(starts) <= 50
    assert len(fake.bodies) == len(starts)
    assert 0.85 <= starts[-1] - starts[0] <= 1.1
    assert "started at zero: no" in text


async def test_platform_without_replica_counts_says_so(
    platform: tuple[FakePlatform, str], examples: Path
) -> None:
    fake, base = platform
    fake.report_replicas = False
    code, text = await _run(_args(base, examples, "-n", "6", "-c", "3"))
    assert code == 0, text
    assert "the platform did not report any for this target" in text
    assert "started at zero: unknown" in text
    assert "(first response)" in text
    assert "requests sent before the first replica was ready: 3" in text


async def test_isvc_known_only_to_the_api(
    platform: tuple[FakePlatform, str], tmp_path: Path
) -> None:
    fake, base = platform
    code, text = await _run(_args(base, tmp_path / "no-examples", "-n", "4", "-c", "2"))
    assert code == 0, text
    assert len(fake.bodies) == 4
    assert all(json.loads(b) == _INPUT for b in fake.bodies)  # the annotation's example input
    assert set(fake.hosts) == {"iris.default.example.com"}  # from status.url


async def test_url_target_with_data_file(
    platform: tuple[FakePlatform, str], examples: Path
) -> None:
    fake, base = platform
    fake.ready.set()
    parser = argparse.ArgumentParser()
    add_load_arguments(parser)
    args = parser.parse_args(
        [
            f"{base}/v1/models/iris:predict",
            "-d",
            str(examples / "iris-input.json"),
            "--host",
            "iris.default.example.com",
            "-n",
            "5",
            "--no-progress",
        ]
    )
    code, text = await _run(args)
    assert code == 0, text
    assert len(fake.bodies) == 5
    assert fake.api_gets == 0  # no --isvc: nothing to follow


async def test_transport_failures_are_counted_as_errors(
    platform: tuple[FakePlatform, str], examples: Path, tmp_path: Path
) -> None:
    fake, base = platform
    fake.ready.set()
    fake.delay = 1.0  # longer than --timeout: every request times out
    code, text = await _run(
        _args(base, examples, "-n", "3", "-c", "3", "--timeout", "100ms", "--max-error-rate", "0")
    )
    assert code == 1
    assert "error: timeout" in text
    assert "3 of 3 failed" in text
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    code, text = await _run(_args(closed, examples, "-n", "2", "-c", "1"))
    assert code == 0  # no threshold asked for
    assert "error: ClientConnectorError" in text
    assert "0 ok, 2 failed" in text


def test_bad_input_exits_2(examples: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    add_load_arguments(parser)
    assert load_command(parser.parse_args(["http://127.0.0.1:1/x", "-n", "1"])) == 2
    assert "needs a request body" in capsys.readouterr().err
    args = parser.parse_args(
        ["nope", "--examples-dir", str(examples), "--server", "http://127.0.0.1:1", "-n", "1"]
    )
    assert load_command(args) == 2
    assert "no InferenceService default/nope" in capsys.readouterr().err


def test_registers_as_a_minikn_subcommand() -> None:
    from minikn.cli.commands.load import register

    parser = argparse.ArgumentParser(prog="minikn")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["load", "iris", "-c", "3", "-z", "2s", "--rate", "5"])
    assert (args.concurrency, args.duration, args.rate) == (3, 2.0, 5.0)
    assert args.func is load_command


async def test_report_to_a_pipe_is_not_cut_to_80_columns(
    platform: tuple[FakePlatform, str],
    examples: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    _, base = platform
    code = await run_load(_args(base, examples, "-n", "4", "-c", "2"), clock=SystemClock())
    out = capsys.readouterr().out
    assert code == 0, out
    assert "…" not in out
    assert max(len(line) for line in out.splitlines()) > 80  # tables at their natural width


async def test_a_timed_sweep_runs_every_level_for_its_own_duration(
    platform: tuple[FakePlatform, str], examples: Path, tmp_path: Path
) -> None:
    # -z is per level: the second level once found the first's deadline passed and sent nothing.
    fake, base = platform
    fake.cold_start = 0.0
    out_csv = tmp_path / "sweep.csv"
    args = _args(base, examples, "--sweep", "1,2,3", "-z", "0.3s", "--csv", str(out_csv))
    code, text = await _run(args)
    assert code == 0, text
    with out_csv.open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["concurrency"] for r in rows] == ["1", "2", "3"]
    assert all(int(r["requests"]) > 0 for r in rows), rows
    assert all(float(r["end_s"]) - float(r["start_s"]) >= 0.3 for r in rows), rows
