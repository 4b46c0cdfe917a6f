"""Replay a request trace on a virtual clock through the real autoscaler code.

Event-driven (one heap of timed events, no asyncio): request arrivals, completions, replicas
becoming ready, the activator's 1-second stat reports, the autoscaler's 2-second ticks and one
output row per second. The autoscaler is the same :class:`~minikn.autoscaler.engine.KpaScaler`
the live loop uses. The data path is modelled as minikn's activator: one FIFO buffer in front of
the replicas; a replica takes at most ``containerConcurrency`` requests at once (unlimited when
0); a request for a revision with no ready replica pokes the autoscaler, and so does a non-zero
stat for a revision whose desired scale is 0 (the live loop's ``record``). Stats report, each
second, the time-weighted number of requests in the system (buffered + in service) and the
arrivals. Each request may carry a per-request overhead: the proxying and client time the
platform adds to the service time; it holds the replica slot and counts as concurrency. The
activator has two lanes, and so has the overhead: ``overhead`` for a request that finds a free
slot (the fast lane, sent at once), ``buffered_overhead`` for one handed a slot from the buffer
(its coroutine wakes on a loop busy with the backlog; on the 2-core machine about 45 ms against
10 ms).

The activator's reports, as the platform makes them (:mod:`minikn.activator.accounting`): every
revision gets a report every second, a zero while it is idle, from the moment it exists. So a
revision at rest has a window full of zeros: the first demand of a cold start is averaged over the
whole panic window (6 s by default), not over the one second since the first request. (Knative's
activator sends a revision's zero report once and then nothing, so its windows empty out and the
first demand reads undiluted; the platform differs, and the simulator follows the platform.)

Timing (:class:`SimTiming`). On the platform the tick and the stats reports run on one grid
(:mod:`minikn.core.cadence`), started with the platform, not with the first request: ticks every
2 s on a whole second of the clock, a report 50 ms before each tick and one between ticks. So
the first tick comes somewhere in (0, 2] s after the trace starts, and that one phase sets the
report's and the clock's (the windows bucket samples by the clock's whole second: the poke's
sample and the first report share a bucket or not). ``SimTiming()`` is the ideal (2 s, 1 s, on
a whole second); :meth:`SimTiming.draw` draws the phase, and the CLI reports the range over
several draws. The tick loop keeps its 2-second schedule but each tick runs a little after it on
a busy event loop (``tick_lateness``: a few ms, up to tens of ms on a loaded 2-core machine); a
replica asked for at a late tick is ready that much later.

Handover (``handover``). A replica counts as ready (for the autoscaler, the rows, all-ready) when
the platform finds it ready, but takes its first request a little later: the activator learns of
it, hands it the head of the buffer and connects to it. A few ms, but a second or more when the
replica is slow to accept connections (a full accept queue costs a TCP retransmit). Drawn per
replica with ``together`` = how many replicas are ready with it (itself included), so
``samples:0.9@1,0.01@2`` says the first is the slow one.

Start (``start``). ``"rest"``: the revision as a load test finds it, long idle: at zero when it
can scale to zero, else at its floor with those replicas ready, its windows holding the zero
reports of the ``idle`` seconds before t0 (default: longer than the stable window).
``"created"``: freshly created, its initial scale starting at t0.

Deterministic: the trace, the timing and the start-time model are seeded; nothing reads the real
clock.
"""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass, field
from typing import Literal

from minikn.activator.fifo import Fifo
from minikn.autoscaler.engine import KpaScaler
from minikn.autoscaler.spec import ScalingSpec
from minikn.core.cadence import REPORT_LEAD
from minikn.sim.traces import StartModel, Trace

__all__ = ["SimDecision", "SimResult", "SimRow", "SimTiming", "Start", "default_duration",
           "idle_reports", "rest_replicas", "simulate"]  # fmt: skip

_TICK = 2.0
_READY, _USABLE, _DONE, _TIMEOUT, _REPORT, _TICK_EV, _WAKE, _ROW = range(8)
"""Event kinds, in the order they run at equal times: replicas turn ready (and take requests)
and requests finish before stats and ticks, and a second's row is written after that second's
tick."""

Start = Literal["rest", "created"]


