"""The I/O boundary of the payload logger: POST one CloudEvent to its sink."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

import aiohttp

from minikn.activator.agent.cloudevents import CloudEvent
from minikn.core.errors import RetryableError

__all__ = ["EventSender", "HttpEventSender", "SinkError"]


class SinkError(RetryableError):
    """The sink could not be reached or did not answer in time."""


class EventSender(Protocol):
    """Delivers events to their sink."""

    async def start(self) -> None: ...

    async def send_batch(self, events: Sequence[CloudEvent]) -> list[int | SinkError]:
        """Per event, in order: the sink's HTTP status, or why it was not delivered."""
        ...

    async def close(self) -> None: ...


class HttpEventSender:
    """aiohttp client with a per-event timeout and a bounded connection pool."""

    def __init__(self, *, timeout_s: float = 5.0, max_connections: int = 16) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._open()

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._max_connections)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        return self._session

    async def send(self, event: CloudEvent) -> int:
        session = self._open()
        try:
            async with session.post(
                event.url,
                data=event.body,
                headers=dict(event.headers),
                skip_auto_headers=("Content-Type",),
            ) as resp:
                await resp.read()
                return resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SinkError(f"{type(exc).__name__}: {exc}") from exc

    async def send_batch(self, events: Sequence[CloudEvent]) -> list[int | SinkError]:
        results = await asyncio.gather(*(self.send(e) for e in events), return_exceptions=True)
        out: list[int | SinkError] = []
        for result in results:
            if isinstance(result, SinkError | int):
                out.append(result)
            elif isinstance(result, BaseException):
                raise result
        return out

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
