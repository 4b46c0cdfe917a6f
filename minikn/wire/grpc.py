"""gRPC over the data path: status codes, platform errors as gRPC status, ``grpc-timeout`` (pure).

A gRPC call reaches the activator as a :class:`~minikn.wire.http.ProxyRequest` (``:path`` as its
target, its metadata as header lines) whose context carries a :class:`GrpcCall`: the client's h2
stream, where the replica's trailers go and where a platform error is answered as a trailers-only
response (``grpc-status`` and ``grpc-message``), as Envoy does in front of gRPC services.

Platform errors map as KServe's clients expect them (``InferenceGRPCClient`` retries UNAVAILABLE):

========================================  =====================  ==========
platform error                            gRPC status            HTTP-ish
========================================  =====================  ==========
unknown host / revision (404)             NOT_FOUND (5)          404
request buffer full (503 ``BufferFull``)  RESOURCE_EXHAUSTED (8) 429
revision cannot become ready, no replica  UNAVAILABLE (14)       503
component timeout, ``grpc-timeout`` (504) DEADLINE_EXCEEDED (4)  504
body too large (413)                      RESOURCE_EXHAUSTED (8) 429
bad request (400)                         INVALID_ARGUMENT (3)   400
========================================  =====================  ==========

Request metrics count a gRPC call under the HTTP-ish code of its gRPC status (the right column,
grpc-gateway's mapping), so one ``activator_request_count`` series serves both protocols.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from typing import Protocol
from urllib.parse import quote

from minikn.core.errors import MiniknError, http_status

__all__ = [
    "GrpcCall",
    "GrpcStatus",
    "grpc_status_of",
    "grpc_status_of_http",
    "http_code_of",
    "parse_grpc_timeout",
    "percent_encode",
    "trailers_for",
]


class GrpcStatus(enum.IntEnum):
    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


_HTTP_OF = {
    GrpcStatus.OK: 200,
    GrpcStatus.CANCELLED: 499,
    GrpcStatus.UNKNOWN: 500,
    GrpcStatus.INVALID_ARGUMENT: 400,
    GrpcStatus.DEADLINE_EXCEEDED: 504,
    GrpcStatus.NOT_FOUND: 404,
    GrpcStatus.ALREADY_EXISTS: 409,
    GrpcStatus.PERMISSION_DENIED: 403,
    GrpcStatus.RESOURCE_EXHAUSTED: 429,
    GrpcStatus.FAILED_PRECONDITION: 400,
    GrpcStatus.ABORTED: 409,
    GrpcStatus.OUT_OF_RANGE: 400,
    GrpcStatus.UNIMPLEMENTED: 501,
    GrpcStatus.INTERNAL: 500,
    GrpcStatus.UNAVAILABLE: 503,
    GrpcStatus.DATA_LOSS: 500,
    GrpcStatus.UNAUTHENTICATED: 401,
}


def http_code_of(status: int) -> int:
    """The HTTP-ish code request metrics count a call under (grpc-gateway's mapping)."""
    try:
        return _HTTP_OF[GrpcStatus(status)]
    except ValueError:
        return 500


def grpc_status_of(exc: MiniknError) -> GrpcStatus:
    """The gRPC status a platform error is answered with (table above)."""
    if exc.reason == "BufferFull":
        return GrpcStatus.RESOURCE_EXHAUSTED
    return grpc_status_of_http(http_status(exc))


def grpc_status_of_http(code: int) -> GrpcStatus:
    """A non-gRPC HTTP answer as a gRPC status (gRPC's HTTP-to-gRPC table, with the platform's
    own codes made precise: 404 NOT_FOUND, 504 DEADLINE_EXCEEDED, 413 RESOURCE_EXHAUSTED)."""
    if code == 404:
        return GrpcStatus.NOT_FOUND
    if code in (408, 504):
        return GrpcStatus.DEADLINE_EXCEEDED
    if code in (413, 429):
        return GrpcStatus.RESOURCE_EXHAUSTED
    if code == 400:
        return GrpcStatus.INVALID_ARGUMENT
    if code == 401:
        return GrpcStatus.UNAUTHENTICATED
    if code == 403:
        return GrpcStatus.PERMISSION_DENIED
    if code in (502, 503):
        return GrpcStatus.UNAVAILABLE
    if code == 501:
        return GrpcStatus.UNIMPLEMENTED
    return GrpcStatus.UNKNOWN if code < 500 else GrpcStatus.INTERNAL


_UNITS = {b"H": 3600.0, b"M": 60.0, b"S": 1.0, b"m": 1e-3, b"u": 1e-6, b"n": 1e-9}


def parse_grpc_timeout(value: bytes) -> float | None:
    """``grpc-timeout`` (``TimeoutValue TimeoutUnit``: at most 8 digits, one of ``HMSmun``) in
    seconds, or None when malformed. Example: ``b"250m"`` -> 0.25."""
    digits, unit = value[:-1], value[-1:]
    if not digits or len(digits) > 8 or not digits.isdigit() or unit not in _UNITS:
        return None
    return int(digits) * _UNITS[unit]


def percent_encode(message: str) -> bytes:
    """``grpc-message``'s encoding: percent-encoded UTF-8 outside printable ASCII and ``%``."""
    return quote(message, safe=" !\"#$&'()*+,-./:;<=>?@[\\]^_`{|}~").encode("ascii")


def trailers_for(status: int, message: str) -> list[tuple[bytes, bytes]]:
    """The ``grpc-status``/``grpc-message`` pair of a call that ends with ``status``."""
    trailers = [(b"grpc-status", b"%d" % status)]
    if message:
        trailers.append((b"grpc-message", percent_encode(message[:1024])))
    return trailers


class GrpcCall(Protocol):
    """The client's side of one gRPC call, as the activator's upstream sees it."""

    @property
    def authority(self) -> bytes:
        """The ``:authority`` the client sent (the replica gets it too)."""
        ...

    @property
    def deadline(self) -> float | None:
        """The client's ``grpc-timeout`` as a monotonic instant (None: no deadline)."""
        ...

    @property
    def grpc_status(self) -> int:
        """The status the call ended with (from the replica's trailers or :meth:`fail`)."""
        ...

    def set_trailers(self, trailers: Sequence[tuple[bytes, bytes]]) -> None:
        """The replica's trailers: sent when the response sink ends."""
        ...

    def fail(self, status: int, message: str) -> None:
        """End the call with ``status`` (a trailers-only response if nothing was sent yet)."""
        ...

    @property
    def backlog(self) -> int:
        """Response bytes queued for the client that its flow-control window does not admit."""
        ...

    def on_drained(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` once the backlog is sent (the upstream then takes more)."""
        ...
