"""``minikn serve --watch DIR``: apply every manifest in a directory, again whenever one changes.

Polls modification times once a second (no inotify dependency). Each file is applied on its own
(all or nothing within the file), so a refused file is logged and changes nothing while the other
files still apply; it is tried again when it changes. Relative ``file://`` storage URIs resolve
against the directory (see ``minikn.api.storage_paths``).

Removing a file does not delete its InferenceServices, as ``kubectl apply`` without ``--prune``
does not: the watcher logs that they keep running and how to delete them.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from minikn.api.documents import load_paths, yaml_files
from minikn.api.storage_paths import resolve_storage_paths
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
    """Applies each changed file of ``directory``; run :meth:`run` as an owned task."""

    def __init__(
        self, directory: Path, controller: Controller, *, clock: Clock, interval: float = 1.0
    ) -> None:
        self.directory = directory
        self._controller = controller
        self._clock = clock
        self._interval = interval
        self._seen: dict[str, tuple[int, int]] | None = None
        self.applied = asyncio.Event()
        """Set after each poll that found a change (tests await it)."""

    async def poll_once(self) -> bool:
        """Apply the files changed since the last poll; True when anything changed."""
        current = await asyncio.to_thread(snapshot, self.directory)
        if current == self._seen:
            return False
        seen = self._seen or {}
        self._seen = current
        for name in sorted(current):
            if seen.get(name) != current[name]:
                await self._apply_file(self.directory / name)
        for name in sorted(seen.keys() - current.keys()):
            log.warning(
                "watch %s: %s removed; its InferenceServices keep running (as with kubectl apply "
                "without --prune): delete them with `minikn delete isvc NAME`",
                self.directory,
                name,
            )
        self.applied.set()
        return True

    async def _apply_file(self, path: Path) -> None:
        try:
            docs = await asyncio.to_thread(load_paths, [str(path)])
            results = await self._controller.apply(resolve_storage_paths(docs))
        except MiniknError as exc:
            log.error("watch %s: apply refused, nothing in it changed:\n%s", path, exc.message)
            return
        log.info(
            "watch %s: applied %d documents (%s)",
            path,
            len(results),
            ", ".join(f"{r.name} {r.action}" for r in results),
        )

    async def run(self) -> None:
        while True:
            try:
                await self.poll_once()
            except OSError as exc:
                log.error("watch %s: cannot read the directory: %s", self.directory, exc)
            await self._clock.sleep(self._interval)
