"""The agent features as the activator's per-revision middlewares (``minikn.wire.http``).

``Activator(..., middlewares=[trace_middleware, AgentMiddleware(metrics=..., clock=...)])``: the
first is outermost. ``trace_middleware`` rewrites ``traceparent``/``tracestate`` for every revision
and records the hop (the terminal handler may put the replica id in ``request.ctx.replica``).
``AgentMiddleware`` wraps only revisions whose spec sets ``logger`` or ``batcher``. With a batcher
it buffers the request, runs :class:`~minikn.activator.agent.chain.Agent` (whose upstream calls the
inner handler with a capturing sink) and writes the whole answer; with only a logger it buffers
the request body but lets the response stream through, keeping a copy for the response event.

A gRPC call (``request.ctx.grpc``) is never buffered or batched: the batcher speaks KServe's REST
batching and would mangle it, so gRPC calls bypass it; the logger logs its request event at once,
with the body when the whole (framed) body had already arrived, else with none, so a large or
streaming call never waits for the logger. A gRPC call has no response event (its answer goes
straight to the client's stream).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass

from minikn.activator.agent.adapters import (
    BufferSink,
    TeeSink,
    header_lines,
    parse_header_lines,
    read_all,
    reason_phrase,
    replay,
)
from minikn.activator.agent.chain import Agent
from minikn.activator.agent.logger import LoggedRequest, PayloadLogger
from minikn.activator.agent.spans import hop_ids, hop_sampled, open_hop
from minikn.activator.agent.trace import TraceHop, new_traceparent_line, start_hop
from minikn.activator.agent.trace import log as trace_log
from minikn.activator.agent.types import UpstreamResponse
from minikn.core.clock import Clock, SystemClock
from minikn.core.revision import RevisionSpec
from minikn.telemetry.metrics import Metrics
from minikn.telemetry.tracing import Tracer
from minikn.wire.http import Handler, ProxyRequest, ResponseSink, Rewrite

__all__ = ["AgentMiddleware", "TraceMiddleware", "trace_middleware"]

log = logging.getLogger("minikn.activator.agent")

_TRACE = (b"traceparent", b"tracestate")
_LOW64 = (1 << 64) - 1


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
    """Continue or start the W3C trace for each request to a revision, and record the hop.

    Every request pays for this, so the common case (no incoming trace headers, the DEBUG hop
    record off) costs one scan of the header block and one formatted header line, and adds no
    coroutine: the layer is a :class:`~minikn.wire.http.Rewrite`, which the activator's fast
    lane applies in place. With a tracer, a sampled hop is opened in ``prepare`` and ended by
    the activator's accounting step (``request.ctx.on_finish``), so traced requests stay on the
    fast lane too (:mod:`minikn.activator.agent.spans`). Only the DEBUG hop record takes the
    full handler, which records the hop when the request is done.
    """

    def __init__(
        self,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        *,
        tracer: Tracer | None = None,
    ) -> None:
        """``rng`` draws the trace and span ids (default: one seeded from the OS); ``tracer``
        exports each hop's spans (ingress, the activator's wait, the proxied call) over OTLP."""
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._rng = rng if rng is not None else random.Random()
        self._tracer = tracer

    def __call__(self, spec: RevisionSpec, handler: Handler) -> Handler:
        clock, rng, tracer = self._clock, self._rng, self._tracer
        names = {
            "isvc": spec.isvc,
            "namespace": spec.namespace,
            "component": spec.component,
            "revision": spec.name,
        }
        where = (spec.isvc, spec.namespace, spec.component, spec.name)

        def continued(request: ProxyRequest) -> TraceHop:
            """Rewrite the trace headers through a :class:`TraceHop` (the caller's context
            continued, or a new one); open the hop's spans when sampled."""
            block, incoming = _split_trace_headers(request.headers)
            hop = start_hop(incoming, **names, rng=rng)
            if tracer is not None:
                trace, proxy, parent = hop_ids(hop)
                parent_flags = hop.context.flags if parent else None
                sampled = hop_sampled(tracer, trace, parent_flags)
                if parent_flags is None and not sampled:
                    context = dataclasses.replace(hop.context, flags="00")
                    hop = dataclasses.replace(hop, context=context)
                if sampled:
                    open_hop(request.ctx, tracer=tracer, clock=clock, rng=rng, trace=trace,
                             proxy=proxy, parent=parent, where=where)  # fmt: skip
            context = hop.context
            line = f"traceparent: {context.traceparent}\r\n"
            if context.tracestate:
                line += f"tracestate: {context.tracestate}\r\n"
            request.headers = block + line.encode("latin-1")
            return hop

        async def recorded(request: ProxyRequest, sink: ResponseSink) -> None:
            hop = continued(request)
            ctx = request.ctx
            ctx.trace = hop
            started = clock.monotonic()
            try:
                await handler(request, sink)
            finally:
                hop.record(
                    replica=ctx.replica or "-",
                    status=sink.status,
                    duration_s=clock.monotonic() - started,
                )

        def prepare(request: ProxyRequest, sink: ResponseSink) -> ResponseSink | None:
            if trace_log.isEnabledFor(logging.DEBUG):
                return None  # record the hop: the full handler
            block = request.headers
            if b"trace" in block.lower():
                continued(request)  # continue the caller's trace
            elif tracer is None:
                request.headers = block + new_traceparent_line(rng)  # this hop starts the trace
            else:
                trace = rng.getrandbits(128) or 1
                proxy = rng.getrandbits(64) or 1
                if (trace & _LOW64) < tracer.threshold:
                    request.headers = block + b"traceparent: 00-%032x-%016x-01\r\n" % (
                        trace, proxy
                    )  # fmt: skip
                    open_hop(request.ctx, tracer=tracer, clock=clock, rng=rng, trace=trace,
                             proxy=proxy, parent=0, where=where)  # fmt: skip
                else:
                    request.headers = block + b"traceparent: 00-%032x-%016x-00\r\n" % (
                        trace, proxy
                    )  # fmt: skip
            return sink

        return Rewrite(prepare, recorded, handler)


