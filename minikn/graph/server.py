"""The graph router's HTTP server: any request routes through the graph (KServe's router serves
every path), ``GET /readyz`` is readiness, ``GET /metrics`` its Prometheus metrics.

The body is read whole up to a bound (413 beyond); the graph's ``timeout`` bounds the time to the
answer's head (504 with KServe's routing-error body); a streamed last step is written through chunk
by chunk. The response is ``application/json`` when its body is JSON, as KServe's router sets it.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest

from minikn.graph.decide import is_json, propagated, routing_error_body
from minikn.graph.executor import GraphExecutor, Reply, RoutingFailed
from minikn.graph.trace import child_headers, parse_traceparent

__all__ = ["GraphMetrics", "create_app"]

log = logging.getLogger("minikn.graph.server")

_NOT_PROPAGATED = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "traceparent", "tracestate"}
)
STEP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class GraphMetrics:
    """``minikn_graph_step_latency_seconds{graph,node,step}``, ``minikn_graph_requests_total``."""

    def __init__(self, graph: str, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.graph = graph
        self.step_latency = Histogram(
            "minikn_graph_step_latency_seconds",
            "Latency of each step call of an InferenceGraph, seen by its router.",
            ("graph", "node", "step"),
            buckets=STEP_BUCKETS,
            registry=self.registry,
        )
        self.requests = Counter(
            "minikn_graph_requests",
            "Requests the InferenceGraph router answered, by status code.",
            ("graph", "code"),
            registry=self.registry,
        )

    def observe_step(self, node: str, step: str, seconds: float) -> None:
        self.step_latency.labels(self.graph, node, step).observe(seconds)


async def _write_stream(request: web.Request, reply: Reply) -> web.StreamResponse:
    assert reply.stream is not None
    resp = web.StreamResponse(status=reply.status)
    resp.content_type = (reply.content_type or "text/event-stream").split(";")[0]
    resp.headers["Cache-Control"] = "no-cache"
    try:
        await resp.prepare(request)
        async for chunk in reply.stream:
            await resp.write(chunk)
        await resp.write_eof()
    finally:
        reply.close()
    return resp


def create_app(
    executor: GraphExecutor,
    *,
    metrics: GraphMetrics,
    patterns: Sequence[re.Pattern[str]] = (),
    max_body_bytes: int,
    timeout_s: float | None,
) -> web.Application:
    async def readyz(request: web.Request) -> web.Response:
        return web.Response(status=200)

    async def prometheus(request: web.Request) -> web.Response:
        data = generate_latest(metrics.registry)
        return web.Response(body=data, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def route(request: web.Request) -> web.StreamResponse:
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            metrics.requests.labels(metrics.graph, "413").inc()
            cause = f"the request body is larger than {max_body_bytes} bytes"
            return web.Response(
                status=413, body=routing_error_body(cause), content_type="application/json"
            )
        trace = parse_traceparent(
            request.headers.get("traceparent"), request.headers.get("tracestate")
        )
        kept = [
            (k, v)
            for k, v in propagated(request.headers.items(), patterns)
            if k.lower() not in _NOT_PROPAGATED
        ]

        def headers() -> list[tuple[str, str]]:
            return [*kept, *child_headers(trace)]

        try:
            async with asyncio.timeout(timeout_s):
                reply = await executor.run(body, headers)
        except RoutingFailed as exc:
            log.info("graph %s: %d %s", metrics.graph, exc.status, exc.cause)
            metrics.requests.labels(metrics.graph, str(exc.status)).inc()
            return web.Response(
                status=exc.status,
                body=routing_error_body(exc.cause),
                content_type="application/json",
            )
        except TimeoutError:
            metrics.requests.labels(metrics.graph, "504").inc()
            cause = f"the graph did not answer within {timeout_s:g}s (spec.timeout)"
            return web.Response(
                status=504, body=routing_error_body(cause), content_type="application/json"
            )
        metrics.requests.labels(metrics.graph, str(reply.status)).inc()
        if reply.stream is not None:
            return await _write_stream(request, reply)
        resp = web.Response(status=reply.status, body=reply.body)
        if is_json(reply.body):
            resp.content_type = "application/json"
        elif reply.content_type:
            resp.headers["Content-Type"] = reply.content_type
        return resp

    app = web.Application(client_max_size=max_body_bytes)
    app.add_routes(
        [
            web.get("/readyz", readyz),
            web.get("/metrics", prometheus),
            web.route("*", "/{tail:.*}", route),
        ]
    )
    return app
