"""The per-tick KPA decision: Knative's ``Scale()`` as a pure function.

Mirrors knative/serving ``pkg/autoscaler/scaling/autoscaler.go`` (``Scale``, ``newAutoscaler``) and
the decider's initial status in ``multiscaler.go``. No clock, no I/O: the caller passes the window
averages, the ready count and ``now``; the returned state is fed back on the next tick.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from minikn.autoscaler.spec import ScalingSpec
from minikn.autoscaler.window import MaxQueue, max_window_push

__all__ = [
    "DeciderState",
    "Decision",
    "decide",
    "excess_burst_capacity",
    "initial_ebc",
    "initial_state",
]

DELAY_GRANULARITY = 2.0
"""Slot of the scale-down-delay max window: Knative's tick interval."""


class DeciderState(NamedTuple):
    """What one revision's decider carries from tick to tick."""

    desired: int = -1
    """Latest desired scale; -1 = unknown (no decision yet), as Knative's ``DesiredScale``."""
    ebc: float = 0.0
    """Excess burst capacity; negative keeps the activator in the path."""
    panic_time: float | None = None
    """When the panic window last crossed the threshold; None = stable mode."""
    max_panic_pods: int = 0
    delay_maxima: MaxQueue = ()
    """Monotonic (slot, desired) queue of the scale-down-delay window (max at the front)."""
    reason: str = "initial"
    """Why ``desired`` last changed."""


class Decision(NamedTuple):
    """One tick's outcome, with the numbers that led to it (for status and the decision log)."""

    desired: int
    ebc: float
    stable: float
    panic: float
    ready: int
    dspc: int
    dppc: int
    panic_mode: bool
    reason: str
    no_data: bool = False


def initial_ebc(spec: ScalingSpec) -> float:
    """EBC before any decision: TBC if TBC is -1 or 0, else initial-scale x TotalValue - TBC.

    Defaults: 1 x 100 - 211 = -111 (activator in the path).
    """
    tbc = spec.target_burst_capacity
    if tbc in (-1.0, 0.0):
        return tbc
    return spec.initial_scale * spec.total_value - tbc


def excess_burst_capacity(spec: ScalingSpec, *, ready: int, panic: float) -> float:
    """Knative's EBC: floor(ready x TotalValue - TBC - panic); 0 when TBC is 0, -1 when it is -1
    (the activator always in the path). Defaults, 1 ready, panic 0: 100 - 211 = -111."""
    tbc = spec.target_burst_capacity
    if tbc == 0:
        return 0.0
    if tbc > 0:
        return float(math.floor(ready * spec.total_value - tbc - panic))
    return -1.0


def initial_state(spec: ScalingSpec, *, ready: int, now: float) -> DeciderState:
    """A new decider; with more than one ready replica it starts in panic mode holding them.

    Knative's ``newAutoscaler``: metric history is lost on (re)creation, so keep the current scale
    until enough data arrives instead of scaling down on an empty window.
    """
    if ready > 1:
        return DeciderState(ebc=initial_ebc(spec), panic_time=now, max_panic_pods=ready)
    return DeciderState(ebc=initial_ebc(spec))


_STABLE, _ACTIVATION, _PANIC, _PANIC_HOLD, _DELAY = range(5)


def _explain(
    why: int, spec: ScalingSpec, *, stable: float, panic: float, ready: int, dspc: int, dppc: int,
    bounds: tuple[int, int], wanted: int,
) -> str:  # fmt: skip
    target = spec.target_value
    if why == _ACTIVATION:
        return f"activation-scale {spec.activation_scale} (stable wants {dspc})"
    if why == _PANIC:
        return (
            f"panic: ceil({panic:g}/{target:g})={dppc} over {spec.panic_threshold:g}x ready {ready}"
        )
    if why == _PANIC_HOLD:
        return f"panic: holding {wanted} (never scale down while panicking)"
    if why == _DELAY:
        return f"scale-down-delay {spec.scale_down_delay:g}s holds the recent max (wants {wanted})"
    return f"stable: ceil({stable:g}/{target:g})={dspc} within [{bounds[0]}, {bounds[1]}]"


def decide(
    spec: ScalingSpec,
    state: DeciderState,
    stable: float | None,
    panic: float | None,
    ready: int,
    *,
    now: float,
    reachable: bool,
) -> tuple[Decision, DeciderState]:
    """One tick. ``stable``/``panic`` are the window averages, None when there is no data.

    Worked example (defaults, CC=0 -> TargetValue 70): ready 1, stable 150, panic 300 ->
    dspc = ceil(150/70) = 3, dppc = ceil(300/70) = 5; 5/1 >= 2.0 so panic starts and
    desired = max(3, 5) = 5 (within [floor(1/2)=0, ceil(1000x1)=1000]).
    """
    if stable is None or panic is None:
        return (
            Decision(state.desired, state.ebc, 0.0, 0.0, ready, 0, 0, state.panic_time is not None,
                     "no data", no_data=True),
            state,
        )  # fmt: skip
    r = float(max(1, ready))
    max_up = math.ceil(spec.max_scale_up_rate * r)
    max_down = math.floor(r / spec.max_scale_down_rate) if reachable else 0
    target = spec.target_value
    dspc = math.ceil(stable / target)
    dppc = math.ceil(panic / target)
    desired_stable = min(max(dspc, max_down), max_up)
    desired_panic = min(max(dppc, max_down), max_up)
    act = spec.activation_scale
    if act > 1:
        if dspc > 0 and act > desired_stable:
            desired_stable = act
        if dppc > 0 and act > desired_panic:
            desired_panic = act

    over = dppc / r >= spec.panic_threshold
    panic_time, max_panic = state.panic_time, state.max_panic_pods
    if over:
        panic_time = now  # enter, or extend while still over the threshold
    elif panic_time is not None and panic_time + spec.stable_window < now:
        panic_time, max_panic = None, 0  # un-panic a stable window after the last time over it

    desired = desired_stable
    why = _STABLE
    if act > 1 and desired_stable == act and dspc > 0:
        why = _ACTIVATION
    if panic_time is not None:
        desired = max(desired, desired_panic)
        max_panic = max(max_panic, desired)
        why = _PANIC if desired >= max_panic else _PANIC_HOLD
        desired = max_panic
    wanted = desired

    maxima = state.delay_maxima
    if reachable and spec.scale_down_delay > 0:
        maxima, delayed = max_window_push(
            maxima, now, desired, duration=spec.scale_down_delay, granularity=DELAY_GRANULARITY
        )
        if delayed != desired:
            why = _DELAY
            desired = delayed

    ebc = excess_burst_capacity(spec, ready=ready, panic=panic)
    if desired != state.desired:
        # Formatted only on a change: this runs every tick for every revision.
        reason = _explain(
            why, spec, stable=stable, panic=panic, ready=ready, dspc=dspc, dppc=dppc,
            bounds=(max_down, max_up), wanted=wanted,
        )  # fmt: skip
    else:
        reason = state.reason
    new_state = DeciderState(desired, ebc, panic_time, max_panic, maxima, reason)
    decision = Decision(
        desired, ebc, stable, panic, ready, dspc, dppc, panic_time is not None, reason
    )
    return decision, new_state