trace_middleware = TraceMiddleware()
"""The trace middleware on the system clock and an OS-seeded id generator."""


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
    if agent.batcher is None and agent.logger is not None:
        return _wrap_logger(agent.logger, inner)
    return _wrap_buffered(agent, inner)


def _log_grpc_request(logger: PayloadLogger | None, request: ProxyRequest) -> None:
    """A gRPC call's request event, without waiting for its body (module docstring)."""
    if logger is not None:
        body = request.body
        received = b"" if body is None else body.whole()
        logger.log_request_lines(request.headers, received or b"")


class _LoggedResponse(TeeSink):
    """Streams the response to the client and, once it ended, logs it (a 200 only)."""

    __slots__ = ("_logged", "_logger")

    def __init__(self, sink: ResponseSink, logger: PayloadLogger, logged: LoggedRequest) -> None:
        super().__init__(sink)
        self._logger = logger
        self._logged = logged

    def end(self) -> None:
        super().end()
        self._logger.log_response(self._logged, self.status, self.body())


def _wrap_logger(logger: PayloadLogger, inner: Handler) -> Handler:
    """Logger only: the request goes on unchanged and the response streams to the client while a
    copy is kept for the response event (no re-encoding, server-sent events still stream).

    A request whose body has all arrived is logged by the layer's ``prepare`` (so the activator's
    fast path serves it); one still streaming in is read whole first, by the full handler.
    """

    def prepare(request: ProxyRequest, sink: ResponseSink) -> ResponseSink | None:
        if request.ctx.grpc is not None:
            _log_grpc_request(logger, request)
            return sink
        body = request.body
        received = b"" if body is None else body.whole()  # left in place for the replica
        if received is None:
            return None
        return _LoggedResponse(sink, logger, logger.log_request_lines(request.headers, received))

    async def handle(request: ProxyRequest, sink: ResponseSink) -> None:
        received = await read_all(request.body)
        logged = logger.log_request_lines(request.headers, received)
        if request.body is not None:
            request.body = replay(received)
            request.content_length = len(received)
        await inner(request, _LoggedResponse(sink, logger, logged))

    return Rewrite(prepare, handle, inner)


_FRAMING = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive"})
"""Headers of an agent answer the client sink frames itself (the answer is whole)."""


def _wrap_buffered(agent: Agent, inner: Handler) -> Handler:
    """Batcher (and logger): whole requests in, whole answers out."""

    async def handle(request: ProxyRequest, sink: ResponseSink) -> None:
        if request.ctx.grpc is not None:  # passes by the batcher
            _log_grpc_request(agent.logger, request)
            await inner(request, sink)
            return
        received = await read_all(request.body)
        had_body = request.body is not None
        parsed = parse_header_lines(request.headers)

        async def upstream(
            method: str, path: str, headers: Mapping[str, str], body: bytes
        ) -> UpstreamResponse:
            stream = replay(body) if body or had_body else None
            inner_request = request.derive(
                method.encode("latin-1"),
                path.encode("latin-1"),
                request.headers if headers is parsed else header_lines(headers),
                stream,
                len(body) if stream is not None else None,
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
        # The sink frames what it is told: this body is whole, so its length is the framing.
        headers = [
            (k.encode("latin-1"), v.encode("latin-1"))
            for k, v in answer.headers.items()
            if k.lower() not in _FRAMING
        ]
        headers.append((b"content-length", b"%d" % len(answer.body)))
        sink.start(answer.status, reason_phrase(answer.status), headers, len(answer.body))
        if answer.body:
            sink.write(answer.body)
        sink.end()

    return handle
