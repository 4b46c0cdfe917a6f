"""Persist the control plane's state as one JSON file with atomic replaces.

A write goes to a temporary file in the same directory, is fsynced, then ``os.replace``d over the
old file (and the directory fsynced), so a crash at any point leaves either the old or the new
state, never a torn one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError

from minikn.controlplane.persisted import encode, parse_state
from minikn.controlplane.state import PlaneState
from minikn.core.errors import PermanentError

__all__ = ["StateStore", "default_state_dir"]

log = logging.getLogger("minikn.controlplane.store")
STATE_FILE = "state.json"


def default_state_dir() -> Path:
    """``$MINIKN_STATE_DIR`` or ``~/.minikn``."""
    env = os.environ.get("MINIKN_STATE_DIR")
    return Path(env) if env else Path.home() / ".minikn"


class StateStore:
    """Blocking load/save of :class:`PlaneState`; callers run them in a thread."""

    def __init__(
        self, directory: Path, *, replace: Callable[[str, Path], None] = os.replace
    ) -> None:
        self.directory = directory
        self.path = directory / STATE_FILE
        self._replace = replace
        """The rename that makes a write visible (a seam for tests that fail it)."""

    def load(self) -> PlaneState:
        """The saved state, or an empty one when nothing was saved yet."""
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return PlaneState()
        try:
            return parse_state(text)
        except ValidationError as exc:
            raise PermanentError(
                f"state file {self.path} is unreadable ({exc.error_count()} errors); move it away "
                "to start empty"
            ) from exc

    def save(self, state: PlaneState) -> None:
        """Write ``state`` atomically."""
        self.directory.mkdir(parents=True, exist_ok=True)
        data = encode(state).model_dump_json(indent=1).encode()
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
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        log.debug("saved state: %d isvcs, %d revisions", len(state.isvcs), len(state.revisions))
