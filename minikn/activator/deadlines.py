"""Request timeouts for every request in flight, checked a few times a second.

One timer per request (``loop.call_later`` and its cancel) costs more than the rest of the
activator's per-request bookkeeping, and timeouts are whole seconds (Knative's ``timeoutSeconds``),
so the activator keeps its deadlines here instead: adding and removing one is a dict operation, and
one timer, armed only while something waits, sweeps out what expired. A request times out between
its deadline and one ``resolution`` later.

Time is read from the injected clock (``now``); the loop only paces the sweeps, so a test on a
fake clock advances it and calls :meth:`Deadlines.sweep`.

Deadlines are grouped by timeout: within a group, insertion order is deadline order (one clock,
same timeout), so a sweep stops at the first entry of each group not yet due.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

__all__ = ["Deadlines"]

log = logging.getLogger("minikn.activator.deadlines")

Expire = Callable[[], None]


class Deadlines:
    """Deadlines of requests in flight, keyed by any hashable object (the request's handle)."""

    def __init__(self, now: Callable[[], float], resolution: float = 0.05) -> None:
        self._now = now
        self._resolution = resolution
        self._groups: dict[float, dict[object, tuple[float, Expire]]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __len__(self) -> int:
        return sum(len(group) for group in self._groups.values())

    def add(self, key: object, seconds: float, expire: Expire) -> None:
        """Call ``expire`` once ``seconds`` have passed, unless ``key`` is discarded first."""
        loop = self._loop
        if loop is None:  # asyncio.get_running_loop() costs a getpid() system call on 3.11
            loop = self._loop = asyncio.get_running_loop()
        group = self._groups.get(seconds)
        if group is None:
            group = self._groups[seconds] = {}
        group[key] = (self._now() + seconds, expire)
        if self._timer is None:
            self._timer = loop.call_later(self._resolution, self._tick)

    def discard(self, key: object, seconds: float) -> None:
        """``key`` no longer has a deadline (answered, or its response started)."""
        group = self._groups.get(seconds)
        if group is not None:
            group.pop(key, None)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._groups.clear()
        self._loop = None

    def _tick(self) -> None:
        self._timer = None
        self.sweep()
        if any(self._groups.values()):
            loop = self._loop or asyncio.get_running_loop()
            self._timer = loop.call_later(self._resolution, self._tick)

    def sweep(self) -> None:
        """Expire every deadline due by now (on the clock); the timer calls this while any
        deadline is pending."""
        now = self._now()
        for group in list(self._groups.values()):
            due = []
            for key, (at, expire) in group.items():
                if at > now:
                    break
                due.append((key, expire))
            for key, expire in due:
                del group[key]
                try:
                    expire()
                except Exception:
                    log.exception("a request timeout failed to fire")
