"""One revision's scaler, on times it is given: Knative's UniScaler, in a KPA and an HPA flavour.

The live :class:`~minikn.autoscaler.loop.Autoscaler` and the simulator both drive these classes,
so they decide with the same code. Synchronous and clock-free: every call takes ``now``.
:func:`new_scaler` picks the implementation once, from the revision's class; nothing else
branches on it.

Metric source (KPA). minikn has no queue-proxy to scrape: the activator sees every request and
reports per-second stats. Knative's scraper writes a (possibly zero) sample every second while
ready pods exist; to match it, each evaluation with ready replicas first records a 0 for the last
complete second (``now - 1``), so complete seconds without a report read as zero concurrency.
With no ready replica nothing is scraped, as in Knative: the window keeps its stale-tail/partial
rules and an empty window reads 0 (Knative's activator-only behaviour) instead of "no data".
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

from minikn.autoscaler.decide import (
    DeciderState,
    Decision,
    decide,
    excess_burst_capacity,
    initial_state,
)
from minikn.autoscaler.hpa import HpaDecision, HpaState, decide_hpa
from minikn.autoscaler.kpa import KpaState, new_state, reconcile
from minikn.autoscaler.spec import ScalingSpec
from minikn.autoscaler.window import LinearWindow, make_window
from minikn.core.usage import ResourceUsage

__all__ = [
    "HPA_SYNC_PERIOD",
    "Evaluation",
    "HpaScaler",
    "KpaScaler",
    "RevisionScaler",
    "ScalerView",
    "initial_replicas",
    "new_scaler",
    "updated_scaler",
]

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


class ScalerView(NamedTuple):
    """What status and the decision log show of a scaler, whatever its class."""

    stable: float
    """Stable-window average of the metric (HPA: utilization in percent); 0 before a decision."""
    panic: float
    panic_mode: bool
    ebc: float
    active: str
    """The PA Active condition: activating | active | inactive."""
    reason: str
    """Why the desired scale last changed."""
    failed: bool


class RevisionScaler(Protocol):
    """One revision's autoscaler (Knative's ``UniScaler``), whatever its class."""

    @property
    def spec(self) -> ScalingSpec: ...
    @property
    def applied(self) -> int:
        """The replica count last applied."""

    @property
    def desired(self) -> int:
        """The latest desired scale; -1 = unknown."""

    @property
    def last(self) -> Evaluation | None: ...
    @property
    def last_time(self) -> float | None: ...
    @property
    def samples_usage(self) -> bool:
        """Whether :meth:`evaluate` needs the replicas' resource usage."""

    def update(self, spec: ScalingSpec, *, reachable: bool) -> None: ...
    def record(self, t: float, *, concurrency: float, rps: float) -> None: ...
    def wants_poke(self, now: float) -> bool: ...
    def note_poke(self, now: float) -> None: ...
    def evaluate(
        self, now: float, *, ready: int, usage: ResourceUsage | None = None
    ) -> Evaluation: ...
    def view(self) -> ScalerView: ...


