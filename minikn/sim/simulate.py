"""Replay a request trace on a virtual clock through the real autoscaler code.

Event-driven (one heap of timed events, no asyncio): request arrivals, completions, replicas
becoming ready, 1-second stat reports and 2-second autoscaler ticks. The autoscaler is the same
:class:`~minikn.autoscaler.engine.RevisionEngine` the live loop uses. The data path is modelled as
minikn's activator: one FIFO buffer in front of the replicas; a replica takes at most
``containerConcurrency`` requests at once (unlimited when 0); a request for a revision with no
ready replica pokes the autoscaler. Stats report, each second, the time-weighted number of
requests in the system (buffered + in service) and the arrivals.

Deterministic: the trace and the start-time model are seeded; nothing reads the real clock.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from dataclasses import dataclass, field

from minikn.autoscaler.engine import RevisionEngine
from minikn.autoscaler.spec import ScalingSpec
from minikn.sim.traces import StartModel, Trace

__all__ = ["SimResult", "SimRow", "simulate"]

_TICK = 2.0
_READY, _DONE, _TIMEOUT, _SECOND, _TICK_EV, _WAKE = 0, 1, 2, 3, 4, 5
"""Event kinds; at equal times replicas turn ready and requests finish before stats and ticks."""


@dataclass(frozen=True, slots=True)
class SimRow:
    """One simulated second."""

    time: int
    concurrency: float
    desired: int
    ready: int
    queued: int
    panic: bool


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
    replica_seconds: float = 0.0
    panic_seconds: int = 0
    max_replicas: int = 0
    duration: float = 0.0
    rows: list[SimRow] = field(default_factory=list)

    def percentile(self, q: float) -> float:
        """Nearest-rank percentile of the queue waits (seconds)."""
        if not self.waits:
            return 0.0
        ordered = sorted(self.waits)
        return ordered[max(0, math.ceil(q / 100.0 * len(ordered)) - 1)]

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


def simulate(
    spec: ScalingSpec,
    trace: Trace,
    *,
    start_model: StartModel,
    seed: int = 0,
    duration: float | None = None,
    t0: float = 0.0,
    timeout: float = 300.0,
) -> SimResult:
    """Run ``trace`` (arrivals relative to ``t0``) against ``spec``; return the summary figures
    and one row per second.

    The hot paths (arrival, completion) are inlined on local variables: this loop runs once per
    request, hundreds of thousands of times for an hour of traffic.
    """
    rng = random.Random(seed)
    end = t0 + (duration if duration is not None else default_duration(spec, trace))
    res = SimResult(duration=end - t0)
    cc = spec.container_concurrency
    engine = RevisionEngine(spec, now=t0)
    events: list[tuple[float, int, int]] = []
    starting: dict[int, float] = {}
    queue: deque[tuple[float, float, int]] = deque()
    waiting: set[int] = set()
    """Ids of buffered requests; one that times out leaves this set (and is skipped later)."""
    waits = res.waits
    push, pop = heapq.heappush, heapq.heappop
    seq = ready = busy = load = arrivals = 0
    cap = 0.0
    area, area_t, alive_t = 0.0, t0, t0

    def capacity() -> float:
        return float(ready * cc) if cc > 0 else (math.inf if ready else 0.0)

    def start_queued(now: float) -> None:
        nonlocal busy
        while queue and busy < cap:
            arrival, service, qid = queue.popleft()
            if qid not in waiting:
                continue  # timed out already
            waiting.discard(qid)
            waits.append(now - arrival)
            busy += 1
            push(events, (now + service, _DONE, 0))

    def scale_to(n: int, now: float) -> None:
        nonlocal ready, seq, cap, alive_t
        cur = ready + len(starting)
        res.replica_seconds += cur * (now - alive_t)
        alive_t = now
        if n > cur:
            for _ in range(n - cur):
                seq += 1
                at = now + start_model.sample(rng)
                starting[seq] = at
                push(events, (at, _READY, seq))
                res.replica_starts += 1
        elif n < cur:
            drop = cur - n
            for rid in sorted(starting, key=lambda r: (-starting[r], -r))[:drop]:
                del starting[rid]
                drop -= 1
            ready -= min(drop, ready)
            cap = capacity()
        res.max_replicas = max(res.max_replicas, ready + len(starting))

    def evaluate(now: float) -> None:
        ev = engine.evaluate(now, ready=ready)
        if ev.apply is not None:
            scale_to(ev.apply, now)
        if ev.requeue_at is not None and now < ev.requeue_at < end:
            push(events, (ev.requeue_at, _WAKE, 0))

    scale_to(engine.applied, t0)
    push(events, (t0 + 1.0, _SECOND, 0))
    push(events, (t0 + _TICK, _TICK_EV, 0))
    i, n_trace = 0, len(trace)
    next_arrival = trace[0][0] + t0 if n_trace else math.inf
    while True:
        if events and events[0][0] <= next_arrival:
            now, kind, rid = pop(events)
            if now > end:
                break
            area += load * (now - area_t)
            area_t = now
            if kind == _DONE:
                busy -= 1
                load -= 1
                res.served += 1
                if queue:
                    start_queued(now)
            elif kind == _TIMEOUT:
                if rid in waiting:
                    waiting.discard(rid)
                    load -= 1
                    res.timed_out += 1
            elif kind == _READY:
                if rid in starting:
                    del starting[rid]
                    ready += 1
                    cap = capacity()
                    start_queued(now)
            elif kind == _SECOND:
                engine.record(now, concurrency=area, rps=float(arrivals))
                panic = engine.decider.panic_time is not None
                res.panic_seconds += panic
                res.rows.append(
                    SimRow(round(now - t0), area, engine.applied, ready, len(waiting), panic)
                )
                area = 0.0
                arrivals = 0
                push(events, (now + 1.0, _SECOND, 0))
            elif kind == _TICK_EV:
                evaluate(now)
                push(events, (now + _TICK, _TICK_EV, 0))
            else:
                evaluate(now)
            continue
        if next_arrival > end:
            break
        now = next_arrival
        service = trace[i][1]
        i += 1
        next_arrival = trace[i][0] + t0 if i < n_trace else math.inf
        area += load * (now - area_t)
        area_t = now
        load += 1
        arrivals += 1
        if ready == 0:
            res.cold_starts += 1
            if engine.wants_poke(now):
                engine.note_poke(now)
                evaluate(now)
        if busy < cap and not waiting:
            waits.append(0.0)
            busy += 1
            push(events, (now + service, _DONE, 0))
        else:
            seq += 1
            queue.append((now, service, seq))
            waiting.add(seq)
            push(events, (now + timeout, _TIMEOUT, seq))
    res.requests = i
    res.replica_seconds += (ready + len(starting)) * (end - alive_t)
    return res
