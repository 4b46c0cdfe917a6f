"""The response to one client request: the :class:`ResponseSink` the router and activator write to.

One object per request, so the connection (the protocol: parsing, flow control, timeouts) and what
one request answers stay apart, and a late write from a request that was cut off (timed out,
refused) goes nowhere instead of into the next request's answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from http import HTTPStatus
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from minikn.router.connection import ClientConnection, Pending

__all__ = ["Response"]

_REASONS = {s.value: s.phrase.encode() for s in HTTPStatus}


class Response:
    """Response head framing (HTTP/1.0 or 1.1, chunked when the length is unknown) and body bytes,
    written to the client connection's transport in one system call per flush."""

    __slots__ = (
        "_chunked",
        "_conn",
        "_out",
        "detached",
        "extra_headers",
        "keep_alive",
        "peer",
        "settle",
        "status",
        "version",
    )

    def __init__(
        self,
        conn: ClientConnection,
        settle: Callable[[Pending], None],
        *,
        keep_alive: bool,
        version: str,
    ) -> None:
        self._conn = conn
        self.settle = settle
        """Tell the connection the request is answered (None), goes on in a coroutine, or is in
        flight (the activator's fast path)."""
        self.peer = conn.peer
        self.keep_alive = keep_alive
        self.version = version
        self.status = 0
        """The status sent, 0 before the head."""
        self.extra_headers: list[tuple[bytes, bytes]] = []
        """Added to the response head (request id, revision)."""
        self.detached = False
        """The connection gave up on this request (timed out, refused): writes go nowhere."""
        self._chunked = False
        self._out: list[bytes] = []

    @property
    def started(self) -> bool:
        return self.status != 0

    def continue_100(self) -> None:
        transport = self._conn.transport
        if transport is not None and not self.detached:
            transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def start(
        self, status: int, reason: bytes, headers: list[tuple[bytes, bytes]], length: int | None
    ) -> None:
        self.status = status
        line = b"HTTP/1.1 %d %b\r\n" % (status, reason or _REASONS.get(status, b"Unknown"))
        extra = self.extra_headers
        if extra:
            names = [name for name, _ in extra]
            lines = [b"%b: %b\r\n" % p for p in headers if p[0].lower() not in names]
            lines += [b"%b: %b\r\n" % p for p in extra]
        else:
            lines = [b"%b: %b\r\n" % p for p in headers]
        lines.insert(0, line)
        if length is None:
            if self.version == "1.1":
                self._chunked = True
                lines.append(b"transfer-encoding: chunked\r\n")
            else:
                self.keep_alive = False
        if not self.keep_alive:
            lines.append(b"connection: close\r\n")
        elif self.version == "1.0":
            lines.append(b"connection: keep-alive\r\n")
        lines.append(b"\r\n")
        self._out.append(b"".join(lines))

    def write(self, data: bytes) -> None:
        if data:
            self._out.append(b"%x\r\n%b\r\n" % (len(data), data) if self._chunked else data)

    def end(self) -> None:
        if self._chunked:
            self._out.append(b"0\r\n\r\n")
        self.flush()

    def flush(self) -> None:
        """Write what start/write/end queued, in one system call."""
        out = self._out
        if out:
            transport = self._conn.transport
            if transport is not None and not self.detached:
                transport.write(out[0] if len(out) == 1 else b"".join(out))
            out.clear()

    def abort(self) -> None:
        self.keep_alive = False
        if not self.detached:
            self._conn.abort()

    def bind_producer(self, producer: asyncio.Transport | None) -> None:
        if not self.detached:
            self._conn.bind_producer(producer)
