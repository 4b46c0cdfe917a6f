"""The platform API as ``minikn load`` uses it: fetch the ISVC, sample its replicas over time.

Tolerant by design: an API that is down, answers 404 or carries no replica counts makes the
report say so; it never fails the load run.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp

from minikn.core.clock import Clock
from minikn.loadtest.coldstart import ReplicaSample
from minikn.loadtest.replicas import ReplicaCounts, counts_from_metrics, counts_from_status

__all__ = ["PlatformClient", "ReplicaPoller"]

log = logging.getLogger("minikn.loadtest")

_TRANSPORT_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError, ValueError)


class PlatformClient:
    """Reads an ISVC and its replica counts from the minikn API at ``server``."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        server: str,
        *,
        token: str | None = None,
        timeout: float = 5.0,
    ) -> None:
        self._session = session
        self._server = server.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._metrics_ok = True

    def isvc_url(self, namespace: str, name: str) -> str:
        return (
            f"{self._server}/apis/serving.kserve.io/v1beta1/namespaces/{namespace}"
            f"/inferenceservices/{name}"
        )

    async def get_isvc(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The ISVC object, or None when the API does not answer with one."""
        try:
            async with self._session.get(
                self.isvc_url(namespace, name), headers=self._headers, timeout=self._timeout
            ) as resp:
                if resp.status != 200:
                    log.debug("GET isvc %s/%s: HTTP %d", namespace, name, resp.status)
                    return None
                body = await resp.json(content_type=None)
        except _TRANSPORT_ERRORS as exc:
            log.debug("GET isvc %s/%s failed: %s", namespace, name, exc)
            return None
        return body if isinstance(body, dict) else None

    async def _metrics_text(self) -> str | None:
        try:
            async with self._session.get(
                f"{self._server}/metrics", headers=self._headers, timeout=self._timeout
            ) as resp:
                if resp.status != 200:
                    return None
                return await resp.text()
        except _TRANSPORT_ERRORS as exc:
            log.debug("GET /metrics failed: %s", exc)
            return None

    async def replica_counts(
        self, namespace: str, name: str, component: str
    ) -> ReplicaCounts | None:
        """Counts from the ISVC status, else from ``/metrics``; None when neither has them."""
        doc = await self.get_isvc(namespace, name)
        counts = counts_from_status(doc, component) if doc is not None else None
        if counts is not None or not self._metrics_ok:
            return counts
        text = await self._metrics_text()
        if text is None:
            self._metrics_ok = False  # no /metrics: stop asking every poll
            return None
        return counts_from_metrics(text, namespace=namespace, isvc=name, component=component)


class ReplicaPoller:
    """Samples an ISVC's replica counts every ``interval`` until told to stop."""

    def __init__(
        self,
        client: PlatformClient,
        *,
        namespace: str,
        name: str,
        component: str,
        clock: Clock,
        origin: float,
        interval: float = 0.5,
    ) -> None:
        self._client = client
        self._namespace = namespace
        self._name = name
        self._component = component
        self._clock = clock
        self._origin = origin
        self._interval = interval
        self.samples: list[ReplicaSample] = []

    async def sample(self) -> None:
        """Take one sample now (kept only when the platform reported counts)."""
        counts = await self._client.replica_counts(self._namespace, self._name, self._component)
        # Stamped when the answer came: the counts held at some instant before it.
        t = max(0.0, self._clock.monotonic() - self._origin)
        if counts is not None:
            self.samples.append(ReplicaSample(t, counts.ready, counts.desired, counts.pending))

    async def run(self, stop: asyncio.Event) -> None:
        """Sample until ``stop`` is set, then take a last sample."""
        while not stop.is_set():
            await self.sample()
            try:
                await asyncio.wait_for(stop.wait(), self._interval)
            except TimeoutError:
                continue
        await self.sample()
