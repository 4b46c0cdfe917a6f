"""KServe's batcher for V1 ``:predict``: merge concurrent callers' instances into one request.

A batch opens with the first queued instance and fires when it holds ``max_batch_size`` instances
or ``max_latency_ms`` (clock time) after it opened, whichever comes first. A single request with
more instances than ``max_batch_size`` is sent as one batch as-is. Batches are kept per path (one
per model URL); KServe keeps one batch per agent and sends it to the last caller's path, which is
the same thing for a revision serving one model. Other requests pass straight through.

Defaults (``BatcherSpec``) follow KServe's Go constants and configmap: 32 instances, 5000 ms.
KServe's docs say 32 / 500 ms with a 60 s timeout; the ISVC ``batcher.timeout`` is unused by
KServe's injector, and minikn ignores it too (the revision's timeout bounds the call).

Errors from the upstream that the data path raises (``minikn.core.errors``: no capacity, timeout)
are raised to every caller of that batch.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from minikn.activator.agent.batching import is_batchable, parse_instances, split_answer
from minikn.activator.agent.types import Upstream, UpstreamResponse
from minikn.core.clock import Clock
from minikn.core.errors import Unavailable
from minikn.core.revision import BatcherSpec

__all__ = ["Batcher"]

log = logging.getLogger("minikn.activator.batcher")

_DROP_HEADERS = frozenset({"content-length", "content-type", "transfer-encoding"})


@dataclass(eq=False)
class _Batch:
    path: str
    headers: dict[str, str]
    upstream: Upstream
    deadline: float
    instances: list[Any] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    waiters: list[asyncio.Future[UpstreamResponse]] = field(default_factory=list)
    full: asyncio.Event = field(default_factory=asyncio.Event)


class Batcher:
    """Batching for one revision. ``close()`` fails whatever is still queued with 503."""

    def __init__(
        self,
        spec: BatcherSpec,
        *,
        clock: Clock,
        revision: str = "",
        strict_errors: bool = False,
    ) -> None:
        self.spec = spec
        self._max_size = spec.max_batch_size if spec.max_batch_size > 0 else 32
        self._max_latency_s = (spec.max_latency_ms if spec.max_latency_ms > 0 else 5000) / 1000.0
        self._clock = clock
        self._revision = revision
        self._strict = strict_errors
        self._open: dict[str, _Batch] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    async def handle(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: bytes,
        upstream: Upstream,
    ) -> UpstreamResponse:
        """Answer one caller: batched when it is a V1 ``:predict``, else passed through."""
        if not is_batchable(method, path):
            return await upstream(method, path, headers, body)
        parsed = parse_instances(body)
        if isinstance(parsed, UpstreamResponse):
            return parsed
        if self._closed:
            raise Unavailable(f"revision {self._revision} is shutting down")
        waiter: asyncio.Future[UpstreamResponse] = asyncio.get_running_loop().create_future()
        batch = self._open.get(path)
        if batch is None:
            batch = self._open_batch(path, headers, upstream)
        batch.instances.extend(parsed)
        batch.sizes.append(len(parsed))
        batch.waiters.append(waiter)
        if len(batch.instances) >= self._max_size:
            self._seal(batch)
        return await waiter

    def _open_batch(self, path: str, headers: Mapping[str, str], upstream: Upstream) -> _Batch:
        kept = {k: v for k, v in headers.items() if k.lower() not in _DROP_HEADERS}
        kept["Content-Type"] = "application/json"
        batch = _Batch(path, kept, upstream, self._clock.monotonic() + self._max_latency_s)
        self._open[path] = batch
        task = asyncio.create_task(self._run(batch), name=f"batch-{self._revision}-{path}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return batch

    def _seal(self, batch: _Batch) -> None:
        """No more callers join ``batch``; the next one opens a new batch."""
        if self._open.get(batch.path) is batch:
            del self._open[batch.path]
        batch.full.set()

    async def _run(self, batch: _Batch) -> None:
        try:
            await self._wait_full_or_deadline(batch)
            self._seal(batch)
            answers = await self._send(batch)
        except asyncio.CancelledError:
            self._fail(batch, Unavailable(f"revision {self._revision} is shutting down"))
            raise
        except Exception as exc:  # delivered to each caller, who re-raises it
            self._fail(batch, exc)
            return
        for waiter, answer in zip(batch.waiters, answers, strict=True):
            if not waiter.done():
                waiter.set_result(answer)

    async def _wait_full_or_deadline(self, batch: _Batch) -> None:
        remaining = batch.deadline - self._clock.monotonic()
        if batch.full.is_set() or remaining <= 0:
            return
        filled = asyncio.create_task(batch.full.wait(), name="batch-full")
        timer = asyncio.create_task(self._clock.sleep(remaining), name="batch-latency")
        try:
            await asyncio.wait({filled, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (filled, timer):
                task.cancel()
            await asyncio.gather(filled, timer, return_exceptions=True)

    async def _send(self, batch: _Batch) -> list[UpstreamResponse]:
        batch_id = str(uuid.uuid4())
        body = _encode({"instances": batch.instances})
        log.debug(
            "batch predict revision=%s path=%s callers=%d instances=%d",
            self._revision, batch.path, len(batch.sizes), len(batch.instances),
        )  # fmt: skip
        answer = await batch.upstream("POST", batch.path, batch.headers, body)
        if answer.status != 200:
            log.info("batch to revision=%s failed with status %d", self._revision, answer.status)
        return split_answer(answer, batch.sizes, batch_id, strict_errors=self._strict)

    @staticmethod
    def _fail(batch: _Batch, exc: BaseException) -> None:
        for waiter in batch.waiters:
            if not waiter.done():
                waiter.set_exception(exc)

    async def close(self) -> None:
        """Stop: queued and in-flight callers get 503."""
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._open.clear()


def _encode(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()
