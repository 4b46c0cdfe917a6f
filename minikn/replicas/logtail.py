"""Tail and follow a replica's log file (the process backend's log output)."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from pathlib import Path

__all__ = ["follow_file"]

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
