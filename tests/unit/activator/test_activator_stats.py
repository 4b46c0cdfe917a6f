"""The activator reports Knative stats every second of the injected clock; middlewares wrap it."""

from __future__ import annotations

import asyncio
import random

import pytest

from minikn.activator import Activator, Handler, ProxyRequest
from minikn.activator.throttler import Throttler
from minikn.config import Settings
from minikn.core.clock import FakeClock
from minikn.core.endpoints import RevisionStats
from minikn.core.errors import NotFound, Unavailable
from minikn.core.revision import ContainerSpec, RevisionSpec
from minikn.telemetry.metrics import Metrics

SPEC = RevisionSpec(
    name="iris-predictor-00001",
    isvc="iris",
    component="predictor",
    generation=1,
    container=ContainerSpec(),
)


class _Recorder:
    def __init__(self) -> None:
        self.stats: list[RevisionStats] = []
        self.pokes: list[str] = []

    def record(self, stats: RevisionStats) -> None:
        self.stats.append(stats)

    def poke(self, revision: str) -> None:
        self.pokes.append(revision)


class _Sink:
    status = 200
    started = True

    def start(self, *args: object) -> None: ...
    def write(self, data: bytes) -> None: ...
    def flush(self) -> None: ...
    def end(self) -> None: ...
    def abort(self) -> None: ...
    def bind_producer(self, producer: object) -> None: ...


def _request() -> ProxyRequest:
    return ProxyRequest(method=b"POST", target=b"/", headers=b"", request_id="r")


async def test_stats_are_time_weighted_per_one_second_bucket(fake_clock: FakeClock) -> None:
    gates = [asyncio.Event(), asyncio.Event()]
    seen: list[str] = []

    def hold(spec: RevisionSpec, inner: Handler) -> Handler:
        async def handler(request: ProxyRequest, sink: object) -> None:
            seen.append(spec.name)
            await gates[len(seen) - 1].wait()

        return handler  # type: ignore[return-value]

    rec = _Recorder()
    metrics = Metrics()
    act = Activator(
        Settings(), clock=fake_clock, stats=rec, poker=rec, metrics=metrics, middlewares=[hold]
    )
    act.upsert_revision(SPEC)
    await act.start()
    try:
        tasks = [asyncio.create_task(act.handle(SPEC.name, _request(), _Sink())) for _ in range(2)]
        await asyncio.sleep(0)
        assert act.in_flight(SPEC.name) == 2
        await fake_clock.advance(0.5)
        gates[0].set()
        await tasks[0]
        await fake_clock.advance(0.5)
        assert len(rec.stats) == 1
        first = rec.stats[0]
        assert first.revision == SPEC.name
        assert first.concurrency == pytest.approx(2 * 0.5 + 1 * 0.5)
        assert first.rps == pytest.approx(2.0)
        gates[1].set()
        await tasks[1]
        await fake_clock.advance(1.0)
        assert rec.stats[1].concurrency == pytest.approx(0.0)
        assert rec.stats[1].rps == 0.0
        assert seen == [SPEC.name, SPEC.name]
        labels = {
            "namespace": "default",
            "isvc": "iris",
            "component": "predictor",
            "revision": SPEC.name,
            "code": "200",
        }
        assert metrics.registry.get_sample_value("activator_request_count_total", labels) == 2
    finally:
        await act.close()


async def test_unknown_revision_is_not_found(fake_clock: FakeClock) -> None:
    rec = _Recorder()
    act = Activator(Settings(), clock=fake_clock, stats=rec, poker=rec, metrics=Metrics())
    with pytest.raises(NotFound):
        await act.handle("nope", _request(), _Sink())


