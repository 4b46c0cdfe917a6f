"""Traffic of one component under KServe's Knative-mode rules (pure).

Source: kserve ``reconcilers/knative/ksvc_reconciler.go`` (the route) and ``v1beta1
component_status`` ``PropagateStatus`` (rolled-out bookkeeping). ``latestRevision: true`` resolves
to the latest *ready* revision, as Knative's route does: traffic moves once a revision is ready.

Truth table (P = canaryTrafficPercent, LRR = latestRolledoutRevision, LR = latest ready):

    P      LRR    traffic
    -      any    [LR 100 latest]
    set    none   [LR 100 latest]                (a first deploy ignores P)
    100    set    [LR 100 latest]
    N      set    [LR N latest, LRR 100-N prev]  (N = 0 pins LRR: rollback)

When LR is itself the rolled-out revision (it was promoted) and N < 100, KServe splits against
``previousRolledoutRevision`` instead: that is how ``canaryTrafficPercent: 0`` after a promotion
rolls back. minikn applies this only while no newer revision is pending (LR == latest created);
KServe also applies it during a pending rollout, briefly sending traffic to the revision before
the current one, which is a quirk minikn does not copy.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from minikn.core.routes import TrafficTarget

__all__ = ["Rollout", "compute_traffic", "propagate", "settle"]


@dataclass(frozen=True)
class Rollout:
    """A component's revision bookkeeping (KServe's ComponentStatusSpec)."""

    latest_created: str | None = None
    latest_ready: str | None = None
    latest_rolledout: str | None = None
    previous_rolledout: str | None = None


def compute_traffic(
    rollout: Rollout, *, canary_percent: int | None, tag_routing: bool
) -> tuple[TrafficTarget, ...]:
    """The route's targets; empty until some revision of the component is ready."""
    latest = rollout.latest_ready
    if latest is None:
        return ()
    lrr = rollout.latest_rolledout
    settled = rollout.latest_created in (None, latest)
    if lrr == latest and settled and canary_percent is not None and canary_percent < 100:
        lrr = rollout.previous_rolledout
    latest_tag = "latest" if tag_routing else None
    if canary_percent is None or lrr is None or canary_percent == 100:
        return (TrafficTarget(revision=latest, percent=100, tag=latest_tag, latest=True),)
    return (
        TrafficTarget(revision=latest, percent=canary_percent, tag=latest_tag, latest=True),
        TrafficTarget(revision=lrr, percent=100 - canary_percent, tag="prev", latest=False),
    )


def propagate(rollout: Rollout, traffic: tuple[TrafficTarget, ...]) -> Rollout:
    """Roll forward once the latest ready revision holds all the traffic (``PropagateStatus``)."""
    latest = rollout.latest_ready
    if latest is None:
        return rollout
    share = sum(t.percent for t in traffic if t.revision == latest)
    if share == 100 and rollout.latest_rolledout != latest:
        return replace(
            rollout, previous_rolledout=rollout.latest_rolledout, latest_rolledout=latest
        )
    prev = rollout.previous_rolledout
    prev_share = sum(t.percent for t in traffic if t.revision == prev)
    if rollout.latest_rolledout == latest and prev is not None and prev_share == 100:
        # Rolled back after a promotion: the previous revision holds all the traffic again.
        return replace(rollout, latest_rolledout=prev)
    return rollout


def settle(
    rollout: Rollout, *, canary_percent: int | None, tag_routing: bool
) -> tuple[Rollout, tuple[TrafficTarget, ...]]:
    """Traffic and bookkeeping at their fixed point (propagating can change the route once)."""
    for _ in range(3):
        traffic = compute_traffic(rollout, canary_percent=canary_percent, tag_routing=tag_routing)
        nxt = propagate(rollout, traffic)
        if nxt == rollout:
            return rollout, traffic
        rollout = nxt
    return rollout, compute_traffic(rollout, canary_percent=canary_percent, tag_routing=tag_routing)
