"""KServe's payload logger: each request and/or response as a CloudEvent to ``logger.url``.

The inference request never waits on the sink and never fails because of it: ``log_request`` and
``log_response`` encode the event (on the request's own path, so the work is spread evenly rather
than done in bursts while requests wait) and put it on a bounded backlog (a full backlog drops the
event and counts it in ``minikn_logger_events_dropped``). A few sender tasks POST the events, each
waiting ``linger_s`` after the first event unless ``pipeline`` events are already waiting, then
taking up to ``pipeline`` of them and sending them pipelined on one kept-alive connection (one
write for many events: each batch costs the event loop a few wake-ups and system calls whatever
its size, bench/agent_logger.py). Connection
errors, 429 and 5xx answers are retried with exponential backoff on the injected clock; an event
that still fails, or gets another 4xx, is dropped and counted. KServe's agent has the same shape
(a queue of 100 and a worker pool) but blocks the request when its queue is full; minikn drops.

Only responses with status 200 are logged, as KServe's handler does.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from minikn.activator.agent.adapters import HeaderScanner
from minikn.activator.agent.cloudevents import (
    CE_REQUEST,
    CE_RESPONSE,
    SPEC_VERSION,
    CloudEvent,
    MetadataMatcher,
    encode_header_lines,
    encode_metadata,
    format_ce_time,
)
from minikn.activator.agent.sender import EventSender, HttpEventSender, SinkError
from minikn.activator.agent.types import header_get
from minikn.activator.agent.wire import RawHttpSender
from minikn.core.clock import Clock
from minikn.core.revision import LoggerSpec
from minikn.telemetry.metrics import Metrics

__all__ = ["LoggedRequest", "PayloadLogger", "default_sender"]

log = logging.getLogger("minikn.activator.logger")

_REQUEST = b"%b\r\n" % CE_REQUEST.encode()
_RESPONSE = b"%b\r\n" % CE_RESPONSE.encode()
"""Event types as the ``Ce-Type`` header line's value and end."""


@dataclass(slots=True, eq=False)
class LoggedRequest:
    """What a response event shares with its request event."""

    ce_id: str
    content_type: str
    metadata: dict[str, list[str]]
    shared_head: bytes = b""
    """Every event header but type and time, as header lines (built with the first event)."""


_Queued = CloudEvent
"""An event waiting for a sender (encoded when logged: the work is spread over the requests, not
done in bursts by a sender while requests wait)."""


class _Backlog:
    """Events waiting for a sender: a bounded FIFO the request path appends to without waiting.

    What ``asyncio.Queue`` does for this use, for a fraction of its work per event (this runs
    twice per logged request): idle senders share one wake-up future; ``settle`` counts events a
    sender has finished with, and ``drained`` is set while none is queued or in a sender's hands.
    """

    __slots__ = ("_items", "_maxsize", "_unsettled", "_wake", "drained")

    def __init__(self, maxsize: int) -> None:
        self._items: deque[_Queued] = deque()
        self._maxsize = maxsize
        self._unsettled = 0
        self._wake: asyncio.Future[None] | None = None
        self.drained = asyncio.Event()
        self.drained.set()

    def __len__(self) -> int:
        return len(self._items)

    @property
    def full(self) -> bool:
        return len(self._items) >= self._maxsize

    def put(self, item: _Queued) -> None:
        """Queue ``item`` (the caller checked :attr:`full`)."""
        self._items.append(item)
        self._unsettled += 1
        self.drained.clear()
        wake = self._wake
        if wake is not None:
            self._wake = None
            if not wake.done():
                wake.set_result(None)

    async def wait(self) -> None:
        """Until something is queued."""
        while not self._items:
            if self._wake is None:
                self._wake = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._wake)

    def take(self, most: int) -> list[_Queued]:
        items = self._items
        return [items.popleft() for _ in range(min(most, len(items)))]

    def settle(self, count: int) -> None:
        """``count`` taken events were sent or dropped."""
        self._unsettled -= count
        if self._unsettled <= 0:
            self._unsettled = 0
            self.drained.set()


def _new_id() -> str:
    """A random (version 4) UUID. Drawn from ``random``, seeded from the OS at start, rather than
    ``uuid4()``'s per-call ``os.urandom``: ids need to be unique, not unguessable, and this runs
    on every logged request."""
    bits = random.getrandbits(122)  # all but the version (4 bits) and the variant (2 bits)
    return "%08x-%04x-4%03x-%04x-%012x" % (  # noqa: UP031 - one C formatting step
        bits >> 90,
        (bits >> 74) & 0xFFFF,
        (bits >> 62) & 0xFFF,
        0x8000 | ((bits >> 48) & 0x3FFF),
        bits & 0xFFFFFFFFFFFF,
    )