class KpaScaler:
    """Knative's KPA for one revision: windows + decider + the PA reconciler."""

    samples_usage = False

    def __init__(
        self, spec: ScalingSpec, *, now: float, reachable: bool = True, ready: int = 0
    ) -> None:
        """A new revision created with its initial scale; replicas already ready (a restart
        adopting them) are kept."""
        self.spec = spec
        self.reachable = reachable
        self.stable_window: LinearWindow = make_window(spec.aggregation, spec.stable_window)
        self.panic_window: LinearWindow = make_window(spec.aggregation, spec.panic_window)
        self.decider: DeciderState = initial_state(spec, ready=ready, now=now)
        replicas = max(initial_replicas(spec, reachable=reachable), ready)
        self.kpa: KpaState = new_state(now=now, replicas=replicas)
        self.last: Evaluation | None = None
        self.last_time: float | None = None

    @classmethod
    def at_rest(cls, spec: ScalingSpec, *, now: float, replicas: int) -> KpaScaler:
        """A routed revision long idle at ``now`` with ``replicas`` ready: where a load test
        finds it. At 0 the PA is Inactive and the desired scale is 0, so the first request pokes;
        above 0 it is Active and holds them (no panic: an idle revision is in stable mode)."""
        scaler = cls(spec, now=now, reachable=True)
        ebc = excess_burst_capacity(spec, ready=replicas, panic=0.0)
        scaler.decider = DeciderState(desired=replicas, ebc=ebc, reason="at rest")
        if replicas:
            proxy_since = now if ebc < 0 else None  # Knative's SKS: Serve only with EBC >= 0
            scaler.kpa = KpaState("active", now, True, proxy_since, replicas, False, "Active")
        else:
            scaler.kpa = KpaState("inactive", now, True, now, 0, False, "NoTraffic")
        return scaler

    @property
    def applied(self) -> int:
        return self.kpa.applied

    @property
    def desired(self) -> int:
        return self.decider.desired

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
        return self.decider.desired <= 0

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
        """Scrape, decide and reconcile at ``now`` with ``ready`` replicas."""
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

    def view(self) -> ScalerView:
        dec = self.last.decision if self.last is not None else None
        stable = dec.stable if dec is not None else 0.0
        return ScalerView(
            stable=stable,
            panic=dec.panic if dec is not None else stable,
            panic_mode=self.decider.panic_time is not None,
            ebc=self.decider.ebc,
            active=self.kpa.active,
            reason=self.decider.reason,
            failed=self.kpa.failed,
        )


class HpaScaler:
    """HPA-style scaling on CPU or memory for one revision: re-decides every sync period."""

    samples_usage = True

    def __init__(
        self, spec: ScalingSpec, *, now: float, reachable: bool = True, ready: int = 0
    ) -> None:
        self.spec = spec
        self.reachable = reachable
        self.state = HpaState()
        self.applied = max(initial_replicas(spec, reachable=reachable), ready)
        self.active = "activating"
        """Activating until the first scale is applied, then Active."""
        self.last: Evaluation | None = None
        self.last_time: float | None = None

    @property
    def desired(self) -> int:
        return self.state.desired

    def update(self, spec: ScalingSpec, *, reachable: bool) -> None:
        self.spec = spec
        self.reachable = reachable

    def record(self, t: float, *, concurrency: float, rps: float) -> None:
        """Request stats do not drive HPA scaling."""

    def wants_poke(self, now: float) -> bool:
        """An HPA revision never sits at zero, so a waiting request never decides at once."""
        return False

    def note_poke(self, now: float) -> None:
        """Nothing to record (see :meth:`wants_poke`)."""

    def evaluate(self, now: float, *, ready: int, usage: ResourceUsage | None = None) -> Evaluation:
        """One HPA sync, or the last one's outcome within the sync period."""
        last, last_time = self.last, self.last_time
        if last is not None and last_time is not None and now - last_time < HPA_SYNC_PERIOD:
            return Evaluation(None, self.state.desired, None, last.hpa, None)
        self.last_time = now
        hd, self.state = decide_hpa(self.spec, self.state, usage or ResourceUsage(), ready, now=now)
        apply = hd.desired if hd.desired != self.applied else None
        if apply is not None:
            self.applied, self.active = apply, "active"
        self.last = Evaluation(apply, hd.desired, None, hd, None)
        return self.last

    def view(self) -> ScalerView:
        hd = self.last.hpa if self.last is not None else None
        util = hd.utilization if hd is not None else 0.0
        return ScalerView(util, util, False, 0.0, self.active, self.state.reason, False)


def new_scaler(
    spec: ScalingSpec, *, now: float, reachable: bool = True, ready: int = 0
) -> RevisionScaler:
    """The scaler of a new revision, by its autoscaling class."""
    cls = HpaScaler if spec.is_hpa else KpaScaler
    return cls(spec, now=now, reachable=reachable, ready=ready)


def updated_scaler(
    scaler: RevisionScaler, spec: ScalingSpec, *, reachable: bool, now: float, ready: int
) -> RevisionScaler:
    """``scaler`` with new settings; a new scaler (adopting the ready replicas) when the class
    changed, as Knative replaces the PodAutoscaler's reconciler."""
    if spec.is_hpa != scaler.spec.is_hpa:
        return new_scaler(spec, now=now, reachable=reachable, ready=ready)
    scaler.update(spec, reachable=reachable)
    return scaler
