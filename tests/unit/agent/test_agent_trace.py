"""W3C trace context: parsing, continuing or starting a trace, and recording each hop."""

from __future__ import annotations

import logging
import random

import pytest

from minikn.activator.agent.trace import (
    TraceContext,
    child_context,
    new_traceparent_line,
    parse_traceparent,
    start_hop,
)

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"
VALID = f"00-{TRACE}-{SPAN}-01"


@pytest.mark.parametrize(
    ("header", "valid"),
    [
        (VALID, True),
        (f"00-{TRACE}-{SPAN}-00", True),
        (f"  {VALID} ", True),
        (f"01-{TRACE}-{SPAN}-01-extra", True),  # future version: extra fields ignored
        (f"00-{TRACE}-{SPAN}-01-extra", False),  # version 00 has exactly four fields
        (f"ff-{TRACE}-{SPAN}-01", False),
        (f"00-{'0' * 32}-{SPAN}-01", False),
        (f"00-{TRACE}-{'0' * 16}-01", False),
        (f"00-{TRACE.upper()}-{SPAN}-01", False),
        (f"00-{TRACE[:-1]}-{SPAN}-01", False),
        (f"00-{TRACE}-{SPAN}0-01", False),
        (f"00-{TRACE}-{SPAN}-1", False),
        (f"0g-{TRACE}-{SPAN}-01", False),
        ("garbage", False),
        ("", False),
        (None, False),
    ],
)
def test_parse_traceparent_accepts_only_w3c_format(header: str | None, valid: bool) -> None:
    ctx = parse_traceparent(header)
    assert (ctx is not None) is valid
    if ctx is not None:
        assert (ctx.trace_id, ctx.span_id) == (TRACE, SPAN)


def test_child_keeps_trace_flags_and_state_with_a_new_span() -> None:
    parent = TraceContext(TRACE, SPAN, "00", "vendor=abc")
    child = child_context(parent, "1111111111111111", "unused")
    assert child.traceparent == f"00-{TRACE}-1111111111111111-00"
    assert child.tracestate == "vendor=abc"


def test_no_parent_starts_a_sampled_trace() -> None:
    child = child_context(None, "1111111111111111", "2" * 32)
    assert child.traceparent == f"00-{'2' * 32}-1111111111111111-01"
    assert child.tracestate is None


def test_hop_continues_a_valid_trace_with_a_new_span() -> None:
    hop = start_hop(
        {"TraceParent": VALID, "tracestate": "a=1"},
        isvc="iris",
        namespace="ns",
        component="predictor",
        revision="iris-predictor-00001",
        rng=random.Random(0),
    )
    out = hop.forward_headers({"TraceParent": VALID, "tracestate": "a=1", "X-Other": "y"})
    version, trace_id, span_id, flags = out["traceparent"].split("-")
    assert (version, trace_id, flags) == ("00", TRACE, "01")
    assert span_id != SPAN
    assert len(span_id) == 16
    assert out["tracestate"] == "a=1"
    assert out["X-Other"] == "y"
    assert "TraceParent" not in out
    assert hop.parent_span_id == SPAN


def test_hop_with_invalid_traceparent_starts_new_trace_and_drops_tracestate() -> None:
    hop = start_hop(
        {"traceparent": "00-bad-bad-01", "tracestate": "a=1"},
        isvc="iris",
        namespace="ns",
        component="predictor",
        revision="r1",
        rng=random.Random(0),
    )
    out = hop.forward_headers({"traceparent": "00-bad-bad-01", "tracestate": "a=1"})
    parsed = parse_traceparent(out["traceparent"])
    assert parsed is not None
    assert parsed.trace_id != TRACE
    assert "tracestate" not in out
    assert hop.parent_span_id is None


def test_hops_in_a_chain_share_the_trace_id_and_link_parents() -> None:
    rng = random.Random(3)
    first = start_hop({}, isvc="i", namespace="n", component="transformer", revision="t1", rng=rng)
    to_predictor = first.forward_headers({})
    second = start_hop(
        to_predictor, isvc="i", namespace="n", component="predictor", revision="p1", rng=rng
    )
    assert second.context.trace_id == first.context.trace_id
    assert second.parent_span_id == first.context.span_id
    assert second.context.span_id != first.context.span_id


def test_record_logs_the_hop_identity_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    hop = start_hop(
        {"traceparent": VALID},
        isvc="iris",
        namespace="ns",
        component="predictor",
        revision="iris-predictor-00001",
        rng=random.Random(0),
    )
    with caplog.at_level(logging.DEBUG, logger="minikn.activator.trace"):
        hop.record(replica="iris-predictor-00001-abc", status=200, duration_s=0.0125)
    [record] = caplog.records
    message = record.getMessage()
    for part in (
        f"trace_id={TRACE}",
        f"span_id={hop.context.span_id}",
        f"parent_id={SPAN}",
        "isvc=ns/iris",
        "component=predictor",
        "revision=iris-predictor-00001",
        "replica=iris-predictor-00001-abc",
        "status=200",
        "duration_ms=12.50",
    ):
        assert part in message
    assert record.__dict__["replica"] == "iris-predictor-00001-abc"


def test_record_is_silent_above_debug(caplog: pytest.LogCaptureFixture) -> None:
    hop = start_hop(
        {}, isvc="i", namespace="n", component="predictor", revision="r", rng=random.Random(0)
    )
    with caplog.at_level(logging.INFO, logger="minikn.activator.trace"):
        hop.record(replica="x", status=200, duration_s=0.0)
    assert caplog.records == []


def test_ids_come_from_the_injected_generator() -> None:
    hops = [
        start_hop({}, isvc="i", namespace="n", component="c", revision="r", rng=random.Random(9))
        for _ in range(2)
    ]
    assert hops[0].context == hops[1].context  # same seed, same ids: nothing hidden draws them
    line = new_traceparent_line(random.Random(9))
    assert line == f"traceparent: {hops[0].context.traceparent}\r\n".encode()
