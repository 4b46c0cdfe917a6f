"""A real platform in-process (ports 0 on loopback, a fresh state dir), on either backend; the
process-backend one with the example iris model trained into the test's directory and allowed as
a storage root; and waiting for a condition with a deadline."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

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


async def until_ready(p: Platform, name: str, seconds: float = 60) -> None:
    """Wait for the ISVC's Ready condition."""
    async with asyncio.timeout(seconds):
        while True:
            conds = p.controller.get("default", name)["status"].get("conditions", [])
            if any(c["type"] == "Ready" and c["status"] == "True" for c in conds):
                return
            await asyncio.sleep(0.1)
