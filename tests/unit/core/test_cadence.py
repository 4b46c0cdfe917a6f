"""The grid the platform's tick and stats-report loops run on."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minikn.core.cadence import (
    REPORT_LEAD,
    TICK_INTERVAL,
    first_report,
    grid_anchor,
    next_beat,
)


def test_the_grid_starts_on_the_next_whole_second() -> None:
    assert grid_anchor(100.3) == 101.0
    assert grid_anchor(100.0) == 101.0


@pytest.mark.parametrize(
    ("anchor", "period", "now", "beat"),
    [
        (100.0, 2.0, 100.0, 102.0),  # the anchor itself is not a beat
        (100.0, 2.0, 101.9, 102.0),
        (100.0, 2.0, 102.0, 104.0),  # a beat just taken: the next one
        (100.0, 2.0, 107.5, 108.0),  # late by 3.5 s: the missed beats are skipped
        (101.0, 2.0, 100.3, 103.0),  # an anchor ahead of now: its first beat
    ],
)
def test_next_beat(anchor: float, period: float, now: float, beat: float) -> None:
    assert next_beat(anchor, period, now) == beat


@given(
    anchor=st.floats(0, 1e6, allow_nan=False),
    now=st.floats(0, 1e6, allow_nan=False),
    period=st.sampled_from([1.0, 2.0]),
)
def test_a_beat_is_on_the_grid_after_now_and_within_one_period(
    anchor: float, now: float, period: float
) -> None:
    beat = next_beat(anchor, period, now)
    assert beat > anchor
    assert beat > now or beat == pytest.approx(now)
    assert beat - max(now, anchor) <= period + 1e-6
    k = (beat - anchor) / period
    assert k == pytest.approx(round(k))


def test_each_report_comes_just_before_a_tick() -> None:
    anchor = grid_anchor(5.5)
    report = first_report(anchor)
    ticks = [anchor + k * TICK_INTERVAL for k in range(1, 4)]
    reports = [report + k for k in range(6)]
    for tick in ticks:
        assert tick - REPORT_LEAD in [pytest.approx(r) for r in reports]
