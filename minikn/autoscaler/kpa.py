"""From the decider's desired scale to replicas: Knative's KPA reconciler as a pure function.

Mirrors knative/serving ``pkg/reconciler/autoscaling/kpa/scaler.go`` (``scale``,
``handleScaleToZero``, ``applyBounds``) and ``kpa.go`` (``computeActiveCondition``,
``activeThreshold``, the SKS mode). Knative reconciles on every decider change, on PA status
changes and on timers; :func:`reconcile` runs those passes to a fixed point and returns the
earliest timer (``requeue_at``) for the caller to wake at.

The SKS (activator in the path or not). minikn's activator is always in front of the replicas and
can always buffer, so there is no activator probe to wait for (Knative's probe of the public
service always succeeds here). The *mode* is still tracked exactly as Knative computes it --
Serve when ``want > 0`` and ``EBC >= 0``, otherwise Proxy -- because it decides how long the last
replica stays: a revision that has been in Proxy for a grace period goes to zero at once (the
"fast path"); one that was in Serve waits up to the grace period after becoming inactive.

Activation failure: a revision that stays Activating (want > 0, ready below the threshold) longer
than progress-deadline + 30 s (Knative's ``activationTimeoutBuffer``) is scaled to zero and
reported failed with reason ``ProgressDeadlineExceeded``.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

from minikn.autoscaler.spec import ScalingSpec

__all__ = ["ACTIVATION_TIMEOUT_BUFFER", "KpaResult", "KpaState", "new_state", "reconcile"]

ACTIVATION_TIMEOUT_BUFFER = 30.0
"""Knative's ``activationTimeoutBuffer`` added to the progress deadline."""

Active = Literal["activating", "active", "inactive"]


class KpaState(NamedTuple):
    """The PodAutoscaler status minikn keeps per revision."""

    active: Active = "activating"
    """The PA ``Active`` condition: Unknown (activating), True, False."""
    since: float = 0.0
    """When ``active`` last changed."""
    initialized: bool = False
    """``ScaleTargetInitialized``: the initial scale was reached once."""
    proxy_since: float | None = 0.0
    """Since when the SKS is in Proxy mode; None while in Serve."""
    applied: int = -1
    """The replica count last applied (the deployment's ``replicas``); -1 = none yet."""
    failed: bool = False
    """Activation timed out (reported once)."""
    reason: str = "Queued"


class KpaResult(NamedTuple):
    """What to do now."""

    apply: int | None
    """Set the replica count to this; None = leave it."""
    want: int
    requeue_at: float | None
    failed: bool = False
    """Activation timed out on this pass: report ``ProgressDeadlineExceeded``."""
    recovered: bool = False
    """A revision reported failed became active: report it recovered."""


def _bounds(spec: ScalingSpec, state: KpaState, reachable: bool) -> tuple[int, int]:
    # min-scale and initial-scale are ignored while the revision is unreachable (no route).
    lo = spec.min_scale if reachable else 0
    if reachable and spec.initial_scale > 1 and not state.initialized:
        lo = max(lo, spec.initial_scale)
    return lo, spec.max_scale


def _threshold(spec: ScalingSpec, state: KpaState, reachable: bool) -> int:
    lo = spec.min_scale if reachable else 0
    if not state.initialized:
        return max(lo, spec.initial_scale)
    return max(lo, 1)


def _to_zero(
    spec: ScalingSpec, state: KpaState, now: float
) -> tuple[int, bool, float | None, bool]:
    """(want, apply?, requeue_at, timed out) when the bounded want is 0 (``handleScaleToZero``)."""
    if not spec.enable_scale_to_zero:
        return 1, True, None, False
    if state.active == "activating":
        timeout = spec.progress_deadline + ACTIVATION_TIMEOUT_BUFFER
        if now - state.since > timeout:
            return 0, True, None, True
        return -1, False, state.since + timeout, False
    if state.active == "active":
        active_for = now - state.since
        if active_for >= spec.stable_window:
            # (0, don't apply): the PA turns Inactive; the scale-down happens on the next pass.
            return 0, False, None, False
        return 1, True, state.since + spec.stable_window, False
    inactive_for = now - state.since
    retention = spec.scale_to_zero_retention
    if inactive_for >= max(spec.scale_to_zero_grace, retention):
        return 0, True, None, False
    if inactive_for < retention:
        return 0, False, state.since + retention, False
    if state.proxy_since is not None:
        if now - state.proxy_since >= spec.scale_to_zero_grace:
            return 0, True, None, False  # the fast path: Proxy for a grace period already
        return 0, False, state.proxy_since + spec.scale_to_zero_grace, False
    return 0, False, state.since + spec.scale_to_zero_grace, False


