"""Tail and follow a replica's log file (the process backend's log output)."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

from minikn.replicas.backend import ReplicaBackend
from minikn.replicas.tasks import TaskOwner
from minikn.replicas.types import ReplicaHandle

log = logging.getLogger("minikn.replicas.logs")

__all__ = ["follow_file", "merge_logs"]

FOLLOW_POLL = 0.1


async def follow_file(
    path: Path, *, follow: bool, tail: int, alive: Callable[[], bool]
) -> AsyncIterator[str]:
    """The last ``tail`` lines of ``path``, then (``follow``) new lines while ``alive()``."""
    try:
        f = await asyncio.to_thread(path.open, "rb")
    except OSError:
        return
    try:
        last: deque[bytes] = deque(await asyncio.to_thread(f.readlines), maxlen=tail)
        for line in last:
            yield line.decode(errors="replace").rstrip("\n")
        partial = b""
        while follow:
            chunk = await asyncio.to_thread(f.readline)
            if not chunk:
                if not alive():
                    break
                await asyncio.sleep(FOLLOW_POLL)
                continue
            partial += chunk
            if partial.endswith(b"\n"):
                yield partial.decode(errors="replace").rstrip("\n")
                partial = b""
        if partial:
            yield partial.decode(errors="replace")
    finally:
        f.close()


async def merge_logs(
    backend: ReplicaBackend, handles: Sequence[ReplicaHandle], *, follow: bool
) -> AsyncIterator[str]:
    """Lines of several replicas, ``[replica-id] line``: one after another, or interleaved as
    they come while ``follow`` (until every replica's stream ends or the caller stops)."""
    if not follow:
        for h in handles:
            async for line in backend.logs(h, follow=False):
                yield f"[{h.replica_id}] {line}"
        return
    queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=1000)

    async def pump(h: ReplicaHandle) -> None:
        try:
            async for line in backend.logs(h, follow=True):
                await queue.put(f"[{h.replica_id}] {line}")
        finally:
            await queue.put(None)

    owner = TaskOwner(log)
    for h in handles:
        owner.spawn(pump(h), f"logs-{h.replica_id}")
    try:
        open_streams = len(handles)
        while open_streams:
            item = await queue.get()
            if item is None:
                open_streams -= 1
            else:
                yield item
    finally:
        await owner.close()
