"""``minikn serve --watch DIR``: apply every manifest in a directory, again whenever one changes.

Polls modification times once a second (no inotify dependency); a refused apply is logged and
changes nothing, and the next change is tried again.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from minikn.api.documents import load_paths, yaml_files
from minikn.controlplane.controller import Controller
from minikn.core.clock import Clock
from minikn.core.errors import MiniknError

__all__ = ["DirectoryWatcher", "snapshot"]

log = logging.getLogger("minikn.platform.watch")


def snapshot(directory: Path) -> dict[str, tuple[int, int]]:
    """name -> (mtime_ns, size) of every manifest in ``directory``."""
    out: dict[str, tuple[int, int]] = {}
    for p in yaml_files(directory):
        try:
            st = p.stat()
        except FileNotFoundError:  # removed between listing and stat
            continue
        out[p.name] = (st.st_mtime_ns, st.st_size)
    return out


class DirectoryWatcher:
    """Re-applies ``directory`` on every change; run :meth:`run` as an owned task."""

    def __init__(
        self, directory: Path, controller: Controller, *, clock: Clock, interval: float = 1.0
    ) -> None:
        self.directory = directory
        self._controller = controller
        self._clock = clock
        self._interval = interval
        self._seen: dict[str, tuple[int, int]] | None = None
        self.applied = asyncio.Event()
        """Set after each apply attempt (tests await it)."""

    async def poll_once(self) -> bool:
        """Apply when the directory changed since the last poll; True when it applied."""
        current = await asyncio.to_thread(snapshot, self.directory)
        if current == self._seen:
            return False
        self._seen = current
        try:
            docs = await asyncio.to_thread(load_paths, [str(self.directory)])
            results = await self._controller.apply(docs)
            log.info(
                "watch %s: applied %d documents (%s)",
                self.directory,
                len(results),
                ", ".join(f"{r.name} {r.action}" for r in results),
            )
        except MiniknError as exc:
            log.error("watch %s: apply refused, nothing changed:\n%s", self.directory, exc.message)
        self.applied.set()
        return True

    async def run(self) -> None:
        while True:
            try:
                await self.poll_once()
            except OSError as exc:
                log.error("watch %s: cannot read the directory: %s", self.directory, exc)
            await self._clock.sleep(self._interval)
