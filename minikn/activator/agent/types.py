"""The narrow boundary the agent features wrap: "send this request to a replica".

The data path implements :class:`Upstream` (pick a replica of the revision, proxy, read the
answer); the logger and batcher only see bytes in and bytes out, so unit tests use an in-memory
fake and integration tests a real aiohttp server on loopback.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["Upstream", "UpstreamResponse", "header_get", "json_response"]


@dataclass(frozen=True, slots=True)
class UpstreamResponse:
    """A buffered HTTP answer."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def content_type(self) -> str:
        return header_get(self.headers, "Content-Type") or ""


class Upstream(Protocol):
    """Send one request to a replica of the revision and return its buffered answer.

    Errors the data path cannot turn into an answer (no capacity, timeout) are raised as
    :mod:`minikn.core.errors` types; the agent features pass them through unchanged.
    """

    async def __call__(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> UpstreamResponse: ...


def header_get(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value, matched case-insensitively (plain dicts are case-sensitive)."""
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, val in headers.items():
        if key.lower() == lowered:
            return val
    return None


def json_response(status: int, payload: Any) -> UpstreamResponse:
    """A compact JSON answer (the shape Go's ``json.Marshal`` writes: no spaces)."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    return UpstreamResponse(status, {"Content-Type": "application/json"}, body)
