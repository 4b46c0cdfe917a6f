"""A lean HTTP/1.1 client for posting CloudEvents to an ``http://`` sink, pipelined.

Payload logging doubles or triples the HTTP calls the data path's event loop makes, and a general
client (aiohttp) costs about 250 us of CPU per POST; writing the request bytes and parsing just the
status line and body framing on kept-alive connections costs about a tenth of that, and sending a
batch of queued events as HTTP/1.1 pipelined requests in one write saves the per-event syscalls,
which dominate on a busy machine (bench/agent_logger.py). Every HTTP/1.1 server answers pipelined
requests in order (Go's net/http, which Knative's broker ingress uses, handles them one by one).
``https://`` sinks use :class:`~minikn.activator.agent.sender.HttpEventSender`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from urllib.parse import urlsplit

from minikn.activator.agent.cloudevents import CloudEvent
from minikn.activator.agent.sender import SinkError

__all__ = ["RawHttpSender", "parse_head"]

_Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]
_MAX_HEAD = 64 * 1024
_READ_SIZE = 64 * 1024
_REMEMBER = 512
"""Answers up to this size are remembered, to recognise the next identical one unparsed."""


def parse_head(head: bytes) -> tuple[int, int | None, bool, bool]:
    """(status, content length, chunked, keep-alive) of a response head (through ``\\r\\n\\r\\n``).

    Raises ValueError on a malformed status line.
    """
    if head.startswith(b"HTTP/1.1 2") and head.count(b"\r\n") == 3:
        # Fast path for the usual sink answer: one header line, e.g. Content-Length: 0.
        only, _, raw = head[head.index(b"\r\n") + 2 : -4].partition(b":")
        if only.lower() == b"content-length" and head[12:13] == b" " and raw.strip().isdigit():
            return int(head[9:12]), int(raw), False, True
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise ValueError(f"bad status line {lines[0]!r}")
    status = int(parts[1])
    length: int | None = None
    chunked = False
    keep_alive = parts[0] == "HTTP/1.1"
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        value = value.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding":
            chunked = "chunked" in value
        elif name == "connection":
            keep_alive = "close" not in value and (keep_alive or "keep-alive" in value)
    if status in (204, 304) or 100 <= status < 200:
        length = 0
    return status, length, chunked, keep_alive


class RawHttpSender:
    """Posts events over a small pool of kept-alive connections to one ``http://`` sink."""

    def __init__(self, url: str, *, timeout_s: float = 5.0) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"RawHttpSender needs an http:// URL, got {url!r}")
        self._host = parts.hostname
        self._port = parts.port or 80
        self._target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._host_header = parts.netloc
        self._prefix = f"POST {self._target} HTTP/1.1\r\nHost: {self._host_header}\r\n".encode()
        self._timeout_s = timeout_s
        self._idle: list[_Conn] = []

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for _, writer in idle:
            writer.close()
        for _, writer in idle:
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def send_batch(self, events: Sequence[CloudEvent]) -> list[int | SinkError]:
        """Send ``events`` pipelined on one connection (one write); statuses in order.

        When the sink closes the connection part-way (``Connection: close``, a reset), the events
        not answered yet are reported as not delivered, and the logger retries them.
        """
        statuses: list[int] = []
        try:
            async with asyncio.timeout(self._timeout_s):
                await self._exchange(events, statuses)
        except (OSError, TimeoutError, ValueError, asyncio.IncompleteReadError) as exc:
            error = SinkError(f"{type(exc).__name__}: {exc}")
            return [*statuses, *([error] * (len(events) - len(statuses)))]
        if len(statuses) < len(events):
            error = SinkError("the sink closed the connection before answering")
            return [*statuses, *([error] * (len(events) - len(statuses)))]
        return list(statuses)

    async def _exchange(self, events: Sequence[CloudEvent], statuses: list[int]) -> None:
        payload = b"".join(self._request(event) for event in events)
        while self._idle:
            try:
                await self._exchange_on(self._idle.pop(), payload, len(events), statuses)
                return
            except (ConnectionError, asyncio.IncompleteReadError):
                if statuses:
                    raise
                # The sink closed the idle connection: try the next, then a new one.
        conn = await asyncio.open_connection(self._host, self._port)
        await self._exchange_on(conn, payload, len(events), statuses)

    async def _exchange_on(
        self, conn: _Conn, payload: bytes, count: int, statuses: list[int]
    ) -> None:
        reader, writer = conn
        keep = True
        try:
            writer.write(payload)
            responses = _Responses(reader)
            while keep and len(statuses) < count:
                repeats = responses.repeats(count - len(statuses))
                if repeats:  # the usual case: the same answer to every event, counted in C
                    (status, keep), times = repeats
                    statuses.extend([status] * times)
                    continue
                status, keep = responses.ready() or await responses.next()
                statuses.append(status)
        except BaseException:
            writer.close()
            raise
        if keep:
            self._idle.append(conn)
        else:
            writer.close()

    def encode(self, event: CloudEvent) -> CloudEvent:
        """Encode ``event``'s HTTP request now (kept in ``event.wire``): the payload logger does
        this as each event is logged, so a batch is sent with one join, not one format per event
        while requests wait."""
        event.wire = self._request(event)
        return event

    def _request(self, event: CloudEvent) -> bytes:
        if event.wire:
            return event.wire
        return b"%b%bContent-Length: %d\r\n\r\n%b" % (
            self._prefix,
            event.head,
            len(event.body),
            event.body,
        )


