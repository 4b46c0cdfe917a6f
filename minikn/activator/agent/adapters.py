"""Adapters between the activator's byte-level seam (``minikn.wire.http``) and the agent
features' buffered view: header blocks <-> mappings, whole bodies, capturing and teeing sinks."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Mapping
from http import HTTPStatus

from multidict import CIMultiDict

from minikn.activator.agent.types import UpstreamResponse
from minikn.wire.http import BodyStream, PassThroughSink, ResponseSink

__all__ = [
    "BufferSink",
    "HeaderScanner",
    "TeeSink",
    "header_lines",
    "parse_header_lines",
    "read_all",
    "reason_phrase",
    "replay",
]

_FRAMING = frozenset({"content-length", "transfer-encoding"})


def parse_header_lines(block: bytes) -> CIMultiDict[str]:
    """``Name: value\\r\\n`` lines -> a case-insensitive multi-dict (latin-1, as HTTP/1.1)."""
    headers: CIMultiDict[str] = CIMultiDict()
    for line in block.split(b"\r\n"):
        name, sep, value = line.partition(b":")
        if sep:
            headers.add(name.strip().decode("latin-1"), value.strip().decode("latin-1"))
    return headers


class HeaderScanner:
    """Finds a few headers (names given in any case) in ``Name: value\r\n`` blocks: one regular
    expression search in C over the lower-cased block (its literal ``\n`` prefix lets the engine
    skip ahead) instead of splitting and decoding every line (what the payload logger needs from
    each request)."""

    __slots__ = ("_pattern",)

    def __init__(self, names: Iterable[str]) -> None:
        wanted = sorted({name.lower().encode("latin-1") for name in names}, key=len, reverse=True)
        alternatives = b"|".join(re.escape(n) for n in wanted) or b"(?!)"
        self._pattern = re.compile(rb"\n(" + alternatives + rb"):([^\r\n]*)")

    def scan(self, block: bytes) -> list[tuple[str, str]]:
        """The ``(lower-case name, value)`` pairs of the wanted headers, in block order."""
        lowered = b"\n" + block.lower()  # lowered[i + 1] is block[i]; every name follows "\n"
        return [
            (
                m.group(1).decode("latin-1"),
                block[m.start(2) - 1 : m.end(2) - 1].strip().decode("latin-1"),
            )
            for m in self._pattern.finditer(lowered)
        ]


def header_lines(headers: Mapping[str, str]) -> bytes:
    """The inverse of :func:`parse_header_lines`, framing headers left out."""
    return b"".join(
        f"{name}: {value}\r\n".encode("latin-1")
        for name, value in headers.items()
        if name.lower() not in _FRAMING
    )


class BufferSink:
    """A :class:`~minikn.wire.http.ResponseSink` that keeps the whole response."""

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


class TeeSink(PassThroughSink):
    """Passes a response through to the client as it streams, keeping a copy of the body."""

    __slots__ = ("_chunks",)

    def __init__(self, sink: ResponseSink) -> None:
        super().__init__(sink)
        self._chunks: list[bytes] = []

    def write(self, data: bytes) -> None:
        self._chunks.append(data)
        self._sink.write(data)

    def body(self) -> bytes:
        return b"".join(self._chunks)


async def read_all(body: BodyStream | None) -> bytes:
    if body is None:
        return b""
    parts = []
    while chunk := await body.read():
        parts.append(chunk)
    return b"".join(parts)


def replay(data: bytes) -> BodyStream:
    stream = BodyStream(None)
    stream.feed(data)
    stream.feed_eof()
    return stream


def reason_phrase(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:
        return b""
