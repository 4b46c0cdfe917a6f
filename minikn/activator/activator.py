"""The activator: per-revision buffering, slots, load balancing, proxying and stats.

Per request (``dispatch``): count it (Knative's concurrency includes requests the activator holds),
run the revision's handler chain under the revision's timeout (504 "activator request timeout",
buffered time included, until the response head arrives); the innermost handler takes a replica
slot (at once or from the FIFO buffer, poking the autoscaler at zero replicas) and streams the
request over a pooled connection; a request that never reached a replica is retried on another.

The warm path skips the coroutines: when the chain only rewrites the request (:class:`Rewrite`
layers), the body is whole, a slot is free and a pooled connection idle, the request goes out at
once as an :class:`~minikn.activator.exchange.Exchange` driven by the connection's callbacks.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Coroutine, Sequence
from functools import partial
from typing import Any, Protocol

from minikn.activator.accounting import ConcurrencyAccount
from minikn.activator.balance import Tracker
from minikn.activator.coldstart import ColdStartLog, ColdStartSink
from minikn.activator.deadlines import Deadlines
from minikn.activator.exchange import Exchange, Settle
from minikn.activator.h2upstream import H2Pool
from minikn.activator.throttler import Throttler
from minikn.activator.upstream import NeverReached, UpstreamPool, send
from minikn.config import Settings
from minikn.core.cadence import REPORT_INTERVAL, next_beat
from minikn.core.clock import Clock
from minikn.core.coldstart import ColdStart
from minikn.core.endpoints import Endpoint, RevisionStats, ScalePoker, StatsSink
from minikn.core.errors import (
    BadGateway,
    GatewayTimeout,
    MiniknError,
    NotFound,
    Unavailable,
    http_status,
)
from minikn.core.revision import RevisionSpec
from minikn.telemetry.metrics import Metrics
from minikn.telemetry.request_metrics import RequestSeries
from minikn.wire.grpc import GrpcCall, grpc_status_of, http_code_of
from minikn.wire.http import (
    Handler,
    Middleware,
    ProxyRequest,
    RequestContext,
    ResponseSink,
    Rewrite,
    answer_error,
)

__all__ = ["Activator"]

log = logging.getLogger("minikn.activator")


class _Revision:
    """Everything the activator keeps per revision: the lane of its fast-path exchanges.

    Built by the activator with the parts it shares (pool, deadlines, clock) and the two data-path
    entries it runs per revision: ``forward`` (the innermost handler: a slot, a connection, the
    bytes) and ``serve`` (a handler chain under the timeout, errors answered on the sink).
    """

    def __init__(  # noqa: PLR0917 - built once per revision by the activator
        self,
        spec: RevisionSpec,
        throttler: Throttler,
        account: ConcurrencyAccount,
        pool: UpstreamPool,
        deadlines: Deadlines,
        now: Callable[[], float],
        requests: RequestSeries,
        forward: _Forward,
        serve: _Serve,
    ) -> None:
        self.spec = spec
        self.throttler = throttler
        self.account = account
        self.pool = pool
        self.deadlines = deadlines
        self.now = now
        self.requests = requests
        self._forward = forward
        self._serve = serve
        self.handler: Handler | None = None
        self.rewrites: tuple[Rewrite, ...] | None = None
        """The chain's layers when all are :class:`Rewrite` (the fast path may apply them)."""
        self.terminal: Handler = partial(forward, self)
        self.cold_starts = ColdStartLog()
        self.busy = False
        """Held a request since its last reported bucket: its next bucket may not be a zero."""
        self.head_block = (
            b"knative-serving-revision: %b\r\nknative-serving-namespace: %b\r\n"
            b"k-proxy-request: activator\r\n" % (spec.name.encode(), spec.namespace.encode())
        )
        self.grpc_fields = _grpc_fields(self.head_block)
        """``head_block`` as h2 fields (what a gRPC call to a replica adds)."""

    def finished(self, started: float, code: int, ctx: RequestContext | None = None) -> None:
        ended = self.now()
        self.account.leave(ended)
        self.requests.observe(code, ended - started)
        if ctx is not None and ctx.on_finish is not None:
            ctx.on_finish(code)  # the trace layer's end of a sampled hop

    def retry(
        self, request: ProxyRequest, sink: ResponseSink, avoid: Tracker, started: float
    ) -> Coroutine[Any, Any, None]:
        handler = partial(self._forward, self, avoid=avoid)
        return self._serve(self, request, sink, handler, started)


