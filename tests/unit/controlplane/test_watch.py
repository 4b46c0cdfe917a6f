"""``serve --watch``: a directory is applied, re-applied on change; a bad edit changes nothing."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from minikn.api.documents import load_paths
from minikn.cli.commands.serve import with_storage_root
from minikn.config import Settings
from minikn.config.paths import config_dir
from minikn.controlplane.controller import Controller
from minikn.core.clock import FakeClock
from minikn.platform.watch import DirectoryWatcher

DOC = """\
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {name: iris}
spec:
  predictor:
    sklearn: {storageUri: %s}
"""


def _write(path: Path, text: str, bump: int) -> None:
    path.write_text(text)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + bump * 1_000_000_000))


async def test_watch_applies_and_reapplies_on_change(
    tmp_path: Path, controller: Controller, fake_clock: FakeClock
) -> None:
    f = tmp_path / "iris.yaml"
    _write(f, DOC % "gs://b/1", 0)
    watcher = DirectoryWatcher(tmp_path, controller, clock=fake_clock)
    assert await watcher.poll_once() is True
    assert [r.name for r in controller.revisions("default", "iris")] == ["iris-predictor-00001"]
    assert await watcher.poll_once() is False  # nothing changed
    _write(f, DOC % "gs://b/2", 1)
    assert await watcher.poll_once() is True
    assert len(controller.revisions("default", "iris")) == 2
    _write(f, DOC % "gs://b/3" + "    minReplicas: -1\n", 2)  # refused: nothing changes
    assert await watcher.poll_once() is True
    assert len(controller.revisions("default", "iris")) == 2


async def test_watch_loop_polls_on_its_clock(
    tmp_path: Path, controller: Controller, fake_clock: FakeClock
) -> None:
    import asyncio

    watcher = DirectoryWatcher(tmp_path, controller, clock=fake_clock)
    task = asyncio.create_task(watcher.run(), name="test-watch")
    try:
        await asyncio.wait_for(watcher.applied.wait(), 5)  # the first (empty) directory
        watcher.applied.clear()
        _write(tmp_path / "iris.yaml", DOC % "gs://b/1", 0)
        await fake_clock.advance(1.0)
        await asyncio.wait_for(watcher.applied.wait(), 5)
        assert controller.list_isvcs()[0]["metadata"]["name"] == "iris"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def test_documents_from_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(DOC % "gs://b/1" + "---\n" + DOC % "gs://b/2"))
    docs = load_paths(["-"])
    assert [(d.source, d.index, d.name) for d in docs] == [
        ("<stdin>", 0, "iris"),
        ("<stdin>", 1, "iris"),
    ]


def _storage_uri(controller: Controller, name: str) -> str:
    spec = controller.get("default", name)["spec"]["predictor"]
    return str((spec.get("model") or spec["sklearn"])["storageUri"])


async def test_watch_one_refused_file_does_not_block_the_others(
    tmp_path: Path, controller: Controller, fake_clock: FakeClock
) -> None:
    bad = tmp_path / "a-bad.yaml"
    _write(bad, (DOC % "gs://b/1").replace("iris", "broken") + "    minReplicas: -1\n", 0)
    _write(tmp_path / "b-good.yaml", DOC % "gs://b/1", 0)
    watcher = DirectoryWatcher(tmp_path, controller, clock=fake_clock)
    assert await watcher.poll_once() is True
    assert [i["metadata"]["name"] for i in controller.list_isvcs()] == ["iris"]
    _write(bad, (DOC % "gs://b/1").replace("iris", "broken"), 1)  # fixed: applied on its own
    assert await watcher.poll_once() is True
    assert sorted(i["metadata"]["name"] for i in controller.list_isvcs()) == ["broken", "iris"]
    assert len(controller.revisions("default", "iris")) == 1  # the unchanged file not re-applied


async def test_watch_removed_file_keeps_its_isvc_and_says_so(
    tmp_path: Path,
    controller: Controller,
    fake_clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    f = tmp_path / "iris.yaml"
    _write(f, DOC % "gs://b/1", 0)
    watcher = DirectoryWatcher(tmp_path, controller, clock=fake_clock)
    await watcher.poll_once()
    f.unlink()
    assert await watcher.poll_once() is True
    assert [i["metadata"]["name"] for i in controller.list_isvcs()] == ["iris"]
    assert "iris.yaml removed; its InferenceServices keep running" in caplog.text


async def test_watch_resolves_relative_file_uris_against_the_directory(
    tmp_path: Path, controller: Controller, fake_clock: FakeClock
) -> None:
    _write(tmp_path / "iris.yaml", DOC % "file://./models/iris", 0)
    watcher = DirectoryWatcher(tmp_path, controller, clock=fake_clock)
    await watcher.poll_once()
    assert _storage_uri(controller, "iris") == f"file://{tmp_path}/models/iris"


def test_a_watched_directory_is_an_allowed_storage_root(tmp_path: Path) -> None:
    roots = with_storage_root(Settings(), tmp_path).minikn.storage.allowed_roots
    assert roots == [str(config_dir() / "examples"), str(tmp_path.resolve())]
    assert str(Path.cwd()) not in roots
