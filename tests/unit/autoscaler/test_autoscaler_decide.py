"""The per-tick decision (Knative's Scale()), table-driven; every expected number is derived in
the case's comment from knative.md section 1.5 (autoscaler.go)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from minikn.autoscaler.decide import DeciderState, decide, initial_ebc, initial_state
from minikn.autoscaler.spec import ScalingSpec, build_spec
from minikn.config.autoscaler import AutoscalerConfig

BASE = build_spec("r-1", {}, container_concurrency=0, config=AutoscalerConfig())
"""Defaults: TargetValue 70, TotalValue 100, TBC 211, rates 1000/2, threshold 2.0, window 60."""


def mk(**kw: Any) -> ScalingSpec:
    return replace(BASE, **kw)


@pytest.mark.parametrize(
    ("name", "spec", "stable", "panic", "ready", "reachable", "desired", "ebc", "panic_mode"),
    [
        # steady: ceil(140/70)=2, ceil(140/70)=2, 2/2 < 2; ebc = floor(2x100 - 211 - 140) = -151
        ("steady", BASE, 140.0, 140.0, 2, True, 2, -151.0, False),
        # exactly at target per pod: ceil(70/70) = 1
        ("at target", BASE, 70.0, 70.0, 1, True, 1, -181.0, False),
        # one request over: ceil(70.01/70) = 2; dppc 2 / R 1 = 2 >= 2 -> panic
        ("just over", BASE, 70.01, 70.01, 1, True, 2, -182.0, True),
        # Knative TestAutoscalerStableModeIncreaseWithConcurrencyDefault-like: target 10,
        # stable 50 -> 5 pods; panic 10 -> dppc 1, 1/1 < 2
        ("stable increase", mk(target_value=10.0), 50.0, 10.0, 1, True, 5, -121.0, False),
        # rate limit up: rate 10, R 1 -> at most ceil(10 x 1) = 10 of ceil(1000/10) = 100
        ("rate up", mk(target_value=10.0, max_scale_up_rate=10.0), 1000.0, 10.0, 1, True, 10,
         -121.0, False),
        # rate up always allows +1: ceil(1.1 x 1) = 2 (autoscaler.go comment: MSUR=1.1)
        ("rate up +1", mk(target_value=1.0, max_scale_up_rate=1.1), 3.0, 1.0, 1, True, 2, -112.0,
         False),
        # rate limit down: R 10, floor(10/2) = 5 even though ceil(0/70) = 0
        ("rate down", BASE, 0.0, 0.0, 10, True, 5, 789.0, False),
        # unreachable: no lower bound -> straight to ceil(0/70) = 0
        ("unreachable down", BASE, 0.0, 0.0, 10, False, 0, 789.0, False),
        # zero ready counts as R = 1: floor(1/2) = 0 -> 0; ebc = floor(0 - 211 - 0)
        ("idle at zero", BASE, 0.0, 0.0, 0, True, 0, -211.0, False),
        # panic: ceil(300/70)=5, 5/1 >= 2 -> max(ceil(150/70)=3, 5) = 5
        ("enter panic", BASE, 150.0, 300.0, 1, True, 5, -411.0, True),
        # panic check uses the unclamped dppc: ceil(1000/70)=15 over R 2 -> panic, but clamped to
        # ceil(1.5 x 2) = 3
        ("panic clamped", mk(max_scale_up_rate=1.5), 100.0, 1000.0, 2, True, 3, -1011.0, True),
        # activation-scale 5 with dspc = ceil(1/70) = 1 > 0 -> 5
        ("activation scale", mk(activation_scale=5), 1.0, 1.0, 0, True, 5, -212.0, False),
        # activation-scale does not apply at dspc = 0
        ("activation idle", mk(activation_scale=5), 0.0, 0.0, 0, True, 0, -211.0, False),
        # TBC 0 -> EBC 0; TBC -1 -> EBC -1
        ("tbc 0", mk(target_burst_capacity=0.0), 140.0, 140.0, 2, True, 2, 0.0, False),
        ("tbc -1", mk(target_burst_capacity=-1.0), 140.0, 140.0, 2, True, 2, -1.0, False),
        # TBC 50, total 10, ready 3, panic 5: floor(30 - 50 - 5) = -25; ceil(5/7) = 1 -> but
        # floor(3/2) = 1 lower bound -> 1
        ("tbc 50", mk(target_burst_capacity=50.0, total_value=10.0, target_value=7.0), 5.0, 5.0,
         3, True, 1, -25.0, False),
        # EBC positive once enough capacity: floor(5 x 100 - 211 - 70) = 219
        ("ebc positive", BASE, 70.0, 70.0, 5, True, 2, 219.0, False),
    ],
)  # fmt: skip
def test_decide_single_tick(
    *,
    name: str,
    spec: ScalingSpec,
    stable: float,
    panic: float,
    ready: int,
    reachable: bool,
    desired: int,
    ebc: float,
    panic_mode: bool,
) -> None:
    d, st = decide(spec, DeciderState(), stable, panic, ready, now=100.0, reachable=reachable)
    assert (d.desired, d.ebc, d.panic_mode) == (desired, ebc, panic_mode), name
    assert st.desired == desired


def test_no_data_keeps_the_previous_decision() -> None:
    st = DeciderState(desired=3, ebc=-5.0)
    d, new = decide(BASE, st, None, None, 3, now=10.0, reachable=True)
    assert d.no_data
    assert new is st
    assert d.desired == 3


def test_initial_state_and_ebc() -> None:
    # multiscaler.go: DesiredScale -1; EBC = initial-scale x TotalValue - TBC = 1x100-211.
    assert initial_ebc(BASE) == -111.0
    assert initial_ebc(mk(target_burst_capacity=0.0)) == 0.0
    assert initial_ebc(mk(target_burst_capacity=-1.0)) == -1.0
    assert initial_ebc(mk(initial_scale=3)) == 89.0
    st = initial_state(BASE, ready=1, now=5.0)
    assert (st.desired, st.panic_time, st.max_panic_pods) == (-1, None, 0)
    # newAutoscaler: more than one ready pod -> start in panic holding them.
    st = initial_state(BASE, ready=4, now=5.0)
    assert (st.panic_time, st.max_panic_pods) == (5.0, 4)
    d, _ = decide(BASE, st, 0.0, 0.0, 4, now=6.0, reachable=True)
    assert (d.desired, d.panic_mode) == (4, True)


def run(
    spec: ScalingSpec, ticks: list[tuple[float, float, float, int]], reachable: bool = True
) -> list[tuple[int, bool]]:
    st = DeciderState()
    out = []
    for now, stable, panic, ready in ticks:
        d, st = decide(spec, st, stable, panic, ready, now=now, reachable=reachable)
        out.append((d.desired, d.panic_mode))
    return out


def test_step_to_panic_and_back() -> None:
    # t=0: ceil(10/70)=1. t=2: dppc ceil(300/70)=5, 5/1 >= 2 -> panic, desired 5.
    # t=4: ready 5, dppc ceil(100/70)=2, 2/5 < 2 -> not over, still panicking: stable wants
    #      max(ceil(60/70)=1, floor(5/2)=2) = 2, but panic never scales down -> 5.
    # t=62: 2 + 60 < 62 is false -> still panic, 5. t=64: 62 < 64 -> un-panic -> 2.
    ticks = [
        (0.0, 10.0, 10.0, 1),
        (2.0, 50.0, 300.0, 1),
        (4.0, 60.0, 100.0, 5),
        (62.0, 60.0, 60.0, 5),
        (64.0, 60.0, 60.0, 5),
    ]
    assert run(BASE, ticks) == [(1, False), (5, True), (5, True), (5, True), (2, False)]


def test_panic_is_extended_by_each_tick_over_the_threshold() -> None:
    # Over at t=2 and again at t=30 (ceil(700/70)=10 over R 5 = 2): the exit moves to > 90.
    ticks = [
        (2.0, 50.0, 300.0, 1),
        (30.0, 60.0, 700.0, 5),
        (62.0, 60.0, 60.0, 10),
        (90.0, 60.0, 60.0, 10),
        (92.0, 60.0, 60.0, 10),
    ]
    out = run(BASE, ticks)
    # max panic pods 10 held until un-panic at 92 -> floor(10/2) = 5
    assert out == [(5, True), (10, True), (10, True), (10, True), (5, False)]


def test_panic_scales_up_further_but_never_down() -> None:
    ticks = [(0.0, 0.0, 300.0, 1), (2.0, 0.0, 1400.0, 5), (4.0, 0.0, 140.0, 20)]
    # 5 -> ceil(1400/70)=20 (20/5 >= 2) -> 20 held although stable wants floor(20/2)=10
    assert [d for d, _ in run(BASE, ticks)] == [5, 20, 20]


def test_scale_down_delay_holds_the_max_for_the_delay() -> None:
    spec = mk(scale_down_delay=10.0)
    # t=0: ceil(350/70) = 5 with R 5. From t=2 load is gone: floor(5/2) = 2 wanted, but the
    # 10 s max window (5 slots of 2 s) holds 5 until slot 0 leaves at t=10.
    ticks = [(float(t), 350.0 if t == 0 else 0.0, 0.0, 5) for t in range(0, 14, 2)]
    assert [d for d, _ in run(spec, ticks)] == [5, 5, 5, 5, 5, 2, 2]
    # Unreachable revisions ignore the delay (and the down rate).
    assert [d for d, _ in run(spec, ticks, reachable=False)] == [5, 0, 0, 0, 0, 0, 0]


def test_reason_names_the_numbers() -> None:
    d, st = decide(BASE, DeciderState(), 150.0, 300.0, 1, now=0.0, reachable=True)
    assert "ceil(300/70)=5" in st.reason
    assert "panic" in d.reason
    _, st2 = decide(BASE, st, 150.0, 300.0, 5, now=2.0, reachable=True)
    assert st2.reason == st.reason  # unchanged desired keeps the reason of the last change
