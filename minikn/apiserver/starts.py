"""``GET /api/v1/namespaces/{ns}/inferenceservices/{name}/starttimes?component=C``: the exact
start-to-ready seconds of the component's recent replicas (read-only), for
``minikn simulate --start-model measured``.

Answers ``{"component": C, "seconds": [...]}``, oldest first (empty before any replica started);
404 for an unknown ISVC.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

__all__ = ["START_TIMES_PATH", "add_start_times_route"]

START_TIMES_PATH = "/api/v1/namespaces/{ns}/inferenceservices/{name}/starttimes"


def add_start_times_route(
    app: web.Application,
    *,
    isvc: Callable[[str, str], Any],
    start_times: Callable[[str, str, str], list[float]],
) -> None:
    """``isvc(ns, name)`` raises NotFound for an unknown ISVC; ``start_times(ns, name, component)``
    is the replica manager's record."""

    async def handler(request: web.Request) -> web.Response:
        ns, name = request.match_info["ns"], request.match_info["name"]
        isvc(ns, name)
        component = request.query.get("component") or "predictor"
        return web.json_response(
            {"component": component, "seconds": start_times(ns, name, component)}
        )

    app.router.add_get(START_TIMES_PATH, handler)
