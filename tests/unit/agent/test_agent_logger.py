"""The payload logger's modes, queueing, retries and drop accounting, with a fake sink."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from minikn.activator.agent.cloudevents import CE_REQUEST, CE_RESPONSE, CloudEvent
from minikn.activator.agent.logger import PayloadLogger
from minikn.activator.agent.sender import SinkError
from minikn.core.clock import FakeClock
from minikn.core.revision import LoggerSpec
from minikn.telemetry.metrics import Metrics

LABELS = {"namespace": "ns", "isvc": "iris", "revision": "iris-predictor-00001"}


class FakeSender:
    """Answers with the queued statuses (or raises SinkError for None); then 200."""

    def __init__(self, *script: int | None) -> None:
        self.script = list(script)
        self.attempts: list[CloudEvent] = []
        self.delivered: list[CloudEvent] = []
        self.gate: asyncio.Event | None = None

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def send_batch(self, events: Sequence[CloudEvent]) -> list[int | SinkError]:
        if self.gate is not None:
            await self.gate.wait()
        out: list[int | SinkError] = []
        for event in events:
            self.attempts.append(event)
            status = self.script.pop(0) if self.script else 200
            if status is None:
                out.append(SinkError("connection refused"))
                continue
            if 200 <= status < 300:
                self.delivered.append(event)
            out.append(status)
        return out


def _count(metrics: Metrics, name: str) -> float:
    return metrics.registry.get_sample_value(name, LABELS) or 0.0


async def _until(predicate: object, sender: FakeSender, clock: FakeClock | None = None) -> None:
    """Let the sender tasks run until ``predicate()`` holds (bounded, no wall-clock sleep)."""
    assert callable(predicate)
    for _ in range(200):
        if predicate():
            return
        if clock is not None:
            await clock.advance(0.05)
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


def _logger(
    spec: LoggerSpec,
    sender: FakeSender,
    clock: FakeClock,
    metrics: Metrics | None = None,
    *,
    queue_size: int = 100,
    workers: int = 4,
) -> PayloadLogger:
    return PayloadLogger(
        spec,
        isvc="iris",
        namespace="ns",
        component="predictor",
        revision="iris-predictor-00001",
        source="http://iris-predictor-00001.ns",
        metrics=metrics if metrics is not None else Metrics(),
        clock=clock,
        sender=sender,
        queue_size=queue_size,
        workers=workers,
        linger_s=0.0,
    )


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.mark.parametrize(
    ("mode", "types"),
    [
        ("all", [CE_REQUEST, CE_RESPONSE]),
        ("request", [CE_REQUEST]),
        ("response", [CE_RESPONSE]),
    ],
)
async def test_mode_selects_which_events_are_sent(
    mode: str, types: list[str], fake_clock: FakeClock, metrics: Metrics
) -> None:
    sender = FakeSender()
    spec = LoggerSpec.model_validate({"url": "http://sink", "mode": mode})
    logger = _logger(spec, sender, fake_clock, metrics, workers=1)
    await logger.start()
    req = logger.log_request({"Content-Type": "application/json"}, b"in")
    logger.log_response(req, 200, b"out")
    await _until(lambda: len(sender.delivered) == len(types), sender)
    assert [e.type for e in sender.delivered] == types
    assert _count(metrics, "minikn_logger_events_sent_total") == len(types)
    await logger.close()


async def test_request_and_response_share_the_incoming_ce_id(fake_clock: FakeClock) -> None:
    sender = FakeSender()
    logger = _logger(LoggerSpec(url="http://sink"), sender, fake_clock)
    await logger.start()
    req = logger.log_request({"ce-id": "given-id", "content-type": "text/csv"}, b"1,2")
    logger.log_response(req, 200, b"3")
    await _until(lambda: len(sender.delivered) == 2, sender)
    assert {e.id for e in sender.delivered} == {"given-id"}
    assert {e.headers["Content-Type"] for e in sender.delivered} == {"text/csv"}
    await logger.close()


async def test_non_200_response_is_not_logged(fake_clock: FakeClock, metrics: Metrics) -> None:
    sender = FakeSender()
    logger = _logger(LoggerSpec(url="http://sink"), sender, fake_clock, metrics)
    await logger.start()
    for status in (201, 400, 500):
        logger.log_response(logger.log_request({}, b"x"), status, b"y")
    await _until(lambda: len(sender.delivered) == 3, sender)
    await logger.close()
    assert [e.type for e in sender.delivered] == [CE_REQUEST] * 3


async def test_full_queue_drops_and_counts_without_blocking(
    fake_clock: FakeClock, metrics: Metrics
) -> None:
    sender = FakeSender()
    sender.gate = asyncio.Event()  # the sink hangs
    logger = _logger(
        LoggerSpec(url="http://sink", mode="request"),
        sender,
        fake_clock,
        metrics,
        queue_size=2,
        workers=1,
    )
    await logger.start()
    logger.log_request({}, b"0")
    await asyncio.sleep(0)  # the worker takes event 0 and hangs on the sink
    for i in range(1, 6):
        logger.log_request({}, str(i).encode())  # returns at once even with the sink hung
    assert _count(metrics, "minikn_logger_events_dropped_total") == 3
    sender.gate.set()
    await _until(lambda: len(sender.delivered) == 3, sender)
    assert [e.body for e in sender.delivered] == [b"0", b"1", b"2"]
    await logger.close()


async def test_transient_failures_are_retried_with_backoff(
    fake_clock: FakeClock, metrics: Metrics
) -> None:
    sender = FakeSender(None, 503)
    logger = _logger(
        LoggerSpec(url="http://sink", mode="request"), sender, fake_clock, metrics, workers=1
    )
    await logger.start()
    logger.log_request({}, b"x")
    await _until(lambda: len(sender.attempts) == 1, sender)
    await asyncio.sleep(0)
    assert len(sender.attempts) == 1  # waits for the backoff on the fake clock
    await _until(lambda: len(sender.delivered) == 1, sender, fake_clock)
    assert len(sender.attempts) == 3
    assert _count(metrics, "minikn_logger_events_sent_total") == 1
    assert _count(metrics, "minikn_logger_events_dropped_total") == 0
    await logger.close()


@pytest.mark.parametrize(("script", "attempts"), [((400,), 1), ((None, None, None), 3)])
async def test_permanent_or_exhausted_failures_drop_and_count(
    script: tuple[int | None, ...], attempts: int, fake_clock: FakeClock, metrics: Metrics
) -> None:
    sender = FakeSender(*script)
    logger = _logger(
        LoggerSpec(url="http://sink", mode="request"), sender, fake_clock, metrics, workers=1
    )
    await logger.start()
    logger.log_request({}, b"x")
    await _until(
        lambda: _count(metrics, "minikn_logger_events_dropped_total") == 1, sender, fake_clock
    )
    assert len(sender.attempts) == attempts
    assert sender.delivered == []
    await logger.close()


async def test_close_drops_and_counts_what_could_not_be_sent(
    fake_clock: FakeClock, metrics: Metrics
) -> None:
    sender = FakeSender()
    sender.gate = asyncio.Event()
    logger = _logger(
        LoggerSpec(url="http://sink", mode="request"), sender, fake_clock, metrics, workers=1
    )
    await logger.start()
    for i in range(3):
        logger.log_request({}, str(i).encode())
    await asyncio.sleep(0)
    closing = asyncio.create_task(logger.close(drain_s=1.0))
    await _until(closing.done, sender, fake_clock)
    # The one stuck in the hung sender and the two still queued are all dropped and counted.
    assert _count(metrics, "minikn_logger_events_dropped_total") == 3
    assert sender.delivered == []


class BrokenSender(FakeSender):
    async def send_batch(self, events: Sequence[CloudEvent]) -> list[int | SinkError]:
        if not self.attempts:
            self.attempts.extend(events)
            raise RuntimeError("bug")
        return await super().send_batch(events)


async def test_a_sender_bug_drops_the_batch_and_the_worker_goes_on(
    fake_clock: FakeClock, metrics: Metrics
) -> None:
    sender = BrokenSender()
    logger = _logger(
        LoggerSpec(url="http://sink", mode="request"), sender, fake_clock, metrics, workers=1
    )
    await logger.start()
    logger.log_request({}, b"lost")
    await _until(lambda: _count(metrics, "minikn_logger_events_dropped_total") == 1, sender)
    logger.log_request({}, b"kept")
    await _until(lambda: len(sender.delivered) == 1, sender)
    assert sender.delivered[0].body == b"kept"
    await logger.close()