def default_sender(url: str) -> EventSender:
    """The lean client for ``http://`` sinks; aiohttp (TLS) for anything else."""
    if url.startswith("http://"):
        return RawHttpSender(url)
    return HttpEventSender()


class PayloadLogger:
    """Payload logging for one revision; ``start()`` before use, ``close()`` at the end."""

    def __init__(
        self,
        spec: LoggerSpec,
        *,
        isvc: str,
        namespace: str,
        component: str,
        revision: str,
        source: str,
        metrics: Metrics,
        clock: Clock,
        endpoint: str = "",
        sender: EventSender | None = None,
        queue_size: int = 1024,
        workers: int = 2,
        pipeline: int = 256,
        linger_s: float = 0.05,
        max_attempts: int = 3,
        backoff_s: float = 0.05,
    ) -> None:
        self.spec = spec
        self._ident = {
            "source": source,
            "isvc": isvc,
            "namespace": namespace,
            "component": component,
            "endpoint": endpoint,
        }
        self._metadata = MetadataMatcher(spec.metadata_headers)
        self._scanner = HeaderScanner(("ce-id", "content-type", *spec.metadata_headers))
        self._log_requests = spec.mode in ("all", "request")
        self._log_responses = spec.mode in ("all", "response")
        self._revision = revision
        self._clock = clock
        self._sender = sender if sender is not None else default_sender(spec.url)
        self._encode: Callable[[CloudEvent], CloudEvent] | None = getattr(
            self._sender, "encode", None
        )
        """The sender's encoder, if it encodes events ahead (``RawHttpSender.encode``)."""
        self._backlog = _Backlog(queue_size)
        self._workers = workers
        self._pipeline = max(1, pipeline)
        self._linger_s = linger_s
        self._max_attempts = max_attempts
        self._backoff_s = backoff_s
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False
        # The headers every event of this revision carries, encoded once (KServe's order).
        self._spec_line = f"Ce-Specversion: {SPEC_VERSION}\r\n".encode()
        self._ident_lines = encode_header_lines(
            {
                "Ce-Source": source,
                "Ce-Inferenceservicename": isvc,
                "Ce-Namespace": namespace,
                "Ce-Component": component,
                "Ce-Endpoint": endpoint,
            }
        )
        labels = {"namespace": namespace, "isvc": isvc, "revision": revision}
        self._dropped = metrics.logger_dropped.labels(**labels)
        self._sent = metrics.logger_sent.labels(**labels)

    async def start(self) -> None:
        """Start the sender tasks (else the first logged event starts them)."""
        await self._sender.start()
        self._spawn()

    def _spawn(self) -> None:
        if self._tasks or self._closed:
            return
        for i in range(self._workers):
            task = asyncio.create_task(self._run(), name=f"logger-sender-{self._revision}-{i}")
            self._tasks.append(task)

    async def drain(self, *, timeout_s: float) -> bool:
        """Wait until every queued event was sent or dropped, up to ``timeout_s`` (clock time)."""
        if not self._tasks:
            return not self._backlog
        drained = self._backlog.drained
        if drained.is_set():
            return True
        joined = asyncio.create_task(drained.wait(), name="logger-drain")
        timer = asyncio.create_task(self._clock.sleep(timeout_s), name="logger-drain-timer")
        await asyncio.wait({joined, timer}, return_when=asyncio.FIRST_COMPLETED)
        done = joined.done() and not joined.cancelled()
        for task in (joined, timer):
            task.cancel()
        await asyncio.gather(joined, timer, return_exceptions=True)
        return done

    async def close(self, *, drain_s: float = 1.0) -> None:
        """Give queued events up to ``drain_s`` (clock time) to go out, then stop; rest dropped."""
        await self.drain(timeout_s=drain_s)
        self._closed = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        left = self._backlog.take(len(self._backlog))
        if left:
            self._dropped.inc(len(left))
            self._backlog.settle(len(left))
        await self._sender.close()

    def pending(self) -> int:
        """Events queued and not yet taken by a sender."""
        return len(self._backlog)

    def log_request(self, headers: Mapping[str, str], body: bytes) -> LoggedRequest:
        """Queue the request event (modes ``all``/``request``); returns what its response needs.

        The id is the incoming ``Ce-Id`` header, else a new UUID, as KServe does.
        """
        req = LoggedRequest(
            header_get(headers, "Ce-Id") or _new_id(),
            header_get(headers, "Content-Type") or "",
            self._metadata.match(headers.items()),
        )
        if self._log_requests:
            self._enqueue(_REQUEST, req, body)
        return req

    def log_request_lines(self, block: bytes, body: bytes) -> LoggedRequest:
        """:meth:`log_request` for a ``Name: value\\r\\n`` header block (the data path's form):
        only the headers the events need are looked up, none is parsed otherwise."""
        ce_id = content_type = ""
        pairs = self._scanner.scan(block)
        for name, value in pairs:
            if name == "ce-id":
                ce_id = ce_id or value
            elif name == "content-type":
                content_type = content_type or value
        req = LoggedRequest(ce_id or _new_id(), content_type, self._metadata.match(pairs))
        if self._log_requests:
            self._enqueue(_REQUEST, req, body)
        return req

    def log_response(self, req: LoggedRequest, status: int, body: bytes) -> None:
        """Queue the response event (modes ``all``/``response``) when ``status`` is 200."""
        if status == 200 and self._log_responses:
            self._enqueue(_RESPONSE, req, body)

    def _enqueue(self, ce_type: bytes, req: LoggedRequest, body: bytes) -> None:
        if self._closed:
            self._dropped.inc()
            return
        if not self._tasks:
            self._spawn()
        if self._backlog.full:
            self._dropped.inc()
            log.debug("payload log queue full, dropped %s id=%s revision=%s", ce_type,
                      req.ce_id, self._revision)  # fmt: skip
            return
        self._backlog.put(self._event(ce_type, req, body, self._clock.time()))

    async def _run(self) -> None:
        backlog = self._backlog
        while True:
            await backlog.wait()
            if self._linger_s > 0 and len(backlog) < self._pipeline:
                # Let more events queue up: one pipelined write then carries many of them (each
                # batch costs the event loop a few wake-ups and system calls, whatever its size).
                await self._clock.sleep(self._linger_s)
            queued = backlog.take(self._pipeline)
            if not queued:
                continue  # another sender took them
            settled = [0]
            try:
                await self._deliver(queued, settled)
            except Exception:  # a sender bug must not end the task: log, count, go on
                log.exception(
                    "payload log: sending to %s failed (isvc=%s revision=%s)",
                    self.spec.url, self._ident["isvc"], self._revision,
                )  # fmt: skip
            finally:  # also on cancellation at close: events in hand are lost, and counted
                self._dropped.inc(len(queued) - settled[0])
                backlog.settle(len(queued))

    def _event(self, ce_type: bytes, req: LoggedRequest, body: bytes, when: float) -> CloudEvent:
        shared = req.shared_head
        if not shared:
            shared = req.shared_head = b"%bCe-Id: %b\r\n%bCe-Metadata: %b\r\n%b" % (
                self._spec_line,
                req.ce_id.encode(),
                self._ident_lines,
                encode_metadata(req.metadata).encode(),
                b"Content-Type: %b\r\n" % req.content_type.encode() if req.content_type else b"",
            )
        head = b"%bCe-Type: %bCe-Time: %b\r\n" % (shared, ce_type, format_ce_time(when).encode())
        event = CloudEvent(self.spec.url, None, body, head)
        return self._encode(event) if self._encode is not None else event

    async def _deliver(self, batch: list[CloudEvent], settled: list[int]) -> None:
        """Send ``batch`` (pipelined), retrying what failed transiently; count each outcome."""
        pending = batch
        for attempt in range(1, self._max_attempts + 1):
            results = await self._sender.send_batch(pending)
            first = results[0] if results else None
            if (
                isinstance(first, int)
                and 200 <= first < 300
                and results.count(first) == len(results)
            ):
                self._sent.inc(len(results))  # the usual case: all accepted alike
                settled[0] += len(results)
                return
            retry: list[CloudEvent] = []
            failed: list[str] = []
            accepted = 0
            for event, result in zip(pending, results, strict=True):
                if isinstance(result, int) and 200 <= result < 300:
                    accepted += 1
                    continue
                retryable = not isinstance(result, int) or result >= 500 or result == 429
                if retryable and attempt < self._max_attempts:
                    retry.append(event)
                else:
                    failed.append(str(result) if isinstance(result, SinkError) else f"{result}")
            if accepted:
                self._sent.inc(accepted)
            if failed:
                self._dropped.inc(len(failed))
            settled[0] += accepted + len(failed)
            if failed:  # one line per batch, not per event: a down sink would flood the log
                log.warning(
                    "payload log: %d event(s) to %s dropped after %d attempt(s), first: %s "
                    "(isvc=%s revision=%s)",
                    len(failed), self.spec.url, attempt, failed[0],
                    self._ident["isvc"], self._revision,
                )  # fmt: skip
            if not retry:
                return
            pending = retry
            await self._clock.sleep(self._backoff_s * 2 ** (attempt - 1))
