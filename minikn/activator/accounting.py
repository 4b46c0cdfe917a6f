"""Pure per-revision request accounting with Knative's semantics (no I/O, time passed in).

Knative's activator reports, per revision and per 1 s bucket, the *time-weighted* average number
of requests it was holding (buffered or proxied) and the number of requests that arrived.
Example: one request in flight for the first 0.25 s of a 1 s bucket, then three for the remaining
0.75 s -> concurrency ``1 * 0.25 + 3 * 0.75 = 2.5``; two arrivals -> rps 2.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Bucket", "ConcurrencyAccount"]


@dataclass(frozen=True, slots=True)
class Bucket:
    """What one closed bucket measured."""

    end: float
    concurrency: float
    rps: float


class ConcurrencyAccount:
    """In-flight requests of one revision integrated over time."""

    __slots__ = ("_area", "_arrivals", "_in_flight", "_last", "_start")

    def __init__(self, now: float) -> None:
        self._start = now
        self._last = now
        self._area = 0.0
        self._in_flight = 0
        self._arrivals = 0

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def _advance(self, now: float) -> None:
        if now > self._last:
            self._area += self._in_flight * (now - self._last)
            self._last = now

    def arrive(self, now: float) -> None:
        """A request arrived and is now held (buffered or proxied)."""
        if now > self._last:  # _advance, inlined: this runs twice per request
            self._area += self._in_flight * (now - self._last)
            self._last = now
        self._in_flight += 1
        self._arrivals += 1

    def leave(self, now: float) -> None:
        """A held request finished (answered, failed or abandoned)."""
        if now > self._last:
            self._area += self._in_flight * (now - self._last)
            self._last = now
        if self._in_flight > 0:
            self._in_flight -= 1

    def restart(self, at: float) -> None:
        """Start the current bucket at ``at`` if that is later: what closing the buckets that
        ended by ``at`` would have done, for an account that held nothing since it started."""
        if at > self._start:
            self._start = self._last = at

    def close(self, now: float) -> Bucket:
        """Close the bucket ending at ``now`` and start the next one there."""
        self._advance(now)
        elapsed = now - self._start
        if elapsed <= 0:
            bucket = Bucket(now, float(self._in_flight), 0.0)
        else:
            bucket = Bucket(now, self._area / elapsed, self._arrivals / elapsed)
        self._start = now
        self._last = now
        self._area = 0.0
        self._arrivals = 0
        return bucket
