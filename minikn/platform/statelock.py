"""One platform per state dir: an exclusive lock on ``<state-dir>/lock`` held while it runs."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from minikn.core.errors import MiniknError

__all__ = ["LOCK_FILE", "StateDirBusy", "StateDirLock"]

LOCK_FILE = "lock"


class StateDirBusy(MiniknError):
    """Another platform holds the state dir."""

    status = 409


class StateDirLock:
    """An advisory ``flock`` on ``<state_dir>/lock``: a second ``minikn serve`` (or ``demo``)
    on the same state dir would overwrite the first's API token and kubeconfig, append to its
    journal and adopt its replicas, so it is refused before it touches anything. The kernel
    drops the lock when the process dies, so a crash never leaves the dir locked; the file
    descriptor is not inherited by replicas."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / LOCK_FILE
        self._fd: int | None = None
        self.refused = False
        """Set when another platform held it: this one must then leave the state dir alone."""

    def acquire(self) -> None:
        if self._fd is not None:
            return
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            self.refused = True
            raise StateDirBusy(
                f"state dir {self.path.parent} is in use by another running minikn: give this "
                "one its own --state-dir (and its clients MINIKN_STATE_DIR, where they find "
                "its API token)"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
