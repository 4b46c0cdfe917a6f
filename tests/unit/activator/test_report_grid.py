"""The activator reports on a one-second grid and the autoscaler ticks on the same grid, each
report just before a tick, however late the loops run (minikn.core.cadence)."""

from __future__ import annotations

import asyncio

import pytest

from minikn.activator import Activator
from minikn.autoscaler.loop import Autoscaler
from minikn.config import Settings
from minikn.core.cadence import REPORT_LEAD, first_report, grid_anchor
from minikn.core.clock import FakeClock
from minikn.core.endpoints import RevisionStats
from minikn.core.listeners import RecordingListener
from minikn.telemetry.metrics import Metrics


class _Reports:
    """A whole-report sink that records when each report came, and can take time (work)."""

    def __init__(self, clock: FakeClock, work: list[float]) -> None:
        self.clock, self.work = clock, work
        self.times: list[float] = []

    def record(self, stats: RevisionStats) -> None: ...

    def record_all(self, time: float, stats: list[RevisionStats]) -> None:
        self.times.append(time)
        if self.work:
            self.clock.spend(self.work.pop(0))

    def poke(self, revision: str) -> None: ...


async def test_a_slow_report_does_not_push_the_next_one_later(fake_clock: FakeClock) -> None:
    t0 = fake_clock.monotonic()
    # The second report takes 0.3 s; the fourth 1.5 s (the loop misses a whole second).
    sink = _Reports(fake_clock, [0.0, 0.3, 0.0, 1.5])
    act = Activator(Settings(), clock=fake_clock, stats=sink, poker=sink, metrics=Metrics())
    await act.start(first_report=t0 + 0.95)
    await asyncio.sleep(0)  # the loop waits for its first report
    try:
        await fake_clock.advance(7.0)
    finally:
        await act.close()
    assert [t - t0 for t in sink.times] == pytest.approx([0.95, 1.95, 2.95, 3.95, 5.95, 6.95])


class _Ticks(Autoscaler):
    """The live autoscaler, recording when it ticks."""

    ticks: list[float]

    def tick(self, now: float) -> None:
        self.ticks.append(now)
        super().tick(now)


class _NoReplicas:
    def ready_count(self, revision: str) -> int:
        return 0

    def set_desired(self, revision: str, replicas: int) -> None: ...


async def test_every_tick_decides_on_a_report_made_just_before_it(fake_clock: FakeClock) -> None:
    fake_clock.spend(0.4)  # a platform started at no particular phase of the clock's second
    anchor = grid_anchor(fake_clock.monotonic())
    auto = _Ticks(
        Settings(), clock=fake_clock, scaler=_NoReplicas(),  # type: ignore[arg-type]
        listener=RecordingListener(), metrics=Metrics(),
    )  # fmt: skip
    auto.ticks = []
    sink = _Reports(fake_clock, [])
    act = Activator(Settings(), clock=fake_clock, stats=sink, poker=sink, metrics=Metrics())
    await act.start(first_report=first_report(anchor))
    await asyncio.sleep(0)
    # The autoscaler's loop starts later than the activator's (replicas are adopted between).
    await fake_clock.advance(1.3)
    task = asyncio.create_task(auto.run(anchor))
    await asyncio.sleep(0)
    try:
        await fake_clock.advance(9.0)
    finally:
        task.cancel()
        await act.close()
    assert auto.ticks == pytest.approx([anchor + 2 * k for k in range(1, 5)])
    assert all(t == int(t) for t in auto.ticks)  # on whole seconds: where the windows' buckets turn
    reported = [pytest.approx(t) for t in sink.times]
    assert all(t - REPORT_LEAD in reported for t in auto.ticks)
