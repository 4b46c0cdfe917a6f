"""From desired scale to replicas (Knative's kpa scaler.go/kpa.go), driven through the engine with
2 s ticks; expected times derived in each test from knative.md sections 1.6-1.7."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from minikn.autoscaler.engine import KpaScaler, initial_replicas
from minikn.autoscaler.kpa import KpaState, reconcile
from minikn.autoscaler.spec import ScalingSpec, build_spec
from minikn.config.autoscaler import AutoscalerConfig

BASE = build_spec("r-1", {}, container_concurrency=0, config=AutoscalerConfig())


def mk(**kw: Any) -> ScalingSpec:
    return replace(BASE, **kw)


def drive(
    spec: ScalingSpec,
    *,
    load_until: int = 30,
    concurrency: float = 10.0,
    end: int = 200,
    ready_fn: Any = None,
    reachable: bool = True,
) -> tuple[KpaScaler, list[tuple[int, int]], list[int]]:
    """Stats each second (``concurrency`` for 1..load_until), ticks every 2 s; ready follows the
    applied scale unless ``ready_fn(t, applied)`` says otherwise. Returns the applies and the
    ticks at which a failure was reported."""
    eng = KpaScaler(spec, now=0.0, reachable=reachable)
    applies: list[tuple[int, int]] = []
    failures: list[int] = []
    for t in range(1, end + 1):
        if t <= load_until:
            eng.record(float(t), concurrency=concurrency, rps=concurrency)
        if t % 2 == 0:
            ready = ready_fn(t, eng.applied) if ready_fn else eng.applied
            ev = eng.evaluate(float(t), ready=ready)
            if ev.apply is not None:
                applies.append((t, ev.apply))
            if ev.failed:
                failures.append(t)
    return eng, applies, failures


def test_scale_to_zero_after_the_stable_window_when_already_in_proxy() -> None:
    # Last load second 30 leaves the 60 s window at t=90 -> desired 0. The PA has been Active
    # for more than 60 s -> Inactive; EBC = 1x100-211 < 0 kept the SKS in Proxy for >= 30 s ->
    # the fast path scales to 0 on the same tick (knative.md 1.7: ~60-62 s after the last request).
    eng, applies, _ = drive(BASE)
    assert applies == [(90, 0)]
    assert eng.kpa.active == "inactive"
    assert eng.kpa.reason == "NoTraffic"


def test_scale_to_zero_waits_the_grace_period_when_the_sks_was_serving() -> None:
    # TBC 0 -> EBC 0 >= 0 -> Serve while want > 0. Inactive at t=90, Proxy since 90, then
    # max(grace 30, retention 0) inactive -> scale to 0 at t=120.
    spec = mk(target_burst_capacity=0.0)
    eng = KpaScaler(spec, now=0.0)
    result = None
    for t in range(1, 121):
        if t <= 30:
            eng.record(float(t), concurrency=10.0, rps=10.0)
        if t % 2 == 0:
            ev = eng.evaluate(float(t), ready=eng.applied)
            if t == 90:
                result = ev
            if ev.apply is not None:
                assert (t, ev.apply) == (120, 0)
    assert result is not None
    assert result.apply is None
    assert result.requeue_at == 120.0
    assert eng.applied == 0


def test_retention_period_is_a_hard_lower_bound() -> None:
    # Inactive at t=90; retention 45 s -> not before 135 (requeued exactly there); the 2 s
    # ticks alone apply it at 136.
    spec = mk(scale_to_zero_retention=45.0)
    _, applies, _ = drive(spec)
    assert applies == [(136, 0)]
    state = KpaState(active="inactive", since=90.0, initialized=True, proxy_since=0.0, applied=1)
    res, _ = reconcile(spec, state, desired=0, ebc=-211.0, ready=1, now=100.0, reachable=True)
    assert (res.apply, res.requeue_at) == (None, 135.0)


def test_a_new_revision_without_traffic_is_kept_a_stable_window_after_it_got_ready() -> None:
    # No load at all: desired 0 from the first tick; active since t=2 (first ready tick) ->
    # keep 1 (re-enqueued at 62) -> inactive at 62 and, in Proxy since creation, 0 at once.
    _, applies, _ = drive(BASE, load_until=0, end=100)
    assert applies == [(62, 0)]


def test_enable_scale_to_zero_false_keeps_one() -> None:
    _, applies, _ = drive(mk(enable_scale_to_zero=False))
    assert applies == []


def test_min_scale_holds_when_reachable_and_is_ignored_when_not() -> None:
    # min 2: created with max(initial 1, min 2) = 2, never below.
    spec = mk(min_scale=2)
    assert initial_replicas(spec, reachable=True) == 2
    eng, applies, _ = drive(spec)
    assert applies == []
    assert eng.applied == 2
    # Unreachable: min ignored, no down-rate limit -> 0 after the window like any idle revision.
    assert initial_replicas(spec, reachable=False) == 1
    _, applies, _ = drive(spec, reachable=False)
    assert applies == [(90, 0)]


def test_max_scale_caps_the_decision() -> None:
    # 700 concurrency -> ceil(700/70) = 10 wanted, max-scale 3.
    eng, applies, _ = drive(mk(max_scale=3), concurrency=700.0, load_until=10, end=10)
    assert applies[0][1] == 3
    assert eng.decider.desired == 10


def test_initial_scale_is_kept_until_reached_once() -> None:
    # initial 3: created with 3; while fewer than 3 are ready min is raised to 3 (the idle
    # decider wants floor(3/2) = 1). At t=10 three are ready: the pass marks the target
    # initialized (and the PA Active), and the re-reconcile that status change triggers drops
    # the initial-scale floor -> 1 on the same tick.
    spec = mk(initial_scale=3)
    assert initial_replicas(spec, reachable=True) == 3
    _, applies, _ = drive(spec, load_until=0, end=12, ready_fn=lambda t, a: 3 if t >= 10 else 1)
    assert applies == [(10, 1)]


def test_activation_failure_scales_to_zero_after_the_progress_deadline() -> None:
    # Ready never: the poked request keeps concurrency 1 for 10 s. The revision is Activating
    # since t=0; after progress-deadline 600 + 30 s buffer (strictly more: t=632) it is reported
    # failed and, desired being 0 by then, scaled to 0.
    _, applies, failures = drive(BASE, load_until=10, concurrency=1.0, end=700,
                                 ready_fn=lambda t, a: 0)  # fmt: skip
    assert applies == [(632, 0)]
    assert failures == [632]


def test_progress_deadline_annotation_shortens_the_wait() -> None:
    spec = build_spec(
        "r-1",
        {"serving.knative.dev/progress-deadline": "100s"},
        container_concurrency=0,
        config=AutoscalerConfig(),
    )
    _, applies, failures = drive(spec, load_until=10, concurrency=1.0, end=300,
                                 ready_fn=lambda t, a: 0)  # fmt: skip
    assert applies == [(132, 0)]
    assert failures == [132]


def test_a_failed_revision_recovers_when_it_becomes_active() -> None:
    state = KpaState(active="inactive", since=0.0, failed=True, applied=0, reason="TimedOut")
    res, st = reconcile(BASE, state, desired=1, ebc=-111.0, ready=0, now=10.0, reachable=True)
    assert (res.apply, st.active, st.failed) == (1, "activating", True)
    res, st = reconcile(BASE, st, desired=1, ebc=-111.0, ready=1, now=12.0, reachable=True)
    assert res.recovered
    assert st.active == "active"
    assert not st.failed


def test_changing_the_window_rebuilds_the_windows_and_keeps_the_rest() -> None:
    eng = KpaScaler(BASE, now=0.0)
    eng.record(1.0, concurrency=10.0, rps=1.0)
    same = eng.stable_window
    eng.update(mk(target_value=7.0), reachable=False)
    assert eng.stable_window is same
    assert not eng.reachable
    eng.update(mk(stable_window=120.0, panic_window=12.0), reachable=True)
    assert eng.stable_window is not same
    assert eng.stable_window.size == 120
    assert eng.panic_window.size == 12
