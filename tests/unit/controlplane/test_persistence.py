"""State survives a restart, a crash in the middle of a write loses nothing, a failed write is
retried, and state dirs written by earlier versions still load.

Failures are injected at the store's one I/O seam (the rename that makes a write visible), so the
controller and the store under test run their real code.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from minikn.api.runtimes import default_registry
from minikn.config import Settings
from minikn.controlplane.controller import Controller
from minikn.controlplane.state import PlaneState
from minikn.controlplane.store import StateStore, append_synced
from minikn.core.clock import FakeClock
from minikn.core.errors import PermanentError
from minikn.core.events import EventSink
from minikn.testing.manifests import docs_of, isvc_doc

from .state_scenario import iris_doc, legacy_doc, play, views

P1 = "iris-predictor-00001"
V1_DIR = Path(__file__).parent / "fixtures" / "state-v1"
V1_END = FakeClock().monotonic() + 70
"""The fake clock's time when the version-1 fixture was saved (``play`` advances it by 70 s)."""


class Disk:
    """The store's two commit points, a snapshot's rename and a journal line's append + fsync,
    which can fail (a full disk, a crash) or run a hook first."""

    def __init__(self, clock: FakeClock | None = None) -> None:
        self.clock = clock
        self.failures: list[OSError] = []
        """Raised by the next renames, in order."""
        self.attempts: list[float] = []
        """The clock's time of each rename."""
        self.before_next: Callable[[], None] | None = None

    def _attempt(self) -> None:
        self.attempts.append(self.clock.monotonic() if self.clock is not None else 0.0)
        hook, self.before_next = self.before_next, None
        if hook is not None:
            hook()
        if self.failures:
            raise self.failures.pop(0)

    def replace(self, src: str, dst: Path) -> None:
        self._attempt()
        os.replace(src, dst)

    def append(self, fd: int, data: bytes) -> None:
        self._attempt()
        append_synced(fd, data)


def _controller(state_dir: Path, clock: FakeClock, disk: Disk | None = None) -> Controller:
    store = (
        StateStore(state_dir)
        if disk is None
        else StateStore(state_dir, replace=disk.replace, append=disk.append)
    )
    return Controller(
        Settings(),
        clock=clock,
        store=store,
        registry=default_registry(),
        events=EventSink(),
    )


async def test_restart_restores_isvcs_revisions_and_rollout(
    tmp_path: Path, fake_clock: FakeClock
) -> None:
    first = _controller(tmp_path, fake_clock)
    await first.start()
    await first.apply(docs_of(isvc_doc(sklearn={"storageUri": "gs://b/1"})))
    first.revision_ready(P1)
    await first.apply(
        docs_of(isvc_doc(sklearn={"storageUri": "gs://b/2"}, canaryTrafficPercent=10))
    )
    before = first.get("default", "iris")
    await first.close()

    second = _controller(tmp_path, fake_clock)
    await second.start()
    try:
        after = second.get("default", "iris")
        assert after["status"]["components"] == before["status"]["components"]
        assert [r.name for r in second.revisions("default", "iris")] == [
            P1,
            "iris-predictor-00002",
        ]
        # A re-apply of the same document after the restart creates nothing.
        [result] = await second.apply(
            docs_of(isvc_doc(sklearn={"storageUri": "gs://b/2"}, canaryTrafficPercent=10))
        )
        assert result.revisions == []
    finally:
        await second.close()


async def test_a_restart_shows_everything_the_controller_showed(
    tmp_path: Path, fake_clock: FakeClock
) -> None:
    first = _controller(tmp_path, fake_clock)
    await first.start()
    await play(first, fake_clock)
    before = views(first)
    await first.close()
    second = _controller(tmp_path, fake_clock)
    await second.start()
    try:
        assert views(second) == before
    finally:
        await second.close()


