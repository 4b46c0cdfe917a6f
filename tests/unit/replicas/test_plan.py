"""plan(): desired vs observed replicas -> actions, as a table."""

from __future__ import annotations

import pytest

from minikn.replicas.plan import (
    Action,
    Create,
    Forget,
    ObservedReplica,
    RevisionView,
    Stop,
    WaitGPU,
    plan,
)

R = ObservedReplica


def view(
    desired: int | None, *replicas: ObservedReplica, live: bool = True, gpus: int = 0,
    backoff: float = 0.0, name: str = "r1",
) -> RevisionView:  # fmt: skip
    return RevisionView(name, live, desired, gpus, tuple(replicas), backoff)


CASES: list[tuple[str, list[RevisionView], dict[str, int], list[Action]]] = [
    ("scale from zero", [view(2)], {}, [Create("r1"), Create("r1")]),
    ("steady", [view(1, R("a", "Ready"))], {}, []),
    ("creating counts as active", [view(1, R("a", "Creating"))], {}, []),
    ("stopping does not count", [view(1, R("a", "Stopping"))], {}, [Create("r1")]),
    (
        "scale down stops not-ready first, then newest ready",
        [view(1, R("a", "Ready", 1.0), R("b", "Ready", 2.0), R("c", "Creating", 0.5))],
        {},
        [Stop("r1", "c"), Stop("r1", "b")],
    ),
    ("desired unknown keeps adopted replicas", [view(None, R("a", "Ready"))], {}, []),
    ("backing off creates nothing", [view(1, backoff=200.0)], {}, []),
    ("backoff over", [view(1, backoff=50.0)], {}, [Create("r1")]),
    (
        "not live: stop all, forget only when none remain",
        [view(3, R("a", "Ready"), R("b", "Stopping"), live=False)],
        {},
        [Stop("r1", "a")],
    ),
    ("not live and empty is forgotten", [view(1, live=False)], {}, [Forget("r1")]),
    (
        "gpu replicas get exact ids",
        [view(2, gpus=1)],
        {"g0": 1, "g1": 1},
        [Create("r1", ("g0",)), Create("r1", ("g1",))],
    ),
    (
        "too few gpus: create what fits, then wait",
        [view(3, gpus=1)],
        {"g0": 1, "g1": 1},
        [Create("r1", ("g0",)), Create("r1", ("g1",)), WaitGPU("r1", 1, 0)],
    ),
    ("no gpus at all", [view(1, gpus=2)], {"g0": 1}, [WaitGPU("r1", 2, 1)]),
    (
        "gpus handed out across revisions in name order",
        [view(1, gpus=1, name="b"), view(1, gpus=1, name="a")],
        {"g0": 1},
        [Create("a", ("g0",)), WaitGPU("b", 1, 0)],
    ),
]


@pytest.mark.parametrize(
    ("views", "free", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_plan_table(
    views: list[RevisionView], free: dict[str, int], expected: list[Action]
) -> None:
    assert plan(views, gpu_free_slots=free, now=100.0) == expected


def test_plan_is_idempotent_once_applied() -> None:
    views = [view(1, R("a", "Ready"))]
    assert plan(views, gpu_free_slots={}, now=0.0) == plan(views, gpu_free_slots={}, now=0.0) == []
