"""The activator: per-revision buffering, slots, load balancing, proxying and stats.

Per request (``handle``): count it (Knative's concurrency includes requests the activator holds),
run the revision's handler chain under the revision's timeout (504 "activator request timeout",
buffered time included, until the response head arrives); the innermost handler takes a replica
slot (at once or from the FIFO buffer, poking the autoscaler at zero replicas) and streams the
request over a pooled connection; a request that never reached a replica is retried on another.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from functools import partial
from typing import Any

from minikn.activator.accounting import ConcurrencyAccount
from minikn.activator.balance import Tracker
from minikn.activator.http import Handler, Middleware, ProxyRequest, ResponseSink
from minikn.activator.throttler import Throttler
from minikn.activator.upstream import NeverReached, UpstreamPool, send
from minikn.config import Settings
from minikn.core.clock import Clock
from minikn.core.endpoints import Endpoint, RevisionStats, ScalePoker, StatsSink
from minikn.core.errors import BadGateway, GatewayTimeout, MiniknError, NotFound, http_status
from minikn.core.metrics import Metrics
from minikn.core.revision import RevisionSpec

__all__ = ["Activator"]

log = logging.getLogger("minikn.activator")

_ATTEMPTS = 3
_REPORT_PERIOD = 1.0


class _Revision:
    """Everything the activator keeps per revision."""

    def __init__(self, spec: RevisionSpec, throttler: Throttler, account: ConcurrencyAccount):
        self.spec = spec
        self.throttler = throttler
        self.account = account
        self.handler: Handler | None = None
        self.codes: dict[int, Any] = {}
        self.latency: Any = None
        self.labels = (spec.namespace, spec.isvc, spec.component, spec.name)
        self.head_block = (
            b"knative-serving-revision: %b\r\nknative-serving-namespace: %b\r\n"
            b"k-proxy-request: activator\r\n" % (spec.name.encode(), spec.namespace.encode())
        )


class _Deadline:
    """The component's timeout for one request: cancels the request's task when it runs out.

    A bare timer (cheaper than ``asyncio.timeout``, which costs more per request than the rest of
    the activator's bookkeeping); ``expired`` tells a timeout from any other cancellation.
    """

    __slots__ = ("_task", "_timer", "expired")

    def __init__(self, loop: asyncio.AbstractEventLoop, seconds: float) -> None:
        self.expired = False
        self._task = asyncio.current_task()
        self._timer = loop.call_later(seconds, self._expire) if seconds > 0 else None

    def _expire(self) -> None:
        self.expired = True
        if self._task is not None:
            self._task.cancel()

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


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
    ) -> None:
        self._config = settings.minikn.activator
        self._clock = clock
        self._stats = stats
        self._poker = poker
        self._metrics = metrics
        self._middlewares = tuple(middlewares)
        self._rng = rng if rng is not None else random.Random()
        self._revisions: dict[str, _Revision] = {}
        self._pool = UpstreamPool()
        self._reporter: asyncio.Task[None] | None = None

    # Control plane ----------------------------------------------------------------------------

    def upsert_revision(self, spec: RevisionSpec) -> None:
        rev = self._revisions.get(spec.name)
        if rev is None:
            throttler = Throttler(
                spec.name,
                container_concurrency=spec.container_concurrency,
                max_buffered=self._config.max_buffered_requests,
                retry_after=self._config.retry_after_seconds,
                poke=lambda: self._poker.poke(spec.name),
                rng=self._rng,
            )
            rev = _Revision(spec, throttler, ConcurrencyAccount(self._clock.monotonic()))
            self._revisions[spec.name] = rev
        else:
            rev.spec = spec
            rev.throttler.set_container_concurrency(spec.container_concurrency)
        handler: Handler = self._terminal(rev)
        for middleware in reversed(self._middlewares):
            handler = middleware(spec, handler)
        rev.handler = handler

    def remove_revision(self, revision: str) -> None:
        rev = self._revisions.pop(revision, None)
        if rev is not None:
            rev.throttler.close(f"revision {revision} was removed")
            self._metrics.buffered.labels(rev.spec.namespace, rev.spec.isvc, revision).set(0)

    def set_endpoints(self, revision: str, endpoints: Sequence[Endpoint]) -> None:
        rev = self._revisions.get(revision)
        if rev is None:
            log.warning("revision %s: endpoints for an unknown revision ignored", revision)
            return
        before = {t.endpoint for t in rev.throttler.trackers}
        rev.throttler.set_endpoints(endpoints)
        for gone in before - set(endpoints):
            self._pool.forget(gone)
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

    async def start(self) -> None:
        if self._reporter is None:
            self._reporter = asyncio.create_task(self._report_loop(), name="activator-stats")

    async def close(self) -> None:
        if self._reporter is not None:
            self._reporter.cancel()
            await asyncio.gather(self._reporter, return_exceptions=True)
            self._reporter = None
        for name in list(self._revisions):
            self.remove_revision(name)
        self._pool.close()

    async def _report_loop(self) -> None:
        while True:
            await self._clock.sleep(_REPORT_PERIOD)
            try:
                self.report()
            except Exception:
                log.exception("activator: reporting stats failed")

    def report(self) -> None:
        """Close every revision's 1 s bucket and send it to the stats sink."""
        now = self._clock.monotonic()
        for name, rev in list(self._revisions.items()):
            bucket = rev.account.close(now)
            spec = rev.spec
            self._metrics.buffered.labels(spec.namespace, spec.isvc, name).set(
                rev.throttler.buffered
            )
            self._stats.record(RevisionStats(name, bucket.end, bucket.concurrency, bucket.rps))

    # Data path ----------------------------------------------------------------------------------

    async def handle(self, revision: str, request: ProxyRequest, sink: ResponseSink) -> None:
        """Serve ``request`` with ``revision``; errors before the response head are raised."""
        rev = self._revisions.get(revision)
        if rev is None or rev.handler is None:
            raise NotFound(f"revision {revision} not found")
        clock = self._clock
        started = clock.monotonic()
        rev.account.arrive(started)
        code = 500
        deadline = _Deadline(asyncio.get_running_loop(), rev.spec.timeout_seconds)
        request.extra["deadline"] = deadline
        try:
            try:
                await rev.handler(request, sink)
            except asyncio.CancelledError:
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
                    rev.spec.namespace, rev.spec.isvc, revision
                ).inc()
            raise
        finally:
            ended = clock.monotonic()
            rev.account.leave(ended)
            self._observe(rev, code, ended - started)

    def _observe(self, rev: _Revision, code: int, seconds: float) -> None:
        child = rev.codes.get(code)
        if child is None:
            child = rev.codes[code] = self._metrics.requests.labels(*rev.labels, str(code))
        child.inc()
        if rev.latency is None:
            rev.latency = self._metrics.request_latency.labels(*rev.labels)
        rev.latency.observe(seconds)

    def _terminal(self, rev: _Revision) -> Handler:
        return partial(self._forward, rev)

    @staticmethod
    async def _wait(rev: _Revision) -> Tracker:
        """Buffer until a slot frees (FIFO); a waiter that gives up gives its slot back."""
        waiter = rev.throttler.enqueue()
        try:
            return await waiter
        except asyncio.CancelledError:
            rev.throttler.abandon(waiter)
            raise

    async def _forward(self, rev: _Revision, request: ProxyRequest, sink: ResponseSink) -> None:
        if request.body is None:
            framing = b"\r\n"
        elif request.content_length is not None:
            framing = b"content-length: %d\r\n\r\n" % request.content_length
        else:
            framing = b"transfer-encoding: chunked\r\n\r\n"
        head = b"%b %b HTTP/1.1\r\n%b%b%b" % (
            request.method,
            request.target,
            request.headers,
            rev.head_block,
            framing,
        )
        deadline = request.extra.get("deadline")
        # Once the response starts, the timeout no longer applies (streams may run long).
        on_head = deadline.cancel if isinstance(deadline, _Deadline) else None
        avoid: Tracker | None = None
        for attempt in range(_ATTEMPTS):
            tracker = rev.throttler.try_acquire(avoid) or await self._wait(rev)
            request.extra["replica"] = tracker.endpoint.replica_id  # for the trace hop record
            conn = None
            try:
                conn = self._pool.idle(tracker.endpoint)
                reused = conn is not None
                if conn is None:
                    conn = await self._pool.connect(tracker.endpoint)
                await send(conn, head, request, sink, reused=reused, on_head=on_head)
                return
            except NeverReached as exc:
                log.info(
                    "revision %s: replica %s not reached (attempt %d): %s",
                    rev.spec.name,
                    tracker.endpoint.replica_id,
                    attempt + 1,
                    exc,
                )
                avoid = tracker
            finally:
                if conn is not None:
                    self._pool.release(conn)
                rev.throttler.release(tracker)
        raise BadGateway(f"revision {rev.spec.name}: no replica could be reached")