async def test_saved_state_keeps_only_what_cannot_be_derived(
    tmp_path: Path, fake_clock: FakeClock
) -> None:
    ctl = _controller(tmp_path, fake_clock)
    await ctl.start()
    await play(ctl, fake_clock)
    await ctl.close()
    saved = json.loads((tmp_path / "state.json").read_text())
    assert saved["version"] == 2
    assert saved["ready"] == sorted(saved["ready"])
    [iris] = [i for i in saved["isvcs"] if i["doc"]["metadata"]["name"] == "iris"]
    assert set(iris) == {
        "doc",
        "created_at",
        "updated_at",
        "generation",
        "deployment_mode",
        "components",
        "conditions",
        "admitted",
    }
    assert iris["components"]["predictor"] == {
        "digests": iris["components"]["predictor"]["digests"],  # one per revision, oldest first
        "latest_rolledout": P1,
        "previous_rolledout": None,
        "canary_percent": 10,
        "pinned_stable": None,
        "error_reason": None,
        "error_message": None,
    }
    assert len(iris["components"]["predictor"]["digests"]) == 2


async def test_revision_ready_is_persisted_by_the_background_saver(
    tmp_path: Path, fake_clock: FakeClock
) -> None:
    ctl = _controller(tmp_path, fake_clock)
    await ctl.start()
    try:
        await ctl.apply(docs_of(isvc_doc()))
        ctl.revision_ready(P1)
        async with asyncio.timeout(5):  # no close() to flush it: the saver writes it
            while P1 not in StateStore(tmp_path).load().ready:
                await asyncio.sleep(0.01)
    finally:
        await ctl.close()


async def test_the_persister_retries_a_failed_write_with_backoff(
    tmp_path: Path, fake_clock: FakeClock
) -> None:
    disk = Disk(fake_clock)
    ctl = _controller(tmp_path, fake_clock, disk)
    await ctl.start()
    try:
        await ctl.apply(docs_of(isvc_doc()))
        disk.attempts.clear()
        disk.failures = [OSError(28, "No space left on device")] * 2
        ctl.revision_ready(P1)  # no later change comes to trigger another write
        async with asyncio.timeout(10):
            while P1 not in StateStore(tmp_path).load().ready:
                await fake_clock.advance(0.25)
        first, second, third = disk.attempts
        assert second - first >= 1.0
        assert third - second >= 2.0  # the backoff doubles
    finally:
        await ctl.close()


def test_crash_during_write_keeps_the_previous_state(tmp_path: Path) -> None:
    disk = Disk()
    store = StateStore(tmp_path, replace=disk.replace)
    good = PlaneState(ready={"a"})
    store.save(good)
    disk.failures = [OSError("simulated crash before the rename")]
    with pytest.raises(OSError, match="simulated crash"):
        store.save(PlaneState(ready={"a", "b"}))
    assert store.load() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]  # no temp file left


