"""Fixtures for the control-plane unit tests: a controller on a fake clock and a temp state dir."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from minikn.api.runtimes import default_registry
from minikn.config import Settings
from minikn.controlplane.controller import Controller
from minikn.controlplane.store import StateStore
from minikn.core.clock import FakeClock
from minikn.core.events import EventSink
from minikn.core.revision import RevisionSpec
from minikn.core.routes import RouteTable


class RecordingListener:
    def __init__(self) -> None:
        self.live: list[list[str]] = []
        self.routable: list[set[str]] = []
        self.tables: list[RouteTable] = []

    def revisions_changed(self, live: Sequence[RevisionSpec], routable: set[str]) -> None:
        self.live.append([r.name for r in live])
        self.routable.append(set(routable))

    def routes_changed(self, table: RouteTable) -> None:
        self.tables.append(table)


@pytest.fixture
def listener() -> RecordingListener:
    return RecordingListener()


@pytest.fixture
async def controller(
    tmp_path: Path, fake_clock: FakeClock, listener: RecordingListener
) -> AsyncIterator[Controller]:
    ctl = Controller(
        Settings(),
        clock=fake_clock,
        store=StateStore(tmp_path / "state"),
        registry=default_registry(),
        events=EventSink(),
        listener=listener,
    )
    await ctl.start()
    yield ctl
    await ctl.close()