@dataclass(frozen=True, slots=True)
class SimTiming:
    """When the platform's loops first fire, relative to the trace's start."""

    tick_phase: float = _TICK
    """The first autoscaler tick (then every 2 s), in (0, 2]."""
    report_phase: float = 1.0
    """The first stats report of the activator (then every 1 s), in (0, 1]."""
    clock_phase: float = 0.0
    """The fraction of a second the platform's clock shows at t0, in [0, 1): the windows' 1-second
    buckets begin at ``1 - clock_phase`` s after t0, then every second."""

    @classmethod
    def draw(
        cls, rng: random.Random, *, tick_phase: float | None = None,
        report_lag: tuple[float, float] | None = None,
    ) -> SimTiming:  # fmt: skip
        """The platform's grid (:mod:`minikn.core.cadence`) at a phase drawn uniformly: the first
        request falls anywhere on it. Ticks come on a whole second of the clock, so the clock's
        phase follows from the tick's, and each report ``REPORT_LEAD`` before a tick (and one
        between ticks).

        ``tick_phase``: the first tick is known (it is in the platform's decision log).
        ``report_lag``: each report comes ``uniform(*report_lag)`` s after a tick instead
        (negative: before it), to see what a report at another phase would change (Knative's
        activator and autoscaler run at unrelated phases)."""
        tick = _TICK - rng.uniform(0.0, _TICK) if tick_phase is None else tick_phase
        lag = -REPORT_LEAD if report_lag is None else rng.uniform(*report_lag)
        return cls(tick, 1.0 - (-(tick + lag) % 1.0), -tick % 1.0)


@dataclass(frozen=True, slots=True)
class SimRow:
    """One simulated second, as it stands at the end of that second (after its tick)."""

    time: int
    concurrency: float
    """Average requests in the system over the second."""
    desired: int
    ready: int
    queued: int
    panic: bool


@dataclass(frozen=True, slots=True)
class SimDecision:
    """An evaluation that changed the desired or applied scale: the simulator's counterpart of the
    platform's decision log line (INFO on ``minikn.autoscaler``)."""

    time: float
    """Seconds after t0."""
    desired: int
    applied: int
    stable: float
    panic: float
    ready: int
    panic_mode: bool


@dataclass(slots=True)
class SimResult:
    requests: int = 0
    served: int = 0
    timed_out: int = 0
    """Requests that waited in the buffer longer than the revision timeout (504)."""
    cold_starts: int = 0
    """Requests that arrived while the revision had no ready replica."""
    replica_starts: int = 0
    waits: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    """Wait + service of each served request."""
    replica_seconds: float = 0.0
    panic_seconds: int = 0
    max_replicas: int = 0
    first_scale_up: float | None = None
    """When more than one replica was first asked for (seconds after t0)."""
    all_ready: float | None = None
    """When the ready count first reached its peak (seconds after t0)."""
    peak_ready: int = 0
    duration: float = 0.0
    rows: list[SimRow] = field(default_factory=list)
    decisions: list[SimDecision] = field(default_factory=list)

    def percentile(self, q: float, values: list[float] | None = None) -> float:
        """Nearest-rank percentile of ``values`` (default: the queue waits), seconds."""
        data = self.waits if values is None else values
        if not data:
            return 0.0
        ordered = sorted(data)
        return ordered[max(0, math.ceil(q / 100.0 * len(ordered)) - 1)]

    def figures(self) -> dict[str, float]:
        """The timing figures beside :meth:`summary` (numbers; -1 for a time that never came)."""
        lat = self.latencies
        return {
            "first scale-up (s)": -1.0 if self.first_scale_up is None else self.first_scale_up,
            "all ready (s)": -1.0 if self.all_ready is None else self.all_ready,
            "latency p50 (s)": self.percentile(50, lat),
            "latency p90 (s)": self.percentile(90, lat),
            "latency p99 (s)": self.percentile(99, lat),
        }

    def summary(self) -> dict[str, str]:
        """The printed summary, fixed decimals (so identical runs print identically)."""
        return {
            "requests": str(self.requests),
            "served": str(self.served),
            "timed out in the buffer (504)": str(self.timed_out),
            "cold starts (requests that found no ready replica)": str(self.cold_starts),
            "replica starts": str(self.replica_starts),
            "queue wait p50 (s)": f"{self.percentile(50):.3f}",
            "queue wait p99 (s)": f"{self.percentile(99):.3f}",
            "replica-seconds": f"{self.replica_seconds:.1f}",
            "max replicas": str(self.max_replicas),
            "time in panic (s)": str(self.panic_seconds),
            "simulated seconds": f"{self.duration:.0f}",
        }


def default_duration(spec: ScalingSpec, trace: Trace) -> float:
    """Long enough after the last request for the revision to reach its floor (zero)."""
    last = max((a + s for a, s in trace), default=0.0)
    tail = spec.stable_window + max(spec.scale_to_zero_grace, spec.scale_to_zero_retention)
    return float(math.ceil(last + tail + spec.scale_down_delay + 4 * _TICK))


