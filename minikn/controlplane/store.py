"""Persist the control plane's state: a snapshot file plus a journal of changes since it.

A change (an apply, a delete, a replica report) appends one line to the journal and fsyncs it, so
it costs what it touched, not the whole state. When the journal outgrows the snapshot, a
compaction writes a new snapshot (temporary file, fsync, ``os.replace``, directory fsync) that
names the next journal generation, then removes the old journal. A crash at any point leaves
either the old snapshot with its journal or the new one with its (empty) journal; a line torn by
a crash in the middle of an append is the journal's last and is dropped on load (its change was
never acknowledged: the caller returns only after the fsync).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError

from minikn.controlplane.persisted import Change, encode, parse_snapshot, replay
from minikn.controlplane.state import PlaneState
from minikn.core.errors import PermanentError

__all__ = ["StateStore", "append_synced", "default_state_dir"]

log = logging.getLogger("minikn.controlplane.store")
STATE_FILE = "state.json"
_COMPACT_MIN_BYTES = 1 << 20
"""A journal is compacted once it is larger than this and than the snapshot."""


def default_state_dir() -> Path:
    """``$MINIKN_STATE_DIR`` or ``~/.minikn``."""
    env = os.environ.get("MINIKN_STATE_DIR")
    return Path(env) if env else Path.home() / ".minikn"


def append_synced(fd: int, data: bytes) -> None:
    """Write ``data`` at the end of ``fd`` and fsync it (the journal's one I/O step)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    os.fsync(fd)


def _fsync_dir(directory: Path) -> None:
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class StateStore:
    """Blocking load/save of :class:`PlaneState`; callers run them in a thread, one at a time."""

    def __init__(
        self,
        directory: Path,
        *,
        replace: Callable[[str, Path], None] = os.replace,
        append: Callable[[int, bytes], None] = append_synced,
    ) -> None:
        self.directory = directory
        self.path = directory / STATE_FILE
        self._replace = replace
        """The rename that makes a snapshot visible (a seam for tests that fail it)."""
        self._append = append
        """The write + fsync that makes a journal line durable (a seam for tests)."""
        self._generation = 0
        self._journal_bytes = 0
        self._snapshot_bytes = 0

    def _journal(self, generation: int | None = None) -> Path:
        gen = self._generation if generation is None else generation
        return self.directory / f"journal-{gen}.jsonl"

    @property
    def needs_compaction(self) -> bool:
        return self._journal_bytes > max(_COMPACT_MIN_BYTES, self._snapshot_bytes)

    def load(self) -> PlaneState:
        """The saved state (snapshot plus journal), or an empty one when nothing was saved.

        The cyclic garbage collector is paused meanwhile: reading 10,000 ISVCs allocates millions
        of objects (none of them garbage), which otherwise set off full collections of the
        growing heap again and again (a third of the load's time)."""
        paused = gc.isenabled()
        gc.disable()
        try:
            return self._load()
        finally:
            if paused:
                gc.enable()

    def _load(self) -> PlaneState:
        try:
            text = self.path.read_bytes()
        except FileNotFoundError:
            state, self._generation, self._snapshot_bytes = PlaneState(), 0, 0
        else:
            try:
                state, self._generation = parse_snapshot(text)
            except ValidationError as exc:
                raise PermanentError(
                    f"state file {self.path} is unreadable ({exc.error_count()} errors); move it "
                    "away to start empty"
                ) from exc
            self._snapshot_bytes = len(text)
        self._journal_bytes = self._replay(state)
        for stale in self.directory.glob("journal-*.jsonl"):
            if stale != self._journal():  # left by a crash just after a compaction
                with contextlib.suppress(FileNotFoundError):
                    stale.unlink()
        return state

    def _replay(self, state: PlaneState) -> int:
        """Apply the journal's lines to ``state``; drop a torn last line. Returns the good size."""
        path = self._journal()
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return 0
        good = 0
        lines = data.split(b"\n")
        for i, line in enumerate(lines):
            last = i == len(lines) - 1
            if last and not line:
                break  # the file ends with a newline: nothing torn
            try:
                if last:
                    raise ValueError("no newline: the line was torn by a crash while appended")
                change = Change.model_validate_json(line)
            except ValueError as exc:
                if not last:
                    raise PermanentError(
                        f"journal {path} line {i + 1} is unreadable ({exc}) and is not the last "
                        "line; move the state dir away to start empty"
                    ) from exc
                log.warning("journal %s: dropping a torn last line (%d bytes)", path, len(line))
                with open(path, "r+b") as f:
                    f.truncate(good)
                    os.fsync(f.fileno())
                break
            replay(state, change)
            good += len(line) + 1
        return good

    def write_change(self, change: Change) -> None:
        """Append ``change`` to the journal, durably; on failure the journal is as before."""
        self.directory.mkdir(parents=True, exist_ok=True)
        data = change.model_dump_json().encode() + b"\n"
        fd = os.open(self._journal(), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            try:
                self._append(fd, data)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, self._journal_bytes)  # no half line before the next one
                raise
        finally:
            os.close(fd)
        if self._journal_bytes == 0:
            _fsync_dir(self.directory)  # the journal file itself is new
        self._journal_bytes += len(data)

    def save(self, state: PlaneState) -> None:
        """Write ``state`` whole as a new snapshot (a compaction) and start an empty journal."""
        self.directory.mkdir(parents=True, exist_ok=True)
        generation = self._generation + 1
        data = encode(state, journal=generation).model_dump_json().encode()
        fd, tmp = tempfile.mkstemp(prefix=".state-", suffix=".tmp", dir=self.directory)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            self._replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        _fsync_dir(self.directory)
        old, self._generation = self._journal(), generation
        self._journal_bytes, self._snapshot_bytes = 0, len(data)
        with contextlib.suppress(FileNotFoundError):
            old.unlink()
        log.debug("saved state: %d isvcs, %d revisions", len(state.isvcs), len(state.revisions))
