"""HPA-style scaling: desired = ceil(current x usage/target), 10 % tolerance, 0 s up / 300 s down
stabilization (kubernetes replica_calculator.go, horizontal.go); numbers hand-computed."""

from __future__ import annotations

from dataclasses import replace

import pytest

from minikn.autoscaler.hpa import HpaState, decide_hpa, utilization
from minikn.autoscaler.spec import build_spec
from minikn.config.autoscaler import HPA_CLASS, AutoscalerConfig
from minikn.core.usage import ResourceUsage

CPU = build_spec(
    "r-1",
    {"autoscaling.knative.dev/class": HPA_CLASS},
    container_concurrency=0,
    config=AutoscalerConfig(),
)
GIB = 1024**3


@pytest.mark.parametrize(
    ("usage", "current", "desired"),
    [
        # 2 replicas x 1 core request, 3.0 cores used -> 150 % / 80 % = 1.875 -> ceil(3.75) = 4
        (ResourceUsage(3.0, 0, 2), 2, 4),
        # 84 %: ratio 1.05 within the 10 % tolerance -> stays 2
        (ResourceUsage(1.68, 0, 2), 2, 2),
        # 72 %: ratio 0.9, |0.9 - 1| = 0.1 <= 0.1 -> stays (the tolerance is inclusive)
        (ResourceUsage(1.44, 0, 2), 2, 2),
        # 200 % on one replica -> ceil(1 x 2.5) = 3
        (ResourceUsage(2.0, 0, 1), 1, 3),
        # no sample -> keep, and never below 1
        (ResourceUsage(), 0, 1),
    ],
)
def test_hpa_formula_and_tolerance(usage: ResourceUsage, current: int, desired: int) -> None:
    d, _ = decide_hpa(CPU, HpaState(), usage, current, now=0.0)
    assert d.desired == desired


def test_memory_utilization_is_relative_to_the_request() -> None:
    spec = replace(CPU, metric="memory", target_value=50.0, memory_request=GIB)
    # 2 replicas, 3 GiB total of 2 GiB requested -> 150 % / 50 % = 3 -> ceil(2 x 3) = 6
    usage = ResourceUsage(0.0, 3 * GIB, 2)
    assert utilization(spec, usage) == pytest.approx(150.0)
    d, _ = decide_hpa(spec, HpaState(), usage, 2, now=0.0)
    assert d.desired == 6


def test_scale_down_is_stabilized_for_300s_and_scale_up_is_immediate() -> None:
    st = HpaState()
    d, st = decide_hpa(CPU, st, ResourceUsage(3.2, 0, 4), 4, now=0.0)  # 80 % -> 4
    assert d.desired == 4
    low = ResourceUsage(0.4, 0, 4)  # 10 % -> ceil(4 x 0.125) = 1 recommended
    d, st = decide_hpa(CPU, st, low, 4, now=15.0)
    assert (d.raw, d.desired) == (1, 4)  # the 300 s window still holds the 4 from t=0
    d, st = decide_hpa(CPU, st, low, 4, now=299.0)
    assert d.desired == 4
    d, st = decide_hpa(CPU, st, low, 4, now=300.0)
    assert d.desired == 1  # t=0 left the window (t > now - 300)
    d, st = decide_hpa(CPU, st, ResourceUsage(2.0, 0, 1), 1, now=302.0)
    assert d.desired == 3  # up at once: ceil(1 x 200/80)


def test_min_and_max_bounds_and_min_at_least_one() -> None:
    spec = replace(CPU, min_scale=0, max_scale=3)
    d, _ = decide_hpa(spec, HpaState(), ResourceUsage(8.0, 0, 1), 1, now=0.0)
    assert d.desired == 3
    d, _ = decide_hpa(replace(CPU, min_scale=2), HpaState(), ResourceUsage(0.1, 0, 1), 1, now=0.0)
    assert d.desired == 2
