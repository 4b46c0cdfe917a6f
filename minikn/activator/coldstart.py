"""A request that waited for a cold start: the phases on its response, the handover recorded.

The replica manager measured the replica's start (gpu, storage, create, load; carried on the
:class:`~minikn.core.endpoints.Endpoint`); the activator adds the handover, from the replica's
readiness to the buffered request going out to it, and tells the client on the response head:
``Server-Timing`` (browser dev tools show it) and ``x-minikn-cold-start: true``. Only the
coroutine lane sees a cold start (the fast lane never buffers), so the warm path pays nothing.
"""

from __future__ import annotations

from minikn.core.coldstart import COLD_START_HEADER, ColdStart, server_timing
from minikn.wire.http import PassThroughSink, ResponseSink

__all__ = ["ColdStartLog", "ColdStartSink"]

_KEPT = 64
"""Replica ids whose handover was recorded, kept per revision (the first request only)."""


class ColdStartLog:
    """One revision's handovers: each cold-started replica's first handover, the last one kept."""

    __slots__ = ("_seen", "last")

    def __init__(self) -> None:
        self._seen: dict[str, None] = {}
        self.last: tuple[str, dict[str, float]] | None = None
        """The replica and phases (handover included) of the revision's last cold start that
        served a request."""

    def handed_over(self, cold: ColdStart, handover: float) -> dict[str, float] | None:
        """The phases for a request handed to ``cold``'s replica after waiting ``handover``
        seconds since it became ready; returns them when this was the replica's first request
        (to record once), else None."""
        if cold.replica_id in self._seen:
            return None
        self._seen[cold.replica_id] = None
        if len(self._seen) > _KEPT:
            del self._seen[next(iter(self._seen))]
        phases = cold.phases(handover)
        self.last = (cold.replica_id, phases)
        return phases


class ColdStartSink(PassThroughSink):
    """Passes a response through, adding the cold-start headers to its head."""

    __slots__ = ("_extra",)

    def __init__(self, sink: ResponseSink, phases: dict[str, float]) -> None:
        super().__init__(sink)
        self._extra = [(b"server-timing", server_timing(phases)), (COLD_START_HEADER, b"true")]

    def start(
        self, status: int, reason: bytes, headers: list[tuple[bytes, bytes]], length: int | None
    ) -> None:
        self._sink.start(status, reason, [*headers, *self._extra], length)
