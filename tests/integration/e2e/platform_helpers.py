"""A real platform in-process on the process backend (ports 0, a fresh state dir), with the
example iris model trained into the test's directory and allowed as a storage root."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from minikn.config import Settings
from minikn.modelserver.examples import ensure_example_models
from minikn.platform.server import Platform, PlatformOptions


@asynccontextmanager
async def running_platform(
    tmp_path: Path, config: dict[str, Any] | None = None
) -> AsyncIterator[tuple[Platform, Path]]:
    """(platform, iris model dir); ``config`` adds groups to the platform YAML."""
    models = tmp_path / "models"
    ensure_example_models(models, ["sklearn-iris"])
    data: dict[str, Any] = {"minikn": {"storage": {"allowedRoots": [str(models)]}}}
    data.update(config or {})
    options = PlatformOptions(
        state_dir=tmp_path / "state", api_port=0, ingress_host="127.0.0.1", ingress_port=0,
        backend="process",
    )  # fmt: skip
    p = Platform(Settings.model_validate(data), options)
    await p.start()
    try:
        yield p, models / "sklearn-iris"
    finally:
        await p.close()


async def until_ready(p: Platform, name: str, seconds: float = 60) -> None:
    """Wait for the ISVC's Ready condition."""
    async with asyncio.timeout(seconds):
        while True:
            conds = p.controller.get("default", name)["status"].get("conditions", [])
            if any(c["type"] == "Ready" and c["status"] == "True" for c in conds):
                return
            await asyncio.sleep(0.1)
