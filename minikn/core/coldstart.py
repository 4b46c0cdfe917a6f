"""A replica's cold start broken into phases (pure): what the replica manager measured, and the
activator's handover of the first request, rendered as a ``Server-Timing`` header."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

__all__ = ["COLD_START_HEADER", "PHASES", "ColdStart", "parse_server_timing", "server_timing"]

PHASES = ("gpu", "storage", "create", "load", "handover")
"""In order: waiting for a GPU, fetching the model, creating the container or process, the model
server loading until its readiness probe passes, the activator handing over the first request."""

COLD_START_HEADER = b"x-minikn-cold-start"
"""Set (``true``) on every response that waited for a cold start (as KEDA's HTTP add-on does)."""


@dataclass(frozen=True, slots=True)
class ColdStart:
    """One replica's start, in seconds per phase; ``ready_at`` is the monotonic instant the
    replica became ready (a request that arrived before it waited for this start)."""

    replica_id: str
    gpu: float
    storage: float
    create: float
    load: float
    ready_at: float

    @property
    def total(self) -> float:
        return self.gpu + self.storage + self.create + self.load

    def phases(self, handover: float | None = None) -> dict[str, float]:
        """Phase -> seconds, in order; ``handover`` only when known."""
        out = {"gpu": self.gpu, "storage": self.storage, "create": self.create, "load": self.load}
        if handover is not None:
            out["handover"] = handover
        return out


def server_timing(phases: dict[str, float]) -> bytes:
    """``gpu;dur=0.0, storage;dur=12.3, ...`` (milliseconds, W3C Server-Timing)."""
    return ", ".join(f"{name};dur={sec * 1000.0:.1f}" for name, sec in phases.items()).encode()


def parse_server_timing(value: str, *, limit: int = 16) -> dict[str, float]:
    """The cold-start phases of a ``Server-Timing`` header, in seconds (entries other than the
    phases, or without a number, are skipped; at most ``limit`` entries are read)."""
    out: dict[str, float] = {}
    for entry in value.split(",")[:limit]:
        name, *params = (p.strip() for p in entry.split(";"))
        if name not in PHASES:
            continue
        for param in params:
            key, _, raw = param.partition("=")
            if key.strip() == "dur":
                with contextlib.suppress(ValueError):
                    out[name] = float(raw) / 1000.0
    return out
