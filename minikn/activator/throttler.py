"""One revision's throttler: replica slots, the bounded FIFO buffer and the scale-from-zero poke.

Knative's ``Throttler.Try`` shape: a request takes a :class:`Slot` (``try_acquire`` now or never,
for the fast lane; ``acquire`` at once or from the buffer, for the coroutine lane), uses the slot's
replica, and gives it back with ``slot.release()``, which is idempotent: every lane and every error
path may call it, the slot goes back exactly once.

``acquire`` hands out a replica slot at once when one is free and nobody waits ahead; otherwise the
request waits in a FIFO buffer (bounded: beyond ``max_buffered`` it is refused with 503 at once).
Every slot freed or replica added dispatches the buffer head first, so buffered requests are
served in order, each exactly once. A waiter that gives up (timeout, client gone) after it was
handed a slot gives the slot back, so no slot and no request is ever lost.

A replica that refused a connection is *ejected* (Envoy's outlier detection): it gets no request
for ``ejection_time``, then is tried again; meanwhile requests go to the others or wait in the
buffer for a replacement, instead of failing on the same dead address.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Sequence

from minikn.activator.balance import Balancer, Tracker
from minikn.activator.fifo import Fifo
from minikn.core.clock import Clock
from minikn.core.endpoints import Endpoint
from minikn.core.errors import Unavailable

__all__ = ["Slot", "Throttler"]

log = logging.getLogger("minikn.activator.throttler")


class Slot:
    """One request's hold on one replica (``tracker``) until :meth:`release`."""

    __slots__ = ("_throttler", "tracker")

    def __init__(self, throttler: Throttler, tracker: Tracker) -> None:
        self._throttler: Throttler | None = throttler
        self.tracker = tracker

    @property
    def endpoint(self) -> Endpoint:
        return self.tracker.endpoint

    @property
    def released(self) -> bool:
        return self._throttler is None

    def release(self) -> None:
        """Give the slot back (a buffered request may take it); later calls do nothing."""
        throttler = self._throttler
        if throttler is not None:
            self._throttler = None
            throttler._give_back(self.tracker)  # its own throttler, not a stranger

    def __repr__(self) -> str:
        return f"Slot({self.tracker!r}, released={self._throttler is None})"


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
        clock: Clock,
        max_connections: int,
        ejection_time: float,
        direct: bool = False,
    ) -> None:
        self.revision = revision
        self._direct = direct
        """No buffering at zero ready replicas (KServe's Standard mode): 503 at once."""
        self._rng = rng
        self._clock = clock
        self._max_connections = max_connections
        self._ejection_time = ejection_time
        self._balancer = Balancer(container_concurrency, rng, max_connections=max_connections)
        self._ejected: dict[str, float] = {}
        """Replica id -> when it is tried again (it refused a connection)."""
        self._readmit: asyncio.Task[None] | None = None
        self._max_buffered = max_buffered
        self._retry_after = retry_after
        self._poke = poke
        self._ready: list[Tracker] = []
        self._by_id: dict[str, Tracker] = {}
        self._waiters: Fifo[asyncio.Future[Slot]] = Fifo(lambda w: not w.done())
        self._failure: tuple[str, str] | None = None
        self._buffered = 0

    @property
    def buffered(self) -> int:
        """Requests waiting for a slot (updated as their futures settle)."""
        return self._buffered

    def _settled(self, _: asyncio.Future[Slot]) -> None:
        self._buffered -= 1

    @property
    def trackers(self) -> list[Tracker]:
        """Every current replica, ejected ones included."""
        return [self._by_id[rid] for rid in sorted(self._by_id)]

    @property
    def ready_count(self) -> int:
        """Replicas that get requests now (not ejected)."""
        return len(self._ready)

    @property
    def capacity(self) -> int:
        """Requests one replica may hold: ``min(CC or unlimited, max_connections)``."""
        return self._balancer.capacity

    def set_container_concurrency(self, cc: int) -> None:
        if cc != self._balancer.container_concurrency:
            self._balancer = Balancer(cc, self._rng, max_connections=self._max_connections)
            self._dispatch()

    def _rebuild(self) -> None:
        # Stable order (by replica id) for first-available and round robin.
        self._ready = [self._by_id[rid] for rid in sorted(self._by_id) if rid not in self._ejected]

    # Endpoints and failures -------------------------------------------------------------------

    def set_endpoints(self, endpoints: Sequence[Endpoint]) -> None:
        """The ready replicas are now exactly ``endpoints``; the others drain."""
        wanted = {e.replica_id: e for e in endpoints}
        for rid, tracker in list(self._by_id.items()):
            if rid not in wanted or wanted[rid] != tracker.endpoint:
                tracker.draining = True
                del self._by_id[rid]
                self._ejected.pop(rid, None)
        for rid, ep in wanted.items():
            if rid not in self._by_id:
                self._by_id[rid] = Tracker(ep)
        self._rebuild()
        if self._by_id:
            self._failure = None
        self._dispatch()

    def eject(self, tracker: Tracker) -> None:
        """``tracker``'s replica refused a connection: no request for it for ``ejection_time``."""
        rid = tracker.endpoint.replica_id
        if self._by_id.get(rid) is not tracker or rid in self._ejected:
            return  # already gone (replaced or removed), or already ejected
        self._ejected[rid] = self._clock.monotonic() + self._ejection_time
        self._rebuild()
        log.info(
            "revision %s: replica %s ejected for %.1fs (connection refused)",
            self.revision,
            rid,
            self._ejection_time,
        )
        if self._readmit is None or self._readmit.done():
            self._readmit = asyncio.create_task(
                self._readmit_loop(), name=f"minikn.activator.readmit.{self.revision}"
            )

    async def _readmit_loop(self) -> None:
        """Put ejected replicas back once their time is up (owned by this throttler)."""
        while self._ejected:
            now = self._clock.monotonic()
            due = [rid for rid, until in self._ejected.items() if until <= now]
            if not due:
                await self._clock.sleep(min(self._ejected.values()) - now)
                continue
            for rid in due:
                del self._ejected[rid]
            self._rebuild()
            self._dispatch()

    def fail(self, reason: str, message: str) -> None:
        """The revision cannot get ready: buffered requests fail now, new ones while no replica."""
        self._failure = (reason, message)
        if self._ready:
            return
        for waiter in self._waiters.drain():
            if not waiter.done():
                waiter.set_exception(self._failure_error())

    def recover(self) -> None:
        self._failure = None

    def close(self, message: str) -> None:
        """The revision is gone: fail everything still waiting."""
        self._ready = []
        self._by_id.clear()
        self._ejected.clear()
        if self._readmit is not None:
            self._readmit.cancel()
            self._readmit = None
        for waiter in self._waiters.drain():
            if not waiter.done():
                waiter.set_exception(Unavailable(message, reason="RevisionRemoved"))

    def _failure_error(self) -> Unavailable:
        assert self._failure is not None
        reason, message = self._failure
        return Unavailable(
            f"revision {self.revision} cannot become ready: {reason}: {message}", reason=reason
        )

    # Slots --------------------------------------------------------------------------------------

    def try_acquire(self, avoid: Tracker | None = None) -> Slot | None:
        """A slot now, if one is free and nobody is buffered ahead (preferring a replica other
        than ``avoid``); else None."""
        if self._waiters.waiting():
            return None
        tracker = self._balancer.pick(self._ready, avoid)
        if tracker is None:
            return None
        tracker.in_flight += 1
        return Slot(self, tracker)

    async def acquire(self, avoid: Tracker | None = None, *, retry: bool = False) -> Slot:
        """A slot now, else from the buffer (FIFO; ``retry``: a request that never reached its
        replica goes ahead of later arrivals). A caller cancelled while it waits gives back the
        slot it may have been handed meanwhile."""
        slot = self.try_acquire(avoid)
        if slot is not None:
            return slot
        waiter = self.enqueue(front=retry)
        try:
            return await waiter
        except asyncio.CancelledError:
            self.abandon(waiter)
            raise

    def enqueue(self, *, front: bool = False) -> asyncio.Future[Slot]:
        """Join the buffer; the future gets a slot (or a 503 error) in FIFO order. ``front``: a
        retry of a request that never reached its replica goes ahead of later arrivals."""
        if self._failure is not None and not self._ready:
            raise self._failure_error()
        if self._direct and not self._ready:
            raise Unavailable(
                f"revision {self.revision}: no ready replica (Standard deployment mode: "
                "requests are not held while replicas start)",
                reason="NoReadyReplica",
                retry_after=self._retry_after,
            )
        if self.buffered >= self._max_buffered:
            raise Unavailable(
                f"revision {self.revision}: request buffer full "
                f"({self._max_buffered} requests waiting for capacity)",
                reason="BufferFull",
                retry_after=self._retry_after,
            )
        waiter: asyncio.Future[Slot] = asyncio.get_running_loop().create_future()
        first = not self._waiters.waiting()
        self._waiters.push(waiter, front=front)
        self._buffered += 1
        waiter.add_done_callback(self._settled)
        if not self._ready and first:
            log.info("revision %s: no ready replica, buffering and poking", self.revision)
            self._poke()
        return waiter

    def abandon(self, waiter: asyncio.Future[Slot]) -> None:
        """The waiter gave up; give back the slot it may have been handed meanwhile."""
        if waiter.done():
            if not waiter.cancelled() and waiter.exception() is None:
                waiter.result().release()
        else:
            waiter.cancel()

    def _give_back(self, tracker: Tracker) -> None:
        """A slot on ``tracker`` was released (only :meth:`Slot.release` calls this)."""
        tracker.in_flight -= 1
        if not tracker.draining and self._waiters.waiting():
            self._dispatch()

    def _dispatch(self) -> None:
        while self._waiters.waiting():
            tracker = self._balancer.pick(self._ready)
            if tracker is None:
                return
            tracker.in_flight += 1
            waiter = self._waiters.pop()
            assert waiter is not None  # waiting() just said a live one is at the head
            waiter.set_result(Slot(self, tracker))