class _Forward(Protocol):
    def __call__(
        self,
        rev: _Revision,
        request: ProxyRequest,
        sink: ResponseSink,
        *,
        avoid: Tracker | None = None,
    ) -> Coroutine[Any, Any, None]: ...


_Serve = Callable[
    [_Revision, ProxyRequest, ResponseSink, Handler, float], Coroutine[Any, Any, None]
]


class _Deadline:
    """The component's timeout for one request on the coroutine path: cancels the request's task
    when it runs out; ``expired`` tells a timeout from any other cancellation."""

    __slots__ = ("_deadlines", "_seconds", "_task", "expired")

    def __init__(self, deadlines: Deadlines, seconds: float) -> None:
        self.expired = False
        self._task = asyncio.current_task()
        self._deadlines = deadlines
        self._seconds = seconds
        if seconds > 0:
            deadlines.add(self, seconds, self._expire)

    def _expire(self) -> None:
        self.expired = True
        if self._task is not None:
            self._task.cancel()

    def cancel(self) -> None:
        self._deadlines.discard(self, self._seconds)


class Activator:
    """Knative's activator and queue-proxy breaker for every revision."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock,
        stats: StatsSink,
        poker: ScalePoker,
        metrics: Metrics,
        middlewares: Sequence[Middleware] = (),
        rng: random.Random | None = None,
        throttlers: Callable[[RevisionSpec], Throttler] | None = None,
    ) -> None:
        """``throttlers`` builds a revision's throttler (default: :meth:`_throttler`, from
        ``minikn.activator`` settings); tests may give their own."""
        self._config = settings.minikn.activator
        self._clock = clock
        self._stats = stats
        self._poker = poker
        self._metrics = metrics
        self._middlewares = tuple(middlewares)
        self._rng = rng if rng is not None else random.Random()
        self._revisions: dict[str, _Revision] = {}
        self._pool = UpstreamPool(
            now=clock.monotonic,
            idle_timeout=self._config.idle_connection_timeout,
            max_idle=self._config.max_idle_connections_per_replica,
        )
        self._h2pool = H2Pool(
            now=clock.monotonic,
            idle_timeout=self._config.idle_connection_timeout,
            max_streams=self._config.grpc_max_streams_per_connection,
        )
        self._deadlines = Deadlines(clock.monotonic)
        self._reporter: asyncio.Task[None] | None = None
        self._busy: dict[str, _Revision] = {}
        """Revisions whose next bucket may not be a zero (see :meth:`report`)."""
        self._last_report = clock.monotonic()
        self._record_all: Callable[[float, Sequence[RevisionStats]], None] | None = getattr(
            stats, "record_all", None
        )
        """The sink's whole-report entry (zeros for idle revisions implied), when it has one."""
        self._gauges: dict[str, Any] = {}
        """Each revision's ``buffered`` gauge child (looked up once, not per report)."""
        self._throttlers = throttlers if throttlers is not None else self._throttler

    # Control plane ----------------------------------------------------------------------------

    def upsert_revision(self, spec: RevisionSpec) -> None:
        rev = self._revisions.get(spec.name)
        if rev is None:
            rev = _Revision(
                spec,
                self._throttlers(spec),
                ConcurrencyAccount(self._clock.monotonic()),
                self._pool,
                self._deadlines,
                self._clock.monotonic,
                self._metrics.requests.series(spec.namespace, spec.isvc, spec.component, spec.name),
                self._forward,
                self._answering,
            )
            self._revisions[spec.name] = rev
            gauge = self._metrics.buffered.labels(spec.namespace, spec.isvc, spec.name)
            gauge.set(0)
            self._gauges[spec.name] = gauge
        else:
            rev.spec = spec
            rev.throttler.set_container_concurrency(
                0 if spec.standard_mode else spec.container_concurrency
            )
        handler = rev.terminal
        for middleware in reversed(self._middlewares):
            handler = middleware(spec, handler)
        rev.handler = handler
        rewrites: list[Rewrite] = []
        while isinstance(handler, Rewrite):
            rewrites.append(handler)
            handler = handler.inner
        rev.rewrites = tuple(rewrites) if handler is rev.terminal else None

    def _throttler(self, spec: RevisionSpec) -> Throttler:
        name = spec.name
        return Throttler(
            name,
            # Standard (raw) mode: no queue-proxy enforces containerConcurrency, and requests are
            # never held waiting for a replica (503 when none is ready, as a Service without
            # endpoints answers).
            container_concurrency=0 if spec.standard_mode else spec.container_concurrency,
            direct=spec.standard_mode,
            max_buffered=self._config.max_buffered_requests,
            retry_after=self._config.retry_after_seconds,
            poke=lambda: self._poker.poke(name),
            rng=self._rng,
            clock=self._clock,
            max_connections=self._config.max_connections_per_replica,
            ejection_time=self._config.ejection_time,
        )

    def remove_revision(self, revision: str) -> None:
        rev = self._revisions.pop(revision, None)
        self._busy.pop(revision, None)
        gauge = self._gauges.pop(revision, None)
        if rev is not None:
            rev.throttler.close(f"revision {revision} was removed")
        if gauge is not None:
            gauge.set(0)

    def set_endpoints(self, revision: str, endpoints: Sequence[Endpoint]) -> None:
        rev = self._revisions.get(revision)
        if rev is None:
            log.warning("revision %s: endpoints for an unknown revision ignored", revision)
            return
        before = {t.endpoint for t in rev.throttler.trackers}
        rev.throttler.set_endpoints(endpoints)
        for gone in before - set(endpoints):
            self._pool.forget(gone)
            self._h2pool.forget(gone)
        log.debug("revision %s: %d ready replicas", revision, len(endpoints))

    def revision_failed(self, revision: str, reason: str, message: str) -> None:
        rev = self._revisions.get(revision)
        if rev is not None:
            log.warning("revision %s: failed (%s): %s", revision, reason, message)
            rev.throttler.fail(reason, message)

    def revision_recovered(self, revision: str) -> None:
        rev = self._revisions.get(revision)
        if rev is not None:
            rev.throttler.recover()

    def buffered(self, revision: str) -> int:
        rev = self._revisions.get(revision)
        return rev.throttler.buffered if rev is not None else 0

    def in_flight(self, revision: str) -> int:
        rev = self._revisions.get(revision)
        return rev.account.in_flight if rev is not None else 0

    # Lifecycle ----------------------------------------------------------------------------------

    async def start(self, first_report: float | None = None) -> None:
        """Report stats every second from ``first_report`` on (default: 1 s from now), on a grid
        (:mod:`minikn.core.cadence`): its own work does not push the next report later."""
        if self._reporter is None:
            first = (
                self._clock.monotonic() + REPORT_INTERVAL if first_report is None else first_report
            )
            self._reporter = asyncio.create_task(self._report_loop(first), name="activator-stats")

    async def close(self) -> None:
        if self._reporter is not None:
            self._reporter.cancel()
            await asyncio.gather(self._reporter, return_exceptions=True)
            self._reporter = None
        for name in list(self._revisions):
            self.remove_revision(name)
        self._deadlines.close()
        self._pool.close()
        self._h2pool.close()

    async def _report_loop(self, first: float) -> None:
        clock, due = self._clock, first
        while True:
            now = clock.monotonic()
            if due > now:
                await clock.sleep(due - now)
            try:
                self.report()
            except Exception:
                log.exception("activator: reporting stats failed")
            due = next_beat(due, REPORT_INTERVAL, clock.monotonic())  # skips missed reports

    def report(self) -> None:
        """Close the 1 s bucket of every revision that held a request since its last report and
        send it to the stats sink, and a zero stat for every other revision.

        A revision is busy from its first request after a zero until a bucket closes with
        nothing in flight; an idle revision's bucket would close empty, as ``(now, 0.0, 0.0)``,
        so it is not closed: its account restarts at the last report when a request comes
        (:meth:`_arrive`). A sink with ``record_all`` gets the report whole (the idle zeros
        implied, so a report costs the busy revisions, not every revision); any other sink gets
        a stat per revision, as before."""
        now = self._clock.monotonic()
        self._last_report = now
        busy, gauges = self._busy, self._gauges
        stats: list[RevisionStats] = []
        for name, rev in list(busy.items()):
            bucket = rev.account.close(now)
            gauges[name].set(rev.throttler.buffered)
            stats.append(RevisionStats(name, bucket.end, bucket.concurrency, bucket.rps))
            if rev.account.in_flight == 0:
                rev.busy = False
                del busy[name]
        if self._record_all is not None:
            self._record_all(now, stats)
            return
        record = self._stats.record
        for stat in stats:
            record(stat)
        reported = {stat.revision for stat in stats}
        for name in self._revisions:
            if name not in reported:
                record(RevisionStats(name, now, 0.0, 0.0))

    # Data path ----------------------------------------------------------------------------------

    def dispatch(
        self, revision: str, request: ProxyRequest, sink: ResponseSink, settle: Settle
    ) -> Coroutine[Any, Any, None] | Exchange:
        """Start serving ``request`` with ``revision``.

        Returns an :class:`Exchange` when the request went out on the fast path (``settle`` is
        called when it is done, or with a coroutine to run if it must go on as one), or else the
        coroutine that serves it. Either way errors are answered on ``sink``, except an unknown
        revision, raised here (NotFound) before anything is counted.
        """
        rev, handler, started = self._arrive(revision)
        rewrites = rev.rewrites
        body = request.body
        if rewrites is not None and (body is None or body.complete):
            for layer in rewrites:
                out = layer.prepare(request, sink)
                if out is None:
                    handler = layer.full
                    break
                sink = out
            else:
                handler = rev.terminal
                exchange = self._fast(rev, request, sink, settle, started)
                if exchange is not None:
                    return exchange
        return self._answering(rev, request, sink, handler, started)

    def _fast(
        self,
        rev: _Revision,
        request: ProxyRequest,
        sink: ResponseSink,
        settle: Settle,
        started: float,
    ) -> Exchange | None:
        """Send the request at once if a replica slot and an idle pooled connection are free."""
        slot = rev.throttler.try_acquire()
        if slot is None:
            return None
        conn = self._pool.idle(slot.tracker.endpoint)
        transport = conn.transport if conn is not None else None
        if conn is None or transport is None:
            slot.release()
            return None
        body = request.body
        payload = None
        if body is not None:
            try:
                payload = body.read_nowait()
            except MiniknError:  # the body outgrew the limit: the coroutine path answers it
                self._pool.release(conn)
                slot.release()
                return None
            if request.content_length is None:  # chunked, and all here: sent framed by length
                request.content_length = len(payload)
            data = _request_head(rev, request) + payload
        else:
            data = _request_head(rev, request)
        exchange = Exchange(
            rev, slot, conn, request, sink, settle, started, rev.spec.timeout_seconds, payload
        )
        exchange.send(data, transport)
        return exchange

    async def handle(self, revision: str, request: ProxyRequest, sink: ResponseSink) -> None:
        """Serve ``request`` with ``revision``; errors before the response head are raised."""
        rev, handler, started = self._arrive(revision)
        await self._run(rev, request, sink, handler, started)

    def _arrive(self, revision: str) -> tuple[_Revision, Handler, float]:
        """Count a request in (Knative's concurrency includes what the activator holds)."""
        rev = self._revisions.get(revision)
        if rev is None or rev.handler is None:
            raise NotFound(f"revision {revision} not found")
        started = self._clock.monotonic()
        if not rev.busy:
            # Idle since a report: its account was not closed at the reports since (each would
            # have closed an empty bucket); start its bucket at the last one, as they would.
            rev.account.restart(self._last_report)
            rev.busy = True
            self._busy[revision] = rev
        rev.account.arrive(started)
        return rev, rev.handler, started

    async def _answering(
        self,
        rev: _Revision,
        request: ProxyRequest,
        sink: ResponseSink,
        handler: Handler,
        started: float,
    ) -> None:
        try:
            await self._run(rev, request, sink, handler, started)
        except MiniknError as exc:
            answer_error(sink, exc)

    async def _run(
        self,
        rev: _Revision,
        request: ProxyRequest,
        sink: ResponseSink,
        handler: Handler,
        started: float,
    ) -> None:
        """Run ``handler`` under the revision's timeout (504 "activator request timeout",
        buffered time included, until the response head arrives); the request was counted in."""
        code = 499  # the client went away (or the platform stops) before an answer
        deadline = _Deadline(self._deadlines, rev.spec.timeout_seconds)
        request.ctx.deadline = deadline
        try:
            try:
                await handler(request, sink)
            except asyncio.CancelledError:
                code = sink.status or code
                if not deadline.expired:
                    raise
                task = asyncio.current_task()
                if task is not None:
                    task.uncancel()  # the timeout is handled here, not a cancellation
                raise GatewayTimeout("activator request timeout") from None
            finally:
                deadline.cancel()
            code = sink.status
        except MiniknError as exc:
            code = http_status(exc)
            if exc.reason == "BufferFull":
                self._metrics.buffer_rejections.labels(
                    rev.spec.namespace, rev.spec.isvc, rev.spec.name
                ).inc()
            raise
        finally:
            rev.finished(started, code, request._ctx)

    # gRPC (h2c) -------------------------------------------------------------------------------

    def serve_grpc(
        self, revision: str, request: ProxyRequest, call: GrpcCall
    ) -> Coroutine[Any, Any, None]:
        """The coroutine that serves one gRPC call (``request.ctx.grpc`` is ``call``, which is
        also its sink) with ``revision``: counted like an HTTP request, held in the buffer while
        the revision has no ready replica, bounded by the component timeout (until the response
        head) and the client's ``grpc-timeout`` (the whole call); errors end the call with a
        gRPC status (:mod:`minikn.wire.grpc`). An unknown revision raises NotFound here."""
        rev, handler, started = self._arrive(revision)
        request.ctx.grpc = call
        return self._run_grpc(rev, request, call, handler, started)

    async def _run_grpc(
        self,
        rev: _Revision,
        request: ProxyRequest,
        call: GrpcCall,
        handler: Handler,
        started: float,
    ) -> None:
        code = 499  # the client went away (reset the stream) before the end
        deadline = _Deadline(self._deadlines, rev.spec.timeout_seconds)
        request.ctx.deadline = deadline
        client = _ClientDeadline(call.deadline, self._clock.monotonic())
        sink: ResponseSink = call  # type: ignore[assignment] # the client's stream is both
        try:
            try:
                if client.expired:
                    raise asyncio.CancelledError
                await handler(request, sink)
            except asyncio.CancelledError:
                if not deadline.expired and not client.expired:
                    raise
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    task.uncancel()
                if client.expired:
                    raise GatewayTimeout("deadline exceeded (grpc-timeout)") from None
                raise GatewayTimeout("activator request timeout") from None
            finally:
                deadline.cancel()
                client.cancel()
            code = http_code_of(call.grpc_status)
        except MiniknError as exc:
            status = grpc_status_of(exc)
            code = http_code_of(status)
            if exc.reason == "BufferFull":
                self._metrics.buffer_rejections.labels(
                    rev.spec.namespace, rev.spec.isvc, rev.spec.name
                ).inc()
            call.fail(status, exc.message)
        finally:
            rev.finished(started, code, request._ctx)

    async def _forward_grpc(self, rev: _Revision, request: ProxyRequest, call: GrpcCall) -> None:
        ctx = request.ctx
        on_head = ctx.deadline.cancel if ctx.deadline is not None else None
        attempts = self._config.max_attempts
        avoid: Tracker | None = None
        for attempt in range(1, attempts + 1):
            slot = await rev.throttler.acquire(avoid, retry=avoid is not None)
            tracker = slot.tracker
            endpoint = tracker.endpoint
            ctx.replica = endpoint.replica_id
            try:
                if endpoint.grpc_port is None:
                    raise Unavailable(
                        f"revision {rev.spec.name} serves no gRPC: set protocolVersion: grpc-v2 "
                        "or name a container port h2c or grpc",
                        reason="NoGrpcPort",
                    )
                if tracker.draining:
                    raise NeverReached("replica was removed")
                conn = await self._h2pool.get(endpoint, endpoint.grpc_port)
                headers = _grpc_headers(rev, request, call, self._clock.monotonic())
                sink: ResponseSink = call  # type: ignore[assignment]
                await conn.call(headers, request.body, sink, call, on_head)
                return
            except NeverReached as exc:
                log.info(
                    "revision %s: replica %s not reached over gRPC (attempt %d of %d): %s",
                    rev.spec.name, endpoint.replica_id, attempt, attempts, exc,
                )  # fmt: skip
                if exc.refused:
                    rev.throttler.eject(tracker)
                    self._pool.forget(tracker.endpoint)
                avoid = tracker
            finally:
                slot.release()
        raise BadGateway(
            f"revision {rev.spec.name}: no replica could be reached ({attempts} attempts)"
        )

    async def _forward(
        self,
        rev: _Revision,
        request: ProxyRequest,
        sink: ResponseSink,
        *,
        avoid: Tracker | None = None,
    ) -> None:
        ctx = request.ctx
        if ctx.grpc is not None:
            await self._forward_grpc(rev, request, ctx.grpc)
            return
        head = _request_head(rev, request)
        # Once the response starts, the timeout no longer applies (streams may run long).
        on_head = ctx.deadline.cancel if ctx.deadline is not None else None
        attempts = self._config.max_attempts
        attempt = 0
        arrived = self._clock.monotonic()
        while True:
            slot = await rev.throttler.acquire(avoid, retry=avoid is not None)
            tracker = slot.tracker
            ctx.acquired = self._clock.monotonic()  # the end of the wait (the trace's span)
            out = sink
            ctx.replica = tracker.endpoint.replica_id  # for the trace hop record
            conn = None
            try:
                if tracker.draining:  # removed while this request waited for the task to run
                    raise NeverReached("replica was removed")
                conn = self._pool.idle(tracker.endpoint)
                reused = conn is not None
                if conn is None:
                    conn = await self._pool.connect(tracker.endpoint)
                cold = tracker.endpoint.cold_start
                if cold is not None and cold.ready_at > arrived:  # it waited for this start
                    out = self._cold_started(rev, cold, sink)
                await send(conn, head, request, out, reused=reused, on_head=on_head)
                return
            except NeverReached as exc:
                if not exc.stale:
                    attempt += 1
                log.info(
                    "revision %s: replica %s not reached (attempt %d of %d): %s",
                    rev.spec.name,
                    tracker.endpoint.replica_id,
                    attempt,
                    attempts,
                    exc,
                )
                if exc.refused or exc.stale:
                    self._pool.forget(tracker.endpoint)
                if exc.refused:
                    rev.throttler.eject(tracker)
                if attempt >= attempts:
                    raise BadGateway(
                        f"revision {rev.spec.name}: no replica could be reached "
                        f"({attempt} attempts)"
                    ) from None
                avoid = tracker
            finally:
                if conn is not None:
                    self._pool.release(conn)
                slot.release()

    def _cold_started(self, rev: _Revision, cold: ColdStart, sink: ResponseSink) -> ResponseSink:
        """The handover of a request that waited for ``cold``: recorded (the replica's first),
        and the phases on the response."""
        handover = max(0.0, self._clock.monotonic() - cold.ready_at)
        first = rev.cold_starts.handed_over(cold, handover)
        if first is not None:
            spec = rev.spec
            self._metrics.cold_start_phase.labels(
                spec.namespace, spec.isvc, spec.component, spec.name, "handover"
            ).observe(handover)
        return ColdStartSink(sink, cold.phases(handover))

    def last_cold_start(self, revision: str) -> tuple[str, dict[str, float]] | None:
        """The replica and phases (handover included) of the revision's last cold start that
        took a request."""
        rev = self._revisions.get(revision)
        return rev.cold_starts.last if rev is not None else None


