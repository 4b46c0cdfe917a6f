"""The activator's buffer order (pure): who is served next when capacity frees.

Knative's throttler serves requests in arrival order: an arrival takes a free slot at once only
while nobody waits ahead of it, freed capacity goes to the head of the buffer, and a waiter that
gave up (timed out, cancelled) is skipped where it stands. ``Throttler`` keeps its futures in
one; ``minikn simulate`` its virtual requests, so both queue the same way.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

__all__ = ["Fifo"]

W = TypeVar("W")


class Fifo(Generic[W]):
    """Waiters in arrival order; ``alive(w)`` says whether one still waits."""

    def __init__(self, alive: Callable[[W], bool]) -> None:
        self._alive = alive
        self._items: deque[W] = deque()

    def waiting(self) -> bool:
        """Whether a live waiter is queued (finished ones at the head are dropped)."""
        items, alive = self._items, self._alive
        while items and not alive(items[0]):
            items.popleft()
        return bool(items)

    def admits(self, free: bool) -> bool:
        """Whether an arrival may take a free slot now: only while nobody waits ahead of it."""
        return free and not self.waiting()

    def push(self, waiter: W, *, front: bool = False) -> None:
        """Join the buffer (``front``: a retry of a request that never reached its replica goes
        ahead of later arrivals)."""
        if front:
            self._items.appendleft(waiter)
        else:
            self._items.append(waiter)

    def pop(self) -> W | None:
        """The next live waiter, or None."""
        return self._items.popleft() if self.waiting() else None

    def drain(self) -> Iterator[W]:
        """Every queued waiter, live or not, emptying the buffer."""
        while self._items:
            yield self._items.popleft()
