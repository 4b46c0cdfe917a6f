"""BodyStream's whole-body view, the request metrics series and the deadline sweeper."""

from __future__ import annotations

import asyncio

import pytest

from minikn.activator.deadlines import Deadlines
from minikn.core.clock import FakeClock
from minikn.core.errors import PayloadTooLarge
from minikn.telemetry.metrics import Metrics
from minikn.wire.http import BodyStream


def test_whole_body_is_left_in_place_for_the_reader() -> None:
    body = BodyStream(None)
    body.feed(b"ab")
    assert body.whole() is None  # not all here yet
    body.feed(b"cd")
    body.feed_eof()
    assert body.whole() == b"abcd"
    assert body.whole() == b"abcd"
    assert body.read_nowait() == b"abcd"  # the replica still gets all of it
    assert body.at_eof


def test_whole_of_an_empty_body_and_of_one_over_the_limit() -> None:
    empty = BodyStream(None)
    empty.feed_eof()
    assert empty.whole() == b""
    big = BodyStream(None, limit=3)
    big.feed(b"abcd")
    big.feed_eof()
    with pytest.raises(PayloadTooLarge):
        big.whole()


def test_request_series_export_counter_and_cumulative_histogram() -> None:
    metrics = Metrics()
    series = metrics.requests.series("ns", "iris", "predictor", "iris-predictor-00001")
    series.observe(200, 0.0004)  # first bucket (<= 0.0005)
    series.observe(200, 0.003)  # <= 0.005
    series.observe(504, 400.0)  # past the last bound: +Inf only
    series.count(404)  # answered before reaching the revision: no latency
    labels = {"namespace": "ns", "isvc": "iris", "component": "predictor",
              "revision": "iris-predictor-00001"}  # fmt: skip
    get = metrics.registry.get_sample_value
    assert get("activator_request_count_total", {**labels, "code": "200"}) == 2
    assert get("activator_request_count_total", {**labels, "code": "504"}) == 1
    assert get("activator_request_count_total", {**labels, "code": "404"}) == 1
    assert get("activator_request_latencies_bucket", {**labels, "le": "0.0005"}) == 1
    assert get("activator_request_latencies_bucket", {**labels, "le": "0.005"}) == 2
    assert get("activator_request_latencies_bucket", {**labels, "le": "300.0"}) == 2
    assert get("activator_request_latencies_bucket", {**labels, "le": "+Inf"}) == 3
    assert get("activator_request_latencies_count", labels) == 3
    assert get("activator_request_latencies_sum", labels) == pytest.approx(400.0034)


async def test_deadlines_fire_once_due_on_the_clock_and_not_when_discarded() -> None:
    clock = FakeClock()
    deadlines = Deadlines(clock.monotonic)
    fired: list[str] = []
    deadlines.add("a", 0.3, lambda: fired.append("a"))
    deadlines.add("b", 0.3, lambda: fired.append("b"))
    deadlines.add("c", 30.0, lambda: fired.append("c"))
    deadlines.discard("b", 0.3)
    await clock.advance(0.29)
    deadlines.sweep()
    assert fired == []  # not due yet
    await clock.advance(0.02)
    deadlines.sweep()
    deadlines.sweep()
    assert fired == ["a"]  # due: fired once; "b" was discarded
    assert len(deadlines) == 1  # "c" still waits
    deadlines.close()
    assert len(deadlines) == 0


async def test_deadline_timer_sweeps_by_itself_once_the_clock_passes_the_deadline() -> None:
    clock = FakeClock()
    deadlines = Deadlines(clock.monotonic, resolution=0.001)
    fired = asyncio.Event()
    deadlines.add("a", 5.0, fired.set)
    await clock.advance(5.0)
    async with asyncio.timeout(5):  # the loop's timer paces the sweeps; the clock decides
        await fired.wait()
    assert len(deadlines) == 0
    deadlines.close()
