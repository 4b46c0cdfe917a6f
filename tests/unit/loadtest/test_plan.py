"""The load plan: defaults and the values it refuses."""

from __future__ import annotations

import pytest

from minikn.core.errors import InvalidInput
from minikn.loadtest.runner import DEFAULT_REQUESTS, LoadPlan


def test_neither_count_nor_duration_sends_the_default_count() -> None:
    plan = LoadPlan(concurrency=3, rate=5.0).validate()
    assert (plan.requests, plan.duration, plan.concurrency, plan.rate) == (
        DEFAULT_REQUESTS,
        None,
        3,
        5.0,
    )


def test_duration_alone_has_no_count() -> None:
    plan = LoadPlan(duration=2.0).validate()
    assert (plan.requests, plan.duration) == (None, 2.0)


@pytest.mark.parametrize(
    ("plan", "flag"),
    [
        (LoadPlan(concurrency=0), "-c/--concurrency"),
        (LoadPlan(requests=0), "-n/--requests"),
        (LoadPlan(duration=0.0), "-z/--duration"),
        (LoadPlan(rate=-1.0), "--rate"),
        (LoadPlan(timeout=0.0), "--timeout"),
        (LoadPlan(max_inflight=0), "--max-inflight"),
    ],
)
def test_bad_values_name_the_flag(plan: LoadPlan, flag: str) -> None:
    with pytest.raises(InvalidInput, match=flag):
        plan.validate()
