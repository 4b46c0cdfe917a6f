"""State survives a restart, and a crash in the middle of a write loses nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from minikn.api.runtimes import default_registry
from minikn.config import Settings
from minikn.controlplane.controller import Controller
from minikn.controlplane.state import PlaneState
from minikn.controlplane.store import StateStore
from minikn.core.clock import FakeClock
from minikn.core.errors import PermanentError
from minikn.core.events import EventSink

from .conftest import docs_of, isvc_doc


def _controller(state_dir: Path, clock: FakeClock) -> Controller:
    return Controller(
        Settings(),
        clock=clock,
        store=StateStore(state_dir),
        registry=default_registry(),
        events=EventSink(),
    )


async def test_restart_restores_isvcs_revisions_and_rollout(
    tmp_path: Path, fake_clock: FakeClock
) -> None:
    first = _controller(tmp_path, fake_clock)
    await first.start()
    await first.apply(docs_of(isvc_doc(sklearn={"storageUri": "gs://b/1"})))
    first.revision_ready("iris-predictor-00001")
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
            "iris-predictor-00001",
            "iris-predictor-00002",
        ]
        # A re-apply of the same document after the restart creates nothing.
        [result] = await second.apply(
            docs_of(isvc_doc(sklearn={"storageUri": "gs://b/2"}, canaryTrafficPercent=10))
        )
        assert result.revisions == []
    finally:
        await second.close()


async def test_revision_ready_is_persisted_by_the_background_saver(
    tmp_path: Path, fake_clock: FakeClock
) -> None:
    ctl = _controller(tmp_path, fake_clock)
    await ctl.start()
    await ctl.apply(docs_of(isvc_doc()))
    ctl.revision_ready("iris-predictor-00001")
    await ctl.close()  # flushes
    assert StateStore(tmp_path).load().ready == ["iris-predictor-00001"]


def test_crash_during_write_keeps_the_previous_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = StateStore(tmp_path)
    good = PlaneState(ready=["a"])
    store.save(good)

    def crash(src: str, dst: str) -> None:
        raise OSError("simulated crash before the rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        store.save(PlaneState(ready=["a", "b"]))
    monkeypatch.undo()
    assert store.load() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]  # no temp file left


def test_torn_temp_file_from_a_killed_process_is_ignored(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.save(PlaneState(ready=["a"]))
    (tmp_path / ".state-x.tmp").write_text('{"version": 1, "isv')  # a write cut short by SIGKILL
    assert store.load().ready == ["a"]


def test_corrupt_state_file_is_an_error_that_says_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text("{not json")
    with pytest.raises(PermanentError, match="move it away"):
        StateStore(tmp_path).load()


def test_missing_state_is_empty(tmp_path: Path) -> None:
    assert StateStore(tmp_path / "nothing").load() == PlaneState()


async def test_failed_write_refuses_the_apply_and_changes_nothing(
    tmp_path: Path, fake_clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctl = _controller(tmp_path, fake_clock)
    await ctl.start()
    await ctl.apply(docs_of(isvc_doc(sklearn={"storageUri": "gs://b/1"})))

    def full_disk(state: PlaneState) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ctl._store, "save", full_disk)
    with pytest.raises(OSError, match="No space"):
        await ctl.apply(docs_of(isvc_doc(sklearn={"storageUri": "gs://b/2"})))
    assert [r.name for r in ctl.revisions("default", "iris")] == ["iris-predictor-00001"]
    monkeypatch.undo()
    await ctl.close()


async def test_replica_report_during_a_write_is_not_lost(
    tmp_path: Path, fake_clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctl = _controller(tmp_path, fake_clock)
    await ctl.start()
    await ctl.apply(docs_of(isvc_doc(sklearn={"storageUri": "gs://b/1"})))
    real_save = ctl._store.save

    def save_and_report(state: PlaneState) -> None:
        real_save(state)
        # The replica manager reports on the loop while the write runs in its thread.
        loop.call_soon_threadsafe(ctl.revision_ready, "iris-predictor-00001")
        reported.wait(5)

    import asyncio
    import threading

    loop = asyncio.get_running_loop()
    reported = threading.Event()
    original = ctl.revision_ready

    def ready_and_signal(name: str) -> None:
        original(name)
        reported.set()

    monkeypatch.setattr(ctl, "revision_ready", ready_and_signal)
    monkeypatch.setattr(ctl._store, "save", save_and_report)
    await ctl.apply(docs_of(isvc_doc("other")))
    monkeypatch.undo()
    status = ctl.get("default", "iris")["status"]
    assert status["components"]["predictor"]["latestReadyRevision"] == "iris-predictor-00001"
    await ctl.close()
    assert StateStore(tmp_path).load().ready == ["iris-predictor-00001"]
