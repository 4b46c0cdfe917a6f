"""The load report: counts, latency percentiles and the scale-from-zero section, as rich tables."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from minikn.loadtest.coldstart import ColdStartReport
from minikn.loadtest.stats import LatencySummary, RunSummary
from minikn.loadtest.sweep import LevelSummary

__all__ = ["print_report", "print_sweep"]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def _latency_row(name: str, s: LatencySummary) -> list[str]:
    if s.count == 0:
        return [name, "0", *(["-"] * 7)]
    return [
        name,
        str(s.count),
        *(_ms(v) for v in (s.min, s.mean, s.p50, s.p90, s.p95, s.p99, s.max)),
    ]


def _latency_table(title: str, rows: list[list[str]]) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("requests")
    table.add_column("count", justify="right")
    for col in ("min", "mean", "p50", "p90", "p95", "p99", "max"):
        table.add_column(f"{col} ms", justify="right")
    for row in rows:
        table.add_row(*row)
    return table


def _summary(console: Console, s: RunSummary) -> None:
    console.print(
        f"[bold]Summary[/bold]  {s.total} requests in {s.duration:.2f}s, "
        f"{s.rps:.1f} req/s, {s.ok} ok, {s.errors} failed ({s.error_rate:.2%})"
    )
    codes = Table(title="Status codes", title_justify="left")
    codes.add_column("code")
    codes.add_column("count", justify="right")
    for code, count in s.status_counts.items():
        codes.add_row(str(code), str(count))
    for error, count in s.error_counts.items():
        codes.add_row(f"error: {error}", str(count))
    console.print(codes)
    console.print(_latency_table("Latency (answered requests)", [_latency_row("all", s.latency)]))


def _cold_start(console: Console, c: ColdStartReport) -> None:
    console.print("[bold]Scale from zero[/bold]")
    if not c.replicas_known:
        console.print("  replica counts: the platform did not report any for this target")
    if c.started_at_zero is None:
        console.print("  started at zero: unknown")
    else:
        console.print(f"  started at zero: {'yes' if c.started_at_zero else 'no'}")
    if c.first_response is None:
        console.print("  time to first response: no successful response")
    else:
        console.print(f"  time to first response: {c.first_response:.3f}s")
    if c.ready_at is None:
        console.print("  first replica ready: never during the run")
    else:
        console.print(f"  first replica ready: {c.ready_at:.3f}s ({c.ready_source})")
    if c.started_at_zero is None:
        # The start was not observed (no replica counts then): the split is a guess.
        console.print(
            f"  requests sent before the first replica was ready: {c.cold_count} "
            "(whether they waited on a cold start is unknown)"
        )
        labels = ("before ready", "after")
    else:
        console.print(f"  requests that waited on a cold start: {c.cold_count}")
        labels = ("cold", "warm")
    if c.cold_count and (c.cold.count or c.warm.count):
        console.print(
            _latency_table(
                "Cold vs warm latency",
                [_latency_row(labels[0], c.cold), _latency_row(labels[1], c.warm)],
            )
        )
    if c.phases:
        parts = ", ".join(f"{name} {sec:.3f}s" for name, sec in c.phases.items())
        console.print(f"  cold start phases (first, from the platform): {parts}")
        console.print(f"  responses flagged x-minikn-cold-start: {c.flagged}")
    if c.timeline:
        console.print(f"  replicas over time (max ready {c.max_ready}):")
        for s in c.timeline:
            extra = ""
            if s.desired is not None:
                extra += f", {s.desired} desired"
            if s.pending is not None:
                extra += f", {s.pending} pending"
            console.print(f"    {s.t:8.2f}s  {s.ready} ready{extra}")


def print_report(
    console: Console,
    summary: RunSummary,
    cold: ColdStartReport,
    failures: list[str],
) -> None:
    """Write the whole report; threshold failures last, so CI logs end with them."""
    _summary(console, summary)
    _cold_start(console, cold)
    for failure in failures:
        console.print(f"[bold red]FAIL[/bold red] {failure}")


def print_sweep(console: Console, levels: list[LevelSummary]) -> None:
    """One row per concurrency level, with the replicas the autoscaler had."""
    table = Table(title="Concurrency sweep", title_justify="left")
    for col in ("concurrency", "requests", "errors", "throughput rps", "p50 ms", "p95 ms",
                "p99 ms", "replicas"):  # fmt: skip
        table.add_column(col, justify="right")
    for lv in levels:
        if lv.replicas_start is None:
            replicas = "-"
        elif lv.replicas_added:
            replicas = f"{lv.replicas_start} -> {lv.replicas_max} (+{lv.replicas_added})"
        else:
            replicas = str(lv.replicas_start)
        table.add_row(
            str(lv.concurrency), str(lv.requests), str(lv.errors), f"{lv.rps:.1f}",
            _ms(lv.p50), _ms(lv.p95), _ms(lv.p99), replicas,
        )  # fmt: skip
    console.print(table)