class _ClientDeadline:
    """A gRPC client's ``grpc-timeout`` over the whole call: cancels the call's task when it
    runs out (one timer per call that has a deadline)."""

    __slots__ = ("_timer", "expired")

    def __init__(self, deadline: float | None, now: float) -> None:
        self.expired = False
        self._timer: asyncio.TimerHandle | None = None
        if deadline is None:
            return
        remaining = deadline - now
        if remaining <= 0:
            self.expired = True
            return
        task = asyncio.current_task()
        if task is not None:
            self._timer = asyncio.get_running_loop().call_later(remaining, self._expire, task)

    def _expire(self, task: asyncio.Task[None]) -> None:
        self.expired = True
        task.cancel()

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


_GRPC_SKIP = frozenset((b"grpc-timeout", b"host", b"content-length", b"te"))


def _grpc_fields(block: bytes) -> list[tuple[bytes, bytes]]:
    """Header lines -> h2 fields (names lowercased), less those gRPC/h2 carry otherwise."""
    fields = []
    for line in block.split(b"\r\n"):
        name, sep, value = line.partition(b":")
        if not sep:
            continue
        name = name.strip().lower()
        if name not in _GRPC_SKIP:
            fields.append((name, value.strip()))
    return fields


def _grpc_headers(
    rev: _Revision, request: ProxyRequest, call: GrpcCall, now: float
) -> list[tuple[bytes, bytes]]:
    """The replica's h2 header list: pseudo-headers, the request's metadata as the middlewares
    left it, the revision's headers, and the time left of the client's deadline."""
    headers = [
        (b":method", request.method),
        (b":scheme", b"http"),
        (b":path", request.target),
        (b":authority", call.authority),
        (b"te", b"trailers"),
    ]
    headers += _grpc_fields(request.headers)
    headers += rev.grpc_fields
    if call.deadline is not None:
        remaining_ms = max(1, int((call.deadline - now) * 1000))
        headers.append((b"grpc-timeout", b"%dm" % remaining_ms))
    return headers


def _request_head(rev: _Revision, request: ProxyRequest) -> bytes:
    """The request line and header block the replica gets."""
    if request.body is None:
        framing = b"\r\n"
    elif request.content_length is not None:
        framing = b"content-length: %d\r\n\r\n" % request.content_length
    else:
        framing = b"transfer-encoding: chunked\r\n\r\n"
    return b"%b %b HTTP/1.1\r\n%b%b%b" % (
        request.method,
        request.target,
        request.headers,
        rev.head_block,
        framing,
    )
