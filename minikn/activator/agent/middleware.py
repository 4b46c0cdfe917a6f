"""The agent features as the activator's per-revision middlewares (``minikn.activator.http``).

``Activator(..., middlewares=[trace_middleware, AgentMiddleware(metrics=..., clock=...)])``: the
first is outermost. ``trace_middleware`` rewrites ``traceparent``/``tracestate`` for every revision
and records the hop (the terminal handler may put the replica id in ``request.extra["replica"]``).
``AgentMiddleware`` wraps only revisions whose spec sets ``logger`` or ``batcher``: it buffers the
request body, runs :class:`~minikn.activator.agent.chain.Agent`, whose upstream calls the inner
handler with a capturing sink, and writes the buffered answer to the client.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus

from multidict import CIMultiDict

from minikn.activator.agent.chain import Agent
from minikn.activator.agent.trace import start_hop
from minikn.activator.agent.types import UpstreamResponse
from minikn.activator.http import BodyStream, Handler, ProxyRequest, ResponseSink
from minikn.core.clock import Clock, SystemClock
from minikn.core.metrics import Metrics
from minikn.core.revision import RevisionSpec

__all__ = ["AgentMiddleware", "BufferSink", "TraceMiddleware", "trace_middleware"]

log = logging.getLogger("minikn.activator.agent")

_FRAMING = frozenset({"content-length", "transfer-encoding"})
_TRACE = (b"traceparent", b"tracestate")


def parse_header_lines(block: bytes) -> CIMultiDict[str]:
    """``Name: value\\r\\n`` lines -> a case-insensitive multi-dict (latin-1, as HTTP/1.1)."""
    headers: CIMultiDict[str] = CIMultiDict()
    for line in block.split(b"\r\n"):
        name, sep, value = line.partition(b":")
        if sep:
            headers.add(name.strip().decode("latin-1"), value.strip().decode("latin-1"))
    return headers


def header_lines(headers: Mapping[str, str]) -> bytes:
    """The inverse of :func:`parse_header_lines`, framing headers left out."""
    return b"".join(
        f"{name}: {value}\r\n".encode("latin-1")
        for name, value in headers.items()
        if name.lower() not in _FRAMING
    )


class BufferSink:
    """A :class:`~minikn.activator.http.ResponseSink` that keeps the whole response."""

    def __init__(self) -> None:
        self._status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: list[bytes] = []
        self.ended = False

    @property
    def status(self) -> int:
        return self._status

    @property
    def started(self) -> bool:
        return self._status != 0

    def start(
        self, status: int, reason: bytes, headers: list[tuple[bytes, bytes]], length: int | None
    ) -> None:
        self._status = status
        self.headers = headers

    def write(self, data: bytes) -> None:
        self.chunks.append(data)

    def flush(self) -> None:
        pass

    def end(self) -> None:
        self.ended = True

    def abort(self) -> None:
        self.ended = True

    def bind_producer(self, producer: asyncio.Transport | None) -> None:
        pass

    def response(self) -> UpstreamResponse:
        headers = {
            k.decode("latin-1"): v.decode("latin-1")
            for k, v in self.headers
            if k.decode("latin-1").lower() not in _FRAMING
        }
        return UpstreamResponse(self._status, headers, b"".join(self.chunks))


def _split_trace_headers(block: bytes) -> tuple[bytes, dict[str, str]]:
    """(header lines without the trace headers, the trace headers' values), in one pass."""
    if b"trace" not in block.lower():  # the common case: nothing to take out
        return block, {}
    kept: list[bytes] = []
    found: dict[str, str] = {}
    for line in block.split(b"\r\n"):
        if not line:
            continue
        name, _, value = line.partition(b":")
        lowered = name.strip().lower()
        if lowered in _TRACE:
            found[lowered.decode("latin-1")] = value.strip().decode("latin-1")
        else:
            kept.append(line + b"\r\n")
    return b"".join(kept), found


class TraceMiddleware:
    """Continue or start the W3C trace for each request to a revision, and record the hop."""

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock: Clock = clock if clock is not None else SystemClock()

    def __call__(self, spec: RevisionSpec, handler: Handler) -> Handler:
        clock = self._clock

        async def traced(request: ProxyRequest, sink: ResponseSink) -> None:
            kept, incoming = _split_trace_headers(request.headers)
            hop = start_hop(
                incoming,
                isvc=spec.isvc,
                namespace=spec.namespace,
                component=spec.component,
                revision=spec.name,
            )
            extra = f"traceparent: {hop.context.traceparent}\r\n"
            if hop.context.tracestate:
                extra += f"tracestate: {hop.context.tracestate}\r\n"
            request.headers = kept + extra.encode("latin-1")
            request.extra["trace"] = hop
            started = clock.monotonic()
            try:
                await handler(request, sink)
            finally:
                replica = request.extra.get("replica")
                hop.record(
                    replica=replica if isinstance(replica, str) else "-",
                    status=sink.status,
                    duration_s=clock.monotonic() - started,
                )

        return traced


trace_middleware = TraceMiddleware()
"""The trace middleware on the system clock."""


@dataclass(slots=True)
class _Entry:
    key: tuple[object, ...]
    agent: Agent | None


class AgentMiddleware:
    """Builds one :class:`Agent` per revision (kept across upserts of the same settings)."""

    def __init__(self, *, metrics: Metrics, clock: Clock) -> None:
        self._metrics = metrics
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._closing: set[asyncio.Task[None]] = set()

    def __call__(self, spec: RevisionSpec, handler: Handler) -> Handler:
        key = (spec.logger, spec.batcher, spec.isvc, spec.namespace, spec.component)
        entry = self._entries.get(spec.name)
        if entry is None or entry.key != key:
            if entry is not None:
                self._retire(entry.agent)
            agent = Agent.for_revision(spec, metrics=self._metrics, clock=self._clock)
            entry = self._entries[spec.name] = _Entry(key, agent)
        if entry.agent is None:
            return handler
        return _wrap(entry.agent, handler)

    def agent(self, revision: str) -> Agent | None:
        """The revision's agent, None when it sets neither ``logger`` nor ``batcher``."""
        entry = self._entries.get(revision)
        return entry.agent if entry is not None else None

    def discard(self, revision: str) -> None:
        """The revision is gone: stop its agent (in an owned task; :meth:`close` awaits it)."""
        entry = self._entries.pop(revision, None)
        if entry is not None:
            self._retire(entry.agent)

    def _retire(self, agent: Agent | None) -> None:
        if agent is None:
            return
        task = asyncio.get_running_loop().create_task(agent.close(), name="agent-close")
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        for name in list(self._entries):
            self.discard(name)
        results = await asyncio.gather(*self._closing, return_exceptions=True)
        for result in results:
            if isinstance(result, Exception):
                log.warning("closing a revision's agent failed: %s", result)


def _wrap(agent: Agent, inner: Handler) -> Handler:
    async def handle(request: ProxyRequest, sink: ResponseSink) -> None:
        received = b""
        if request.body is not None:
            parts = []
            while chunk := await request.body.read():
                parts.append(chunk)
            received = b"".join(parts)
        had_body = request.body is not None
        parsed = parse_header_lines(request.headers)

        async def upstream(
            method: str, path: str, headers: Mapping[str, str], body: bytes
        ) -> UpstreamResponse:
            stream = None
            if body or had_body:
                stream = BodyStream(None)
                stream.feed(body)
                stream.feed_eof()
            inner_request = ProxyRequest(
                method.encode("latin-1"),
                path.encode("latin-1"),
                request.headers if headers is parsed else header_lines(headers),
                request.request_id,
                body=stream,
                content_length=len(body) if stream is not None else None,
                extra=request.extra,
            )
            capture = BufferSink()
            await inner(inner_request, capture)
            return capture.response()

        answer = await agent.handle(
            request.method.decode("latin-1"),
            request.target.decode("latin-1"),
            parsed,
            received,
            upstream,
        )
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in answer.headers.items()]
        sink.start(answer.status, _reason(answer.status), headers, len(answer.body))
        if answer.body:
            sink.write(answer.body)
        sink.end()

    return handle


def _reason(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:
        return b""
