"""Table tests of the Knative-mode traffic rules and the rolled-out bookkeeping."""

from __future__ import annotations

import pytest

from minikn.controlplane.traffic import Rollout, compute_traffic, propagate, settle
from minikn.core.routes import TrafficTarget as T

R1, R2 = "m-predictor-00001", "m-predictor-00002"


@pytest.mark.parametrize(
    ("rollout", "percent", "tags", "expected"),
    [
        pytest.param(Rollout(latest_created=R1), None, False, (), id="nothing-ready-no-traffic"),
        pytest.param(
            Rollout(latest_ready=R1),
            10,
            False,
            (T(revision=R1, percent=100, latest=True),),
            id="first-deploy-ignores-canary-percent",
        ),
        pytest.param(
            Rollout(latest_ready=R2, latest_rolledout=R1),
            10,
            False,
            (T(revision=R2, percent=10, latest=True), T(revision=R1, percent=90, tag="prev")),
            id="canary-10",
        ),
        pytest.param(
            Rollout(latest_ready=R2, latest_rolledout=R1),
            None,
            False,
            (T(revision=R2, percent=100, latest=True),),
            id="promote-without-percent",
        ),
        pytest.param(
            Rollout(latest_ready=R2, latest_rolledout=R1),
            100,
            True,
            (T(revision=R2, percent=100, latest=True, tag="latest"),),
            id="percent-100-is-promote",
        ),
        pytest.param(
            Rollout(latest_ready=R2, latest_rolledout=R1),
            0,
            True,
            (
                T(revision=R2, percent=0, latest=True, tag="latest"),
                T(revision=R1, percent=100, tag="prev"),
            ),
            id="rollback-pins-old",
        ),
        pytest.param(
            Rollout(latest_ready=R1, latest_rolledout=R1, latest_created=R2),
            20,
            False,
            (T(revision=R1, percent=20, latest=True), T(revision=R1, percent=80, tag="prev")),
            id="new-revision-not-ready-keeps-old",
        ),
        pytest.param(
            Rollout(latest_created=R2, latest_ready=R2, latest_rolledout=R2, previous_rolledout=R1),
            0,
            False,
            (T(revision=R2, percent=0, latest=True), T(revision=R1, percent=100, tag="prev")),
            id="zero-after-promotion-rolls-back-to-previous",
        ),
        pytest.param(
            Rollout(latest_created=R2, latest_ready=R2, latest_rolledout=R2),
            10,
            False,
            (T(revision=R2, percent=100, latest=True),),
            id="percent-after-first-deploy-has-nothing-to-split-with",
        ),
    ],
)
def test_compute_traffic(
    rollout: Rollout, percent: int | None, tags: bool, expected: tuple[T, ...]
) -> None:
    assert compute_traffic(rollout, canary_percent=percent, tag_routing=tags) == expected


def test_propagate_rolls_forward_when_latest_holds_all_traffic() -> None:
    r = Rollout(latest_ready=R2, latest_rolledout=R1)
    out = propagate(r, (T(revision=R2, percent=100, latest=True),))
    assert (out.latest_rolledout, out.previous_rolledout) == (R2, R1)


def test_propagate_keeps_rollout_during_a_split() -> None:
    r = Rollout(latest_ready=R2, latest_rolledout=R1)
    split = (T(revision=R2, percent=10, latest=True), T(revision=R1, percent=90, tag="prev"))
    assert propagate(r, split) == r


def test_settle_first_deploy_marks_rolled_out() -> None:
    rollout, traffic = settle(
        Rollout(latest_created=R1, latest_ready=R1), canary_percent=None, tag_routing=False
    )
    assert rollout.latest_rolledout == R1
    assert rollout.previous_rolledout is None
    assert traffic == (T(revision=R1, percent=100, latest=True),)


def test_rollback_after_promotion_settles_on_the_previous_revision() -> None:
    promoted = Rollout(
        latest_created=R2, latest_ready=R2, latest_rolledout=R2, previous_rolledout=R1
    )
    rollout, traffic = settle(promoted, canary_percent=0, tag_routing=False)
    assert rollout.latest_rolledout == R1
    assert traffic == (
        T(revision=R2, percent=0, latest=True),
        T(revision=R1, percent=100, tag="prev"),
    )
    # Promoting again (percent removed) rolls R2 out once more.
    rollout, traffic = settle(rollout, canary_percent=None, tag_routing=False)
    assert (rollout.latest_rolledout, rollout.previous_rolledout) == (R2, R1)
    assert traffic == (T(revision=R2, percent=100, latest=True),)
