"""Keeps the cyclic garbage collector's full collections off the platform's long-lived state.

A platform holding thousands of ISVCs keeps hundreds of MB of objects that live as long as it
does; every full collection walks all of them on the event loop (0.6 s with 10,000 ISVCs), and
while the state grows (a restart loading it, a large apply) one comes each time the heap grew by a
quarter. So the collector is paused while :meth:`HeapKeeper.loading` (the restart's load), and
what exists is then frozen (``gc.freeze``: moved where no collection looks); after changes that
touched ``refreeze_after`` objects in all, one full collection runs on a later loop turn and what
survives it is frozen too. Objects frozen and later dropped are still freed by reference
counting; only reference cycles among them wait for :meth:`HeapKeeper.close`, which unfreezes.
The load's own cyclic garbage (if any) is frozen with the state, once; a refreeze collects
first, so repeated large applies freeze no garbage.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Collection, Iterator

__all__ = ["HeapKeeper"]

log = logging.getLogger("minikn.platform.heap")


class HeapKeeper:
    """The platform's collector policy: pause while loading, freeze what stays."""

    def __init__(self, *, refreeze_after: int = 1000) -> None:
        self._refreeze_after = refreeze_after
        self._changed = 0
        self._scheduled = False
        self._froze = False
        self.freezes = 0
        """How many times what exists was frozen (for tests and logs)."""

    @contextlib.contextmanager
    def loading(self) -> Iterator[None]:
        """No collection inside (the loaded state is all live); freeze it on the way out."""
        was = gc.isenabled()
        gc.disable()
        try:
            yield
        finally:
            self.freeze()
            if was:
                gc.enable()

    def freeze(self) -> None:
        """Move every object the collector tracks out of its reach."""
        gc.freeze()
        self._froze = True
        self._changed = 0
        self.freezes += 1
        log.debug("heap: %d objects frozen", gc.get_freeze_count())

    def changed(self, keys: Collection[str]) -> None:
        """A controller change listener: count the objects changed; past ``refreeze_after``,
        freeze on a later loop turn (never inside the controller's call)."""
        self._changed += len(keys)
        if self._changed < self._refreeze_after or self._scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._scheduled = True
        loop.call_soon(self._refreeze)

    def _refreeze(self) -> None:
        self._scheduled = False
        gc.collect()  # one full collection: no garbage is frozen with what stays
        self.freeze()

    def close(self) -> None:
        """Give what was frozen back to the collector."""
        if self._froze:
            gc.unfreeze()
            self._froze = False
