"""The warm path's fast lane: one request proxied by callbacks, without a coroutine.

When a revision has a free replica slot, a pooled idle connection to that replica, the whole
request body at hand and no middleware that must run after the response, the activator hands the
request to an :class:`Exchange`: it writes the request to the replica at once, and the replica
connection's parser streams the answer straight into the client's sink and calls back when done.
No task, future or coroutine frame is made per request; the bookkeeping (slot, connection,
accounting, metrics, timeout) is what the coroutine path does, in the same order.

A pooled connection that turns out closed before a byte of answer (the replica closed it, or died,
before its close was seen) sends the request, whatever its method, down the coroutine path, which
retries it (another replica, a fresh connection, or the front of the buffer), exactly as a request
that started there; the replica's other idle connections are closed first.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from minikn.activator.balance import Tracker
from minikn.activator.deadlines import Deadlines
from minikn.activator.throttler import Slot, Throttler
from minikn.activator.upstream import UpstreamConnection, UpstreamPool, resend
from minikn.core.errors import GatewayTimeout, MiniknError, http_status
from minikn.wire.http import ProxyRequest, RequestContext, ResponseSink, answer_error

__all__ = ["Exchange", "Lane", "Settle"]

log = logging.getLogger("minikn.activator.exchange")

Settle = Callable[[Coroutine[Any, Any, None] | None], None]
"""Told by the fast path that its request is done (None) or goes on in the given coroutine."""


class Lane(Protocol):
    """What an exchange works with: its revision's parts in the activator."""

    throttler: Throttler
    pool: UpstreamPool
    deadlines: Deadlines

    def finished(self, started: float, code: int, ctx: RequestContext | None = None) -> None:
        """The request that arrived at ``started`` is over with ``code`` (accounting, metrics,
        and the request context's ``on_finish``)."""
        ...

    def retry(
        self, request: ProxyRequest, sink: ResponseSink, avoid: Tracker, started: float
    ) -> Coroutine[Any, Any, None]:
        """The coroutine that sends a never-reached request to another replica."""
        ...


class Exchange:
    """One request on the fast path, from its replica slot to the end of the response.

    The revision's timeout runs from the request's arrival until the response head (from then on
    it no longer applies: streams may run long); ``timeout`` 0 means none.
    """

    __slots__ = (
        "_conn",
        "_lane",
        "_payload",
        "_request",
        "_settle",
        "_sink",
        "_slot",
        "_started",
        "_timeout",
    )

    def __init__(  # noqa: PLR0917 - built once per request by the activator
        self,
        lane: Lane,
        slot: Slot,
        conn: UpstreamConnection,
        request: ProxyRequest,
        sink: ResponseSink,
        settle: Settle,
        started: float,
        timeout: float,
        payload: bytes | None,
    ) -> None:
        """``payload``: the request's whole body, read off ``request`` (sent again on a retry)."""
        self._lane = lane
        self._slot = slot
        self._conn: UpstreamConnection | None = conn
        self._request = request
        self._sink = sink
        self._settle = settle
        self._started = started
        self._timeout = timeout
        self._payload = payload

    def send(self, data: bytes, transport: asyncio.Transport) -> None:
        """Write the whole request (head and body) to the replica."""
        conn = self._conn
        assert conn is not None
        if self._timeout > 0:
            self._lane.deadlines.add(self, self._timeout, self.expire)
        conn.begin(
            self._sink, head_only=self._request.method == b"HEAD", on_head=None, on_end=self._ended
        )
        transport.write(data)

    def _ended(self, exc: Exception | None) -> None:
        conn = self._conn
        if conn is None:
            return
        self._conn = None
        lane = self._lane
        self._release(lane, conn)
        if exc is None:
            self._finish(lane, self._sink.status)
            self._settle(None)
            return
        if not conn.received:  # a pooled connection the replica had closed: not served
            tracker = self._slot.tracker
            log.info("replica %s: reused connection closed, retrying", tracker.endpoint)
            lane.pool.forget(tracker.endpoint)
            request = self._request
            if self._payload is not None:
                request.body = resend(self._payload)
            self._settle(lane.retry(request, self._sink, tracker, self._started))
            return
        if isinstance(exc, MiniknError):
            answer_error(self._sink, exc)
            self._finish(lane, http_status(exc))
        else:
            self._sink.abort()
            self._finish(lane, 502)
        self._settle(None)

    def expire(self) -> None:
        """The revision's timeout ran out: 504, unless the response has started."""
        conn = self._conn
        if conn is None or conn.head_received:
            return
        self._abandon(conn)
        answer_error(self._sink, GatewayTimeout("activator request timeout"))
        self._finish(self._lane, 504)
        self._settle(None)

    def cancel(self) -> None:
        """The client went away: stop the exchange (the replica connection is closed)."""
        conn = self._conn
        if conn is not None:
            self._abandon(conn)
            self._finish(self._lane, self._sink.status or 499)

    def _abandon(self, conn: UpstreamConnection) -> None:
        self._conn = None
        conn.detach()
        self._release(self._lane, conn)

    def _release(self, lane: Lane, conn: UpstreamConnection) -> None:
        if self._timeout > 0:
            lane.deadlines.discard(self, self._timeout)
        lane.pool.release(conn)
        self._slot.release()

    def _finish(self, lane: Lane, code: int) -> None:
        ctx = self._request._ctx  # made only when a layer needs it (a traced request)
        if ctx is not None and ctx.replica is None:
            ctx.replica = self._slot.tracker.endpoint.replica_id
        lane.finished(self._started, code, ctx)