def test_torn_temp_file_from_a_killed_process_is_ignored(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.save(PlaneState(ready={"a"}))
    (tmp_path / ".state-x.tmp").write_text('{"version": 2, "isv')  # a write cut short by SIGKILL
    assert store.load().ready == {"a"}


def test_corrupt_state_file_is_an_error_that_says_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text("{not json")
    with pytest.raises(PermanentError, match="move it away"):
        StateStore(tmp_path).load()


def test_missing_state_is_empty(tmp_path: Path) -> None:
    assert StateStore(tmp_path / "nothing").load() == PlaneState()


async def test_failed_write_refuses_the_apply_and_changes_nothing(
    tmp_path: Path, fake_clock: FakeClock
) -> None:
    disk = Disk()
    ctl = _controller(tmp_path, fake_clock, disk)
    await ctl.start()
    try:
        await ctl.apply(docs_of(isvc_doc(sklearn={"storageUri": "gs://b/1"})))
        disk.failures = [OSError(28, "No space left on device")]
        with pytest.raises(OSError, match="No space"):
            await ctl.apply(docs_of(isvc_doc(sklearn={"storageUri": "gs://b/2"})))
        assert [r.name for r in ctl.revisions("default", "iris")] == [P1]
        assert list(StateStore(tmp_path).load().revisions) == [P1]
    finally:
        await ctl.close()


async def test_replica_report_during_a_write_is_not_lost(
    tmp_path: Path, fake_clock: FakeClock
) -> None:
    disk = Disk()
    ctl = _controller(tmp_path, fake_clock, disk)
    await ctl.start()
    await ctl.apply(docs_of(isvc_doc(sklearn={"storageUri": "gs://b/1"})))
    loop = asyncio.get_running_loop()

    def report_while_writing() -> None:
        # The replica manager reports on the loop while the write runs in its thread.
        reported = threading.Event()

        def report() -> None:
            ctl.revision_ready(P1)
            reported.set()

        loop.call_soon_threadsafe(report)
        assert reported.wait(5)

    disk.before_next = report_while_writing
    await ctl.apply(docs_of(isvc_doc("other")))
    assert disk.before_next is None  # the hook ran during the apply's write
    status = ctl.get("default", "iris")["status"]
    assert status["components"]["predictor"]["latestReadyRevision"] == P1
    await ctl.close()
    assert StateStore(tmp_path).load().ready == {P1}


# --- state dirs written by earlier versions -----------------------------------------------------


def test_a_version_1_state_file_loads_to_the_state_it_held(tmp_path: Path) -> None:
    """Every field version 1 saved is there again, derived or read."""
    old: dict[str, Any] = json.loads((V1_DIR / "state.json").read_text())
    state = StateStore(V1_DIR).load()
    assert sorted(state.isvcs) == sorted(old["isvcs"])
    for key, was in old["isvcs"].items():
        isvc = state.isvcs[key]
        for field in ("name", "namespace", "api_version", "doc", "created_at", "updated_at"):
            assert getattr(isvc, field) == was[field], (key, field)
        assert (isvc.generation, isvc.tag_routing) == (was["generation"], was["tag_routing"])
        assert [c.model_dump() for c in isvc.conditions] == was["conditions"]
        assert sorted(isvc.components) == sorted(was["components"])
        for name, cs_was in was["components"].items():
            cs = isvc.components[name]  # type: ignore[index]
            for field in (
                "revisions",
                "hashes",
                "generation",
                "latest_created",
                "latest_rolledout",
                "previous_rolledout",
                "canary_percent",
                "pinned_stable",
                "error_reason",
                "error_message",
            ):
                assert getattr(cs, field) == cs_was[field], (key, name, field)
    assert {n: r.model_dump(mode="json") for n, r in state.revisions.items()} == old["revisions"]
    assert state.ready == set(old["ready"])
    assert state.failures == {r: tuple(f) for r, f in old["failures"].items()}
    assert state.runtimes == old["runtimes"]


async def test_a_controller_on_a_version_1_state_dir_shows_what_it_showed(
    tmp_path: Path,
) -> None:
    shutil.copy(V1_DIR / "state.json", tmp_path / "state.json")
    clock = FakeClock(start=V1_END)
    ctl = _controller(tmp_path, clock)
    await ctl.start()
    try:
        assert views(ctl) == json.loads((V1_DIR / "views.json").read_text())
        # The revision bookkeeping carried over: the same specs make nothing, a new one the next.
        [same] = await ctl.apply(docs_of(iris_doc("gs://b/2", canaryTrafficPercent=10)))
        assert same.revisions == []
        [same] = await ctl.apply(docs_of(legacy_doc()))
        assert same.revisions == []
        [changed] = await ctl.apply(docs_of(iris_doc("gs://b/3")))
        assert changed.revisions == ["iris-predictor-00003"]
    finally:
        await ctl.close()


async def test_todays_code_plays_the_version_1_history_to_the_same_views(
    tmp_path: Path, fake_clock: FakeClock
) -> None:
    ctl = _controller(tmp_path, fake_clock)
    await ctl.start()
    try:
        await play(ctl, fake_clock)
        assert views(ctl) == json.loads((V1_DIR / "views.json").read_text())
    finally:
        await ctl.close()
