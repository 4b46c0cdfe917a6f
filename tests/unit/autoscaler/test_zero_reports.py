"""Idle zeros recorded lazily (ZeroReports) leave every window exactly as the zeros recorded one
at a time do, and the autoscaler fed whole reports (``record_all``, the idle zeros implied) and
ticking over its awake revisions only decides exactly as one fed a stat per revision per second
and ticking over every revision (the loop before both changes)."""

from __future__ import annotations

import random

import pytest

from minikn.autoscaler.loop import TICK_INTERVAL, Autoscaler
from minikn.autoscaler.window import LinearWindow, WeightedWindow, ZeroReports
from minikn.config.loader import Settings
from minikn.core.clock import FakeClock
from minikn.core.endpoints import RevisionStats
from minikn.core.listeners import RecordingListener
from minikn.core.revision import ContainerSpec, RevisionSpec
from minikn.telemetry.metrics import Metrics

from .test_autoscaler_loop import FakeScaler


def _state(w: LinearWindow) -> tuple[object, ...]:
    return (w._first, w._last, w._total, tuple(w._buckets))


def _report_gap(rng: random.Random) -> float:
    """A report period: about 1 s, sometimes late (a busy loop), now and then a long stall."""
    roll = rng.random()
    if roll < 0.05:
        return rng.uniform(2.0, 12.0)
    if roll < 0.25:
        return rng.uniform(1.0, 1.9)
    return 1.0 + rng.uniform(0.0, 0.01)


class _Pair:
    """A window fed every zero one at a time, and one fed them through ZeroReports."""

    def __init__(self, kind: type[LinearWindow], size: int) -> None:
        self.eager, self.lazy, self.zeros = kind(size), kind(size), ZeroReports()
        self.seen = 0

    def catch_up(self) -> None:
        self.zeros.replay(self.lazy, self.seen)
        self.seen = self.zeros.seq
        assert _state(self.lazy) == _state(self.eager)

    def record(self, t: float, value: float) -> None:
        self.eager.record(t, value)
        self.lazy.record(t, value)


def _one_run(rng: random.Random, kind: type[LinearWindow], size: int) -> None:
    pair, t = _Pair(kind, size), 1000.0 + rng.random()
    for _ in range(rng.randrange(20, 300)):
        t += _report_gap(rng)
        if rng.random() < 0.15:  # the revision is busy this report: its own stat
            pair.catch_up()
            pair.record(t, rng.choice([0.0, 0.5, 1.0, 3.0, 0.1, 0.7]))
            pair.seen = pair.zeros.seq + 1
        else:  # idle: the report's zero
            pair.eager.record(t, 0.0)
        pair.zeros.append(t)
        if rng.random() < 0.2:  # a read, a scrape, a poke between reports
            now = t + rng.uniform(0.0, 0.99)
            pair.catch_up()
            assert pair.lazy.average(now) == pair.eager.average(now)
            assert pair.lazy.has_signal(now) == pair.eager.has_signal(now)
            if rng.random() < 0.3:
                pair.record(*rng.choice([(now - 1.0, 0.0), (now, 1.0), (now, 0.0)]))
        if rng.random() < 0.02:  # the sweep: every window caught up, the reports dropped
            pair.catch_up()
            pair.zeros.forget()
    pair.catch_up()


@pytest.mark.parametrize("size", [1, 2, 3, 6, 10, 60])
@pytest.mark.parametrize("kind", [LinearWindow, WeightedWindow])
def test_lazy_zeros_leave_a_window_as_zeros_one_at_a_time(
    size: int, kind: type[LinearWindow]
) -> None:
    rng = random.Random(size * 31 + (kind is WeightedWindow))
    for _ in range(40):
        _one_run(rng, kind, size)


def test_replaying_a_forgotten_report_is_refused() -> None:
    zeros = ZeroReports()
    zeros.append(1.0)
    zeros.forget()
    with pytest.raises(ValueError, match="forgotten"):
        zeros.replay(LinearWindow(6), 0)


def _revision(name: str, annotations: dict[str, str]) -> RevisionSpec:
    return RevisionSpec(
        name=name,
        isvc=name,
        component="predictor",
        generation=1,
        container=ContainerSpec(image="x"),
        annotations=annotations,
    )


_K = "autoscaling.knative.dev/"
_SHAPES: list[dict[str, str]] = [
    {},
    {_K + "initial-scale": "0"},
    {_K + "window": "6s", _K + "initial-scale": "0"},
    {_K + "window": "10s", _K + "panic-window-percentage": "10"},
    {_K + "metric": "rps", _K + "target": "2"},
    {_K + "window": "20s", _K + "panic-window-percentage": "5"},
    {_K + "class": "hpa.autoscaling.knative.dev", _K + "metric": "cpu", _K + "target": "50"},
]


