"""The live autoscaler: ticks every 2 s on the injected clock, decides at once on a poke.

Implements :class:`~minikn.core.endpoints.StatsSink` (the activator's per-second stats) and
:class:`~minikn.core.endpoints.ScalePoker` (a request is waiting for a revision at zero). Each
revision's math lives in a :class:`~minikn.autoscaler.engine.RevisionScaler` (KPA or HPA); this
module only reads
the clock, talks to the :class:`Scaler` (the replica manager) and reports.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from minikn.autoscaler.engine import (
    Evaluation,
    KpaScaler,
    RevisionScaler,
    new_scaler,
    updated_scaler,
)
from minikn.autoscaler.spec import ScalingSpec, build_spec
from minikn.autoscaler.window import ZeroReports
from minikn.config.loader import Settings
from minikn.core.cadence import TICK_INTERVAL, next_beat
from minikn.core.clock import Clock
from minikn.core.endpoints import RevisionStats
from minikn.core.listeners import RevisionListener
from minikn.core.revision import RevisionSpec
from minikn.core.usage import ResourceUsage
from minikn.telemetry.autoscaler_metrics import RevisionGauges
from minikn.telemetry.metrics import Metrics

__all__ = [
    "TICK_INTERVAL",
    "Autoscaler",
    "ReplicaCounts",
    "ResourceUsage",
    "Scaler",
    "ScalerStatus",
]


log = logging.getLogger("minikn.autoscaler")


class ReplicaCounts(Protocol):
    """The part of the replica manager's ``ReplicaSetStatus`` the autoscaler reads."""

    @property
    def pending(self) -> int:
        """Replicas created but not ready yet."""


class Scaler(Protocol):
    """Where decisions go (the replica manager)."""

    def ready_count(self, revision: str) -> int: ...
    def set_desired(self, revision: str, replicas: int) -> None: ...
    def usage(self, revision: str) -> ResourceUsage: ...
    def status(self, revision: str) -> ReplicaCounts: ...


@dataclass(frozen=True, slots=True)
class ScalerStatus:
    """What ``describe`` and the API show for one revision."""

    revision: str
    autoscaler_class: str
    metric: str
    desired: int
    """Replicas asked of the scaler (the last applied scale)."""
    ready: int
    pending: int
    stable: float
    """Average of the metric over the stable window (HPA: utilization in percent)."""
    panic: float
    target: float
    panic_mode: bool
    excess_burst_capacity: float
    active: str
    """The PA Active condition: activating | active | inactive."""
    reason: str
    """Why the desired scale last changed."""
    last_decision: float | None
    """Wall-clock Unix seconds of the last decision."""
    failed: bool


_FORGET_EVERY = 600
"""Reports of idle zeros kept before every window catches up and they are forgotten (a sweep
every 10 minutes: a replay per revision, each a few microseconds once the window is cold)."""


@dataclass(slots=True)
class _Entry:
    scaler: RevisionScaler
    labels: tuple[str, str, str]
    gauges: RevisionGauges
    """Its row of the autoscaler's gauges (rendered at scrape time)."""
    zeros_seen: int = 0
    """The first idle-zero report (:class:`ZeroReports` number) its windows have not recorded."""


