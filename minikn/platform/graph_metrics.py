"""The graph routers' metrics in the platform's ``/metrics``: each ready replica of an
InferenceGraph's router revision is scraped (bounded in time and size) and its ``minikn_graph_*``
families appended, labelled ``revision`` and ``replica``.

A graph's router is a replica like any model server (its own ``/metrics`` is also reachable through
the graph's host); this is so one scrape of the platform sees per-step latency
(``minikn_graph_step_latency_seconds{graph,node,step}``) next to the activator's metrics.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

import aiohttp

from minikn.controlplane.graphs import GRAPH_COMPONENT
from minikn.core.endpoints import Endpoint
from minikn.core.revision import RevisionSpec
from minikn.telemetry.federate import merge_expositions

__all__ = ["GRAPH_PREFIX", "graph_router_metrics"]

log = logging.getLogger("minikn.platform.graph_metrics")

GRAPH_PREFIX = "minikn_graph_"
SCRAPE_TIMEOUT_S = 2.0
MAX_SCRAPE_BYTES = 4 * 1024 * 1024


async def _scrape(session: aiohttp.ClientSession, ep: Endpoint) -> str | None:
    url = f"http://{ep.host}:{ep.port}/metrics"
    try:
        async with session.get(url, allow_redirects=False) as resp:
            if resp.status != 200:
                return None
            data = await resp.content.read(MAX_SCRAPE_BYTES + 1)
            if len(data) > MAX_SCRAPE_BYTES:
                log.info("%s: metrics larger than %d bytes, skipped", url, MAX_SCRAPE_BYTES)
                return None
            return data.decode("utf-8", "replace")
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        log.debug("%s: scrape failed: %s", url, exc)
        return None


async def graph_router_metrics(
    live: Sequence[RevisionSpec], endpoints: Callable[[str], Sequence[Endpoint]]
) -> bytes:
    """The merged ``minikn_graph_*`` exposition of every ready graph router replica."""
    targets = [
        ({"revision": rev.name, "replica": ep.replica_id}, ep)
        for rev in live
        if rev.component == GRAPH_COMPONENT
        for ep in endpoints(rev.name)
    ]
    if not targets:
        return b""
    timeout = aiohttp.ClientTimeout(total=SCRAPE_TIMEOUT_S)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        texts = await asyncio.gather(*(_scrape(session, ep) for _, ep in targets))
    return merge_expositions(
        ((labels, text) for (labels, _), text in zip(targets, texts, strict=True) if text),
        GRAPH_PREFIX,
    )
