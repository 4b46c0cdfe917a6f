"""One revision's throttler: replica slots, the bounded FIFO buffer and the scale-from-zero poke.

``acquire`` hands out a replica slot at once when one is free and nobody waits ahead; otherwise the
request waits in a FIFO buffer (bounded: beyond ``max_buffered`` it is refused with 503 at once).
Every slot freed or replica added dispatches the buffer head first, so buffered requests are
served in order, each exactly once. A waiter that gives up (timeout, client gone) after it was
handed a slot gives the slot back, so no slot and no request is ever lost.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import Callable, Sequence

from minikn.activator.balance import Balancer, Tracker
from minikn.core.endpoints import Endpoint
from minikn.core.errors import Unavailable

__all__ = ["Throttler"]

log = logging.getLogger("minikn.activator.throttler")


class Throttler:
    """Slots and buffer of one revision."""

    def __init__(
        self,
        revision: str,
        *,
        container_concurrency: int,
        max_buffered: int,
        retry_after: int,
        poke: Callable[[], None],
        rng: random.Random,
    ) -> None:
        self.revision = revision
        self._rng = rng
        self._balancer = Balancer(container_concurrency, rng)
        self._max_buffered = max_buffered
        self._retry_after = retry_after
        self._poke = poke
        self._ready: list[Tracker] = []
        self._by_id: dict[str, Tracker] = {}
        self._waiters: deque[asyncio.Future[Tracker]] = deque()
        self._failure: tuple[str, str] | None = None
        self._buffered = 0

    @property
    def buffered(self) -> int:
        """Requests waiting for a slot (updated as their futures settle)."""
        return self._buffered

    def _settled(self, _: asyncio.Future[Tracker]) -> None:
        self._buffered -= 1

    @property
    def trackers(self) -> list[Tracker]:
        return list(self._ready)

    @property
    def ready_count(self) -> int:
        return len(self._ready)

    def set_container_concurrency(self, cc: int) -> None:
        if cc != self._balancer.container_concurrency:
            self._balancer = Balancer(cc, self._rng)
            self._dispatch()

    # Endpoints and failures -------------------------------------------------------------------

    def set_endpoints(self, endpoints: Sequence[Endpoint]) -> None:
        """The ready replicas are now exactly ``endpoints``; the others drain."""
        wanted = {e.replica_id: e for e in endpoints}
        for rid, tracker in list(self._by_id.items()):
            if rid not in wanted or wanted[rid] != tracker.endpoint:
                tracker.draining = True
                del self._by_id[rid]
        for rid, ep in wanted.items():
            if rid not in self._by_id:
                self._by_id[rid] = Tracker(ep)
        # Stable order (by replica id) for first-available and round robin.
        self._ready = [self._by_id[rid] for rid in sorted(self._by_id)]
        if self._ready:
            self._failure = None
        self._dispatch()

    def fail(self, reason: str, message: str) -> None:
        """The revision cannot get ready: buffered requests fail now, new ones while no replica."""
        self._failure = (reason, message)
        if self._ready:
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(self._failure_error())

    def recover(self) -> None:
        self._failure = None

    def close(self, message: str) -> None:
        """The revision is gone: fail everything still waiting."""
        self._ready = []
        self._by_id.clear()
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(Unavailable(message, reason="RevisionRemoved"))

    def _failure_error(self) -> Unavailable:
        assert self._failure is not None
        reason, message = self._failure
        return Unavailable(
            f"revision {self.revision} cannot become ready: {reason}: {message}", reason=reason
        )

    # Slots --------------------------------------------------------------------------------------

    def try_acquire(self, avoid: Tracker | None = None) -> Tracker | None:
        """A slot now, if one is free and nobody is buffered ahead; else None."""
        if self._waiters and self._dispatch_pending():
            return None
        tracker = self._balancer.pick(self._ready, avoid)
        if tracker is not None:
            tracker.in_flight += 1
        return tracker

    def enqueue(self) -> asyncio.Future[Tracker]:
        """Join the buffer; the future gets a slot (or a 503 error) in FIFO order."""
        if self._failure is not None and not self._ready:
            raise self._failure_error()
        if self.buffered >= self._max_buffered:
            raise Unavailable(
                f"revision {self.revision}: request buffer full "
                f"({self._max_buffered} requests waiting for capacity)",
                reason="BufferFull",
                retry_after=self._retry_after,
            )
        waiter: asyncio.Future[Tracker] = asyncio.get_running_loop().create_future()
        first = not self._dispatch_pending()
        self._waiters.append(waiter)
        self._buffered += 1
        waiter.add_done_callback(self._settled)
        if not self._ready and first:
            log.info("revision %s: no ready replica, buffering and poking", self.revision)
            self._poke()
        return waiter

    def abandon(self, waiter: asyncio.Future[Tracker]) -> None:
        """The waiter gave up; give back the slot it may have been handed meanwhile."""
        if waiter.done():
            if not waiter.cancelled() and waiter.exception() is None:
                self.release(waiter.result())
        else:
            waiter.cancel()

    def release(self, tracker: Tracker) -> None:
        tracker.in_flight -= 1
        if self._waiters and not tracker.draining:
            self._dispatch()

    def _dispatch_pending(self) -> bool:
        """Drop finished waiters at the head; True while a live waiter remains."""
        while self._waiters and self._waiters[0].done():
            self._waiters.popleft()
        return bool(self._waiters)

    def _dispatch(self) -> None:
        while self._dispatch_pending():
            tracker = self._balancer.pick(self._ready)
            if tracker is None:
                return
            tracker.in_flight += 1
            self._waiters.popleft().set_result(tracker)
