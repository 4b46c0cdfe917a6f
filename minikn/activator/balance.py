"""Replica trackers and Knative's load-balancing policies (``pkg/activator/net/lb_policy.go``).

Pure: a policy looks at the trackers and returns the one to use, or ``None`` when none has a free
slot. ``containerConcurrency`` (CC) decides the policy, as in Knative's activator:

- CC = 0 (unlimited): power of two random choices, the less loaded wins (ties: the first drawn);
- CC <= 3: first available, in a stable order (packs the few slots of the first replicas);
- CC > 3: round robin from where the last pick stopped, skipping full replicas.

A tracker never holds more than CC requests: this is the queue-proxy's breaker.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from minikn.core.endpoints import Endpoint

__all__ = ["Balancer", "Tracker"]

_FIRST_AVAILABLE_MAX_CC = 3


class Tracker:
    """One ready replica as the activator sees it: its address and requests in flight."""

    __slots__ = ("draining", "endpoint", "in_flight")

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.in_flight = 0
        self.draining = False
        """Removed from the endpoints: gets no new request, finishes its own."""

    def __repr__(self) -> str:
        return f"Tracker({self.endpoint.replica_id}, in_flight={self.in_flight})"


class Balancer:
    """Picks a replica with a free slot by the policy CC implies."""

    __slots__ = ("_cc", "_next", "_rng")

    def __init__(self, container_concurrency: int, rng: random.Random) -> None:
        self._cc = container_concurrency
        self._rng = rng
        self._next = 0

    @property
    def container_concurrency(self) -> int:
        return self._cc

    def pick(self, trackers: Sequence[Tracker], avoid: Tracker | None = None) -> Tracker | None:
        """A tracker with a free slot (preferring one other than ``avoid``), or None."""
        if avoid is not None and len(trackers) > 1:
            others = [t for t in trackers if t is not avoid]
            choice = self._pick(others)
            if choice is not None:
                return choice
        return self._pick(trackers)

    def _pick(self, trackers: Sequence[Tracker]) -> Tracker | None:
        n = len(trackers)
        if n == 0:
            return None
        if self._cc == 0:
            if n == 1:
                return trackers[0]
            i = self._rng.randrange(n)
            j = self._rng.randrange(n - 1)
            if j >= i:
                j += 1
            a, b = trackers[i], trackers[j]
            return b if b.in_flight < a.in_flight else a
        if self._cc <= _FIRST_AVAILABLE_MAX_CC:
            for t in trackers:
                if t.in_flight < self._cc:
                    return t
            return None
        start = self._next % n
        for k in range(n):
            t = trackers[(start + k) % n]
            if t.in_flight < self._cc:
                self._next = (start + k + 1) % n
                return t
        return None
