"""Knative's time-weighted concurrency and per-bucket request rate, on explicit times."""

from __future__ import annotations

import pytest

from minikn.activator.accounting import ConcurrencyAccount


def test_time_weighted_average_over_a_bucket() -> None:
    acc = ConcurrencyAccount(now=100.0)
    acc.arrive(100.0)  # 1 in flight for 0.25 s
    acc.arrive(100.25)
    acc.arrive(100.25)  # 3 in flight for 0.75 s
    bucket = acc.close(101.0)
    assert bucket.concurrency == pytest.approx(1 * 0.25 + 3 * 0.75)
    assert bucket.rps == pytest.approx(3.0)
    assert bucket.end == 101.0


def test_requests_still_in_flight_carry_into_the_next_bucket() -> None:
    acc = ConcurrencyAccount(now=0.0)
    acc.arrive(0.5)
    assert acc.close(1.0).concurrency == pytest.approx(0.5)
    second = acc.close(2.0)
    assert second.concurrency == pytest.approx(1.0)
    assert second.rps == 0.0
    acc.leave(2.5)
    third = acc.close(3.0)
    assert third.concurrency == pytest.approx(0.5)
    assert acc.in_flight == 0


@pytest.mark.parametrize(
    ("events", "end", "concurrency", "rps"),
    [
        ([], 1.0, 0.0, 0.0),
        ([("a", 0.0), ("l", 1.0)], 1.0, 1.0, 1.0),
        ([("a", 0.0), ("l", 0.5), ("a", 0.5), ("l", 1.0)], 1.0, 1.0, 2.0),
        ([("a", 0.0), ("a", 0.0), ("l", 0.5), ("l", 0.5)], 2.0, 0.5, 1.0),
    ],
)
def test_bucket_table(
    events: list[tuple[str, float]], end: float, concurrency: float, rps: float
) -> None:
    acc = ConcurrencyAccount(now=0.0)
    for kind, at in events:
        (acc.arrive if kind == "a" else acc.leave)(at)
    bucket = acc.close(end)
    assert (bucket.concurrency, bucket.rps) == (pytest.approx(concurrency), pytest.approx(rps))


def test_empty_bucket_reports_current_in_flight() -> None:
    acc = ConcurrencyAccount(now=5.0)
    acc.arrive(5.0)
    bucket = acc.close(5.0)
    assert (bucket.concurrency, bucket.rps) == (1.0, 0.0)


def test_leave_never_goes_negative() -> None:
    acc = ConcurrencyAccount(now=0.0)
    acc.leave(1.0)
    assert acc.in_flight == 0
