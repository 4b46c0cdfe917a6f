"""Real local replicas (aiohttp apps on 127.0.0.1:0) and route/revision builders for tests.

Each replica records what it saw (request ids, headers, peak concurrency) in a :class:`Seen`
shared by the test; paths ending in ``/hold``, ``/die`` and ``/stream`` hold the request until
``Seen.release`` fires, drop the connection mid-request, or stream server-sent events.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from minikn.config.loader import Settings, settings_from_mapping
from minikn.core.endpoints import Endpoint
from minikn.core.revision import ComponentName, ContainerSpec, RevisionSpec
from minikn.core.routes import ComponentRoute, IsvcRoute, RouteTable, TrafficTarget
from minikn.testing.datapath import ReplicaFactory, StartedReplica

__all__ = [
    "Seen",
    "aiohttp_factory",
    "isvc_route",
    "revision",
    "settings",
    "table",
    "to",
]


@dataclass
class Seen:
    """What the local replicas observed."""

    ids: list[str] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    in_flight: int = 0
    peak: int = 0
    started: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    ready_gate: asyncio.Event | None = None
    """When set, replicas report ready only after this event fires (a controllable cold start)."""


def revision(
    isvc: str,
    component: ComponentName = "predictor",
    generation: int = 1,
    **kwargs: Any,
) -> RevisionSpec:
    return RevisionSpec(
        name=f"{isvc}-{component}-{generation:05d}",
        isvc=isvc,
        component=component,
        generation=generation,
        container=ContainerSpec(),
        **kwargs,
    )


def table(*isvcs: IsvcRoute, domain: str = "example.com") -> RouteTable:
    return RouteTable(domain=domain, isvcs=isvcs)


def isvc_route(
    name: str, namespace: str = "default", **components: list[TrafficTarget]
) -> IsvcRoute:
    comps = tuple(ComponentRoute(component=c, targets=tuple(t)) for c, t in components.items())
    return IsvcRoute(name=name, namespace=namespace, components=comps)


def to(rev: RevisionSpec, percent: int = 100, tag: str | None = None) -> TrafficTarget:
    return TrafficTarget(revision=rev.name, percent=percent, tag=tag)


def settings(**activator: Any) -> Settings:
    return settings_from_mapping({"minikn": {"activator": activator}})


async def _default_handler(
    request: web.Request, spec: RevisionSpec, seen: Seen
) -> web.StreamResponse:
    body = await request.read()
    path = request.path
    if path.endswith("/hold"):
        seen.started.set()
        await seen.release.wait()
    elif path.endswith("/die"):
        seen.started.set()
        assert request.transport is not None
        request.transport.abort()
        await asyncio.Event().wait()  # the handler is cancelled with its connection
    elif path.endswith("/stream"):
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(b"data: first\n\n")
        await seen.release.wait()
        await resp.write(b"data: second\n\n")
        await resp.write_eof()
        return resp
    return web.json_response(
        {"revision": spec.name, "bytes": len(body), "path": path, "host": request.host}
    )


Behaviour = Callable[[web.Request, RevisionSpec, Seen], Any]


def aiohttp_factory(seen: Seen, behaviour: Behaviour | None = None) -> ReplicaFactory:
    """Start an aiohttp app per replica; ``behaviour`` answers (default: echo JSON)."""
    handle = behaviour or _default_handler

    async def start(spec: RevisionSpec, replica_id: str) -> StartedReplica:
        async def entry(request: web.Request) -> web.StreamResponse:
            seen.ids.append(request.headers.get("x-request-id", ""))
            seen.headers.append({k.lower(): v for k, v in request.headers.items()})
            seen.in_flight += 1
            seen.peak = max(seen.peak, seen.in_flight)
            try:
                result: web.StreamResponse = await handle(request, spec, seen)
                return result
            finally:
                seen.in_flight -= 1

        if seen.ready_gate is not None:
            await seen.ready_gate.wait()
        app = web.Application(client_max_size=1024**3)
        app.router.add_route("*", "/{tail:.*}", entry)
        runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = int(runner.addresses[0][1])
        return StartedReplica(Endpoint(replica_id, "127.0.0.1", port), runner.cleanup)

    return start