class Autoscaler:
    """Knative's KPA (and HPA-style scaling) for every live revision."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock,
        scaler: Scaler,
        listener: RevisionListener,
        metrics: Metrics,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._scaler = scaler
        self._listener = listener
        self._metrics = metrics
        self._entries: dict[str, _Entry] = {}
        self._idle: set[str] = set()
        """Revisions settled at zero: their tick would decide nothing new (see ``_settled``)."""
        self._awake: dict[str, None] = {}
        """Every other revision, in the order they woke (what a tick evaluates)."""
        self._overdue: set[str] = set()
        """Revisions whose timer was already due when an evaluation left it unchanged: a timer
        wake pops what it evaluates, so such a timer may be in the heap no more."""
        self._timers: list[tuple[float, str]] = []
        """Heap of (requeue_at, revision) set by evaluations; an entry whose revision's current
        ``requeue_at`` differs is stale and dropped when it reaches the top."""
        self._zeros = ZeroReports()
        """The activator's zeros for idle revisions (:meth:`record_all`), recorded lazily."""

    # -- revisions -------------------------------------------------------------------------

    def scaling_spec(self, spec: RevisionSpec) -> ScalingSpec:
        """The resolved scaling settings of ``spec``."""
        res = spec.container.resources
        return build_spec(
            spec.name,
            spec.annotations,
            container_concurrency=spec.container_concurrency,
            config=self._settings.autoscaler,
            progress_deadline=self._settings.deployment.progress_deadline,
            cpu_request=res.cpu,
            memory_request=res.memory,
        )

    def upsert(self, spec: RevisionSpec, *, routable: bool) -> None:
        """Start scaling a revision (created with its initial scale) or update its settings."""
        ss = self.scaling_spec(spec)
        now = self._clock.monotonic()
        ready = self._scaler.ready_count(spec.name)
        entry = self._entries.get(spec.name)
        if entry is not None:
            self._wake(spec.name)
            self._catch_up(entry)
            entry.scaler = updated_scaler(
                entry.scaler, ss, reachable=routable, now=now, ready=ready
            )
            return
        scaler = new_scaler(ss, now=now, reachable=routable, ready=ready)  # adopts ready replicas
        labels = (spec.namespace, spec.isvc, spec.name)
        entry = _Entry(scaler, labels, self._metrics.autoscaler.series(*labels), self._zeros.seq)
        self._entries[spec.name] = entry
        self._wake(spec.name)
        replicas = scaler.applied
        log.info(
            "revision %s: created, %d replicas (class %s, metric %s, target %g, routable %s)",
            spec.name, replicas, ss.autoscaler_class, ss.metric, ss.target_value, routable,
        )  # fmt: skip
        self._scaler.set_desired(spec.name, replicas)
        self._counts(entry, spec.name, ready)
        entry.gauges.desired, entry.gauges.target = replicas, ss.target_value  # before a tick
        if replicas == 0 and ss.initial_scale == 0:
            # Knative: with allow-zero-initial-scale a revision that starts at zero is Ready
            # without a pod (its scale target is reached); the route may then send it traffic,
            # and the first request wakes it through the activator.
            self._listener.revision_ready(spec.name)

    def remove(self, revision: str) -> None:
        """Stop scaling ``revision`` and drop its gauges."""
        entry = self._entries.pop(revision, None)
        self._idle.discard(revision)
        self._awake.pop(revision, None)
        self._overdue.discard(revision)
        if entry is None:
            return
        self._metrics.autoscaler.remove(*entry.labels)

    # -- data path -------------------------------------------------------------------------

    def record(self, stats: RevisionStats) -> None:
        """A per-second stat; a non-zero one for a revision at zero decides at once (Poke)."""
        entry = self._entries.get(stats.revision)
        if entry is None:
            return
        self._catch_up(entry)
        if stats.concurrency != 0 or stats.rps != 0:
            # A zero stat (the activator reports every revision each second) adds no signal:
            # a revision settled at zero stays settled (see ``_settled``).
            self._wake(stats.revision)
        entry.scaler.record(stats.time, concurrency=stats.concurrency, rps=stats.rps)
        if stats.concurrency > 0 and entry.scaler.desired == 0:
            self._evaluate(stats.revision, entry, self._clock.monotonic())

    def record_all(self, time: float, stats: Sequence[RevisionStats]) -> None:
        """One report of the activator: ``stats`` for the revisions it names, and a zero stat at
        ``time`` for every other revision, as if each came through :meth:`record`.

        The zeros cost nothing per revision here: they are kept once (:class:`ZeroReports`) and
        a revision's windows record them, with the same effect, the next time they are read or
        written (a stat, a poke, an evaluation, new settings). Every ``_FORGET_EVERY`` reports
        every revision catches up and the kept reports are dropped."""
        zeros = self._zeros
        seq = zeros.seq
        for stat in stats:
            self.record(stat)
            entry = self._entries.get(stat.revision)
            if entry is not None:
                entry.zeros_seen = seq + 1  # this report gave it a stat, not a zero
        zeros.append(time)
        if zeros.seq % _FORGET_EVERY == 0:
            for entry in self._entries.values():
                self._catch_up(entry)
            zeros.forget()

    def _catch_up(self, entry: _Entry) -> None:
        """Record the idle zeros the revision's windows have not seen yet."""
        zeros = self._zeros
        seq = zeros.seq
        if entry.zeros_seen == seq:
            return
        scaler = entry.scaler
        if isinstance(scaler, KpaScaler):  # an HPA scaler records no request stats
            zeros.replay(scaler.stable_window, entry.zeros_seen)
            zeros.replay(scaler.panic_window, entry.zeros_seen)
        entry.zeros_seen = seq

    def poke(self, revision: str) -> None:
        """A request waits for ``revision``: when its desired scale is 0, decide now."""
        entry = self._entries.get(revision)
        if entry is None:
            return
        self._catch_up(entry)
        self._wake(revision)
        now = self._clock.monotonic()
        if entry.scaler.wants_poke(now):
            entry.scaler.note_poke(now)
            self._evaluate(revision, entry, now)

    def replicas_changed(self, revision: str) -> None:
        """Readiness changed (the replica manager's ``endpoints_changed``): the ready and pending
        gauges follow at once instead of at the next tick."""
        entry = self._entries.get(revision)
        if entry is not None:
            self._wake(revision)
            self._counts(entry, revision, self._scaler.ready_count(revision))

    # -- status ----------------------------------------------------------------------------

    def status(self, revision: str) -> ScalerStatus | None:
        entry = self._entries.get(revision)
        if entry is None:
            return None
        scaler = entry.scaler
        view = scaler.view()
        return ScalerStatus(
            revision=revision,
            autoscaler_class=scaler.spec.autoscaler_class,
            metric=scaler.spec.metric,
            desired=scaler.applied,
            ready=self._scaler.ready_count(revision),
            pending=self._scaler.status(revision).pending,
            stable=view.stable,
            panic=view.panic,
            target=scaler.spec.target_value,
            panic_mode=view.panic_mode,
            excess_burst_capacity=view.ebc,
            active=view.active,
            reason=view.reason,
            last_decision=self._wall(scaler.last_time),
            failed=view.failed,
        )

    def _wall(self, t: float | None) -> float | None:
        if t is None:
            return None
        return self._clock.time() - (self._clock.monotonic() - t)

    # -- the loop --------------------------------------------------------------------------

    async def run(self, anchor: float | None = None) -> None:
        """Tick every 2 s (and wake at the KPA's timers) until cancelled: at ``anchor + 2k``
        from the first of them after now (default anchor: now; see :mod:`minikn.core.cadence`)."""
        clock = self._clock
        now = clock.monotonic()
        next_tick = next_beat(now if anchor is None else anchor, TICK_INTERVAL, now)
        while True:
            now = clock.monotonic()
            timer = self._next_timer(now)
            wake = next_tick if timer is None else min(next_tick, timer)
            await clock.sleep(wake - now)
            now = clock.monotonic()
            if now >= next_tick:
                while next_tick <= now:
                    next_tick += TICK_INTERVAL
                self.tick(now)
            else:
                for name in self._due_timers(now):
                    entry = self._entries.get(name)
                    if entry is not None:
                        self._evaluate(name, entry, now)

    def _timer_of(self, name: str) -> float | None:
        entry = self._entries.get(name)
        last = None if entry is None else entry.scaler.last
        return None if last is None else last.requeue_at

    def _next_timer(self, now: float) -> float | None:
        """The earliest current timer after ``now`` (stale heap entries are dropped; due ones,
        which the next wake-up evaluates, are kept)."""
        heap, due, found = self._timers, [], None
        while heap:
            t, name = heap[0]
            if self._timer_of(name) != t:
                heapq.heappop(heap)
            elif t <= now:
                due.append(heapq.heappop(heap))
            else:
                found = t
                break
        for item in due:
            heapq.heappush(heap, item)
        return found

    def _due_timers(self, now: float) -> list[str]:
        """Revisions whose current timer is due by ``now``, each once (popped from the heap)."""
        heap, names = self._timers, dict[str, None]()
        while heap and heap[0][0] <= now:
            t, name = heapq.heappop(heap)
            if self._timer_of(name) == t:
                names[name] = None
        return list(names)

    def tick(self, now: float) -> None:
        """Decide for every revision at ``now``, except those settled at zero whose timer (if
        any) is not due: thousands of idle revisions cost nothing here (a tick walks the awake
        ones, and the timer heap for settled ones whose timer is due). Each revision's decision
        reads and changes only its own state, so the order they are decided in changes
        nothing."""
        entries, idle = self._entries, self._idle
        names = list(self._awake)
        for name in dict.fromkeys([*self._due_now(now), *self._overdue]):
            if name in idle:
                last = entries[name].scaler.last
                if last is not None and last.requeue_at is not None and last.requeue_at <= now:
                    names.append(name)  # settled, and its timer is due
        for name in names:
            entry = entries.get(name)
            if entry is not None:
                self._evaluate(name, entry, now)

    def _due_now(self, now: float) -> list[str]:
        """Revisions whose current timer is in the heap and due by ``now``, each once; unlike
        :meth:`_due_timers` the heap keeps them (stale entries on the way are dropped)."""
        heap, due = self._timers, dict[tuple[float, str], None]()
        while heap and heap[0][0] <= now:
            t, name = heapq.heappop(heap)
            if self._timer_of(name) == t:
                due[(t, name)] = None
        for item in due:
            heapq.heappush(heap, item)
        return list(dict.fromkeys(name for _, name in due))

    def _wake(self, name: str) -> None:
        """``name`` is no longer settled: ticks decide for it again."""
        self._idle.discard(name)
        self._awake[name] = None

    def _evaluate(self, name: str, entry: _Entry, now: float) -> None:
        self._catch_up(entry)
        eng = entry.scaler
        before_desired, before_applied = eng.desired, eng.applied
        before_timer = None if eng.last is None else eng.last.requeue_at
        before = (eng.decider, eng.kpa) if isinstance(eng, KpaScaler) else None
        try:
            ready = self._scaler.ready_count(name)
            usage = self._scaler.usage(name) if eng.samples_usage else None
            ev = eng.evaluate(now, ready=ready, usage=usage)
            if ev.apply is not None:
                self._scaler.set_desired(name, ev.apply)
        except Exception:
            log.exception("revision %s: autoscaler evaluation failed", name)
            return
        if ev.desired != before_desired or eng.applied != before_applied:
            self._log(name, eng, ev, ready, before_applied)
        if ev.failed:
            msg = (
                f"revision {name} did not become ready within the progress deadline "
                f"({eng.spec.progress_deadline:g}s); scaled to zero"
            )
            log.warning("revision %s: ProgressDeadlineExceeded: %s", name, msg)
            self._listener.revision_failed(name, "ProgressDeadlineExceeded", msg)
        if ev.recovered:
            self._listener.revision_recovered(name)
        timer = None if eng.last is None else eng.last.requeue_at
        if timer is not None and timer != before_timer:
            heapq.heappush(self._timers, (timer, name))
        if timer is not None and timer == before_timer and timer <= now:
            self._overdue.add(name)  # due, and maybe no longer in the heap (see ``tick``)
        else:
            self._overdue.discard(name)
        self._gauges(entry, ev, ready)
        self._counts(entry, name, ready)
        if _settled(eng, ev, before, ready, now):
            self._idle.add(name)
            self._awake.pop(name, None)
        else:
            self._wake(name)

    def _log(self, name: str, eng: RevisionScaler, ev: Evaluation, ready: int, before: int) -> None:
        d = ev.decision
        if d is not None:
            view = eng.view()
            log.info(
                "revision %s: desired %d, replicas %d -> %d (%s; stable %.3f panic %.3f target "
                "%g ready %d panic-mode %s ebc %g pa %s)",
                name, ev.desired, before, eng.applied, view.reason, d.stable, d.panic,
                eng.spec.target_value, ready, d.panic_mode, d.ebc, view.active,
            )  # fmt: skip
        elif ev.hpa is not None:
            log.info(
                "revision %s: replicas %d -> %d (%s; %s utilization %.1f%% target %g%% ready %d)",
                name, before, eng.applied, ev.hpa.reason, eng.spec.metric, ev.hpa.utilization,
                eng.spec.target_value, ready,
            )  # fmt: skip

    def _counts(self, entry: _Entry, revision: str, ready: int) -> None:
        row = entry.gauges
        row.actual = ready
        row.pending = self._scaler.status(revision).pending

    def _gauges(self, entry: _Entry, ev: Evaluation, ready: int) -> None:
        row, eng = entry.gauges, entry.scaler
        row.desired = eng.applied
        row.target = eng.spec.target_value
        d = ev.decision
        if d is not None:
            row.stable = d.stable
            row.panic = d.panic
            row.panic_mode = 1 if d.panic_mode else 0
            row.ebc = d.ebc


def _settled(eng: RevisionScaler, ev: Evaluation, before: object, ready: int, now: float) -> bool:
    """Nothing will change for this revision until a stat, a poke, new settings or a replica
    arrives: a KPA revision at zero with no replica, no demand in its windows, no timer, whose
    evaluation left its state as it was (``before``: its decider and KPA state), so the next tick,
    on the same inputs, would too. A timer it set (``requeue_at``) still wakes it: ``tick``
    evaluates it once the timer is due. HPA revisions re-decide every sync period: never settled."""
    return (
        isinstance(eng, KpaScaler)
        and ready == 0
        and eng.applied == 0
        and eng.desired == 0
        and ev.apply is None
        and not ev.failed
        and not ev.recovered
        and (eng.decider, eng.kpa) == before
        and not eng.stable_window.has_signal(now)
        and not eng.panic_window.has_signal(now)
    )
