"""``/dashboard/`` (the page, public static files) and ``GET /api/v1/dashboard/state`` (its data).

The page holds no data: everything comes from the state endpoint, which is behind the API's
bearer token and Host check like every other path. ``?revision=NAME`` picks the revision whose
full detail is sent (default: the first live one); ``?catalog=VERSION`` names the catalog (ISVC
rows, revision owners) the page already holds, which is then left out. The live parts are
computed at most once per ``period`` however many dashboards poll and served as cached bytes;
``ETag``/``If-None-Match`` answers a repeated poll within a tick with 304.
"""

from __future__ import annotations

import heapq
import json
import math
import secrets
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from aiohttp import web

from minikn.apiserver.dashboard.snapshot import (
    MAX_EVENTS,
    ColdStarts,
    LiveInputs,
    RequestTotals,
    RevisionOwner,
    build_catalog,
    build_live,
    isvc_row,
    newest_events,
    revision_detail,
)
from minikn.controlplane.controller import Controller
from minikn.core.clock import Clock
from minikn.core.events import Event
from minikn.telemetry.request_metrics import RequestCollector

__all__ = ["DASHBOARD_PATH", "STATE_PATH", "DashboardState", "add_dashboard_routes"]

_MAX_PARAM = 253
"""The longest ``revision`` or ``catalog`` query value (a DNS-1123 subdomain's length)."""
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


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), default=str).encode()


@dataclass(slots=True)
class _Tick:
    """One tick's parts, serialized once; the viewed revisions' details are built on demand."""

    head: bytes
    inputs: LiveInputs
    previous: Mapping[str, RequestTotals]
    elapsed: float
    details: dict[str, bytes]


