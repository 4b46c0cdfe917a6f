"""Counts, rates and percentiles of a load run."""

from __future__ import annotations

import pytest

from minikn.loadtest.stats import (
    RequestRecord,
    concurrency_series,
    percentile,
    summarize,
    summarize_latencies,
)


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([1.0, 2.0, 3.0, 4.0], 50, 2.5),
        ([1.0, 2.0, 3.0, 4.0], 90, 3.7),
        ([1.0, 2.0, 3.0, 4.0], 0, 1.0),
        ([1.0, 2.0, 3.0, 4.0], 100, 4.0),
        ([5.0], 99, 5.0),
        ([], 50, 0.0),
        ([float(i) for i in range(1, 101)], 99, 99.01),
    ],
)
def test_percentile_interpolates_between_closest_ranks(
    values: list[float], q: float, expected: float
) -> None:
    assert percentile(values, q) == pytest.approx(expected)


def test_percentile_rejects_out_of_range() -> None:
    with pytest.raises(ValueError, match=r"0\.\.100"):
        percentile([1.0], 101)


def test_latency_summary_of_nothing_is_zero() -> None:
    s = summarize_latencies([])
    assert (s.count, s.min, s.p99, s.max) == (0, 0.0, 0.0, 0.0)


def test_summarize_counts_statuses_errors_and_rate() -> None:
    records = [
        RequestRecord(0.0, 0.1, 200),
        RequestRecord(0.1, 0.2, 200),
        RequestRecord(0.2, 0.3, 503),
        RequestRecord(0.5, 1.5, 0, error="timeout"),
    ]
    s = summarize(records)
    assert s.total == 4
    assert s.ok == 2
    assert s.errors == 2
    assert s.status_counts == {200: 2, 503: 1}
    assert s.error_counts == {"timeout": 1}
    assert s.duration == pytest.approx(2.0)
    assert s.rps == pytest.approx(2.0)
    assert s.error_rate == pytest.approx(0.5)
    # Latency only over answered requests: the timeout is not a latency.
    assert s.latency.count == 3
    assert s.latency.max == pytest.approx(0.3)


def test_summarize_empty_run() -> None:
    s = summarize([])
    assert (s.total, s.rps, s.error_rate, s.duration) == (0, 0.0, 0.0, 0.0)


def test_concurrency_series_counts_overlaps_and_back_to_back() -> None:
    records = [
        RequestRecord(0.0, 1.0, 200),
        RequestRecord(0.5, 1.0, 200),
        RequestRecord(1.0, 0.5, 200),  # starts as the first ends: still two in flight
    ]
    assert concurrency_series(records) == [(0.0, 1), (0.5, 2), (1.0, 2), (1.5, 0)]
