"""A reference :class:`~minikn.activator.agent.types.Upstream` over aiohttp: one base URL.

The data path has its own proxy (replica pick, breakers); this one serves the integration tests,
the benchmarks and anyone wiring the agent features in front of a fixed server.
"""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp

from minikn.activator.agent.types import UpstreamResponse
from minikn.core.errors import BadGateway

__all__ = ["HttpUpstream"]

_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "host"})


class HttpUpstream:
    """Sends each request to ``base_url`` + path on a session the caller owns."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self._session = session
        self._base = base_url.rstrip("/")

    async def __call__(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> UpstreamResponse:
        sent = {k: v for k, v in headers.items() if k.lower() not in _HOP_BY_HOP}
        try:
            async with self._session.request(
                method, self._base + path, headers=sent, data=body or None
            ) as resp:
                data = await resp.read()
                kept = {k: v for k, v in resp.headers.items() if k.lower() not in _HOP_BY_HOP}
                return UpstreamResponse(resp.status, kept, data)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise BadGateway(f"upstream {self._base}: {type(exc).__name__}: {exc}") from exc
