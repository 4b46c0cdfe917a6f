"""A real platform in-process (ports 0 on loopback, a fresh state dir), on either backend; the
process-backend one with the example iris model trained into the test's directory and allowed as
a storage root; waiting for a condition with a deadline; an ISVC's conditions, event reasons and
``minikn describe``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

import pytest

from minikn.cli.main import main
from minikn.config import Settings
from minikn.modelserver.examples import ensure_example_models
from minikn.platform.server import Platform, PlatformOptions


@asynccontextmanager
async def started_platform(
    tmp_path: Path, settings: Settings, backend: Literal["process", "docker"] = "process"
) -> AsyncIterator[Platform]:
    """A started platform: ingress and API on loopback ports 0, state in ``tmp_path/state``;
    closed on exit."""
    options = PlatformOptions(
        state_dir=tmp_path / "state", api_port=0, ingress_host="127.0.0.1", ingress_port=0,
        backend=backend,
    )  # fmt: skip
    p = Platform(settings, options)
    await p.start()
    try:
        yield p
    finally:
        await p.close()


@asynccontextmanager
async def running_platform(
    tmp_path: Path, config: dict[str, Any] | None = None
) -> AsyncIterator[tuple[Platform, Path]]:
    """(platform, iris model dir); ``config`` adds groups to the platform YAML."""
    models = tmp_path / "models"
    ensure_example_models(models, ["sklearn-iris"])
    data: dict[str, Any] = {"minikn": {"storage": {"allowedRoots": [str(models)]}}}
    data.update(config or {})
    async with started_platform(tmp_path, Settings.model_validate(data)) as p:
        yield p, models / "sklearn-iris"


async def until(predicate: Callable[[], bool], seconds: float = 60) -> None:
    """Wait until ``predicate()`` holds; TimeoutError after ``seconds``."""
    async with asyncio.timeout(seconds):
        while not predicate():
            await asyncio.sleep(0.05)


def conditions(p: Platform, name: str) -> dict[str, dict[str, Any]]:
    """The ISVC's status conditions by type."""
    status = p.controller.get("default", name)["status"]
    return {c["type"]: c for c in status.get("conditions", [])}


def event_reasons(p: Platform, name: str) -> list[str]:
    """The reasons of the ISVC's recent events, oldest first."""
    return [e.reason for e in p.controller.recent_events("default", name)]


async def describe(
    p: Platform, name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> str:
    """What ``minikn describe isvc NAME`` prints against the platform's API."""
    monkeypatch.setenv("MINIKN_API_TOKEN", p.token)
    capsys.readouterr()
    argv = ["describe", "isvc", name, "--server", f"http://127.0.0.1:{p.api_port}"]
    assert await asyncio.to_thread(main, argv) == 0
    return capsys.readouterr().out


async def until_ready(p: Platform, name: str, seconds: float = 60) -> None:
    """Wait for the ISVC's Ready condition."""
    async with asyncio.timeout(seconds):
        while conditions(p, name).get("Ready", {}).get("status") != "True":
            await asyncio.sleep(0.1)