class _Responses:
    """The answers to a pipelined batch, parsed from whatever has arrived: a sink usually answers
    a whole batch in one or two segments, so most answers are taken from the buffer with no
    await (:meth:`ready`); anything else (chunked, unframed, not all here yet) goes through
    :meth:`next`. A sink answers every event alike, so an answer byte-for-byte equal to the one
    before is recognised without parsing it again; the buffer is read through an offset (taking
    answers off its front one by one would copy the rest each time)."""

    __slots__ = ("_buf", "_last", "_pos", "_reader")

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader
        self._buf = b""
        self._pos = 0
        self._last: tuple[bytes, tuple[int, bool]] | None = None

    def repeats(self, most: int) -> tuple[tuple[int, bool], int] | None:
        """((status, reusable), n) when everything buffered from here is the remembered answer
        ``n`` times over (``n <= most``); None otherwise."""
        last = self._last
        if last is None:
            return None
        answer = last[0]
        rest = len(self._buf) - self._pos
        times = rest // len(answer)
        if times == 0 or times > most or times * len(answer) != rest:
            return None
        if self._buf.count(answer, self._pos) != times:
            return None
        self._pos = len(self._buf)
        return last[1], times

    def ready(self) -> tuple[int, bool] | None:
        """(status, reusable) of the next answer if it is whole in the buffer and length-framed."""
        buf, pos, last = self._buf, self._pos, self._last
        if last is not None and buf.startswith(last[0], pos):
            self._pos = pos + len(last[0])
            return last[1]
        end = buf.find(b"\r\n\r\n", pos)
        if end < 0:
            return None
        status, length, chunked, keep = parse_head(buf[pos : end + 4])
        stop = end + 4 + (length or 0)
        if chunked or length is None or len(buf) < stop:
            return None
        self._pos = stop
        if stop - pos <= _REMEMBER:
            self._last = (buf[pos:stop], (status, keep))
        return status, keep

    async def next(self) -> tuple[int, bool]:
        """Read one whole answer; (status, connection reusable)."""
        head = await self._until(b"\r\n\r\n")
        status, length, chunked, keep = parse_head(head)
        if chunked:
            while True:
                size = int((await self._until(b"\r\n")).split(b";")[0], 16)
                await self._skip(size + 2)
                if size == 0:
                    break
        elif length is not None:
            await self._skip(length)
        else:  # no framing: the body runs to EOF and the connection cannot be reused
            while await self._reader.read(_READ_SIZE):
                pass
            self._buf, self._pos = b"", 0
            keep = False
        return status, keep

    async def _more(self) -> None:
        data = await self._reader.read(_READ_SIZE)
        if not data:
            raise asyncio.IncompleteReadError(self._buf[self._pos :], None)
        self._buf = self._buf[self._pos :] + data
        self._pos = 0

    async def _until(self, separator: bytes) -> bytes:
        while (at := self._buf.find(separator, self._pos)) < 0:
            if len(self._buf) - self._pos > _MAX_HEAD:
                raise ValueError("response head too large")
            await self._more()
        end = at + len(separator)
        if end - self._pos > _MAX_HEAD:
            raise ValueError("response head too large")
        out, self._pos = self._buf[self._pos : end], end
        return out

    async def _skip(self, size: int) -> None:
        while len(self._buf) - self._pos < size:
            await self._more()
        self._pos += size
