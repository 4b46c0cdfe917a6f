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
