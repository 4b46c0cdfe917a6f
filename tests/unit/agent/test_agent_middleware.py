"""The adapters between the activator's byte-level seam and the agent features."""

from __future__ import annotations

import logging

import pytest

from minikn.activator import ProxyRequest, ResponseSink
from minikn.activator.agent.adapters import BufferSink, header_lines, parse_header_lines
from minikn.activator.agent.middleware import AgentMiddleware, trace_middleware
from minikn.activator.agent.trace import parse_traceparent
from minikn.core.clock import FakeClock
from minikn.core.revision import BatcherSpec, ContainerSpec, RevisionSpec
from minikn.telemetry.metrics import Metrics

SPEC = RevisionSpec(
    name="m-predictor-00001",
    isvc="m",
    component="predictor",
    generation=1,
    container=ContainerSpec(),
)


def test_header_lines_round_trip_keeps_repeats_and_drops_framing() -> None:
    block = b"Host: h\r\nX-A: 1\r\nx-a: 2\r\nContent-Length: 5\r\n"
    headers = parse_header_lines(block)
    assert headers.getall("X-A") == ["1", "2"]
    assert header_lines(headers) == b"Host: h\r\nX-A: 1\r\nx-a: 2\r\n"


async def test_trace_middleware_replaces_trace_headers_and_records_the_replica(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[bytes] = []

    async def inner(request: ProxyRequest, sink: ResponseSink) -> None:
        seen.append(request.headers)
        request.ctx.replica = "m-predictor-00001-r0"
        sink.start(200, b"OK", [], 0)
        sink.end()

    incoming = (
        b"host: h\r\nTraceParent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n"
    )
    request = ProxyRequest(method=b"GET", target=b"/", headers=incoming, request_id="r")
    with caplog.at_level(logging.DEBUG, logger="minikn.activator.trace"):
        await trace_middleware(SPEC, inner)(request, BufferSink())
    forwarded = parse_header_lines(seen[0])
    assert forwarded.getall("traceparent") == [forwarded["traceparent"]]
    parsed = parse_traceparent(forwarded["traceparent"])
    assert parsed is not None
    assert parsed.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert forwarded["host"] == "h"
    [record] = caplog.records
    assert "replica=m-predictor-00001-r0" in record.getMessage()
    assert "status=200" in record.getMessage()


async def test_trace_middleware_starts_a_trace_when_none_came_in() -> None:
    seen: list[bytes] = []

    async def inner(request: ProxyRequest, sink: ResponseSink) -> None:
        seen.append(request.headers)

    request = ProxyRequest(method=b"GET", target=b"/", headers=b"host: h\r\n", request_id="r")
    await trace_middleware(SPEC, inner)(request, BufferSink())
    forwarded = parse_header_lines(seen[0])
    assert forwarded["host"] == "h"
    assert parse_traceparent(forwarded["traceparent"]) is not None
    assert "tracestate" not in forwarded


async def test_agent_middleware_leaves_plain_revisions_alone(fake_clock: FakeClock) -> None:
    async def inner(request: ProxyRequest, sink: ResponseSink) -> None:
        pass

    agents = AgentMiddleware(metrics=Metrics(), clock=fake_clock)
    assert agents(SPEC, inner) is inner
    assert agents.agent(SPEC.name) is None
    batched = SPEC.model_copy(update={"batcher": BatcherSpec()})
    assert agents(batched, inner) is not inner
    first = agents.agent(SPEC.name)
    assert first is not None
    assert first.batcher is not None
    agents(batched, inner)
    assert agents.agent(SPEC.name) is first  # same settings: the same agent
    agents.discard(SPEC.name)
    assert agents.agent(SPEC.name) is None
    await agents.close()
