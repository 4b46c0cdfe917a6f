"""Window averages at their edges (knative bucketing.go and bucketing_test.go semantics)."""

from __future__ import annotations

import math
from typing import TypeVar

import pytest

from minikn.autoscaler.window import (
    LinearWindow,
    WeightedWindow,
    make_window,
    max_window_push,
    smoothing_coefficient,
)

W = TypeVar("W", bound=LinearWindow)


def filled(window: W, samples: dict[float, float]) -> W:
    for t, v in samples.items():
        window.record(t, v)
    return window


@pytest.mark.parametrize(
    ("size", "samples", "now", "expected"),
    [
        # Partial window after the first write: 5 x 10 over 5 s reads 10, not 50/60.
        (60, {0: 10, 1: 10, 2: 10, 3: 10, 4: 10}, 4, 10.0),
        # Gaps between writes are zeros: (10 + 0..0 + 10) / 6 s = 3.333333 (floored to 6 places).
        (60, {0: 10, 5: 10}, 5, 3.333333),
        # Stale tail: 10 s of 10, read 5 s later -> the 5 silent seconds are not zeros: 100/10.
        (60, dict.fromkeys(range(10), 10), 14, 10.0),
        # Full 6 s window over 1..10 (value = second): buckets 5..10 -> 45 / 6 = 7.5.
        (6, {t: t for t in range(1, 11)}, 10, 7.5),
        # Stale tail in a full window: window 6, data at 1..10, now 12 -> the ring slots of 11
        # and 12 (holding 5 and 6) are dropped: (7+8+9+10) / min(10, 6-2) = 8.5.
        (6, {t: t for t in range(1, 11)}, 12, 8.5),
        # A whole window of silence reads 0 (d >= window).
        (60, {0: 10}, 60, 0.0),
        (60, {0: 10}, 59, 10.0),
        # Same-second samples are summed (activator + scraper): 3 + 4.
        (60, {0.2: 3, 0.7: 4}, 0.9, 7.0),
        # Floor to 6 decimals, not round: 2/3 -> 0.666666.
        (60, {0: 1, 1: 1, 2: 0}, 2, 0.666666),
    ],
)
def test_linear_average(
    size: int, samples: dict[float, float], now: float, expected: float
) -> None:
    assert filled(LinearWindow(size), samples).average(now) == pytest.approx(expected, abs=1e-9)


def test_linear_reset_after_a_window_of_silence_starts_a_new_partial_window() -> None:
    w = filled(LinearWindow(60), {0: 10, 1: 10})
    w.record(61, 5.0)  # 61 - 1 >= 60: reset, first write = 61
    assert w.average(61) == 5.0
    w.record(62, 7.0)
    assert w.average(62) == 6.0  # (5 + 7) / 2


def test_linear_drops_writes_older_than_a_window_and_keeps_late_ones_within() -> None:
    w = filled(LinearWindow(6), {10: 1})
    w.record(3, 100.0)  # 3 + 6 <= 10: outside the window, ignored
    assert w.average(10) == 1.0
    w.record(8, 2.0)  # late but inside the window: counted, first write moves to 8
    assert w.average(10) == 1.0  # (2 + 0 + 1) / 3


def test_is_empty_after_more_than_a_window() -> None:
    w = LinearWindow(60)
    assert w.is_empty(0)
    w.record(0, 1.0)
    assert not w.is_empty(60)  # now - lastWrite > window is empty, == is not (IsEmpty)
    assert w.is_empty(61)


@pytest.mark.parametrize(
    ("buckets", "alpha"),
    [
        (60, 0.2),  # 1 - 0.0001^(1/60) = 0.142 -> the 0.2 floor
        (6, 1 - 0.0001 ** (1 / 6)),  # ~0.7846
        (10, 1 - 0.0001 ** (1 / 10)),  # ~0.6019
    ],
)
def test_smoothing_coefficient(buckets: int, alpha: float) -> None:
    assert smoothing_coefficient(buckets) == pytest.approx(alpha)


def test_weighted_average_weights_newest_first_and_is_not_renormalized() -> None:
    # bucketing.go's example shape: data [10, 10, 5, 5] newest last.
    w = filled(WeightedWindow(10), {0: 10, 1: 10, 2: 5, 3: 5})
    a = w.alpha
    expected = a * (5 + 5 * (1 - a) + 10 * (1 - a) ** 2 + 10 * (1 - a) ** 3)
    assert w.average(3) == pytest.approx(expected)
    reversed_ = filled(WeightedWindow(10), {0: 5, 1: 5, 2: 10, 3: 10})
    assert reversed_.average(3) > w.average(3)