def idle_reports(
    spec: ScalingSpec, t0: float, report_phase: float, idle: float | None
) -> list[float]:
    """When the activator reported a zero for a revision idle for ``idle`` seconds before t0 (it
    came to exist then; None: long enough to fill the stable window): every second, the last one
    ``1 - report_phase`` s before t0. Example: phase 0.25, idle 2.5 -> t0 - 1.75 and t0 - 0.75."""
    longest = math.ceil(spec.stable_window) + 1.0  # older reports leave every window
    span = longest if idle is None else min(max(idle, 0.0), longest)
    out: list[float] = []
    at = t0 + report_phase - 1.0
    while at > t0 - span:
        out.append(at)
        at -= 1.0
    return out[::-1]


def rest_replicas(spec: ScalingSpec) -> int:
    """Replicas of a routed revision long idle: min-scale, at least 1 without scale to zero."""
    n = max(spec.min_scale, 0 if spec.enable_scale_to_zero else 1)
    return min(n, spec.max_scale) if spec.max_scale else n


class _Run:
    """One simulation: the state, and one method per kind of event."""

    def __init__(
        self, spec: ScalingSpec, *, start_model: StartModel, rng: random.Random, end: float,
        timeout: float, t0: float, overhead: StartModel | None = None,
        buffered_overhead: StartModel | None = None, overhead_rng: random.Random | None = None,
        tick_lateness: StartModel | None = None, tick_rng: random.Random | None = None,
        handover: StartModel | None = None, handover_rng: random.Random | None = None,
    ) -> None:  # fmt: skip
        self.spec, self.model, self.rng = spec, start_model, rng
        self.tick_lateness, self.tick_rng = tick_lateness, tick_rng or random.Random(0)
        self.handover, self.handover_rng = handover, handover_rng or random.Random(0)
        self.handing: dict[int, float] = {}
        """Ready replicas not yet taking requests: id -> when they take their first."""
        self.next_tick = 0.0
        """The tick loop's schedule: the next tick is due then (and runs a drawn lateness
        after it)."""
        self.overhead, self.overhead_rng = overhead, overhead_rng or random.Random(0)
        self.buffered_overhead = buffered_overhead if buffered_overhead is not None else overhead
        self.end, self.timeout, self.t0 = end, timeout, t0
        self.res = SimResult(duration=end - t0)
        self.scaler = KpaScaler(spec, now=t0)
        self.events: list[tuple[float, int, int]] = []
        self.starting: dict[int, float] = {}
        self.waiting: set[int] = set()
        """Ids of buffered requests; one that times out leaves this set (and is skipped later)."""
        self.queue: Fifo[tuple[float, float, int]] = Fifo(lambda item: item[2] in self.waiting)
        """The activator's buffer order (its throttler's ``Fifo``): (arrival, service, id)."""
        self.seq = self.ready = self.usable = self.busy = self.load = self.arrivals = 0
        self.cap = 0.0
        self.area = 0.0
        """The integral of ``load`` over time up to ``area_t``."""
        self.area_t = self.alive_t = t0
        self.report_area = self.row_area = 0.0

    # -- setup ----------------------------------------------------------------------------

    def begin(self, start: Start, timing: SimTiming, idle: float | None = None) -> None:
        """The revision at t0 and the first firing of each periodic event."""
        t0 = self.t0
        if start == "rest":
            n = rest_replicas(self.spec)
            self.scaler = KpaScaler.at_rest(self.spec, now=t0, replicas=n)
            self.ready = self.usable = n
            self.cap = self.capacity()
            self.res.max_replicas = self.res.peak_ready = n
            for at in idle_reports(self.spec, t0, timing.report_phase, idle):
                self.scaler.record(at, concurrency=0.0, rps=0.0)
        else:
            self.scale_to(self.scaler.applied, t0)
        self.push(t0 + timing.report_phase, _REPORT)
        self.schedule_tick(t0 + timing.tick_phase)
        self.push(t0 + 1.0, _ROW)

    def push(self, at: float, kind: int, rid: int = 0) -> None:
        heapq.heappush(self.events, (at, kind, rid))

    def capacity(self) -> float:
        cc = self.spec.container_concurrency
        return float(self.usable * cc) if cc > 0 else (math.inf if self.usable else 0.0)

    def advance(self, now: float) -> None:
        """Accumulate the load integral up to ``now``."""
        self.area += self.load * (now - self.area_t)
        self.area_t = now

    # -- the data path --------------------------------------------------------------------

    def arrive(self, now: float, service: float) -> None:
        """A request: served at once when a slot is free and nobody waits, else buffered."""
        self.advance(now)
        self.load += 1
        self.arrivals += 1
        if self.ready == 0:
            self.res.cold_starts += 1
            if self.scaler.wants_poke(now):
                self.scaler.note_poke(now)
                self.evaluate(now)
        if self.queue.admits(self.busy < self.cap):
            if self.overhead is not None:
                service += self.overhead.sample(self.overhead_rng)
            self.serve(now, now, service)
        else:
            self.seq += 1
            self.queue.push((now, service, self.seq))
            self.waiting.add(self.seq)
            self.push(now + self.timeout, _TIMEOUT, self.seq)

    def serve(self, now: float, arrival: float, service: float) -> None:
        self.res.waits.append(now - arrival)
        self.res.latencies.append(now - arrival + service)
        self.busy += 1
        self.push(now + service, _DONE)

    def finish(self, now: float) -> None:
        self.advance(now)
        self.busy -= 1
        self.load -= 1
        self.res.served += 1
        self.start_queued(now)

    def give_up(self, now: float, qid: int) -> None:
        """A buffered request's timeout (504), unless it was served already."""
        if qid in self.waiting:
            self.advance(now)
            self.waiting.discard(qid)
            self.load -= 1
            self.res.timed_out += 1

    def start_queued(self, now: float) -> None:
        while self.busy < self.cap and (item := self.queue.pop()) is not None:
            arrival, service, qid = item  # live: one that timed out was skipped
            self.waiting.discard(qid)
            if self.buffered_overhead is not None:
                service += self.buffered_overhead.sample(self.overhead_rng)
            self.serve(now, arrival, service)

    # -- replicas -------------------------------------------------------------------------

    def replica_ready(self, now: float, rid: int) -> None:
        if self.starting.pop(rid, None) is None:
            return  # stopped while starting
        self.ready += 1
        res = self.res
        if self.ready > res.peak_ready:
            res.peak_ready, res.all_ready = self.ready, now - self.t0
        late = 0.0
        if self.handover is not None:
            late = self.handover.sample(self.handover_rng, together=self.ready)
        if late > 0:
            self.handing[rid] = now + late
            self.push(now + late, _USABLE, rid)
        else:
            self.take_requests(now)

    def replica_usable(self, now: float, rid: int) -> None:
        """A ready replica's handover is over (unless it was stopped meanwhile)."""
        if self.handing.pop(rid, None) is not None:
            self.take_requests(now)

    def take_requests(self, now: float) -> None:
        self.usable += 1
        self.cap = self.capacity()
        self.start_queued(now)

    def scale_to(self, n: int, now: float) -> None:
        """Start replicas (each takes a start-model time that depends on how many start at
        once) or stop them (the latest-starting first, then ready ones)."""
        cur = self.ready + len(self.starting)
        self.res.replica_seconds += cur * (now - self.alive_t)
        self.alive_t = now
        if n > cur:
            together = len(self.starting) + n - cur
            for _ in range(n - cur):
                self.seq += 1
                at = now + self.model.sample(self.rng, together=together)
                self.starting[self.seq] = at
                self.push(at, _READY, self.seq)
                self.res.replica_starts += 1
        elif n < cur:
            drop = cur - n
            for rid in sorted(self.starting, key=lambda r: (-self.starting[r], -r))[:drop]:
                del self.starting[rid]
                drop -= 1
            for rid in sorted(self.handing, key=lambda r: (-self.handing[r], -r))[:drop]:
                del self.handing[rid]  # ready, not yet taking requests
                self.ready -= 1
                drop -= 1
            drop = min(drop, self.usable)
            self.ready -= drop
            self.usable -= drop
            self.cap = self.capacity()
        res = self.res
        res.max_replicas = max(res.max_replicas, self.ready + len(self.starting))
        if n > 1 and res.first_scale_up is None:
            res.first_scale_up = now - self.t0

    # -- the autoscaler -------------------------------------------------------------------

    def evaluate(self, now: float) -> None:
        scaler = self.scaler
        before = (scaler.desired, scaler.applied)
        ev = scaler.evaluate(now, ready=self.ready)
        if ev.apply is not None:
            self.scale_to(ev.apply, now)
        d = ev.decision
        if d is not None and (ev.desired, scaler.applied) != before:
            self.res.decisions.append(
                SimDecision(now - self.t0, ev.desired, scaler.applied, d.stable, d.panic,
                            self.ready, d.panic_mode)
            )  # fmt: skip
        if ev.requeue_at is not None and now < ev.requeue_at < self.end:
            self.push(ev.requeue_at, _WAKE)

    def report(self, now: float) -> None:
        """The activator's per-second stat; a non-zero one for a revision at zero decides."""
        self.advance(now)
        concurrency = self.area - self.report_area
        self.report_area = self.area
        self.scaler.record(now, concurrency=concurrency, rps=float(self.arrivals))
        self.arrivals = 0
        if concurrency > 0 and self.scaler.desired == 0:
            self.evaluate(now)
        self.push(now + 1.0, _REPORT)

    def schedule_tick(self, due: float) -> None:
        """The next tick, due at ``due`` on the loop's schedule, runs its lateness after."""
        self.next_tick = due
        late = 0.0 if self.tick_lateness is None else self.tick_lateness.sample(self.tick_rng)
        self.push(due + late, _TICK_EV)

    def tick(self, now: float) -> None:
        self.evaluate(now)
        self.schedule_tick(self.next_tick + _TICK)  # the schedule does not drift with lateness

    def row(self, now: float) -> None:
        """The second that ends at ``now``, after any decision made at ``now``."""
        self.advance(now)
        panic = self.scaler.decider.panic_time is not None
        self.res.panic_seconds += panic
        self.res.rows.append(
            SimRow(round(now - self.t0), self.area - self.row_area, self.scaler.applied,
                   self.ready, len(self.waiting), panic)
        )  # fmt: skip
        self.row_area = self.area
        self.push(now + 1.0, _ROW)

    def dispatch(self, now: float, kind: int, rid: int) -> None:
        if kind == _DONE:
            self.finish(now)
        elif kind == _TIMEOUT:
            self.give_up(now, rid)
        elif kind == _READY:
            self.replica_ready(now, rid)
        elif kind == _USABLE:
            self.replica_usable(now, rid)
        elif kind == _REPORT:
            self.report(now)
        elif kind == _TICK_EV:
            self.tick(now)
        elif kind == _ROW:
            self.row(now)
        else:
            self.evaluate(now)

    # -- the run --------------------------------------------------------------------------

    def run(self, trace: Trace) -> SimResult:
        """Interleave the trace's arrivals with the timed events until ``end``."""
        events, end, t0 = self.events, self.end, self.t0
        i, n = 0, len(trace)
        next_arrival = trace[0][0] + t0 if n else math.inf
        while True:
            if events and events[0][0] <= next_arrival:
                now, kind, rid = heapq.heappop(events)
                if now > end:
                    break
                self.dispatch(now, kind, rid)
                continue
            if next_arrival > end:
                break
            service = trace[i][1]
            i += 1
            self.arrive(next_arrival, service)
            next_arrival = trace[i][0] + t0 if i < n else math.inf
        self.res.requests = i
        self.res.replica_seconds += (self.ready + len(self.starting)) * (end - self.alive_t)
        return self.res


