"""Sweep planning and per-level summaries (pure)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from minikn.core.errors import InvalidInput
from minikn.loadtest.coldstart import ReplicaSample
from minikn.loadtest.stats import RequestRecord
from minikn.loadtest.sweep import MAX_LEVELS, parse_levels, summarize_level, write_sweep_csv


def test_levels_are_parsed_in_the_given_order() -> None:
    assert parse_levels("1, 2,4,8,16") == (1, 2, 4, 8, 16)


@pytest.mark.parametrize("text", ["", "1,,2", "0", "-1", "2.5", "x", "10001"])
def test_a_bad_level_is_refused_with_a_reason(text: str) -> None:
    with pytest.raises(InvalidInput, match="--sweep"):
        parse_levels(text)


def test_too_many_levels_are_refused() -> None:
    with pytest.raises(InvalidInput, match=f"at most {MAX_LEVELS}"):
        parse_levels(",".join(["1"] * (MAX_LEVELS + 1)))


def _records(start: float, n: int, latency: float) -> list[RequestRecord]:
    return [RequestRecord(start + i * 0.01, latency, 200) for i in range(n)]


def test_a_level_counts_its_requests_over_its_window_and_the_replicas_added() -> None:
    samples = [ReplicaSample(0.0, 1), ReplicaSample(9.0, 1), ReplicaSample(11.0, 3),
               ReplicaSample(19.0, 2), ReplicaSample(25.0, 5)]  # fmt: skip
    slow = [RequestRecord(12.0 + i * 0.01, 0.5, 200) for i in range(5)]
    records = [*_records(10.0, 95, 0.02), *slow, RequestRecord(13.0, 0.1, 503)]
    lv = summarize_level(4, records, samples, start=10.0, end=20.0)
    assert (lv.concurrency, lv.requests, lv.ok, lv.errors) == (4, 101, 100, 1)
    assert lv.rps == pytest.approx(10.1)
    assert lv.p50 == pytest.approx(0.02)
    assert lv.p99 == pytest.approx(0.5)  # the 5 slow ones are the tail
    assert (lv.replicas_start, lv.replicas_max, lv.replicas_added) == (1, 3, 2)


def test_a_level_without_replica_counts_has_none_and_adds_none() -> None:
    lv = summarize_level(1, _records(0.0, 5, 0.1), [], start=0.0, end=1.0)
    assert (lv.replicas_start, lv.replicas_max, lv.replicas_added) == (None, None, 0)


def test_the_csv_has_a_row_per_level_with_milliseconds(tmp_path: Path) -> None:
    levels = [
        summarize_level(c, _records(float(c), 10, 0.004), [ReplicaSample(0.0, 1)],
                        start=float(c), end=float(c) + 1)
        for c in (1, 2)
    ]  # fmt: skip
    path = tmp_path / "sweep.csv"
    write_sweep_csv(path, levels)
    with path.open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["concurrency"] for r in rows] == ["1", "2"]
    assert rows[0]["p50_ms"] == "4.00"
    assert rows[0]["throughput_rps"] == "10.00"
    assert rows[1]["replicas_added"] == "0"
