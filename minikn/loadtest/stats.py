"""Pure statistics over the requests of one load run: counts, rates and latency percentiles."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "LatencySummary",
    "RequestRecord",
    "RunSummary",
    "concurrency_series",
    "percentile",
    "summarize",
    "summarize_latencies",
]


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request as the load generator saw it; times are seconds since the run started."""

    start: float
    latency: float
    status: int
    """HTTP status code; 0 when no response came back (see ``error``)."""
    error: str | None = None
    """Transport failure (connection refused, timeout ...), None when a response came back."""
    revision: str | None = None
    """The revision that answered, from the response's revision header when the platform sets it."""
    cold_start: tuple[tuple[str, float], ...] | None = None
    """The cold start this request waited for, by phase (seconds), from the response's
    ``Server-Timing`` when the platform flagged it (``x-minikn-cold-start``)."""

    @property
    def end(self) -> float:
        return self.start + self.latency

    @property
    def ok(self) -> bool:
        """A 2xx answer; anything else counts as an error."""
        return self.error is None and 200 <= self.status < 300


@dataclass(frozen=True, slots=True)
class LatencySummary:
    """Latency percentiles in seconds over ``count`` requests (all zero when there are none)."""

    count: int
    min: float
    mean: float
    p50: float
    p90: float
    p95: float
    p99: float
    max: float


@dataclass(frozen=True, slots=True)
class RunSummary:
    """What the report's first section shows."""

    total: int
    ok: int
    errors: int
    status_counts: dict[int, int]
    error_counts: dict[str, int]
    duration: float
    """From the first request's start to the last one's end, seconds."""
    rps: float
    error_rate: float
    latency: LatencySummary


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation between closest ranks.

    Same definition as numpy's default: with values [1, 2, 3, 4] the p50 is 2.5 and the p90 is
    3.7 (rank 0.9 * 3 = 2.7, so 3 + 0.7 * (4 - 3)).
    """
    if not sorted_values:
        return 0.0
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    rank = (len(sorted_values) - 1) * q / 100.0
    lo = math.floor(rank)
    hi = math.ceil(rank)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (rank - lo)


def summarize_latencies(latencies: Sequence[float]) -> LatencySummary:
    """Percentiles of a set of latencies."""
    values = sorted(latencies)
    if not values:
        return LatencySummary(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    return LatencySummary(
        count=len(values),
        min=values[0],
        mean=sum(values) / len(values),
        p50=percentile(values, 50),
        p90=percentile(values, 90),
        p95=percentile(values, 95),
        p99=percentile(values, 99),
        max=values[-1],
    )


def summarize(records: Sequence[RequestRecord]) -> RunSummary:
    """Counts, rate, error rate and latency percentiles (over every request that got an answer)."""
    total = len(records)
    ok = sum(1 for r in records if r.ok)
    status_counts = Counter(r.status for r in records if r.error is None)
    error_counts = Counter(r.error for r in records if r.error is not None)
    duration = max(r.end for r in records) - min(r.start for r in records) if records else 0.0
    answered = [r.latency for r in records if r.error is None]
    return RunSummary(
        total=total,
        ok=ok,
        errors=total - ok,
        status_counts=dict(sorted(status_counts.items())),
        error_counts=dict(error_counts.most_common()),
        duration=duration,
        rps=total / duration if duration > 0 else 0.0,
        error_rate=(total - ok) / total if total else 0.0,
        latency=summarize_latencies(answered),
    )


def concurrency_series(records: Sequence[RequestRecord]) -> list[tuple[float, int]]:
    """Requests in flight over time: a step function as (time, in-flight from then on) points.

    A request ending at the instant another starts is counted out first, so back-to-back
    requests of one worker never show as two in flight.
    """
    events: list[tuple[float, int]] = []
    for r in records:
        events.append((r.start, 1))
        events.append((r.end, -1))
    events.sort(key=lambda e: (e[0], e[1]))
    series: list[tuple[float, int]] = []
    inflight = 0
    for t, delta in events:
        inflight += delta
        if series and series[-1][0] == t:
            series[-1] = (t, inflight)
        else:
            series.append((t, inflight))
    return series
