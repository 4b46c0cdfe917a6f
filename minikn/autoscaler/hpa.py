"""HPA-style scaling on CPU or memory: the Kubernetes HPA formula, pure.

Used for ``autoscaling.knative.dev/class: hpa.autoscaling.knative.dev`` and for
``metric: cpu|memory``. Mirrors kubernetes ``pkg/controller/podautoscaler``
(``replica_calculator.go``: ``desired = ceil(current x usage / target)`` unless the ratio is within
the 10 % tolerance; ``horizontal.go``: stabilization windows, default 0 s up and 300 s down).

Usage is relative to the per-replica request from the revision's resources (limits stand in for
requests, as Kubernetes defaults them). With no resources set minikn uses KServe's default
container resources, 1 CPU and 2 GiB (``inferenceservice-config``), so ``target: 80`` on cpu means
0.8 cores per replica.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from minikn.autoscaler.spec import ScalingSpec
from minikn.core.usage import ResourceUsage

__all__ = [
    "SCALE_DOWN_STABILIZATION",
    "SCALE_UP_STABILIZATION",
    "TOLERANCE",
    "HpaDecision",
    "HpaState",
    "decide_hpa",
    "utilization",
]

TOLERANCE = 0.1
"""``--horizontal-pod-autoscaler-tolerance``: no change while |usage/target - 1| <= 0.1."""
SCALE_UP_STABILIZATION = 0.0
SCALE_DOWN_STABILIZATION = 300.0
"""``behavior.scaleDown.stabilizationWindowSeconds`` default."""


@dataclass(frozen=True, slots=True)
class HpaState:
    """Recent recommendations (time, replicas), newest last, for the stabilization windows."""

    recommendations: tuple[tuple[float, int], ...] = ()
    desired: int = -1
    reason: str = "initial"


@dataclass(frozen=True, slots=True)
class HpaDecision:
    desired: int
    utilization: float
    """Average utilization in percent of the per-replica request."""
    raw: int
    """The formula's recommendation before stabilization and bounds."""
    reason: str


def utilization(spec: ScalingSpec, usage: ResourceUsage) -> float:
    """Average utilization over the sampled replicas in percent of the request (0 without data)."""
    if usage.replicas <= 0:
        return 0.0
    if spec.metric == "memory":
        return 100.0 * usage.memory_bytes / (usage.replicas * spec.memory_request)
    return 100.0 * usage.cpu_cores / (usage.replicas * spec.cpu_request)


def decide_hpa(
    spec: ScalingSpec, state: HpaState, usage: ResourceUsage, current: int, *, now: float
) -> tuple[HpaDecision, HpaState]:
    """One HPA sync.

    Worked example (target 80 %, 1-core requests): 2 replicas using 3.0 cores -> utilization 150 %,
    ratio 1.875 -> ceil(2 x 1.875) = 4. At 84 % (ratio 1.05, within 10 %) the count stays 2. A
    drop to 1 replica is held for 300 s by the scale-down window (max over its recommendations).
    """
    util = utilization(spec, usage)
    base = max(current, 1)
    if usage.replicas <= 0:
        raw, why = base, "no usage sample: keep"
    else:
        ratio = util / spec.target_value
        if abs(ratio - 1.0) <= TOLERANCE:
            raw, why = base, f"utilization {util:.1f}% within 10% of target {spec.target_value:g}%"
        else:
            raw = math.ceil(base * ratio)
            why = (
                f"ceil({base} x {util:.1f}% / {spec.target_value:g}%) = {raw} "
                f"({spec.metric} utilization)"
            )
    horizon = now - max(SCALE_DOWN_STABILIZATION, SCALE_UP_STABILIZATION)
    recs = (*tuple(r for r in state.recommendations if r[0] > horizon), (now, raw))
    down = max(v for t, v in recs if t > now - SCALE_DOWN_STABILIZATION or t == now)
    up = min(v for t, v in recs if t > now - SCALE_UP_STABILIZATION or t == now)
    # Kubernetes' stabilizeRecommendationWithBehaviors: never above the up-window minimum when
    # scaling up, never below the down-window maximum when scaling down.
    desired = base
    desired = max(desired, up)
    desired = min(desired, down)
    if desired != raw:
        why = f"{why}; stabilization holds {desired}"
    lo = max(1, spec.min_scale)
    desired = max(desired, lo)
    if spec.max_scale:
        desired = min(desired, spec.max_scale)
    reason = why if desired != state.desired else state.reason
    return HpaDecision(desired, util, raw, why), HpaState(recs, desired, reason)
