"""The load generator: closed model (``-c`` workers) or open model (``--rate`` arrivals per second).

Closed model (hey): ``concurrency`` workers each send a request, wait for the answer, send the
next, until ``requests`` were sent or ``duration`` ran out. Open model (vegeta): request ``i`` is
sent at ``i / rate`` seconds whatever the answers do, so a slow server builds up requests in
flight instead of slowing the arrivals; ``max_inflight`` bounds that pile-up (arrivals wait for a
slot beyond it, and the report shows the achieved rate). Every request goes through one shared
``aiohttp`` session, so connections are pooled across workers.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

from minikn.core.clock import Clock
from minikn.core.coldstart import parse_server_timing
from minikn.core.errors import InvalidInput
from minikn.loadtest.stats import RequestRecord
from minikn.loadtest.target import Target

__all__ = ["LoadPlan", "LoadRunner"]

DEFAULT_REQUESTS = 200


@dataclass(frozen=True, slots=True)
class LoadPlan:
    """How much load to send and in which model."""

    concurrency: int = 10
    requests: int | None = None
    """Stop after this many requests (default 200 when no duration is given either)."""
    duration: float | None = None
    """Stop sending after this many seconds (requests in flight still finish)."""
    rate: float | None = None
    """Open model: arrivals per second; None = closed model."""
    timeout: float = 300.0
    """Per-request limit, seconds (long enough for a cold start)."""
    max_inflight: int = 10_000
    """Open model: most requests in flight at once."""
    revision_header: str = "x-minikn-revision"

    def validate(self) -> LoadPlan:
        """The plan with its defaults filled in; bad values raise InvalidInput."""
        if self.concurrency < 1:
            raise InvalidInput(f"-c/--concurrency must be at least 1, got {self.concurrency}")
        if self.requests is not None and self.requests < 1:
            raise InvalidInput(f"-n/--requests must be at least 1, got {self.requests}")
        if self.duration is not None and self.duration <= 0:
            raise InvalidInput(f"-z/--duration must be positive, got {self.duration}")
        if self.rate is not None and self.rate <= 0:
            raise InvalidInput(f"--rate must be positive, got {self.rate}")
        if self.timeout <= 0:
            raise InvalidInput(f"--timeout must be positive, got {self.timeout}")
        if self.max_inflight < 1:
            raise InvalidInput(f"--max-inflight must be at least 1, got {self.max_inflight}")
        if self.requests is None and self.duration is None:
            return LoadPlan(
                concurrency=self.concurrency,
                requests=DEFAULT_REQUESTS,
                rate=self.rate,
                timeout=self.timeout,
                max_inflight=self.max_inflight,
                revision_header=self.revision_header,
            )
        return self


class LoadRunner:
    """Sends the planned load to one target and returns a record per request."""

    def __init__(
        self,
        target: Target,
        plan: LoadPlan,
        *,
        session: aiohttp.ClientSession,
        clock: Clock,
        origin: float,
        on_record: Callable[[RequestRecord], None] | None = None,
    ) -> None:
        self._target = target
        self._plan = plan.validate()
        self._session = session
        self._clock = clock
        self._origin = origin
        self._on_record = on_record
        self._headers = {"Content-Type": target.content_type}
        if target.host:
            self._headers["Host"] = target.host
        self._timeout = aiohttp.ClientTimeout(total=self._plan.timeout)
        self.records: list[RequestRecord] = []

    @property
    def plan(self) -> LoadPlan:
        return self._plan

    def _now(self) -> float:
        return self._clock.monotonic() - self._origin

    def _more(self, sent: int) -> bool:
        """Whether request number ``sent`` (0-based) is still within the plan."""
        plan = self._plan
        if plan.requests is not None and sent >= plan.requests:
            return False
        return plan.duration is None or self._now() < plan.duration

    async def _one(self) -> None:
        start = self._now()
        status = 0
        error: str | None = None
        revision: str | None = None
        cold: tuple[tuple[str, float], ...] | None = None
        try:
            async with self._session.post(
                self._target.url,
                data=self._target.body,
                headers=self._headers,
                timeout=self._timeout,
            ) as resp:
                await resp.read()
                status = resp.status
                revision = resp.headers.get(self._plan.revision_header)
                if resp.headers.get("x-minikn-cold-start") == "true":
                    phases = parse_server_timing(resp.headers.get("server-timing", ""))
                    cold = tuple(phases.items())
        except TimeoutError:
            error = "timeout"
        except aiohttp.ClientError as exc:
            error = type(exc).__name__
        record = RequestRecord(start, self._now() - start, status, error, revision, cold)
        self.records.append(record)
        if self._on_record is not None:
            self._on_record(record)

    async def run(self) -> list[RequestRecord]:
        """Send the whole plan; returns the records (also kept on ``self.records``)."""
        if self._plan.rate is None:
            await self._closed()
        else:
            await self._open(self._plan.rate)
        return self.records

    async def _closed(self) -> None:
        tickets = itertools.count()

        async def worker() -> None:
            while self._more(next(tickets)):
                await self._one()

        async with asyncio.TaskGroup() as tg:
            for i in range(self._plan.concurrency):
                tg.create_task(worker(), name=f"minikn-load-worker-{i}")

    async def _open(self, rate: float) -> None:
        slots = asyncio.Semaphore(self._plan.max_inflight)

        async def send() -> None:
            try:
                await self._one()
            finally:
                slots.release()

        async with asyncio.TaskGroup() as tg:
            for i in itertools.count():
                due = i / rate
                if not self._more(i) or (
                    self._plan.duration is not None and due >= self._plan.duration
                ):
                    break
                delay = due - self._now()
                if delay > 0:
                    await self._clock.sleep(delay)
                await slots.acquire()
                tg.create_task(send(), name=f"minikn-load-request-{i}")
