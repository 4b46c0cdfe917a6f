"""CI thresholds and duration parsing."""

from __future__ import annotations

import pytest

from minikn.core.errors import InvalidInput
from minikn.loadtest.stats import RequestRecord, summarize
from minikn.loadtest.thresholds import Thresholds, check_thresholds, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("250ms", 0.25), ("2s", 2.0), ("1.5m", 90.0), ("1h", 3600.0), ("3", 3.0), (".5s", 0.5)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "fast", "2d", "-1s", "1.2.3s"])
def test_parse_duration_rejects_garbage(text: str) -> None:
    with pytest.raises(InvalidInput, match="invalid duration"):
        parse_duration(text)


def _run(latencies: list[float], failures: int = 0) -> list[RequestRecord]:
    ok = [RequestRecord(float(i), lat, 200) for i, lat in enumerate(latencies)]
    return ok + [RequestRecord(0.0, 0.1, 500) for _ in range(failures)]


def test_passing_run_has_no_failures() -> None:
    s = summarize(_run([0.1] * 99, failures=1))
    assert check_thresholds(s, Thresholds(max_error_rate=0.01, p99_under=0.2)) == []


def test_error_rate_above_limit_fails() -> None:
    s = summarize(_run([0.1] * 98, failures=2))
    [failure] = check_thresholds(s, Thresholds(max_error_rate=0.01))
    assert "error rate 2.00%" in failure
    assert "2 of 100" in failure


def test_p99_at_or_above_limit_fails() -> None:
    s = summarize(_run([0.1] * 99 + [5.0] * 2))
    [failure] = check_thresholds(s, Thresholds(p99_under=1.0))
    assert "p99" in failure


def test_no_thresholds_never_fail() -> None:
    assert check_thresholds(summarize(_run([], failures=10)), Thresholds()) == []


def test_empty_run_fails_any_requested_threshold() -> None:
    assert check_thresholds(summarize([]), Thresholds(max_error_rate=1.0)) == [
        "no request was sent"
    ]


def test_p99_without_any_answer_fails() -> None:
    records = [RequestRecord(0.0, 1.0, 0, error="timeout")]
    failures = check_thresholds(summarize(records), Thresholds(p99_under=1.0))
    assert failures == ["no request got an answer, so there is no p99 to check"]
