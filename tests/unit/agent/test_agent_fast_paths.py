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
from minikn.core.revision import LoggerSpec
from minikn.telemetry.metrics import Metrics

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


def test_new_event_ids_are_distinct_version_4_uuids() -> None:
    import uuid

    from minikn.activator.agent.logger import _new_id

    ids = [_new_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text  # canonical form: lower-case, hyphenated
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122


def test_encoded_event_is_the_request_the_sender_would_write() -> None:
    raw = RawHttpSender("http://sink:8080/events?x=1")
    event = CloudEvent("http://sink:8080/events?x=1", {"Ce-Id": "1", "Ce-Type": "t"}, b"{}")
    expected = raw._request(event)
    assert expected.startswith(b"POST /events?x=1 HTTP/1.1\r\nHost: sink:8080\r\nCe-Id: 1\r\n")
    assert raw.encode(event) is event
    assert event.wire == expected
    assert raw._request(event) == expected


def test_identical_pipelined_answers_are_counted_without_parsing_each() -> None:
    from minikn.activator.agent.wire import _Responses

    answer = b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n"
    other = b"HTTP/1.1 500 Oops\r\ncontent-length: 2\r\n\r\nno"
    responses = _Responses(None)  # type: ignore[arg-type]  # nothing is read: all is buffered
    responses._buf = answer * 5
    assert responses.repeats(5) is None  # nothing remembered yet
    assert responses.ready() == (202, True)
    assert responses.repeats(3) is None  # four left: more than asked for
    assert responses.repeats(4) == ((202, True), 4)
    assert responses.repeats(4) is None  # all taken
    responses._buf, responses._pos = answer + other + answer, 0
    assert responses.repeats(3) is None  # not all alike: one by one
    assert [responses.ready(), responses.ready(), responses.ready()] == [
        (202, True),
        (500, True),
        (202, True),
    ]
