"""Knative's own autoscaler_test.go cases (pkg/autoscaler/scaling), replayed on decide().

Their harness (newTestAutoscalerWithScalingMetric): TargetValue t, TotalValue t/0.75, panic
threshold 2, max scale up/down rates 10, stable window 60 s, reachable, 1 ready pod unless set.
``expectedEBC(totCap, tbc, observed, pods) = floor(totCap/0.75 x pods - tbc - observed)``, compared
with a +-1 tolerance there as here.
"""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from minikn.autoscaler.decide import DeciderState, decide, initial_state
from minikn.autoscaler.spec import ScalingSpec, build_spec
from minikn.config.autoscaler import AutoscalerConfig

_BASE = build_spec("r-1", {}, container_concurrency=0, config=AutoscalerConfig())


def harness(target: float, tbc: float, **kw: float | bool) -> ScalingSpec:
    fields: dict[str, float | bool] = {
        "target_value": target,
        "total_value": target / 0.75,
        "target_burst_capacity": tbc,
        "panic_threshold": 2.0,
        "max_scale_up_rate": 10.0,
        "max_scale_down_rate": 10.0,
        "stable_window": 60.0,
    }
    return replace(_BASE, **{**fields, **kw})  # type: ignore[arg-type]


def expected_ebc(tot: float, tbc: float, observed: float, pods: float) -> float:
    return float(math.floor(tot / 0.75 * pods - tbc - observed))


@pytest.mark.parametrize(
    ("label", "spec", "state", "stable", "panic", "ready", "reachable", "want", "ebc"),
    [
        # TestAutoscalerScale table
        ("NoDataAtZero", harness(10, 100), DeciderState(), 0.0, 0.0, 1, True, 0,
         expected_ebc(10, 100, 0, 1)),
        ("StableModeUnlimitedTBC", harness(181, -1), DeciderState(), 21.0, 26.0, 1, True, 1, -1.0),
        ("0TBC", harness(10, 0), DeciderState(), 50.0, 49.0, 1, True, 5, 0.0),
        ("StableModeNoChange", harness(10, 100), DeciderState(), 50.0, 50.0, 1, True, 5,
         expected_ebc(10, 100, 50, 1)),
        ("PanicStableLargerThanPanic", harness(1, 100),
         DeciderState(panic_time=95.0, max_panic_pods=5), 50.0, 30.0, 5, True, 50,
         expected_ebc(1, 100, 30, 5)),
        ("PanicStableLessThanPanic", harness(1, 100),
         DeciderState(panic_time=95.0, max_panic_pods=5), 20.0, 30.0, 5, True, 30,
         expected_ebc(1, 100, 30, 5)),
        ("StableModeNoChangeAlreadyScaled", harness(10, 100), DeciderState(), 50.0, 50.0, 5, True,
         5, expected_ebc(10, 100, 50, 5)),
        ("StableModeIncreaseWithSmallScaleUpRate", harness(1, 1982, max_scale_up_rate=1.1),
         DeciderState(), 3.0, 3.1, 2, True, 3, expected_ebc(1, 1982, 3.1, 2)),
        ("StableModeDecreaseWithSmallScaleDownRate", harness(10, 1982, max_scale_down_rate=1.1),
         DeciderState(), 1.0, 1.0, 100, True, 90, expected_ebc(10, 1982, 1, 100)),
        ("StableModeDecreaseNonReachable", harness(10, 1982, max_scale_down_rate=1.1),
         DeciderState(), 1.0, 1.0, 100, False, 1, expected_ebc(10, 1982, 1, 100)),
        ("PanicModeDoublePodCount", harness(10, 84), DeciderState(), 50.0, 100.0, 1, True, 10,
         expected_ebc(10, 84, 100, 1)),
        # TestAutoscalerStableModeIncreaseWithConcurrencyDefault
        ("StableIncreaseDefault", harness(10, 101), DeciderState(), 50.0, 10.0, 1, True, 5,
         expected_ebc(10, 101, 10, 1)),
        # TestAutoscalerStableModeDecrease (second step)
        ("StableModeDecrease", harness(10, 98), DeciderState(desired=10), 50.0, 50.0, 8, True, 5,
         expected_ebc(10, 98, 50, 8)),
        # TestAutoscalerUseOnePodAsMinimumIfEndpointsNotFound: 0 ready -> R 1 -> x10
        ("OnePodAsMinimum", harness(10, 81), DeciderState(), 1000.0, 888.0, 0, True, 10,
         expected_ebc(10, 81, 888, 0)),
    ],
)  # fmt: skip
def test_autoscaler_scale_table(
    *,
    label: str,
    spec: ScalingSpec,
    state: DeciderState,
    stable: float,
    panic: float,
    ready: int,
    reachable: bool,
    want: int,
    ebc: float,
) -> None:
    d, _ = decide(spec, state, stable, panic, ready, now=100.0, reachable=reachable)
    assert d.desired == want, label
    assert abs(d.ebc - ebc) <= 1, label