def test_weighted_average_after_idle_seconds_starts_at_alpha_times_decay() -> None:
    w = filled(WeightedWindow(10), {0: 10, 1: 10, 2: 5, 3: 5})
    a = w.alpha
    # 2 idle seconds: multiplier a(1-a)^2, covering 10 - 2 buckets (all 4 data buckets fit).
    expected = a * (1 - a) ** 2 * (5 + 5 * (1 - a) + 10 * (1 - a) ** 2 + 10 * (1 - a) ** 3)
    assert w.average(5) == pytest.approx(expected)


def test_weighted_average_is_zero_a_window_after_the_last_write() -> None:
    w = filled(WeightedWindow(10), {0: 10})
    assert w.average(9) == pytest.approx(w.alpha * (1 - w.alpha) ** 9 * 10)
    assert w.average(10) == 0.0  # numB = 10 - 10 = 0 buckets
    assert w.average(11) == 0.0  # empty


def test_make_window_accepts_both_spellings() -> None:
    assert isinstance(make_window("weightedExponential", 6), WeightedWindow)
    assert isinstance(make_window("weighted-exponential", 6), WeightedWindow)
    assert not isinstance(make_window("linear", 6), WeightedWindow)
    assert make_window("linear", 6.5).size == math.ceil(6.5)


def test_max_window_holds_the_largest_value_for_the_delay() -> None:
    # 10 s delay in 2 s slots -> 5 slots; hand-computed sequence.
    q: tuple[tuple[int, int], ...] = ()
    seen = []
    for t, v in [(0, 5), (2, 2), (4, 3), (8, 1), (10, 1), (12, 1), (14, 0)]:
        q, m = max_window_push(q, t, v, duration=10)
        seen.append(m)
    # slot 0 (5) leaves at t=10 (slot 5); slot 2 (3) leaves at t=14 (slot 7).
    assert seen == [5, 5, 5, 5, 3, 3, 1]


def test_knative_timed_buckets_window_average_sequence() -> None:
    # bucketing_test.go TestTimedFloat64BucketsWindowAverage, step by step (5 s window).
    now = 1000.3
    w = LinearWindow(5)
    w.record(now, 1)
    assert w.average(now) == 1.0  # firstWrite is used; without it 0.2
    for i in range(1, 5):
        w.record(now + i, i + 1)
    assert w.average(now + 4) == 15 / 5
    assert w.average(now + 3.6) == 15 / 5  # now lags behind the last write
    assert w.average(now + 6) == (15 - 1 - 2) / (5 - 2)  # short hole
    assert w.average(now + 10) == 0.0  # long hole
    w.record(now + 6, 91)  # write with holes
    assert w.average(now + 6) == (15 - 1 - 2 + 91) / 5
    now += 60  # advance much farther: reset
    w.record(now, 1984)
    assert w.average(now) == 1984.0
    w.record(now - 3, 4)  # an earlier time moves the first write back
    assert w.average(now) == (4 + 1984) / 4
    now += 1
    w.record(now, 5)
    assert w.average(now) == (4 + 1984 + 5) / 5
    w.record(now - 3, 10)  # an earlier time again
    assert w.average(now) == (4 + 10 + 1984 + 5) / 5
    w.record(now - 6, 10)  # too early: ignored
    assert w.average(now) == (4 + 10 + 1984 + 5) / 5


def test_knative_descending_record() -> None:
    # bucketing_test.go TestDescendingRecord: 5 every second written newest first.
    w = LinearWindow(5)
    for i in range(8, -1, -1):
        w.record(100.0 + i, 5)
    assert w.average(105.0) == 5.0


def test_a_window_emptied_of_its_samples_reads_zero_and_no_signal_despite_the_float_residue() -> (
    None
):
    # 0.7 + 0.2 - 0.7 - 0.2 leaves -5.6e-17 in the running total (issue 20's -2e-16 case); the
    # floored mean of that was -1e-06, so "average == 0.0" said the window held demand.
    w = LinearWindow(6)
    w.record(100.0, 0.7)
    w.record(101.0, 0.2)
    w.record(106.0, 0.0)
    w.record(107.0, 0.0)  # both samples evicted
    for now in (107.0, 108.0, 112.0):
        assert w.average(now) == 0.0
        assert not w.has_signal(now)


@pytest.mark.parametrize(
    ("now", "signal"),
    [
        pytest.param(103.0, True, id="latest-second"),
        pytest.param(105.5, True, id="stale-tail-keeps-the-sample"),
        pytest.param(107.0, False, id="stale-tail-dropped-the-sample"),
        pytest.param(120.0, False, id="a-window-later"),
    ],
)
def test_has_signal_follows_the_buckets_the_average_covers(now: float, signal: bool) -> None:
    w = LinearWindow(6)
    w.record(101.0, 2.0)
    w.record(103.0, 0.0)
    assert w.has_signal(now) is signal
    assert (w.average(now) > 0) is signal
