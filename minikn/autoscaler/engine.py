"""One revision's autoscaler: windows + decider + KPA reconciler (or HPA), on times it is given.

The live :class:`~minikn.autoscaler.loop.Autoscaler` and the simulator both drive this class, so
they decide with the same code. Synchronous and clock-free: every call takes ``now``.

Metric source. minikn has no queue-proxy to scrape: the activator sees every request and reports
per-second stats. Knative's scraper writes a (possibly zero) sample every second while ready pods
exist; to match it, each evaluation with ready replicas first records a 0 for the last complete
second (``now - 1``), so complete seconds without a report read as zero concurrency. With no
ready replica nothing is scraped, as in Knative: the window keeps its stale-tail/partial rules and
an empty window reads 0 (Knative's activator-only behaviour) instead of "no data".
"""

from __future__ import annotations

from typing import NamedTuple

from minikn.autoscaler.decide import DeciderState, Decision, decide, initial_state
from minikn.autoscaler.hpa import HpaDecision, HpaState, decide_hpa
from minikn.autoscaler.kpa import KpaState, new_state, reconcile
from minikn.autoscaler.spec import ScalingSpec
from minikn.autoscaler.window import LinearWindow, make_window
from minikn.core.usage import ResourceUsage

__all__ = ["HPA_SYNC_PERIOD", "Evaluation", "RevisionEngine", "initial_replicas"]

HPA_SYNC_PERIOD = 15.0
"""Kubernetes' ``--horizontal-pod-autoscaler-sync-period``: HPA revisions re-decide this often."""


def initial_replicas(spec: ScalingSpec, *, reachable: bool) -> int:
    """Replicas a new revision is created with: initial-scale (Knative's deployment replicas),
    raised to min-scale when reachable and capped by max-scale; HPA keeps at least 1."""
    n = spec.initial_scale
    if reachable:
        n = max(n, spec.min_scale)
    if spec.is_hpa:
        n = max(n, 1)
    if spec.max_scale:
        n = min(n, spec.max_scale)
    return n


class Evaluation(NamedTuple):
    """The outcome of one evaluation."""

    apply: int | None
    """Set the revision's replicas to this (None = unchanged)."""
    desired: int
    """The decider's (or HPA's) desired scale; -1 = unknown."""
    decision: Decision | None
    hpa: HpaDecision | None
    requeue_at: float | None
    failed: bool = False
    recovered: bool = False


class RevisionEngine:
    """Scaling state of one revision."""

    def __init__(
        self, spec: ScalingSpec, *, now: float, reachable: bool = True, ready: int = 0
    ) -> None:
        self.spec = spec
        self.reachable = reachable
        self.stable_window: LinearWindow = make_window(spec.aggregation, spec.stable_window)
        self.panic_window: LinearWindow = make_window(spec.aggregation, spec.panic_window)
        self.decider: DeciderState = initial_state(spec, ready=ready, now=now)
        self.kpa: KpaState = new_state(
            now=now, replicas=initial_replicas(spec, reachable=reachable)
        )
        self.hpa = HpaState()
        self.last: Evaluation | None = None
        self.last_time: float | None = None

    @property
    def applied(self) -> int:
        """The replica count last applied."""
        return self.kpa.applied

    @property
    def desired(self) -> int:
        return self.hpa.desired if self.spec.is_hpa else self.decider.desired

    def update(self, spec: ScalingSpec, *, reachable: bool) -> None:
        """New settings for the same revision; windows are rebuilt only if their size changed."""
        if (spec.aggregation, spec.stable_window, spec.panic_window) != (
            self.spec.aggregation,
            self.spec.stable_window,
            self.spec.panic_window,
        ):
            self.stable_window = make_window(spec.aggregation, spec.stable_window)
            self.panic_window = make_window(spec.aggregation, spec.panic_window)
        self.spec = spec
        self.reachable = reachable

    def record(self, t: float, *, concurrency: float, rps: float) -> None:
        """Add one per-second stat of the data path (same-second stats are summed)."""
        value = rps if self.spec.metric == "rps" else concurrency
        self.stable_window.record(t, value)
        self.panic_window.record(t, value)

    def wants_poke(self, now: float) -> bool:
        """Knative's Poke: decide at once when the latest desired scale is 0 (or unknown). A query:
        it changes nothing (see :meth:`note_poke`)."""
        return not self.spec.is_hpa and self.desired <= 0

    def note_poke(self, now: float) -> None:
        """A request waits for this revision: when the panic window holds no demand yet, record
        the waiting request as one (the activator's first stat of it may not have arrived), so
        the decision made on the poke scales from zero.

        Decided by bucket presence, not ``average(now) == 0.0``: the average of an emptied window
        can read -1e-06 (a float residue), which made the poke decide 0 replicas.
        """
        if not self.panic_window.has_signal(now):
            self.record(now, concurrency=1.0, rps=1.0)

    def evaluate(self, now: float, *, ready: int, usage: ResourceUsage | None = None) -> Evaluation:
        """Decide and reconcile at ``now`` with ``ready`` replicas."""
        if self.spec.is_hpa:
            if (
                self.last is not None
                and self.last_time is not None
                and now - self.last_time < HPA_SYNC_PERIOD
            ):
                return Evaluation(None, self.hpa.desired, None, self.last.hpa, None)
            self.last_time = now
            hd, self.hpa = decide_hpa(self.spec, self.hpa, usage or ResourceUsage(), ready, now=now)
            apply = hd.desired if hd.desired != self.kpa.applied else None
            if apply is not None:
                self.kpa = KpaState(
                    active="active", since=now, initialized=True, proxy_since=None, applied=apply
                )
            ev = Evaluation(apply, hd.desired, None, hd, None)
            self.last = ev
            return ev
        self.last_time = now
        if ready > 0:
            # The scraper's sample: every complete second without a report reads as zero.
            self.stable_window.record(now - 1.0, 0.0)
            self.panic_window.record(now - 1.0, 0.0)
        stable = self.stable_window.average(now)
        panic = self.panic_window.average(now)
        decision, self.decider = decide(
            self.spec, self.decider, stable, panic, ready, now=now, reachable=self.reachable
        )
        result, self.kpa = reconcile(
            self.spec,
            self.kpa,
            desired=self.decider.desired,
            ebc=self.decider.ebc,
            ready=ready,
            now=now,
            reachable=self.reachable,
        )
        ev = Evaluation(
            result.apply,
            self.decider.desired,
            decision,
            None,
            result.requeue_at,
            failed=result.failed,
            recovered=result.recovered,
        )
        self.last = ev
        return ev