def test_unpanic_after_slow_increase() -> None:
    spec = harness(1, 98)
    d, st = decide(spec, DeciderState(), 11.0, 25.0, 10, now=0.0, reachable=True)
    assert (d.desired, st.panic_time) == (25, 0.0)
    d, st = decide(spec, st, 30.0, 41.0, 40, now=30.0, reachable=True)
    assert (d.desired, st.panic_time) == (41, 0.0)  # 41/40 < 2: panic time does not move
    d, st = decide(spec, st, 50.0, 56.0, 55, now=62.0, reachable=True)
    assert (d.desired, st.panic_time) == (50, None)  # no longer in panic


def test_extend_panic_window() -> None:
    spec = harness(1, 98)
    _, st = decide(spec, DeciderState(), 11.0, 25.0, 10, now=0.0, reachable=True)
    d, st = decide(spec, st, 30.0, 80.0, 40, now=30.0, reachable=True)
    assert (d.desired, st.panic_time) == (80, 30.0)


def test_panic_mode_exponential_track_and_stabilize() -> None:
    spec = harness(1, 101)
    d, st = decide(spec, DeciderState(), 6.0, 6.0, 1, now=0.0, reachable=True)
    assert d.desired == 6
    for ready, load, now in ((6, 36.0, 0.0), (36, 216.0, 1.0), (216, 1296.0, 1.0)):
        d, st = decide(spec, st, load, load, ready, now=now, reachable=True)
        assert (d.desired, st.panic_time) == (int(load), now)
    d, st = decide(spec, st, 1296.0, 1296.0, 1296, now=2.0, reachable=True)
    assert d.desired == 1296


def test_panic_then_unpanic_scale_down() -> None:
    spec = harness(10, 93)
    d, st = decide(spec, DeciderState(), 100.0, 100.0, 1, now=0.0, reachable=True)
    assert d.desired == 10
    d, st = decide(spec, st, 100.0, 1000.0, 10, now=1.0, reachable=True)
    assert d.desired == 100
    d, st = decide(spec, st, 1.0, 1.0, 10, now=31.0, reachable=True)
    assert d.desired == 100  # still panicking
    d, st = decide(spec, st, 1.0, 1.0, 10, now=62.0, reachable=True)
    assert d.desired == 1  # after the stable window


def test_rate_limit_scale_up_and_down() -> None:
    spec = harness(10, 61)
    d, _ = decide(spec, DeciderState(), 1000.0, 1001.0, 1, now=0.0, reachable=True)
    assert d.desired == 10  # needs 100, only x10
    d, _ = decide(spec, DeciderState(), 1000.0, 1001.0, 10, now=0.0, reachable=True)
    assert d.desired == 100
    d, _ = decide(spec, DeciderState(), 1.0, 1.0, 100, now=0.0, reachable=True)
    assert d.desired == 10  # needs 1, only /10
    d, _ = decide(spec, DeciderState(), 1.0, 1.0, 10, now=0.0, reachable=True)
    assert d.desired == 1


def test_stable_mode_no_traffic_scale_to_zero() -> None:
    spec = harness(10, 75)
    d, st = decide(spec, DeciderState(), 1.0, 0.0, 1, now=0.0, reachable=True)
    assert d.desired == 1
    d, _ = decide(spec, st, 0.0, 0.0, 1, now=2.0, reachable=True)
    assert d.desired == 0


def test_scale_down_delay_simple_and_gradual() -> None:
    # TestAutoscalerScaleDownDelay: target 10, rates 10, threshold 100 (never panics), 5 min.
    spec = harness(10, 0, panic_threshold=100.0, scale_down_delay=300.0)
    st = DeciderState()
    steps = [
        (2.0, 40.0, 4),  # scale up
        (300.0, 0.0, 4),  # five minutes at zero: held
        (302.0, 0.0, 0),  # five minutes and 2 s: down
        (540.0, 40.0, 4),  # gradual
        (600.0, 30.0, 4),  # 4 still dominates
        (660.0, 0.0, 4),
        (840.0, 0.0, 3),  # 4 scrolls out, drop to 3
        (900.0, 0.0, 0),  # everything scrolled out
    ]
    for now, load, want in steps:
        d, st = decide(spec, st, load, load, 0, now=now, reachable=True)
        assert d.desired == want, now


def test_scale_down_delay_zero_scales_down_at_once() -> None:
    spec = harness(10, 0, panic_threshold=100.0)
    _, st = decide(spec, DeciderState(), 40.0, 40.0, 0, now=0.0, reachable=True)
    d, _ = decide(spec, st, 20.0, 20.0, 0, now=0.5, reachable=True)
    assert d.desired == 2


def test_start_in_panic_mode_only_above_one_pod() -> None:
    # TestStartInPanicMode
    for ready in (0, 1):
        st = initial_state(_BASE, ready=ready, now=0.0)
        assert st.panic_time is None
    st = initial_state(_BASE, ready=2, now=0.0)
    assert (st.panic_time, st.max_panic_pods) == (0.0, 2)
