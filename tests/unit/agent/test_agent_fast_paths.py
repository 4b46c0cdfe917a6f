"""The payload logger's fast paths give what the general ones give: the header-block scan, the
pre-encoded event headers."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from minikn.activator.agent.adapters import HeaderScanner, parse_header_lines
from minikn.activator.agent.cloudevents import (
    CE_REQUEST,
    CE_RESPONSE,
    CloudEvent,
    encode_header_lines,
)
from minikn.activator.agent.logger import PayloadLogger
from minikn.activator.agent.sender import SinkError
from minikn.activator.agent.wire import RawHttpSender
from minikn.core.clock import FakeClock, SystemClock
from minikn.core.metrics import Metrics
from minikn.core.revision import LoggerSpec

BLOCK = (
    b"host: iris.default.example.com\r\nContent-Type: text/csv\r\nX-User: a\r\n"
    b"x-ce-id: not-this\r\nCE-ID: given-id\r\nx-user:  b \r\nX-Tenant: t1"
)


def test_scan_finds_wanted_headers_in_block_order_case_insensitively() -> None:
    scanner = HeaderScanner(["Ce-Id", "x-user", "X-USER", "content-type", "missing"])
    assert scanner.scan(BLOCK) == [
        ("content-type", "text/csv"),
        ("x-user", "a"),
        ("ce-id", "given-id"),
        ("x-user", "b"),
    ]
    assert HeaderScanner(["x-tenant"]).scan(BLOCK) == [("x-tenant", "t1")]  # no trailing CRLF
    assert scanner.scan(b"") == []


@pytest.mark.parametrize(
    "block",
    [BLOCK, b"accept: */*\r\n", b"Ce-Id: \r\ncontent-type: a\r\ncontent-type: b\r\n"],
)
def test_block_and_mapping_paths_log_the_same_request(block: bytes) -> None:
    # mode "response": logging a request queues nothing (no sender task, no event loop needed)
    spec = LoggerSpec(url="http://sink", mode="response", metadata_headers=("X-User", "x-tenant"))
    logger = PayloadLogger(
        spec,
        isvc="iris",
        namespace="default",
        component="predictor",
        revision="iris-predictor-00001",
        source="src",
        metrics=Metrics(),
        clock=FakeClock(),
    )
    from_block = logger.log_request_lines(block, b"x")
    from_mapping = logger.log_request(parse_header_lines(block), b"x")
    assert from_block.content_type == from_mapping.content_type
    assert from_block.metadata == from_mapping.metadata
    given = from_mapping.ce_id if b"given-id" in block else None
    if given is not None:
        assert from_block.ce_id == given
    else:  # both drew a new UUID
        assert len(from_block.ce_id) == len(from_mapping.ce_id) == 36


class _Capture:
    """An event sender that accepts everything and keeps it."""

    def __init__(self) -> None:
        self.events: list[CloudEvent] = []
        self.got = asyncio.Event()

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def send_batch(self, events: Sequence[CloudEvent]) -> list[int | SinkError]:
        self.events.extend(events)
        self.got.set()
        return [202] * len(events)


async def test_logged_events_carry_their_headers_pre_encoded() -> None:
    sender = _Capture()
    spec = LoggerSpec(url="http://sink/", metadata_headers=("X-User",))
    logger = PayloadLogger(
        spec,
        isvc="iris",
        namespace="default",
        component="predictor",
        revision="iris-predictor-00001",
        source="src",
        metrics=Metrics(),
        clock=SystemClock(),
        sender=sender,
        linger_s=0.0,
    )
    await logger.start()
    logger.log_response(logger.log_request_lines(BLOCK, b"in"), 200, b"out")
    assert await logger.drain(timeout_s=5.0)
    await logger.close()
    assert [e.type for e in sender.events] == [CE_REQUEST, CE_RESPONSE]
    for event in sender.events:
        assert event.head == encode_header_lines(event.headers)
        assert event.headers["Ce-Metadata"] == '{"X-User":["a","b"]}'
        assert event.id == "given-id"
    raw = RawHttpSender("http://sink/")
    plain = sender.events[0]
    without_head = CloudEvent(plain.url, plain.headers, plain.body)
    assert raw._request(plain) == raw._request(without_head)
