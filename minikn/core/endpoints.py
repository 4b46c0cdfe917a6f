"""Replica addresses and data-path statistics shared by the replicas, activator and autoscaler."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from minikn.core.coldstart import ColdStart

__all__ = ["DiscardStats", "Endpoint", "RevisionStats", "ScalePoker", "StatsSink"]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A ready replica the data path may send requests to."""

    replica_id: str
    host: str
    port: int
    grpc_port: int | None = field(default=None, kw_only=True)
    """Where the replica serves gRPC (h2c), when its revision serves gRPC (None: it does not)."""
    cold_start: ColdStart | None = field(default=None, compare=False, kw_only=True)
    """How this replica started (metadata for the activator: the phases it reports on a request
    that waited for the start); not part of the replica's identity."""


@dataclass(frozen=True, slots=True)
class RevisionStats:
    """One 1-second bucket of data-path metrics for a revision (Knative's Stat, summed)."""

    revision: str
    time: float
    """Monotonic seconds at the end of the bucket."""
    concurrency: float
    """Time-weighted average in-flight requests over the bucket."""
    rps: float
    """Requests that arrived in the bucket, per second."""


class StatsSink(Protocol):
    """Where the data path reports per-revision metrics (the autoscaler).

    A sink may also have ``record_all(time, stats)``: one whole report, ``stats`` for the
    revisions named and a zero stat at ``time`` for every other one; the activator then sends
    its reports that way (see ``Autoscaler.record_all``), else a stat per revision."""

    def record(self, stats: RevisionStats) -> None: ...


class ScalePoker(Protocol):
    """Knative's Poke: a request arrived for a revision with no capacity; decide now."""

    def poke(self, revision: str) -> None: ...


class DiscardStats:
    """A :class:`StatsSink` and :class:`ScalePoker` that ignores everything: for a data path
    run without an autoscaler (benchmarks, tests of the activator alone)."""

    def record(self, stats: RevisionStats) -> None:
        pass

    def poke(self, revision: str) -> None:
        pass
