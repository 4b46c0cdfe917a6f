"""The live Autoscaler on a FakeClock: 2 s ticks, immediate pokes, status, gauges, decision log."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from minikn.autoscaler.engine import KpaScaler
from minikn.autoscaler.loop import Autoscaler
from minikn.config.loader import Settings
from minikn.core.clock import FakeClock
from minikn.core.endpoints import RevisionStats
from minikn.core.listeners import RecordingListener
from minikn.core.revision import ContainerSpec, RevisionSpec
from minikn.core.usage import ResourceUsage
from minikn.telemetry.metrics import Metrics

REV = "iris-predictor-00001"


@dataclass(frozen=True)
class FakeStatus:
    pending: int


@dataclass
class FakeScaler:
    ready: dict[str, int] = field(default_factory=dict)
    pending: dict[str, int] = field(default_factory=dict)
    desired: dict[str, list[int]] = field(default_factory=dict)
    cpu: float = 0.0

    def ready_count(self, revision: str) -> int:
        return self.ready.get(revision, 0)

    def set_desired(self, revision: str, replicas: int) -> None:
        self.desired.setdefault(revision, []).append(replicas)

    def usage(self, revision: str) -> ResourceUsage:
        n = self.ready.get(revision, 0)
        return ResourceUsage(self.cpu, 0, n)

    def status(self, revision: str) -> FakeStatus:
        return FakeStatus(self.pending.get(revision, 0))


def revision(annotations: dict[str, str] | None = None) -> RevisionSpec:
    return RevisionSpec(
        name=REV,
        isvc="iris",
        component="predictor",
        generation=1,
        container=ContainerSpec(image="x"),
        annotations=annotations or {},
    )


@dataclass
class Rig:
    clock: FakeClock
    scaler: FakeScaler
    listener: RecordingListener
    metrics: Metrics
    autoscaler: Autoscaler


@pytest.fixture
async def rig(fake_clock: FakeClock) -> AsyncIterator[Rig]:
    scaler, listener, metrics = FakeScaler(), RecordingListener(), Metrics()
    a = Autoscaler(Settings(), clock=fake_clock, scaler=scaler, listener=listener, metrics=metrics)
    task = asyncio.create_task(a.run(), name="autoscaler-test")
    yield Rig(fake_clock, scaler, listener, metrics, a)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def gauge(m: Metrics, name: str) -> float | None:
    return m.registry.get_sample_value(
        name, {"namespace": "default", "isvc": "iris", "revision": REV}
    )


async def test_upsert_creates_the_revision_with_its_initial_scale(rig: Rig) -> None:
    rig.autoscaler.upsert(revision({"autoscaling.knative.dev/initial-scale": "2"}), routable=True)
    assert rig.scaler.desired[REV] == [2]
    st = rig.autoscaler.status(REV)
    assert st is not None
    assert st.desired == 2
    assert st.last_decision is None


async def test_ticks_every_two_seconds(rig: Rig) -> None:
    rig.autoscaler.upsert(revision(), routable=True)
    rig.scaler.ready[REV] = 1
    await rig.clock.advance(1.9)
    st = rig.autoscaler.status(REV)
    assert st is not None
    assert st.last_decision is None
    await rig.clock.advance(0.1)
    st = rig.autoscaler.status(REV)
    assert st is not None
    assert st.last_decision == rig.clock.time()
    first = st.last_decision
    await rig.clock.advance(2.0)
    st = rig.autoscaler.status(REV)
    assert st is not None
    assert st.last_decision == first + 2.0


async def test_poke_at_zero_decides_immediately(rig: Rig) -> None:
    rig.autoscaler.upsert(revision(), routable=False)
    rig.scaler.ready[REV] = 1
    # Unreachable and idle: the first tick finds desired 0 and, after a stable window of being
    # active, the revision goes to zero (min ignored, no down-rate limit).
    await rig.clock.advance(64.0)
    assert rig.scaler.desired[REV][-1] == 0
    rig.scaler.ready[REV] = 0
    rig.autoscaler.poke(REV)  # no clock advance: must decide now
    assert rig.scaler.desired[REV][-1] == 1
    st = rig.autoscaler.status(REV)
    # The activator's immediate first report (concurrency 1) over a window of zeros: 1/60.
    assert st is not None
    assert st.desired == 1
    assert st.reason.startswith("stable: ceil(0.016666/70)=1")


async def test_the_first_poke_after_scale_to_zero_scales_to_one_despite_a_float_residue(
    rig: Rig,
) -> None:
    # Issue 20: stats of 0.7 and 0.2 evicted by the scraped zeros leave the panic window's total
    # at -5.6e-17; "average == 0.0" was false, the poke recorded nothing and decided 0.
    rig.autoscaler.upsert(revision(), routable=False)
    rig.scaler.ready[REV] = 1
    start = rig.clock.monotonic()
    rig.autoscaler.record(RevisionStats(REV, start, concurrency=0.7, rps=1.0))
    rig.autoscaler.record(RevisionStats(REV, start + 1.0, concurrency=0.2, rps=1.0))
    await rig.clock.advance(64.0)
    assert rig.scaler.desired[REV][-1] == 0
    rig.scaler.ready[REV] = 0
    rig.autoscaler.poke(REV)  # no clock advance: must decide now
    assert rig.scaler.desired[REV][-1] == 1


def test_asking_whether_to_poke_records_nothing() -> None:
    settings = Settings()
    engine = KpaScaler(
        Autoscaler(
            settings, clock=FakeClock(), scaler=FakeScaler(), listener=RecordingListener(),
            metrics=Metrics(),
        ).scaling_spec(revision({"autoscaling.knative.dev/initial-scale": "0"})),
        now=10.0,
    )  # fmt: skip
    assert engine.wants_poke(10.0)
    assert engine.wants_poke(10.0)
    assert not engine.panic_window.has_signal(10.0)
    engine.note_poke(10.0)
    engine.note_poke(10.0)  # one waiting request is recorded once
    assert engine.panic_window.average(10.0) == 1.0


async def test_ready_and_pending_gauges_follow_readiness_between_ticks(rig: Rig) -> None:
    rig.scaler.pending[REV] = 2
    rig.autoscaler.upsert(revision({"autoscaling.knative.dev/initial-scale": "2"}), routable=True)
    assert gauge(rig.metrics, "autoscaler_actual_pods") == 0
    assert gauge(rig.metrics, "autoscaler_pending_pods") == 2
    await rig.clock.advance(0.5)
    rig.scaler.ready[REV], rig.scaler.pending[REV] = 1, 1
    rig.autoscaler.replicas_changed(REV)  # endpoints_changed, 0.5 s before the next tick
    assert gauge(rig.metrics, "autoscaler_actual_pods") == 1
    assert gauge(rig.metrics, "autoscaler_pending_pods") == 1
    rig.autoscaler.remove(REV)
    assert gauge(rig.metrics, "autoscaler_pending_pods") is None


async def test_a_stat_for_a_revision_at_zero_decides_immediately(rig: Rig) -> None:
    rig.autoscaler.upsert(revision(), routable=False)
    rig.scaler.ready[REV] = 1
    await rig.clock.advance(64.0)
    assert rig.scaler.desired[REV][-1] == 0
    now = rig.clock.monotonic()
    rig.autoscaler.record(RevisionStats(REV, now, concurrency=140.0, rps=3.0))
    # No tick needed; 140 over a 60 s window of scraped zeros -> ceil(2.333333/70) = 1.
    assert rig.scaler.desired[REV][-1] == 1


async def test_status_and_gauges_show_the_decision(rig: Rig) -> None:
    rig.autoscaler.upsert(revision(), routable=True)
    rig.scaler.ready[REV] = 1
    now = rig.clock.monotonic()
    for dt in (1.0, 2.0):
        rig.autoscaler.record(RevisionStats(REV, now + dt, concurrency=300.0, rps=10.0))
    await rig.clock.advance(2.0)
    st = rig.autoscaler.status(REV)
    assert st is not None
    # ceil(300/70) = 5 over R 1 -> panic; EBC = floor(1 x 100 - 211 - 300) = -411
    assert (st.desired, st.panic_mode, st.excess_burst_capacity, st.target) == (
        5,
        True,
        -411.0,
        70.0,
    )
    assert (st.stable, st.panic, st.ready, st.active) == (300.0, 300.0, 1, "active")
    assert gauge(rig.metrics, "autoscaler_desired_pods") == 5
    assert gauge(rig.metrics, "autoscaler_panic_mode") == 1
    assert gauge(rig.metrics, "autoscaler_excess_burst_capacity") == -411
    assert gauge(rig.metrics, "autoscaler_stable_request_concurrency") == 300.0
    rig.autoscaler.remove(REV)
    assert rig.autoscaler.status(REV) is None
    assert gauge(rig.metrics, "autoscaler_desired_pods") is None


async def test_decision_log_line_has_the_numbers(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="minikn.autoscaler")
    rig.autoscaler.upsert(revision(), routable=True)
    rig.scaler.ready[REV] = 1
    rig.autoscaler.record(RevisionStats(REV, rig.clock.monotonic() + 1, 140.0, 2.0))
    await rig.clock.advance(2.0)
    lines = [r.getMessage() for r in caplog.records if "replicas 1 -> 2" in r.getMessage()]
    assert len(lines) == 1
    assert REV in lines[0]
    assert "ceil(140/70)=2" in lines[0]
    assert "target 70" in lines[0]


async def test_activation_failure_is_reported_once(rig: Rig) -> None:
    ann = {"serving.knative.dev/progress-deadline": "20s"}
    rig.autoscaler.upsert(revision(ann), routable=True)
    await rig.clock.advance(60.0)  # never ready: 20 s + 30 s buffer, then zero
    assert rig.scaler.desired[REV][-1] == 0
    assert [(r, reason) for r, reason, _ in rig.listener.failed] == [
        (REV, "ProgressDeadlineExceeded")
    ]
    st = rig.autoscaler.status(REV)
    assert st is not None
    assert st.failed


async def test_hpa_class_scales_on_cpu(rig: Rig) -> None:
    ann = {"autoscaling.knative.dev/class": "hpa.autoscaling.knative.dev"}
    rig.autoscaler.upsert(revision(ann), routable=True)
    rig.scaler.ready[REV], rig.scaler.cpu = 1, 2.0  # 200 % of 1 core vs 80 % -> 3
    await rig.clock.advance(2.0)
    assert rig.scaler.desired[REV] == [1, 3]
    st = rig.autoscaler.status(REV)
    assert st is not None
    assert st.stable == pytest.approx(200.0)
    assert st.metric == "cpu"


async def test_unknown_revisions_are_ignored(rig: Rig) -> None:
    rig.autoscaler.poke("nope")
    rig.autoscaler.record(RevisionStats("nope", 1.0, 1.0, 1.0))
    rig.autoscaler.remove("nope")
    assert rig.autoscaler.status("nope") is None
    assert rig.scaler.desired == {}


async def test_the_loop_wakes_at_the_kpa_timer_between_ticks(rig: Rig) -> None:
    ann = {"autoscaling.knative.dev/scale-to-zero-pod-retention-period": "45s"}
    rig.autoscaler.upsert(revision(ann), routable=False)
    rig.scaler.ready[REV] = 1
    # Idle: active at +2, kept a stable window (to +62), Inactive at +62; the 45 s retention
    # ends at +107, an odd second between two ticks: the loop wakes there, not at +108.
    await rig.clock.advance(106.9)
    assert rig.scaler.desired[REV] == [1]
    await rig.clock.advance(0.1)
    assert rig.scaler.desired[REV] == [1, 0]


async def test_the_loop_wakes_at_each_revisions_own_timer(rig: Rig) -> None:
    other = "iris-predictor-00002"
    for name, retention in ((REV, "45s"), (other, "47.5s")):
        ann = {"autoscaling.knative.dev/scale-to-zero-pod-retention-period": retention}
        rig.autoscaler.upsert(revision(ann).model_copy(update={"name": name}), routable=False)
        rig.scaler.ready[name] = 1
    # Retentions end at +107 and +109.5, both between ticks: each is scaled to zero there.
    await rig.clock.advance(107.0)
    assert (rig.scaler.desired[REV], rig.scaler.desired[other]) == ([1, 0], [1])
    await rig.clock.advance(2.4)
    assert rig.scaler.desired[other] == [1]
    await rig.clock.advance(0.1)
    assert rig.scaler.desired[other] == [1, 0]


async def test_hpa_decides_once_per_sync_period(rig: Rig) -> None:
    ann = {"autoscaling.knative.dev/class": "hpa.autoscaling.knative.dev"}
    rig.autoscaler.upsert(revision(ann), routable=True)
    rig.scaler.ready[REV], rig.scaler.cpu = 1, 0.8  # 80 %: on target -> 1
    await rig.clock.advance(2.0)
    rig.scaler.cpu = 2.0  # 200 % -> ceil(1 x 2.5) = 3, but only at the next 15 s sync
    await rig.clock.advance(14.0)
    assert rig.scaler.desired[REV] == [1]
    await rig.clock.advance(2.0)
    assert rig.scaler.desired[REV] == [1, 3]


async def test_upsert_again_updates_settings_without_recreating(rig: Rig) -> None:
    rig.autoscaler.upsert(revision(), routable=True)
    rig.autoscaler.upsert(revision({"autoscaling.knative.dev/target": "10"}), routable=True)
    assert rig.scaler.desired[REV] == [1]  # not re-created
    st = rig.autoscaler.status(REV)
    assert st is not None
    assert st.target == 7.0


async def test_a_failing_scaler_is_logged_and_the_loop_goes_on(
    rig: Rig, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig.autoscaler.upsert(revision(), routable=True)

    def boom(revision: str) -> int:
        raise RuntimeError("backend down")

    monkeypatch.setattr(rig.scaler, "ready_count", boom)
    await rig.clock.advance(2.0)
    assert any("evaluation failed" in r.getMessage() for r in caplog.records)
    monkeypatch.undo()
    rig.scaler.ready[REV] = 1
    await rig.clock.advance(2.0)
    st = rig.autoscaler.status(REV)
    assert st is not None
    assert st.last_decision == rig.clock.time()


def test_zero_initial_scale_revision_is_ready_without_a_replica(fake_clock: FakeClock) -> None:
    """Knative: with allow-zero-initial-scale, a revision created at scale 0 is Ready at once
    (so the route can send it traffic and the first request wakes it); at scale 1 it waits."""
    settings = Settings.model_validate({"config-autoscaler": {"allow-zero-initial-scale": True}})
    scaler, listener = FakeScaler(), RecordingListener()
    autoscaler = Autoscaler(
        settings, clock=fake_clock, scaler=scaler, listener=listener, metrics=Metrics()
    )
    autoscaler.upsert(
        revision({"autoscaling.knative.dev/initial-scale": "0",
                  "autoscaling.knative.dev/min-scale": "0"}),
        routable=False,
    )  # fmt: skip
    assert scaler.desired[REV] == [0]
    assert listener.ready == [REV]
    other = revision().model_copy(update={"name": "iris-predictor-00002"})
    autoscaler.upsert(other, routable=False)
    assert scaler.desired["iris-predictor-00002"] == [1]
    assert listener.ready == [REV]


async def test_a_revision_settled_at_zero_is_skipped_by_ticks_until_demand_arrives(
    rig: Rig,
) -> None:
    zero = {"autoscaling.knative.dev/initial-scale": "0"}
    a = Autoscaler(
        Settings.model_validate({"config-autoscaler": {"allow-zero-initial-scale": True}}),
        clock=rig.clock,
        scaler=rig.scaler,
        listener=rig.listener,
        metrics=Metrics(),
    )
    a.upsert(revision(zero), routable=True)
    for _ in range(3):  # a few ticks to settle (activating -> inactive)
        await rig.clock.advance(2.0)
        a.tick(rig.clock.monotonic())
    st = a.status(REV)
    assert st is not None
    settled_at = st.last_decision
    await rig.clock.advance(10.0)
    a.tick(rig.clock.monotonic())
    st = a.status(REV)
    assert st is not None
    assert st.last_decision == settled_at  # not evaluated: nothing could have changed
    for _ in range(3):  # the activator's per-second zero stats add no signal
        a.record(RevisionStats(REV, rig.clock.monotonic(), concurrency=0.0, rps=0.0))
        await rig.clock.advance(1.0)
    a.tick(rig.clock.monotonic())
    st = a.status(REV)
    assert st is not None
    assert st.last_decision == settled_at
    a.record(RevisionStats(REV, rig.clock.monotonic(), concurrency=1.0, rps=1.0))
    assert rig.scaler.desired[REV][-1] == 1  # demand wakes it at once
    await rig.clock.advance(2.0)
    a.tick(rig.clock.monotonic())
    st = a.status(REV)
    assert st is not None
    assert st.last_decision == rig.clock.time()  # and ticks decide for it again
