"""Pure scale-from-zero analysis: did the run start at zero, which requests waited on a cold start.

Inputs are the request records and the replica counts sampled from the platform during the run
(``ReplicaSample``; times are seconds since the run started, the first sample taken before the
first request). A request *waited on a cold start* when it started before the first replica was
ready. The readiness instant is the earlier of the first sample that saw a ready replica and the
end of the first successful response (a response proves a replica was ready; the sampling only
bounds it to the poll interval). Without replica counts from the platform the first successful
response is the only mark, and the report says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from minikn.loadtest.stats import LatencySummary, RequestRecord, summarize_latencies

__all__ = [
    "ColdStartReport",
    "ReplicaSample",
    "align_ready",
    "analyze_cold_start",
    "replica_changes",
]


@dataclass(frozen=True, slots=True)
class ReplicaSample:
    """Replica counts of the target (all its revisions summed) at one instant of the run."""

    t: float
    ready: int
    desired: int | None = None
    pending: int | None = None


@dataclass(frozen=True, slots=True)
class ColdStartReport:
    """The scale-from-zero section of the report."""

    replicas_known: bool
    """The platform reported replica counts during the run."""
    started_at_zero: bool | None
    """None when unknown (no replica counts)."""
    ready_at: float | None
    """Seconds from the run start to the first ready replica (0 when already warm)."""
    ready_source: str
    """How ``ready_at`` was found: platform, first response, already warm or none."""
    first_response: float | None
    """Seconds from the run start to the end of the first successful response."""
    cold: LatencySummary
    """Latencies of the answered requests that started before ``ready_at``."""
    warm: LatencySummary
    """Latencies of the answered requests that started once a replica was ready."""
    cold_count: int
    """Requests (answered or not) that started before ``ready_at``."""
    max_ready: int
    """Most ready replicas seen in one sample."""
    timeline: list[ReplicaSample]
    """The samples at which a count changed (first and last always kept)."""
    phases: dict[str, float] | None = None
    """The platform's breakdown of the first cold start a response waited for (seconds)."""
    flagged: int = 0
    """Responses the platform marked as having waited for a cold start."""


def replica_changes(samples: Sequence[ReplicaSample]) -> list[ReplicaSample]:
    """The samples where ready, desired or pending changed; the first and the last are kept."""
    out: list[ReplicaSample] = []
    for s in samples:
        if not out or (s.ready, s.desired, s.pending) != (
            out[-1].ready,
            out[-1].desired,
            out[-1].pending,
        ):
            out.append(s)
    if samples and out[-1] is not samples[-1]:
        out.append(samples[-1])
    return out


def align_ready(
    samples: Sequence[ReplicaSample], records: Sequence[RequestRecord]
) -> list[ReplicaSample]:
    """The samples with the ready count made to agree with the responses served.

    The counts are polled, so the first sample that sees a ready replica may come after
    responses were already served; a served response proves a replica was ready when it ended.
    Until the first sample that sees one, every sample from the first successful response on
    counts at least one ready replica, and a sample is added at that response's end."""
    ordered = sorted(samples, key=lambda s: s.t)
    first_ok = min((r.end for r in records if r.ok), default=None)
    platform = _first_ready(ordered)
    if first_ok is None or not ordered or (platform is not None and platform <= first_ok):
        return ordered
    out: list[ReplicaSample] = []
    added = False
    for s in ordered:
        if not added and s.t >= first_ok:
            prev = out[-1] if out else s
            out.append(ReplicaSample(first_ok, max(1, prev.ready), prev.desired, prev.pending))
            added = True
        if s.t >= first_ok and (platform is None or s.t < platform) and s.ready == 0:
            s = ReplicaSample(s.t, 1, s.desired, s.pending)  # noqa: PLW2901
        out.append(s)
    if not added:
        prev = out[-1]
        out.append(ReplicaSample(first_ok, max(1, prev.ready), prev.desired, prev.pending))
    return out


def _first_ready(samples: Sequence[ReplicaSample]) -> float | None:
    return next((s.t for s in samples if s.ready > 0), None)


def analyze_cold_start(
    records: Sequence[RequestRecord], samples: Sequence[ReplicaSample]
) -> ColdStartReport:
    """Split the run into requests that waited on a cold start and the rest."""
    first_ok = min((r.end for r in records if r.ok), default=None)
    ordered = sorted(samples, key=lambda s: s.t)
    known = bool(ordered)
    first_start = min((r.start for r in records), default=0.0)
    # Only a sample from before the first request tells how the run started.
    started_at_zero = ordered[0].ready == 0 if known and ordered[0].t <= first_start else None
    if started_at_zero is False:
        ready_at: float | None = 0.0
        source = "already warm"
    else:
        platform_ready = _first_ready(ordered)
        marks = [t for t in (platform_ready, first_ok) if t is not None]
        ready_at = min(marks) if marks else None
        if ready_at is None:
            source = "none"
        elif platform_ready is not None and ready_at == platform_ready:
            source = "platform"
        else:
            source = "first response"
    # With nothing ever ready, every request waited on a cold start that never finished.
    cold_records = [r for r in records if ready_at is None or r.start < ready_at]
    warm_records = [r for r in records if ready_at is not None and r.start >= ready_at]
    return ColdStartReport(
        replicas_known=known,
        started_at_zero=started_at_zero,
        ready_at=ready_at,
        ready_source=source,
        first_response=first_ok,
        cold=summarize_latencies([r.latency for r in cold_records if r.error is None]),
        warm=summarize_latencies([r.latency for r in warm_records if r.error is None]),
        cold_count=len(cold_records),
        max_ready=max((s.ready for s in ordered), default=0),
        timeline=replica_changes(align_ready(ordered, records)),
        phases=next((dict(r.cold_start) for r in records if r.cold_start), None),
        flagged=sum(1 for r in records if r.cold_start is not None),
    )
