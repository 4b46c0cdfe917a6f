"""The ingress (Istio's gateway): route by Host/path, split traffic, hand over to the activator.

Per request: match the head (:mod:`minikn.router.match`), pick a revision by traffic weight, build
the header block the replica sees (hop-by-hop headers removed; ``X-Request-Id``, ``Forwarded`` and
``X-Forwarded-*`` set) and let the activator serve it. Errors before the response head become
``{"error": ...}`` answers with the status of :func:`minikn.core.errors.http_status`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Coroutine
from typing import Any

from minikn.activator import Activator, BodyStream, ProxyRequest, answer_error
from minikn.config import Settings
from minikn.core.clock import Clock
from minikn.core.errors import MiniknError, PayloadTooLarge, http_status
from minikn.core.routes import RouteTable
from minikn.router.connection import ClientConnection, IncomingRequest, Pending
from minikn.router.h2 import ServerStream
from minikn.router.match import Match, RouteIndex, pick_revision
from minikn.router.response import Response
from minikn.telemetry.metrics import Metrics
from minikn.wire.grpc import grpc_status_of, http_code_of

__all__ = ["REVISION_HEADER", "Router"]

log = logging.getLogger("minikn.router")

_MATCH_CACHE = 4096
"""Distinct (Host, path) pairs whose route match is remembered (cleared when full)."""

REVISION_HEADER = b"x-minikn-revision"
"""Response header naming the revision that served the request."""

_DROP = frozenset(
    (
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"expect",
        b"content-length",
        b"knative-serving-revision",
        b"knative-serving-namespace",
        b"forwarded",
        b"x-forwarded-proto",
        b"x-forwarded-host",
    )
)


class _Head:
    """What the router reads from a request head in one pass."""

    __slots__ = ("chunked", "content_length", "expect", "forwarded_for", "host", "lines", "rid")

    def __init__(self, headers: list[tuple[bytes, bytes]]) -> None:
        self.host = b""
        self.rid = b""
        self.forwarded_for = b""
        self.content_length: int | None = None
        self.chunked = False
        self.expect = False
        lines: list[bytes] = []
        for name, value in headers:
            lname = name.lower()
            if lname == b"host":
                self.host = value
                lines.append(b"host: %b\r\n" % value)
            elif lname == b"x-request-id":
                self.rid = value
            elif lname == b"x-forwarded-for":
                self.forwarded_for = value
            elif lname in _DROP:
                if lname == b"content-length":
                    self.content_length = int(value)
                elif lname == b"transfer-encoding":
                    self.chunked = b"chunked" in value.lower()
                elif lname == b"expect":
                    self.expect = value.lower() == b"100-continue"
            else:
                lines.append(b"%b: %b\r\n" % (name, value))
        self.lines = lines


class Router:
    """Host/path routing and weighted traffic splits in front of the activator."""

    def __init__(
        self,
        settings: Settings,
        activator: Activator,
        *,
        clock: Clock,
        metrics: Metrics,
        rng: random.Random | None = None,
        ids: random.Random | None = None,
    ) -> None:
        """``rng`` picks revisions by traffic weight, ``ids`` draws request ids (defaults: seeded
        from the OS); tests give seeded ones."""
        self._settings = settings
        self._activator = activator
        self._clock = clock
        self._metrics = metrics
        self._rng = rng if rng is not None else random.Random()
        self._max_body = settings.minikn.activator.max_body_bytes
        self._limits = settings.minikn.router
        self._ids = ids if ids is not None else random.Random()
        """Draws request ids: no system call per request, unlike uuid4."""
        self._index = RouteIndex(RouteTable())
        self._matches: dict[tuple[bytes, bytes], Match] = {}
        self._server: asyncio.Server | None = None
        self._factory: Callable[[], ClientConnection] | None = None
        self._extra: list[asyncio.Server] = []
        """Further listeners on the same port (``also_listen``)."""
        self._conns: set[ClientConnection] = set()
        self._sweeper: asyncio.Task[None] | None = None

    def update_routes(self, table: RouteTable) -> None:
        """Serve ``table`` from the next request on (ISVC routes that are the same objects as in
        the last table keep their index entries)."""
        self._index.update(table)
        self._matches = {}

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host:port`` (0 picks a free port); returns the bound port."""
        max_body, limits, clock = self._max_body, self._limits, self._clock

        def factory() -> ClientConnection:
            conn = ClientConnection(
                self._serve,
                self._conns.discard,
                max_body=max_body,
                limits=limits,
                accepted=clock.monotonic(),
                serve_h2=self._serve_h2,
                now=clock.monotonic,
            )
            self._conns.add(conn)
            return conn

        self._factory = factory
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(factory, host, port, backlog=1024)
        self._sweeper = loop.create_task(self._sweep_forever(), name="minikn.router.timeouts")
        bound = int(self._server.sockets[0].getsockname()[1])
        log.info("router: listening on %s:%d", host, bound)
        return bound

    async def also_listen(self, host: str, port: int) -> None:
        """Serve the same ingress on ``host:port`` too (after ``start``): the address containers
        reach the ingress by, when ``start`` listened on loopback only."""
        if self._factory is None:
            raise RuntimeError("also_listen before start")
        loop = asyncio.get_running_loop()
        self._extra.append(await loop.create_server(self._factory, host, port, backlog=1024))
        log.info("router: also listening on %s:%d", host, port)

    async def close(self, *, grace: float = 0.0) -> None:
        """Stop accepting; give requests in flight up to ``grace`` seconds, then cut the rest."""
        if self._server is not None:
            self._server.close()
        for extra in self._extra:
            extra.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        if grace > 0:
            clock = self._clock
            end = clock.monotonic() + grace
            # Fast-path requests have no task to wait on, and a per-request "done" signal would
            # cost every request: shutdown polls instead (on the injected clock).
            while any(c.busy for c in self._conns) and clock.monotonic() < end:
                await clock.sleep(0.01)
        for conn in list(self._conns):
            conn.close()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        for extra in self._extra:
            await extra.wait_closed()
        self._extra = []

    async def _sweep_forever(self) -> None:
        """One sweep of every connection's timeouts per ``timeoutResolution`` (no timer per
        connection or request; see :mod:`minikn.router.timeouts`)."""
        clock, resolution = self._clock, self._limits.timeout_resolution
        while True:
            await clock.sleep(resolution)
            now = clock.monotonic()
            for conn in list(self._conns):
                try:
                    conn.sweep(now)
                except Exception:
                    log.exception("router: a connection timeout failed to fire")

    def _serve(self, request: IncomingRequest, response: Response) -> Pending:
        head = _Head(request.headers)
        rid = head.rid or b"%032x" % self._ids.getrandbits(128)
        response.extra_headers.append((b"x-request-id", rid))
        labels = ("", "", "", "")
        reached = False
        try:
            key = (head.host, request.url)
            match = self._matches.get(key)
            if match is None:  # matching is pure: remembered per Host and path until new routes
                match = self._index.match(
                    head.host.decode("latin-1"), request.url.decode("latin-1")
                )
                if len(self._matches) >= _MATCH_CACHE:
                    self._matches.clear()
                self._matches[key] = match
            route = match.route
            labels = (route.namespace, route.name, match.component, "")
            revision = pick_revision(match, self._rng)
            response.extra_headers.append((REVISION_HEADER, revision.encode()))
            limit = self._max_body
            if head.content_length is not None and head.content_length > limit:
                raise PayloadTooLarge(
                    f"request body of {head.content_length} bytes is larger than {limit} bytes"
                )
            if head.expect and request.version == "1.1":
                response.continue_100()
            reached = True
            if not head.host:  # HTTP/1.0 may omit it; HTTP/1.1 replicas require one
                head.host = f"{route.name}-{match.component}.{route.namespace}".encode()
                head.lines.append(b"host: %b\r\n" % head.host)
            proxied = self._proxy_request(request, response.peer, head, rid)
            if match.strip:
                proxied.target = request.url[match.strip :] or b"/"
            return self._activator.dispatch(revision, proxied, response, response.settle)
        except MiniknError as exc:
            if not reached:  # the activator counts what reached it
                self._metrics.requests.series(*labels).count(http_status(exc))
            if not request.body.complete:  # the client is still sending: close after the answer
                response.keep_alive = False
            answer_error(response, exc)
            return None

    def _serve_h2(self, stream: ServerStream) -> Coroutine[Any, Any, None] | None:
        """Route one h2c stream (a gRPC call) by ``:authority`` as an HTTP/1.1 request by
        ``Host``, and hand it to the activator; routing errors end it with a gRPC status."""
        rid = stream.header(b"x-request-id") or b"%032x" % self._ids.getrandbits(128)
        stream.extra_headers.append((b"x-request-id", rid))
        labels = ("", "", "", "")
        reached = False
        host = stream.authority
        path = stream.header(b":path")
        try:
            key = (host, path)
            match = self._matches.get(key)
            if match is None:
                match = self._index.match(host.decode("latin-1"), path.decode("latin-1"))
                if len(self._matches) >= _MATCH_CACHE:
                    self._matches.clear()
                self._matches[key] = match
            route = match.route
            labels = (route.namespace, route.name, match.component, "")
            revision = pick_revision(match, self._rng)
            stream.extra_headers.append((REVISION_HEADER, revision.encode()))
            proxied = self._grpc_request(stream, host, path, rid)
            if match.strip:
                proxied.target = path[match.strip :] or b"/"
            reached = True
            return self._activator.serve_grpc(revision, proxied, stream)
        except MiniknError as exc:
            status = grpc_status_of(exc)
            if not reached:
                self._metrics.requests.series(*labels).count(http_code_of(status))
            stream.fail(status, exc.message)
            return None

    def _grpc_request(
        self, stream: ServerStream, host: bytes, path: bytes, rid: bytes
    ) -> ProxyRequest:
        """The call as the activator's handler chain sees it: its metadata as header lines."""
        lines: list[bytes] = []
        forwarded_for = b""
        for name, value in stream.headers:
            if name.startswith(b":") or name in _DROP or name == b"x-request-id":
                continue
            if name == b"x-forwarded-for":
                forwarded_for = value
                continue
            lines.append(b"%b: %b\r\n" % (name, value))
        peer = stream.conn.peer.encode()
        xff = b"%b, %b" % (forwarded_for, peer) if forwarded_for else peer
        lines.append(
            b"x-request-id: %b\r\nx-forwarded-for: %b\r\nx-forwarded-proto: http\r\n"
            b'x-forwarded-host: %b\r\nforwarded: for="%b";host="%b";proto=http\r\n'
            b"k-original-host: %b\r\n" % (rid, xff, host, peer, host, host)
        )
        return ProxyRequest(
            method=stream.header(b":method") or b"POST",
            target=path,
            headers=b"".join(lines),
            request_id=rid.decode("latin-1"),
            body=stream.body,
            content_length=None,
        )

    def _proxy_request(
        self, request: IncomingRequest, peer_address: str, head: _Head, rid: bytes
    ) -> ProxyRequest:
        peer = peer_address.encode()
        host = head.host
        xff = b"%b, %b" % (head.forwarded_for, peer) if head.forwarded_for else peer
        head.lines.append(
            b"x-request-id: %b\r\nx-forwarded-for: %b\r\nx-forwarded-proto: http\r\n"
            b'x-forwarded-host: %b\r\nforwarded: for="%b";host="%b";proto=http\r\n'
            b"k-original-host: %b\r\n" % (rid, xff, host, peer, host, host)
        )
        body: BodyStream | None = request.body
        if (head.content_length is None and not head.chunked) or head.content_length == 0:
            body = None
        return ProxyRequest(
            method=request.method,
            target=request.url,
            headers=b"".join(head.lines),
            request_id=rid.decode("latin-1"),
            body=body,
            content_length=head.content_length if not head.chunked else None,
        )
