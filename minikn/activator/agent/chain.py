"""The per-revision handler chain, composed as KServe's agent composes it: the payload logger
outermost (it logs what each caller sent and got back), then the batcher, then the replica."""

from __future__ import annotations

from collections.abc import Mapping

from minikn.activator.agent.batcher import Batcher
from minikn.activator.agent.logger import PayloadLogger
from minikn.activator.agent.sender import EventSender
from minikn.activator.agent.types import Upstream, UpstreamResponse
from minikn.core.clock import Clock
from minikn.core.revision import RevisionSpec
from minikn.telemetry.metrics import Metrics

__all__ = ["Agent"]


class Agent:
    """Logger and/or batcher around one revision's upstream; build it with :meth:`for_revision`."""

    def __init__(self, *, logger: PayloadLogger | None, batcher: Batcher | None) -> None:
        self.logger = logger
        self.batcher = batcher

    @classmethod
    def for_revision(
        cls,
        spec: RevisionSpec,
        *,
        metrics: Metrics,
        clock: Clock,
        source: str | None = None,
        sender: EventSender | None = None,
        strict_batch_errors: bool = False,
    ) -> Agent | None:
        """The chain ``spec`` asks for, or None when it sets neither ``logger`` nor ``batcher``.

        ``source`` is the events' ``Ce-Source`` (KServe: the pod name); default
        ``http://<revision>.<namespace>``.
        """
        if spec.logger is None and spec.batcher is None:
            return None
        payload_logger = None
        if spec.logger is not None:
            payload_logger = PayloadLogger(
                spec.logger,
                isvc=spec.isvc,
                namespace=spec.namespace,
                component=spec.component,
                revision=spec.name,
                source=source or f"http://{spec.name}.{spec.namespace}",
                metrics=metrics,
                clock=clock,
                sender=sender,
            )
        batcher = None
        if spec.batcher is not None:
            batcher = Batcher(
                spec.batcher, clock=clock, revision=spec.name, strict_errors=strict_batch_errors
            )
        return cls(logger=payload_logger, batcher=batcher)

    async def start(self) -> None:
        if self.logger is not None:
            await self.logger.start()

    async def close(self, *, drain_s: float = 1.0) -> None:
        """Fail queued batch callers (503), then give queued log events ``drain_s`` to go out."""
        if self.batcher is not None:
            await self.batcher.close()
        if self.logger is not None:
            await self.logger.close(drain_s=drain_s)

    async def handle(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: bytes,
        upstream: Upstream,
    ) -> UpstreamResponse:
        """One caller's request through logger -> batcher -> ``upstream``."""
        logged = self.logger.log_request(headers, body) if self.logger is not None else None
        if self.batcher is not None:
            answer = await self.batcher.handle(method, path, headers, body, upstream)
        else:
            answer = await upstream(method, path, headers, body)
        if self.logger is not None and logged is not None:
            self.logger.log_response(logged, answer.status, answer.body)
        return answer