async def test_injected_throttler_serves_the_revision_and_is_built_once() -> None:
    built: list[Throttler] = []

    def throttlers(spec: RevisionSpec) -> Throttler:
        t = Throttler(
            spec.name, container_concurrency=1, max_buffered=0, retry_after=7,
            poke=lambda: None, rng=random.Random(0), clock=FakeClock(), max_connections=1,
            ejection_time=1.0,
        )  # fmt: skip
        built.append(t)
        return t

    rec = _Recorder()
    settings = Settings()
    activator = Activator(
        settings, clock=FakeClock(), stats=rec, poker=rec, metrics=Metrics(), throttlers=throttlers
    )
    activator.upsert_revision(SPEC)
    activator.upsert_revision(SPEC)  # an update keeps the revision's throttler
    assert len(built) == 1
    sink = _Sink()
    # max_buffered=0 from the injected throttler: a request at zero replicas is refused at once.
    with pytest.raises(Unavailable, match="buffer full") as info:
        await activator.handle(SPEC.name, _request(), sink)
    assert info.value.retry_after == 7


class _WholeReports(_Recorder):
    """A sink that takes whole reports (the idle revisions' zeros implied)."""

    def __init__(self) -> None:
        super().__init__()
        self.reports: list[tuple[float, list[RevisionStats]]] = []

    def record_all(self, time: float, stats: list[RevisionStats]) -> None:
        self.reports.append((time, list(stats)))


def _other(name: str) -> RevisionSpec:
    return SPEC.model_copy(update={"name": name, "isvc": name})


async def _one_held_request_after_idle_seconds(
    clock: FakeClock, sink: _Recorder
) -> tuple[Activator, Metrics]:
    """Two revisions; 3.5 idle seconds, then one request to SPEC held for 1.0 s, then 2 s more."""
    gate = asyncio.Event()

    def hold(spec: RevisionSpec, inner: Handler) -> Handler:
        async def handler(request: ProxyRequest, out: object) -> None:
            await gate.wait()

        return handler  # type: ignore[return-value]

    metrics = Metrics()
    act = Activator(
        Settings(), clock=clock, stats=sink, poker=sink, metrics=metrics, middlewares=[hold]
    )
    act.upsert_revision(SPEC)
    act.upsert_revision(_other("idle"))
    await act.start()
    await asyncio.sleep(0)  # the reporter waits for its first second
    await clock.advance(3.5)
    task = asyncio.create_task(act.handle(SPEC.name, _request(), _Sink()))
    await asyncio.sleep(0)
    await clock.advance(1.0)
    gate.set()
    await task
    await clock.advance(2.0)
    return act, metrics


async def test_a_whole_report_names_only_revisions_that_held_a_request(
    fake_clock: FakeClock,
) -> None:
    sink = _WholeReports()
    act, metrics = await _one_held_request_after_idle_seconds(fake_clock, sink)
    try:
        named = [[s.revision for s in stats] for _, stats in sink.reports]
        # Reports at 1, 2, 3 (idle), 4 (the request arrived at 3.5), 5 (it ended at 4.5), 6.
        assert named == [[], [], [], [SPEC.name], [SPEC.name], []]
        at_4, at_5 = sink.reports[3][1][0], sink.reports[4][1][0]
        # The bucket after idle reports starts at the last report, as closing each would have:
        assert (at_4.concurrency, at_4.rps) == (pytest.approx(0.5), pytest.approx(1.0))
        assert (at_5.concurrency, at_5.rps) == (pytest.approx(0.5), 0.0)
        assert sink.stats == []
        labels = {"namespace": "default", "isvc": "idle", "revision": "idle"}
        assert metrics.registry.get_sample_value("minikn_activator_buffered_requests", labels) == 0
    finally:
        await act.close()


async def test_a_sink_without_whole_reports_gets_a_stat_per_revision_per_second(
    fake_clock: FakeClock,
) -> None:
    whole, per_revision = _WholeReports(), _Recorder()
    act, _ = await _one_held_request_after_idle_seconds(FakeClock(), whole)
    await act.close()
    act, _ = await _one_held_request_after_idle_seconds(fake_clock, per_revision)
    await act.close()
    expected = []
    for time, stats in whole.reports:  # the named stats, and a zero for each other revision
        mine = {s.revision: s for s in stats}
        for name in (SPEC.name, "idle"):
            expected.append(mine.get(name, RevisionStats(name, time, 0.0, 0.0)))
    key = lambda s: (s.time, s.revision)  # noqa: E731
    assert sorted(per_revision.stats, key=key) == sorted(expected, key=key)