class DashboardState:
    """The snapshot's parts, recomputed at most once per ``period`` seconds of ``clock``.

    The catalog (ISVC rows, revision owners) is kept: only the ISVCs the controller reports
    changed are rendered again, and it is sent only to a page that does not hold its version
    yet. Per tick the live numbers of every revision are read directly (no document rendering)
    into a compact summary; the full detail is built for the revisions pages are viewing.
    """

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
        self._tick_no = -1
        self._tick: _Tick | None = None
        self._previous: Mapping[str, RequestTotals] = {}
        self._previous_at: float | None = None
        self._rows: dict[str, dict[str, Any]] = {}
        self._dirty: set[str] | None = None
        """ISVC keys changed since the catalog was built (None: all)."""
        self._owners: dict[str, RevisionOwner] = {}
        self._first: str | None = None
        """The first live revision in the page's order: the default detail."""
        self._boot = secrets.token_hex(4)
        self._version_no = 0
        self._catalog = b""
        self._cold = ColdStarts()
        self.computed = 0
        """How many ticks were computed (tests and benchmarks read it)."""
        self.rendered = 0
        """How many ISVC rows were rendered (tests read it)."""
        controller.add_change_listener(self._note_changed)

    def _note_changed(self, keys: Collection[str]) -> None:
        if self._dirty is not None:
            self._dirty.update(keys)

    @property
    def version(self) -> str:
        """The catalog's version (a new process starts a new series)."""
        return f"{self._boot}-{self._version_no}"

    def _refresh_catalog(self) -> None:
        if self._dirty is not None and not self._dirty:
            return
        ctl = self._controller
        if self._dirty is None:
            keys: Collection[str] = ctl.isvc_keys(None) + ctl.isvc_keys(None, kind="InferenceGraph")
            self._rows = {}
        else:
            keys = self._dirty
        self._dirty = set()
        for key, view in ctl.views(keys).items():
            if view is None:
                self._rows.pop(key, None)
            else:
                self._rows[key] = isvc_row(view)
                self.rendered += 1
        live, _ = ctl.live()
        self._owners = {s.name: RevisionOwner(s.namespace, s.isvc, s.component) for s in live}
        self._first = min(self._owners, key=self._order, default=None)
        self._version_no += 1
        self._catalog = _dumps(build_catalog(self._rows.values(), self._owners))

    def _live_inputs(self) -> LiveInputs:
        owners = self._owners
        hook = self._controller.status_extras
        extras: dict[str, Mapping[str, Any]] = {}
        if hook is not None:
            for rev in owners:
                if found := hook(rev):
                    extras[rev] = found
        requests: dict[str, RequestTotals] = {}
        if self._requests is not None:
            for (_, _, _, rev), codes, buckets in self._requests.totals():
                if rev in owners:
                    requests[rev] = _add(requests.get(rev), codes, buckets)
        buffered = {r: n for r in owners if (n := self._buffered(r))} if self._buffered else {}
        return LiveInputs(
            time=self._clock.time(),
            owners=owners,
            extras=extras,
            requests=requests,
            buffered=buffered,
        )

    def _events(self) -> list[Mapping[str, Any]]:
        """The newest events over every ISVC, oldest first (each ISVC's are oldest first, so
        each is read from its end only while it beats the newest found so far)."""
        sink = self._controller.events
        heap: list[tuple[float, int, Event]] = []
        seq = 0
        for row in self._rows.values():
            for event in reversed(sink.recent(row["namespace"], row["name"])):
                seq += 1
                if len(heap) < MAX_EVENTS:
                    heapq.heappush(heap, (event.time, seq, event))
                elif event.time > heap[0][0]:
                    heapq.heapreplace(heap, (event.time, seq, event))
                else:
                    break
        return [e.model_dump(mode="json") for _, _, e in sorted(heap)]

    def _compute(self, now: float) -> _Tick:
        self._refresh_catalog()
        inputs = self._live_inputs()
        elapsed = 0.0 if self._previous_at is None else now - self._previous_at
        previous = self._previous
        summary = build_live(inputs, previous, elapsed)
        head = _dumps(
            {
                "time": round(inputs.time, 3),
                "interval": round(elapsed, 3),
                "catalogVersion": self.version,
                "summary": summary,
                "coldStarts": self._cold.update(inputs.extras),
                "events": newest_events(self._events()),
            }
        )
        self._previous, self._previous_at = inputs.requests, now
        self.computed += 1
        return _Tick(head[:-1], inputs, previous, elapsed, {})

    def current(self) -> _Tick:
        now = self._clock.monotonic()
        tick = math.floor(now / self._period)
        if tick != self._tick_no or self._tick is None:
            self._tick = self._compute(now)
            self._tick_no = tick
        return self._tick

    def etag(self, revision: str | None, known: str | None) -> str:
        """Names what :meth:`body` answers for these arguments in the current tick."""
        self.current()
        detail = self._detail_name(revision) or ""
        catalog = "" if known == self.version else "c"
        return f'"{self._boot}-{self._tick_no}-{self._version_no}-{catalog}-{detail}"'

    def _detail_name(self, revision: str | None) -> str | None:
        if revision is not None and revision in self._owners:
            return revision
        return self._first

    def _order(self, name: str) -> tuple[str, str, str]:
        o = self._owners[name]
        return (o.namespace, o.isvc, name)

    def body(self, revision: str | None = None, known: str | None = None) -> bytes:
        """The snapshot: the tick's parts, the detail of ``revision`` (default: the first live
        one), and the catalog unless ``known`` is its current version."""
        tick = self.current()
        name = self._detail_name(revision)
        detail = b"null"
        if name is not None:
            detail = tick.details.get(name, b"")
            if not detail:
                row = revision_detail(name, tick.inputs, tick.previous, tick.elapsed)
                detail = tick.details[name] = _dumps(row)
        parts = [tick.head, b',"detail":', detail]
        if known != self.version:
            parts += [b',"catalog":', self._catalog]
        parts.append(b"}")
        return b"".join(parts)

    def snapshot(self, revision: str | None = None, known: str | None = None) -> dict[str, Any]:
        """:meth:`body` parsed (tests)."""
        out: dict[str, Any] = json.loads(self.body(revision, known))
        return out


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
        revision = request.query.get("revision") or None
        known = request.query.get("catalog") or None
        if (revision and len(revision) > _MAX_PARAM) or (known and len(known) > _MAX_PARAM):
            raise web.HTTPBadRequest(reason="revision and catalog are at most 253 characters")
        etag = state.etag(revision, known)
        headers = {"Cache-Control": "no-cache", "ETag": etag}
        if etag in (t.strip() for t in request.headers.get("If-None-Match", "").split(",")):
            return web.Response(status=304, headers=headers)
        body = state.body(revision, known)
        return web.Response(body=body, headers={**headers, "Content-Type": "application/json"})

    app.router.add_get("/dashboard", redirect)
    app.router.add_get(DASHBOARD_PATH, page)
    app.router.add_get(DASHBOARD_PATH + "{name:.+}", page)
    app.router.add_get(STATE_PATH, snapshot)
    return state