class _FullScan(Autoscaler):
    """The tick before it walked only awake revisions: every revision, idle ones skipped unless
    their timer is due."""

    def tick(self, now: float) -> None:
        idle = self._idle
        for name, entry in list(self._entries.items()):
            if name in idle:
                last = entry.scaler.last
                if last is None or last.requeue_at is None or last.requeue_at > now:
                    continue
            self._evaluate(name, entry, now)


async def test_whole_reports_decide_as_a_stat_per_revision_per_second() -> None:
    settings = Settings.model_validate({"config-autoscaler": {"allow-zero-initial-scale": True}})
    rng = random.Random(5)
    names = [f"r{i}" for i in range(len(_SHAPES) * 2)]
    clock = FakeClock()
    scalers = {"per-revision": FakeScaler(), "whole": FakeScaler()}
    autoscalers = {
        key: (_FullScan if key == "per-revision" else Autoscaler)(
            settings, clock=clock, scaler=s, listener=RecordingListener(), metrics=Metrics()
        )
        for key, s in scalers.items()
    }
    for i, name in enumerate(names):
        for a in autoscalers.values():
            a.upsert(_revision(name, _SHAPES[i % len(_SHAPES)]), routable=True)
    next_tick = clock.monotonic() + TICK_INTERVAL
    for step in range(2000):
        quiet = (step // 100) % 2 == 1  # phases without traffic: revisions settle, timers fire
        if quiet and step % 100 == 0:  # a new revision at zero settles with a timer pending
            names.append(f"late{step}")
            for a in autoscalers.values():
                a.upsert(_revision(names[-1], _SHAPES[2 if step % 200 else 1]), routable=True)
        gap = rng.uniform(1.0, 25.0) if quiet and rng.random() < 0.2 else _report_gap(rng)
        await clock.advance(gap if step % 50 else rng.uniform(30.0, 200.0))
        now = clock.monotonic()
        if rng.random() < 0.1:  # replicas come and go (both scalers see the same)
            name = rng.choice(names)
            ready = rng.choice([0, 0, 0, 1, 2, 4] if not quiet else [0])
            for s in scalers.values():
                s.ready[name] = ready
        busy = [] if quiet else rng.sample(names, rng.choice([0, 0, 0, 1, 2]))
        stats = [
            RevisionStats(n, now, rng.choice([0.0, 0.4, 1.0, 5.0, 150.0]), rng.choice([0.0, 1.0]))
            for n in busy
        ]
        autoscalers["whole"].record_all(now, stats)
        per_revision = autoscalers["per-revision"]
        for name in names:
            mine = [s for s in stats if s.revision == name]
            per_revision.record(mine[0] if mine else RevisionStats(name, now, 0.0, 0.0))
        if not quiet and rng.random() < 0.05:
            name = rng.choice(names)
            for a in autoscalers.values():
                a.poke(name)
        if now >= next_tick:  # what ``run`` does on a wake: a tick, or the due timers
            while next_tick <= now:
                next_tick += TICK_INTERVAL
            for a in autoscalers.values():
                a.tick(now)
        else:
            for a in autoscalers.values():
                for name in a._due_timers(now):
                    a._evaluate(name, a._entries[name], now)
        assert scalers["whole"].desired == scalers["per-revision"].desired, step
        for name in names:
            assert autoscalers["whole"].status(name) == autoscalers["per-revision"].status(name)
    assert any(len(d) > 2 for d in scalers["whole"].desired.values())  # it did scale


async def test_a_tick_decides_for_a_settled_revision_whose_timer_is_due() -> None:
    settings = Settings.model_validate({"config-autoscaler": {"allow-zero-initial-scale": True}})
    clock = FakeClock()
    autoscalers = [
        kind(settings, clock=clock, scaler=FakeScaler(), listener=RecordingListener(),
             metrics=Metrics())
        for kind in (_FullScan, Autoscaler)
    ]  # fmt: skip
    for a in autoscalers:
        a.upsert(_revision("zero", _SHAPES[1]), routable=True)
    timers = []
    for dt in (1.0, 1.0, 1.0):  # activating, then inactive with a grace timer, then settled
        await clock.advance(dt)
        for a in autoscalers:
            a.tick(clock.monotonic())
            last = a._entries["zero"].scaler.last
            timers.append(None if last is None else last.requeue_at)
    assert all("zero" in a._idle for a in autoscalers)
    due = timers[-1]
    assert due is not None
    assert due > clock.monotonic()
    await clock.advance(due - clock.monotonic() + 0.5)
    for a in autoscalers:
        a.tick(clock.monotonic())  # no timer wake came first: the tick must see the due timer
    first, second = (a.status("zero") for a in autoscalers)
    assert first == second
    assert first is not None
    assert first.last_decision == clock.time()
