"""Pure pass/fail checks for CI use: ``--max-error-rate`` and ``--p99-under``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from minikn.core.errors import InvalidInput
from minikn.loadtest.stats import RunSummary

__all__ = ["Thresholds", "check_thresholds", "parse_duration"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h)?\s*$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(text: str) -> float:
    """Seconds from ``250ms``, ``2s``, ``1.5m``, ``1h`` or a bare number of seconds."""
    m = _DURATION.match(text)
    if m is None:
        raise InvalidInput(f"invalid duration {text!r}: use a number with ms, s, m or h")
    return float(m.group(1)) * _UNIT[m.group(2)]


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Limits a run must meet; None = not checked."""

    max_error_rate: float | None = None
    """Largest accepted fraction of failed requests (0.01 = 1%)."""
    p99_under: float | None = None
    """The p99 latency must be below this many seconds."""


def check_thresholds(summary: RunSummary, thresholds: Thresholds) -> list[str]:
    """One message per failed threshold; empty when the run passes.

    A run that sent nothing fails any threshold that was asked for: there is nothing to vouch for.
    """
    failures: list[str] = []
    if summary.total == 0 and (
        thresholds.max_error_rate is not None or thresholds.p99_under is not None
    ):
        return ["no request was sent"]
    if thresholds.max_error_rate is not None and summary.error_rate > thresholds.max_error_rate:
        failures.append(
            f"error rate {summary.error_rate:.2%} is above --max-error-rate "
            f"{thresholds.max_error_rate:.2%} ({summary.errors} of {summary.total} failed)"
        )
    if thresholds.p99_under is not None:
        if summary.latency.count == 0:
            failures.append("no request got an answer, so there is no p99 to check")
        elif summary.latency.p99 >= thresholds.p99_under:
            failures.append(
                f"p99 latency {summary.latency.p99 * 1000:.1f} ms is not under --p99-under "
                f"{thresholds.p99_under * 1000:.1f} ms"
            )
    return failures
