"""A real control-plane API on 127.0.0.1 port 0, backed by a controller with a temp state dir."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from minikn.api.runtimes import default_registry
from minikn.apiserver.rest import create_api_app
from minikn.config import Settings
from minikn.controlplane.controller import Controller
from minikn.controlplane.store import StateStore
from minikn.core.clock import FakeClock
from minikn.core.events import EventSink


@dataclass
class Api:
    url: str
    controller: Controller
    session: aiohttp.ClientSession


async def start_api(
    tmp_path: Path,
    token: str | None = None,
    host: str = "127.0.0.1",
    settings: Settings | None = None,
) -> tuple[Controller, web.AppRunner, str]:
    ctl = Controller(
        settings or Settings(),
        clock=FakeClock(),
        store=StateStore(tmp_path / "state"),
        registry=default_registry(),
        events=EventSink(),
    )
    await ctl.start()
    runner = web.AppRunner(create_api_app(ctl, token=token, bind_host=host), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    port = runner.addresses[0][1]
    return ctl, runner, f"http://127.0.0.1:{port}"


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    ctl, runner, url = await start_api(tmp_path)
    async with aiohttp.ClientSession() as session:
        yield Api(url, ctl, session)
    await runner.cleanup()
    await ctl.close()
