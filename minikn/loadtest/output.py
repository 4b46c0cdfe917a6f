"""Files a load run can write: one CSV row per request, a PNG of the run over time, and a
sweep's PNG (throughput and latency against the concurrency level)."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from minikn.core.errors import PermanentError
from minikn.loadtest.coldstart import ReplicaSample, align_ready
from minikn.loadtest.stats import RequestRecord, concurrency_series
from minikn.loadtest.sweep import LevelSummary

__all__ = ["CSV_COLUMNS", "write_csv", "write_plot", "write_sweep_plot"]

CSV_COLUMNS = ("start_s", "start_unix", "latency_s", "status", "error", "revision", "cold_start")


def write_csv(
    path: Path,
    records: Sequence[RequestRecord],
    *,
    wall_origin: float,
    ready_at: float | None,
) -> None:
    """One row per request, in start order; ``cold_start`` marks those that began before ready."""
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_COLUMNS)
        for r in sorted(records, key=lambda r: r.start):
            cold = ready_at is None or r.start < ready_at
            writer.writerow(
                (
                    f"{r.start:.6f}",
                    f"{wall_origin + r.start:.6f}",
                    f"{r.latency:.6f}",
                    r.status,
                    r.error or "",
                    r.revision or "",
                    int(cold),
                )
            )


def write_plot(
    path: Path,
    records: Sequence[RequestRecord],
    samples: Sequence[ReplicaSample],
    *,
    title: str,
) -> None:
    """Concurrency, replicas and latency over time, three panels sharing the time axis."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise PermanentError(
            "--plot needs matplotlib: pip install 'minikn[plot]'", reason="MissingDependency"
        ) from exc

    samples = align_ready(samples, records)
    phases = next((dict(r.cold_start) for r in records if r.cold_start), None)
    fig = plt.figure(figsize=(10, 9 if phases else 8))
    grid = fig.add_gridspec(4 if phases else 3, 1, height_ratios=[3, 3, 3, 1][: 4 if phases else 3])
    ax_c = fig.add_subplot(grid[0])
    ax_r = fig.add_subplot(grid[1], sharex=ax_c)
    ax_l = fig.add_subplot(grid[2], sharex=ax_c)
    try:
        series = concurrency_series(records)
        if series:
            ax_c.step([t for t, _ in series], [n for _, n in series], where="post")
        ax_c.set_ylabel("requests in flight")
        ax_c.set_title(title)
        if samples:
            ts = [s.t for s in samples]
            ax_r.step(ts, [s.ready for s in samples], where="post", label="ready")
            if any(s.desired is not None for s in samples):
                ax_r.step(ts, [s.desired or 0 for s in samples], where="post", label="desired")
            ax_r.legend(loc="upper left")
        else:
            ax_r.text(
                0.5,
                0.5,
                "no replica counts from the platform",
                ha="center",
                transform=ax_r.transAxes,
            )
        ax_r.set_ylabel("replicas")
        ok = [r for r in records if r.ok]
        bad = [r for r in records if not r.ok]
        ax_l.scatter([r.start for r in ok], [r.latency * 1000 for r in ok], s=4, label="ok")
        if bad:
            ax_l.scatter(
                [r.start for r in bad],
                [r.latency * 1000 for r in bad],
                s=6,
                color="red",
                label="failed",
            )
        ax_l.set_ylabel("latency (ms, by start)")
        ax_l.set_xlabel("time since the run started (s)")
        ax_l.legend(loc="upper right")
        if phases:
            _phase_bar(fig.add_subplot(grid[3]), phases)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
    finally:
        plt.close(fig)


def _phase_bar(ax: Any, phases: dict[str, float]) -> None:
    """The first cold start as one horizontal bar broken into its phases."""
    left = 0.0
    for name, seconds in phases.items():
        ax.barh(0, seconds, left=left, label=f"{name} {seconds:.2f}s")
        left += seconds
    ax.set_yticks([])
    ax.set_xlabel("cold start by phase (s)")
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize="small")


def write_sweep_plot(path: Path, levels: Sequence[LevelSummary], *, title: str) -> None:
    """Throughput and latency percentiles against the concurrency level; levels where the
    autoscaler added replicas are marked with the replicas they reached."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise PermanentError(
            "--plot needs matplotlib: pip install 'minikn[plot]'", reason="MissingDependency"
        ) from exc
    fig, (ax_t, ax_l) = plt.subplots(2, 1, figsize=(9, 7), sharex=True)
    try:
        xs = [lv.concurrency for lv in levels]
        ax_t.plot(xs, [lv.rps for lv in levels], marker="o", label="throughput")
        for lv in levels:
            if lv.replicas_added:
                ax_t.annotate(
                    f"+{lv.replicas_added} -> {lv.replicas_max} replicas",
                    (lv.concurrency, lv.rps),
                    textcoords="offset points",
                    xytext=(0, 8),
                    ha="center",
                    fontsize="small",
                )
                ax_t.axvline(lv.concurrency, color="grey", linestyle=":", linewidth=1)
        ax_t.set_ylabel("throughput (requests/s)")
        ax_t.set_title(title)
        for name in ("p50", "p95", "p99"):
            ax_l.plot(xs, [getattr(lv, name) * 1000 for lv in levels], marker="o", label=name)
        ax_l.set_ylabel("latency (ms)")
        ax_l.set_xlabel("concurrency level (requests in flight)")
        ax_l.legend(loc="upper left")
        if xs and max(xs) / max(min(xs), 1) >= 8:
            ax_l.set_xscale("log", base=2)
        ax_l.set_xticks(xs, [str(x) for x in xs])
        fig.tight_layout()
        fig.savefig(path, dpi=100)
    finally:
        plt.close(fig)