def simulate(
    spec: ScalingSpec,
    trace: Trace,
    *,
    start_model: StartModel,
    seed: int = 0,
    duration: float | None = None,
    t0: float = 0.0,
    timeout: float = 300.0,
    start: Start = "rest",
    timing: SimTiming | None = None,
    idle: float | None = None,
    overhead: StartModel | None = None,
    buffered_overhead: StartModel | None = None,
    tick_lateness: StartModel | None = None,
    handover: StartModel | None = None,
) -> SimResult:
    """Run ``trace`` (arrivals relative to ``t0``) against ``spec``; return the summary figures
    and one row per second. ``timing`` defaults to the ideal phases (:class:`SimTiming`).
    ``idle``: seconds the revision sat at rest before t0 (``start="rest"``; None: long).
    ``overhead``: seconds added to the service time of a request served at once,
    ``buffered_overhead`` (default: ``overhead``) to one served from the buffer; both drawn from
    their own seeded RNG, so they do not change the start-time draws. ``tick_lateness``: how long
    after its 2-second schedule each tick runs (default: on time), drawn from a third RNG;
    ``handover``: how long after it is ready a replica takes its first request (default: at
    once), drawn from a fourth."""
    timing = timing or SimTiming()
    t0 += timing.clock_phase
    end = t0 + (duration if duration is not None else default_duration(spec, trace))
    run = _Run(spec, start_model=start_model, rng=random.Random(seed), end=end, timeout=timeout,
               t0=t0, overhead=overhead, buffered_overhead=buffered_overhead,
               overhead_rng=random.Random(f"overhead:{seed}"), tick_lateness=tick_lateness,
               tick_rng=random.Random(f"tick:{seed}"), handover=handover,
               handover_rng=random.Random(f"handover:{seed}"))  # fmt: skip
    run.begin(start, timing, idle)
    return run.run(trace)
