"""A concurrency sweep (``minikn load --sweep 1,2,4,8,16``, like Triton's perf_analyzer): one
closed-model run per level in turn, summarised per level with the replicas the autoscaler had.

Pure: levels parsed and each level summarised from its records and the replica samples taken
while it ran (times in seconds since the sweep started).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from minikn.core.errors import InvalidInput
from minikn.loadtest.coldstart import ReplicaSample
from minikn.loadtest.stats import RequestRecord, summarize

__all__ = [
    "MAX_LEVEL",
    "MAX_LEVELS",
    "SWEEP_CSV_COLUMNS",
    "LevelSummary",
    "parse_levels",
    "summarize_level",
    "write_sweep_csv",
]

MAX_LEVELS = 32
MAX_LEVEL = 10_000
SWEEP_CSV_COLUMNS = (
    "concurrency", "start_s", "end_s", "requests", "ok", "errors", "throughput_rps",
    "p50_ms", "p95_ms", "p99_ms", "replicas_at_start", "replicas_max", "replicas_added",
)  # fmt: skip


def parse_levels(text: str) -> tuple[int, ...]:
    """``"1,2,4"`` as concurrency levels (each 1..``MAX_LEVEL``, at most ``MAX_LEVELS``)."""
    parts = [p.strip() for p in text.split(",")]
    if not text.strip() or any(not p for p in parts):
        raise InvalidInput(f"--sweep wants comma-separated concurrency levels, got {text!r}")
    if len(parts) > MAX_LEVELS:
        raise InvalidInput(f"--sweep takes at most {MAX_LEVELS} levels, got {len(parts)}")
    levels: list[int] = []
    for p in parts:
        if not p.isdigit() or not 1 <= int(p) <= MAX_LEVEL:
            raise InvalidInput(f"--sweep level {p!r} is not a whole number in 1..{MAX_LEVEL}")
        levels.append(int(p))
    return tuple(levels)


@dataclass(frozen=True, slots=True)
class LevelSummary:
    """One level of the sweep."""

    concurrency: int
    start: float
    end: float
    requests: int
    ok: int
    errors: int
    rps: float
    """Completed requests per second over the level's window."""
    p50: float
    p95: float
    p99: float
    replicas_start: int | None
    """Ready replicas when the level began (None: no replica counts from the platform)."""
    replicas_max: int | None

    @property
    def replicas_added(self) -> int:
        """Replicas the autoscaler added during this level (0 when unknown)."""
        if self.replicas_start is None or self.replicas_max is None:
            return 0
        return max(0, self.replicas_max - self.replicas_start)


def summarize_level(
    concurrency: int,
    records: Sequence[RequestRecord],
    samples: Sequence[ReplicaSample],
    *,
    start: float,
    end: float,
) -> LevelSummary:
    """Summarise one level from its own ``records`` and the samples taken in [start, end]
    (the last sample before ``start`` counts as the level's starting replicas)."""
    s = summarize(records)
    before = [x for x in samples if x.t <= start]
    inside = [x for x in samples if start <= x.t <= end]
    first = before[-1] if before else (inside[0] if inside else None)
    seen = ([first] if first is not None else []) + inside
    window = max(end - start, 1e-9)
    return LevelSummary(
        concurrency=concurrency,
        start=start,
        end=end,
        requests=s.total,
        ok=s.ok,
        errors=s.errors,
        rps=s.total / window,
        p50=s.latency.p50,
        p95=s.latency.p95,
        p99=s.latency.p99,
        replicas_start=first.ready if first is not None else None,
        replicas_max=max(x.ready for x in seen) if seen else None,
    )


def _opt(value: int | None) -> str:
    return "" if value is None else str(value)


def write_sweep_csv(path: Path, levels: Sequence[LevelSummary]) -> None:
    """One row per level."""
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(SWEEP_CSV_COLUMNS)
        for lv in levels:
            writer.writerow((
                lv.concurrency, f"{lv.start:.3f}", f"{lv.end:.3f}", lv.requests, lv.ok,
                lv.errors, f"{lv.rps:.2f}", f"{lv.p50 * 1e3:.2f}", f"{lv.p95 * 1e3:.2f}",
                f"{lv.p99 * 1e3:.2f}", _opt(lv.replicas_start), _opt(lv.replicas_max),
                lv.replicas_added,
            ))  # fmt: skip
