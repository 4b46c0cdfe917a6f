"""The platform's two periodic loops and how they line up: the autoscaler's tick and the
activator's stats report.

Knative runs them in separate processes: the activator reports every second on a ticker, the
autoscaler decides every 2 s, at an unrelated phase, so a tick sees a report 0-1 s old. minikn
runs both in one process and lines them up (:func:`grid_anchor`): both run on a grid from one
whole second of the clock, each report ``REPORT_LEAD`` before a tick (and one between ticks), so
every tick decides on the second that just ended. The simulator models exactly that
(:class:`minikn.sim.simulate.SimTiming`); what stays random is where the first request falls
on the grid.
"""

from __future__ import annotations

import math

__all__ = [
    "REPORT_INTERVAL",
    "REPORT_LEAD",
    "TICK_INTERVAL",
    "first_report",
    "grid_anchor",
    "next_beat",
]

TICK_INTERVAL = 2.0
"""Knative's ``tickInterval`` (multiscaler.go)."""
REPORT_INTERVAL = 1.0
"""The activator's report period (Knative's ``reportInterval``, on a ticker: a report's own
work does not push the next one later)."""
REPORT_LEAD = 0.05
"""How long before each tick a report comes: far more than timer jitter, so the report always
runs first (two late timers still fire in due order)."""


def grid_anchor(now: float) -> float:
    """Where a platform started at ``now`` anchors both grids: the next whole second of the clock
    (the windows' 1-second buckets turn there too). Ticks come at ``anchor + 2k``, reports at
    ``anchor + k - REPORT_LEAD`` (k >= 1). Example: now 100.3 -> 101."""
    return float(math.floor(now) + 1)


def first_report(anchor: float) -> float:
    """The first report of a platform whose grids start at ``anchor``: ``REPORT_LEAD`` before
    the second before the first tick (at ``anchor + 2``). Example: anchor 101 -> 101.95."""
    return anchor + REPORT_INTERVAL - REPORT_LEAD


def next_beat(anchor: float, period: float, now: float) -> float:
    """The first of ``anchor + k * period`` (k >= 1) after ``now``: where a ticker started at
    ``anchor`` fires next (a late one skips what it missed, as Go's ``time.Ticker`` does).
    Example: anchor 100, period 2, now 103.5 -> 104."""
    k = max(1, math.floor((now - anchor) / period) + 1)
    return anchor + k * period
