"""Copy-on-write apply and per-change persistence: an apply copies and writes only the ISVCs it
touches; a journal line torn by a crash, or a crash in the middle of a compaction, never loses an
acknowledged ISVC."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from minikn.api.runtimes import default_registry
from minikn.config import Settings
from minikn.controlplane.controller import Controller
from minikn.controlplane.persisted import Change
from minikn.controlplane.store import StateStore
from minikn.core.clock import FakeClock
from minikn.core.errors import InvalidInput, PermanentError
from minikn.core.events import EventSink
from minikn.testing.manifests import docs_of, isvc_doc


def _controller(store: StateStore, clock: FakeClock) -> Controller:
    return Controller(
        Settings(), clock=clock, store=store, registry=default_registry(), events=EventSink()
    )


def _journal(state_dir: Path) -> list[Path]:
    return sorted(state_dir.glob("journal-*.jsonl"))


async def test_an_apply_copies_only_the_isvcs_it_touches(
    tmp_path: Path, fake_clock: FakeClock
) -> None:
    ctl = _controller(StateStore(tmp_path), fake_clock)
    await ctl.start()
    try:
        await ctl.apply(docs_of(*(isvc_doc(f"m{i}") for i in range(5))))
        before = dict(ctl._state.isvcs)
        old_m0 = before["default/m0"]
        await ctl.apply(docs_of(isvc_doc("m0", sklearn={"storageUri": "gs://b/2"})))
        after = ctl._state.isvcs
        assert all(after[k] is before[k] for k in before if k != "default/m0")
        assert after["default/m0"] is not old_m0
        assert old_m0.components["predictor"].revisions == ["m0-predictor-00001"]  # untouched
        with pytest.raises(InvalidInput):
            await ctl.apply(docs_of(isvc_doc("m1"), {"kind": "Nope"}))
        assert ctl._state.isvcs == after
    finally:
        await ctl.close()


async def test_a_change_journals_only_the_isvc_it_touched(
    tmp_path: Path, fake_clock: FakeClock
) -> None:
    ctl = _controller(StateStore(tmp_path), fake_clock)
    await ctl.start()
    try:
        await ctl.apply(docs_of(isvc_doc("one")))
        [journal] = _journal(tmp_path)
        one_isvc = journal.stat().st_size
        await ctl.apply(docs_of(*(isvc_doc(f"m{i:02d}") for i in range(40))))
        size = journal.stat().st_size
        await ctl.apply(docs_of(isvc_doc("two")))
        assert journal.stat().st_size - size < 2 * one_isvc  # not the 41 others again
        await ctl.delete("default", "m00")
    finally:
        await ctl.close()
    restored = StateStore(tmp_path).load()
    assert "default/m00" not in restored.isvcs
    assert {"default/one", "default/two", "default/m39"} <= restored.isvcs.keys()
    assert "m00-predictor-00001" not in restored.revisions


async def test_a_torn_last_journal_line_loses_no_acknowledged_isvc(
    tmp_path: Path, fake_clock: FakeClock
) -> None:
    store = StateStore(tmp_path)
    ctl = _controller(store, fake_clock)
    await ctl.start()
    await ctl.apply(docs_of(isvc_doc("a")))
    await ctl.apply(docs_of(isvc_doc("b")))
    # A crash (no close: no snapshot) in the middle of appending the next change.
    [journal] = _journal(tmp_path)
    with journal.open("ab") as f:
        f.write(b'{"put": [{"isvc": {"doc": {"metadata": {"na')
    loaded = StateStore(tmp_path)
    state = loaded.load()
    assert set(state.isvcs) == {"default/a", "default/b"}
    assert journal.read_bytes().endswith(b"\n")  # the torn tail is cut, appends start clean
    again = _controller(loaded, fake_clock)
    await again.start()
    await again.apply(docs_of(isvc_doc("c")))
    assert set(StateStore(tmp_path).load().isvcs) == {"default/a", "default/b", "default/c"}
    await again.close()


def test_a_failed_append_leaves_the_journal_as_it_was(tmp_path: Path) -> None:
    def half_then_crash(fd: int, data: bytes) -> None:
        os.write(fd, data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    store = StateStore(tmp_path)
    store.write_change(Change(runtimes=[{"metadata": {"name": "kept"}}]))
    failing = StateStore(tmp_path, append=half_then_crash)
    failing.load()
    with pytest.raises(OSError, match="No space"):
        failing.write_change(Change(runtimes=[]))
    assert StateStore(tmp_path).load().runtimes == [{"metadata": {"name": "kept"}}]


async def test_a_crash_during_compaction_keeps_every_isvc(
    tmp_path: Path, fake_clock: FakeClock
) -> None:
    def crash(src: str, dst: Path) -> None:
        raise OSError("killed before the rename")

    ctl = _controller(StateStore(tmp_path), fake_clock)
    await ctl.start()
    await ctl.apply(docs_of(isvc_doc("a"), isvc_doc("b")))
    with pytest.raises(OSError, match="killed"):
        StateStore(tmp_path, replace=crash).save(ctl._state)  # type: ignore[arg-type]
    assert set(StateStore(tmp_path).load().isvcs) == {"default/a", "default/b"}
    ctl2 = _controller(StateStore(tmp_path), fake_clock)
    await ctl2.start()
    await ctl2.delete("default", "a")
    await ctl2.close()  # a snapshot naming journal generation 1
    # A crash after a snapshot's rename, before the old journal's removal, leaves it behind:
    # it is never replayed over the newer snapshot.
    stale = Change(deleted=["default/b"]).model_dump_json().encode() + b"\n"
    (tmp_path / "journal-0.jsonl").write_bytes(stale)
    assert set(StateStore(tmp_path).load().isvcs) == {"default/b"}
    assert not (tmp_path / "journal-0.jsonl").exists()


def test_an_unreadable_journal_line_before_the_last_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "journal-0.jsonl").write_bytes(b"{garbage\n{}\n")
    with pytest.raises(PermanentError, match="line 1"):
        StateStore(tmp_path).load()