def _pass(
    spec: ScalingSpec, state: KpaState, *, desired: int, ebc: float, ready: int, now: float,
    reachable: bool,
) -> tuple[KpaResult, KpaState]:  # fmt: skip
    want, do_apply, requeue, timed_out = desired, True, None, False
    if desired < 0 and state.active != "activating":
        do_apply = False  # metrics are not collected yet
    else:
        lo, hi = _bounds(spec, state, reachable)
        want = max(want, lo)
        if hi and want > hi:
            want = hi
        if want == 0:
            want, do_apply, requeue, timed_out = _to_zero(spec, state, now)
        if want < 0:
            do_apply = False
    apply = want if do_apply and want != state.applied else None
    applied = want if do_apply else state.applied

    # computeActiveCondition
    threshold = _threshold(spec, state, reachable)
    initialized = state.initialized or ready >= threshold
    active, reason = state.active, state.reason
    if want == 0 or threshold == 0:
        if active == "activating" and threshold > 0:
            active, reason = "inactive", "TimedOut"
        else:
            active, reason = "inactive", "NoTraffic"
    elif ready < threshold:
        if want > 0 or active != "inactive":
            active, reason = "activating", "Queued"
        else:
            active, reason = "inactive", "NoTraffic"
    elif want > 0 or active != "inactive":
        active, reason = "active", "Active"
    since = now if active != state.active else state.since
    timeout = spec.progress_deadline + ACTIVATION_TIMEOUT_BUFFER
    if active == "activating" and now - since > timeout:
        timed_out = True  # still not ready: the deployment's progress deadline has passed
    elif active == "activating" and requeue is None and want > 0:
        requeue = since + timeout
    failed = (state.failed or timed_out) and active != "active"
    serve = want > 0 and ebc >= 0
    proxy_since = None if serve else (state.proxy_since if state.proxy_since is not None else now)
    new = KpaState(active, since, initialized, proxy_since, applied, failed, reason)
    return (
        KpaResult(
            apply,
            want,
            requeue,
            failed=failed and not state.failed,
            recovered=state.failed and not failed,
        ),
        new,
    )


def reconcile(
    spec: ScalingSpec,
    state: KpaState,
    *,
    desired: int,
    ebc: float,
    ready: int,
    now: float,
    reachable: bool,
) -> tuple[KpaResult, KpaState]:
    """Reconcile until the PA status stops changing (Knative re-reconciles on its own updates).

    Worked example (defaults, last request at t0): the decider reaches 0 at ~t0+60 s; the PA has
    been Active longer than the 60 s stable window, so pass 1 marks it Inactive (want 0, not
    applied); pass 2 finds the SKS in Proxy for >= 30 s (EBC = 1x100-211 < 0 kept it there) and
    applies 0 at once. A revision that was in Serve would wait until 30 s after turning Inactive.
    """
    apply: int | None = None
    failed = recovered = False
    result = KpaResult(None, desired, None)
    for _ in range(4):
        result, new = _pass(
            spec, state, desired=desired, ebc=ebc, ready=ready, now=now, reachable=reachable
        )
        apply = result.apply if result.apply is not None else apply
        failed, recovered = failed or result.failed, recovered or result.recovered
        changed = new.active != state.active
        state = new
        if not changed:
            break
    if apply is result.apply and failed is result.failed and recovered is result.recovered:
        return result, state
    return KpaResult(apply, result.want, result.requeue_at, failed, recovered), state


def new_state(*, now: float, replicas: int) -> KpaState:
    """A new PA: Activating since ``now``, in Proxy, the deployment created with ``replicas``."""
    return KpaState(since=now, proxy_since=now, applied=replicas)
