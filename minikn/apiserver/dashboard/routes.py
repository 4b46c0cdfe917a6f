"""``/dashboard/`` (the page, public static files) and ``GET /api/v1/dashboard/state`` (its data).

The page holds no data: everything comes from the state endpoint, which is behind the API's
bearer token and Host check like every other path. The snapshot is computed at most once per
``period`` (one O(revisions) pass however many dashboards poll) and served as cached bytes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from importlib import resources
from typing import Any

from aiohttp import web

from minikn.apiserver.dashboard.snapshot import (
    RequestTotals,
    RevisionOwner,
    SnapshotInputs,
    build_snapshot,
)
from minikn.controlplane.controller import Controller
from minikn.core.clock import Clock
from minikn.telemetry.request_metrics import RequestCollector

__all__ = ["DASHBOARD_PATH", "STATE_PATH", "DashboardState", "add_dashboard_routes"]

DASHBOARD_PATH = "/dashboard/"
STATE_PATH = "/api/v1/dashboard/state"
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
    "LICENSE": "text/plain; charset=utf-8",
}
# The page runs only its own scripts, talks only to this API, and cannot be framed.
_STATIC_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def _static_files() -> dict[str, tuple[bytes, str]]:
    """Every shipped file under ``static/`` by its path below it (read once: no path from a
    request ever touches the file system)."""
    out: dict[str, tuple[bytes, str]] = {}
    root = resources.files("minikn.apiserver.dashboard").joinpath("static")

    def walk(node: Any, prefix: str) -> None:
        for child in node.iterdir():
            rel = prefix + child.name
            if child.is_dir():
                walk(child, rel + "/")
                continue
            kind = next((t for s, t in _TYPES.items() if child.name.endswith(s)), None)
            if kind is not None:
                out[rel] = (child.read_bytes(), kind)

    walk(root, "")
    return out


def _add(found: RequestTotals | None, codes: dict[int, int], buckets: list[int]) -> RequestTotals:
    """A revision's requests under one more label set (summed)."""
    if found is None:
        return RequestTotals(codes, buckets)
    merged = {c: codes.get(c, 0) + found.codes.get(c, 0) for c in codes.keys() | found.codes.keys()}
    return RequestTotals(merged, [a + b for a, b in zip(buckets, found.buckets, strict=False)])


class DashboardState:
    """The snapshot, recomputed at most once per ``period`` seconds of ``clock``."""

    def __init__(
        self,
        controller: Controller,
        *,
        requests: RequestCollector | None,
        buffered: Callable[[str], int] | None,
        clock: Clock,
        period: float = 1.0,
    ) -> None:
        self._controller = controller
        self._requests = requests
        self._buffered = buffered
        self._clock = clock
        self._period = period
        self._tick = -1
        self._body = b""
        self._previous: Mapping[str, RequestTotals] = {}
        self._previous_at: float | None = None
        self.computed = 0
        """How many snapshots were built (tests and benchmarks read it)."""

    def body(self) -> bytes:
        now = self._clock.monotonic()
        tick = math.floor(now / self._period)
        if tick != self._tick:
            self._body = self._compute(now)
            self._tick = tick
        return self._body

    def _inputs(self) -> SnapshotInputs:
        ctl = self._controller
        keys = ctl.isvc_keys(None) + ctl.isvc_keys(None, kind="InferenceGraph")
        resources_ = ctl.resources(keys)
        live, _ = ctl.live()
        owners = {s.name: RevisionOwner(s.namespace, s.isvc, s.component) for s in live}
        requests: dict[str, RequestTotals] = {}
        if self._requests is not None:
            for (_, _, _, rev), codes, buckets in self._requests.totals():
                if rev in owners:
                    requests[rev] = _add(requests.get(rev), codes, buckets)
        buffered = {r: self._buffered(r) for r in owners} if self._buffered else {}
        events: list[dict[str, Any]] = []
        seen: set[tuple[str, str]] = set()
        for key in keys:
            ns, name = key.split("/", 1)
            if (ns, name) in seen:
                continue
            seen.add((ns, name))
            events.extend(e.model_dump(mode="json") for e in ctl.events.recent(ns, name))
        return SnapshotInputs(
            time=self._clock.time(),
            resources=resources_,
            owners=owners,
            requests=requests,
            buffered=buffered,
            events=events,
        )

    def _compute(self, now: float) -> bytes:
        inputs = self._inputs()
        elapsed = 0.0 if self._previous_at is None else now - self._previous_at
        snap = build_snapshot(inputs, self._previous, elapsed)
        self._previous, self._previous_at = inputs.requests, now
        self.computed += 1
        return json.dumps(snap, separators=(",", ":"), default=str).encode()


def add_dashboard_routes(
    app: web.Application,
    *,
    controller: Controller,
    requests: RequestCollector | None = None,
    buffered: Callable[[str], int] | None = None,
    clock: Clock | None = None,
    period: float = 1.0,
) -> DashboardState:
    """Install the page and the state endpoint; returns the state (its cache) for tests."""
    state = DashboardState(
        controller,
        requests=requests,
        buffered=buffered,
        clock=clock or controller.clock,
        period=period,
    )
    files = _static_files()

    async def page(request: web.Request) -> web.Response:
        name = request.match_info.get("name") or "index.html"
        found = files.get(name)
        if found is None:
            raise web.HTTPNotFound()
        body, kind = found
        return web.Response(body=body, headers={**_STATIC_HEADERS, "Content-Type": kind})

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound(DASHBOARD_PATH)

    async def snapshot(request: web.Request) -> web.Response:
        return web.Response(
            body=state.body(),
            headers={"Content-Type": "application/json", "Cache-Control": "no-store"},
        )

    app.router.add_get("/dashboard", redirect)
    app.router.add_get(DASHBOARD_PATH, page)
    app.router.add_get(DASHBOARD_PATH + "{name:.+}", page)
    app.router.add_get(STATE_PATH, snapshot)
    return state
