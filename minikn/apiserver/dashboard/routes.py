"""``/dashboard/`` (the page, public static files) and ``GET /api/v1/dashboard/state`` (its data).

The page holds no data: everything comes from the state endpoint, which is behind the API's
bearer token and Host check like every other path. ``?revision=NAME`` picks the revision whose
full detail is sent (default: the first live one); ``?catalog=VERSION`` names the catalog (ISVC
rows, revision owners) the page already holds, which is then left out; ``?since=TICK`` names the
tick the page holds, and only the summary rows changed after it are sent (``summaryFull`` false:
merge them); ``?events=N`` names the newest event it holds, and only newer ones are sent. The live
parts are computed at most once per ``period`` however many dashboards poll and served as cached
bytes; ``ETag``/``If-None-Match`` answers a repeated poll within a tick with 304.
"""

from __future__ import annotations

import dataclasses
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
    is_idle,
    isvc_row,
    revision_detail,
)
from minikn.controlplane.controller import Controller
from minikn.core.clock import Clock
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


SWEEP_TICKS = 10
"""Every revision's live numbers are read at least once per this many ticks, even when nothing
says they moved (between reads, an idle revision's numbers are taken as unchanged)."""
_CACHED_ANSWERS = 16
"""Summary or event parts kept per tick for distinct ``since``/``events`` values."""


@dataclass(slots=True)
class _Tick:
    """One tick's parts, serialized once; the parts that depend on what a page holds (the
    summary rows changed since its tick, the events after its newest, the viewed revision's
    detail) are built on demand and cached for the tick."""

    seq: int
    head: bytes
    inputs: LiveInputs
    previous: Mapping[str, RequestTotals | None]
    """The previous totals of the revisions whose requests moved this tick (None: none)."""
    elapsed: float
    details: dict[str, bytes]
    summaries: dict[int | None, bytes]
    events: dict[int, bytes]


class DashboardState:
    """The snapshot's parts, recomputed at most once per ``period`` seconds of ``clock``.

    The catalog (ISVC rows, revision owners) is kept: only the ISVCs the controller reports
    changed are rendered again, and it is sent only to a page that does not hold its version
    yet. Per tick only the revisions whose numbers may have moved are read again (their request
    count moved, requests are buffered, their ISVC changed, or they were not idle at the last
    read), plus a rotating share of the rest; a page is sent only the summary rows that changed
    since the tick it holds and the events after the newest it holds. The full detail is built
    for the revisions pages are viewing.
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
        self._previous: dict[str, RequestTotals] = {}
        """Each revision's request totals at the previous tick."""
        self._previous_at: float | None = None
        self._totals: dict[str, RequestTotals] = {}
        self._series: dict[str, dict[tuple[str, str, str, str], RequestTotals]] = {}
        self._seen: dict[tuple[str, str, str, str], int] = {}
        self._extras: dict[str, Mapping[str, Any]] = {}
        """Each live revision's numbers as last read."""
        self._summary: dict[str, list[Any]] = {}
        self._changed_at: dict[str, int] = {}
        """The tick at which each revision's summary row last changed."""
        self._touched: set[str] = set()
        """Revisions to read at the next tick whatever their last numbers (new, ISVC changed)."""
        self._sweep = 0
        self._rows: dict[str, dict[str, Any]] = {}
        self._listed: set[tuple[str, str]] = set()
        self._dirty: set[str] | None = None
        """ISVC keys changed since the catalog was built (None: all)."""
        self._owners: dict[str, RevisionOwner] = {}
        self._first: str | None = None
        """The first live revision in the page's order: the default detail."""
        self._boot = secrets.token_hex(4)
        self._version_no = 0
        self._catalog = b""
        self._cold = ColdStarts()
        self._event_bytes: dict[int, bytes] = {}
        self.computed = 0
        """How many ticks were computed (tests and benchmarks read it)."""
        self.rendered = 0
        """How many ISVC rows were rendered (tests read it)."""
        self.read = 0
        """How many revisions' live numbers were read (tests read it)."""
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
        changed: set[tuple[str, str]] = set()
        for key, view in ctl.views(keys).items():
            if view is None:
                self._rows.pop(key, None)
            else:
                row = self._rows[key] = isvc_row(view)
                changed.add((row["namespace"], row["name"]))
                self.rendered += 1
        self._listed = {(r["namespace"], r["name"]) for r in self._rows.values()}
        live, _ = ctl.live()
        self._owners = {s.name: RevisionOwner(s.namespace, s.isvc, s.component) for s in live}
        self._touched.update(n for n, o in self._owners.items() if (o.namespace, o.isvc) in changed)
        for kept in (self._extras, self._summary, self._changed_at, self._previous, self._totals):
            for name in [n for n in kept if n not in self._owners]:
                del kept[name]
        self._first = min(self._owners, key=self._order, default=None)
        self._version_no += 1
        self._catalog = _dumps(build_catalog(self._rows.values(), self._owners))

    def _read_requests(self) -> set[str]:
        """Update the request totals of the revisions whose count moved; returns them."""
        moved: set[str] = set()
        if self._requests is None:
            return moved
        for labels, codes, buckets in self._requests.moved(self._seen):
            rev = labels[3]
            self._series.setdefault(rev, {})[labels] = RequestTotals(codes, buckets)
            moved.add(rev)
        for rev in moved:
            total: RequestTotals | None = None
            for one in self._series[rev].values():
                total = _add(total, dict(one.codes), list(one.buckets))
            if total is not None and rev in self._owners:
                self._totals[rev] = total
        return moved & self._owners.keys()

    def _to_read(self, moved: set[str], buffered: Mapping[str, int]) -> set[str]:
        """The revisions whose numbers are read this tick."""
        owners = self._owners
        names = moved | buffered.keys() | {n for n in self._touched if n in owners}
        self._touched = set()
        names.update(n for n in owners if n not in self._summary or not is_idle(self._summary[n]))
        if owners:
            order = list(owners)
            share = -(-len(order) // SWEEP_TICKS)
            start = self._sweep % len(order)
            names.update(order[start : start + share])
            self._sweep = start + share
        return names

    def _live_inputs(self, names: Collection[str], buffered: dict[str, int]) -> LiveInputs:
        hook = self._controller.status_extras
        if hook is not None:
            for rev in names:
                found = hook(rev)
                if found:
                    self._extras[rev] = found
                else:
                    self._extras.pop(rev, None)
            self.read += len(names)
        return LiveInputs(
            time=self._clock.time(),
            owners=self._owners,
            extras=self._extras,
            requests=self._totals,
            buffered=buffered,
        )

    def _compute(self, now: float) -> _Tick:
        self._refresh_catalog()
        seq = self.computed + 1
        moved = self._read_requests()
        buffered = (
            {r: n for r in self._owners if (n := self._buffered(r))} if self._buffered else {}
        )
        names = self._to_read(moved, buffered)
        inputs = self._live_inputs(names, buffered)
        elapsed = 0.0 if self._previous_at is None else now - self._previous_at
        previous = {r: self._previous.get(r) for r in moved}
        for name, row in build_live(inputs, self._previous, elapsed, names).items():
            if self._summary.get(name) != row:
                self._summary[name] = row
                self._changed_at[name] = seq
        for rev in moved:
            self._previous[rev] = self._totals[rev]
        head = _dumps(
            {
                "time": round(inputs.time, 3),
                "interval": round(elapsed, 3),
                "tick": f"{self._boot}-{seq}",
                "catalogVersion": self.version,
                "coldStarts": self._cold.update(self._extras),
            }
        )
        self._previous_at = now
        self.computed = seq
        return _Tick(seq, head[:-1], inputs, previous, elapsed, {}, {}, {})

    def current(self) -> _Tick:
        now = self._clock.monotonic()
        tick = math.floor(now / self._period)
        if tick != self._tick_no or self._tick is None:
            self._tick = self._compute(now)
            self._tick_no = tick
        return self._tick

    def _since(self, since: str | None) -> int | None:
        """The tick number a page holds, if it is one of this process's and not ahead."""
        if not since or not since.startswith(self._boot + "-"):
            return None
        number = since[len(self._boot) + 1 :]
        if not number.isdigit() or len(number) > 18:
            return None
        held = int(number)
        return held if held <= self.computed else None

    def etag(
        self,
        revision: str | None,
        known: str | None,
        since: str | None = None,
        events: int = 0,
    ) -> str:
        """Names what :meth:`body` answers for these arguments in the current tick."""
        tick = self.current()
        detail = self._detail_name(revision) or ""
        catalog = "" if known == self.version else "c"
        held = self._since(since)
        after = min(events, self._controller.events.emitted)
        return f'"{self._boot}-{tick.seq}-{self._version_no}-{catalog}-{detail}-{held}-{after}"'

    def _detail_name(self, revision: str | None) -> str | None:
        if revision is not None and revision in self._owners:
            return revision
        return self._first

    def _order(self, name: str) -> tuple[str, str, str]:
        o = self._owners[name]
        return (o.namespace, o.isvc, name)

    def _summary_part(self, tick: _Tick, held: int | None) -> bytes:
        """The summary rows changed after tick ``held`` (None: every row)."""
        found = tick.summaries.get(held)
        if found is None:
            if held is None:
                rows = self._summary
            else:
                at = self._changed_at
                rows = {n: r for n, r in self._summary.items() if at.get(n, 0) > held}
            found = _dumps(rows)
            if len(tick.summaries) < _CACHED_ANSWERS:
                tick.summaries[held] = found
        return found

    def _events_part(self, tick: _Tick, after: int) -> bytes:
        """The newest events numbered above ``after`` of the listed ISVCs, oldest first, each
        with its ``seq``."""
        found = tick.events.get(after)
        if found is None:
            cache, listed = self._event_bytes, self._listed
            parts: list[bytes] = []
            newest = self._controller.events.after(after)
            for n, event in newest:
                if (event.namespace, event.isvc) not in listed:
                    continue
                one = cache.get(n)
                if one is None:
                    one = cache[n] = _dumps({"seq": n, **event.model_dump(mode="json")})
                parts.append(one)
            if len(cache) > 2 * MAX_EVENTS:
                oldest = newest[0][0] if newest else self._controller.events.emitted
                for n in [n for n in cache if n < oldest - MAX_EVENTS]:
                    del cache[n]
            found = b"[" + b",".join(parts) + b"]"
            if len(tick.events) < _CACHED_ANSWERS:
                tick.events[after] = found
        return found

    def body(
        self,
        revision: str | None = None,
        known: str | None = None,
        since: str | None = None,
        events: int = 0,
    ) -> bytes:
        """The snapshot: the tick's parts, the detail of ``revision`` (default: the first live
        one), the catalog unless ``known`` is its current version, the summary rows changed
        after the tick ``since`` (``summaryFull``: every row, when ``since`` is not a tick this
        process answered) and the events numbered above ``events``."""
        tick = self.current()
        name = self._detail_name(revision)
        detail = b"null"
        if name is not None:
            detail = tick.details.get(name, b"")
            if not detail:
                detail = tick.details[name] = _dumps(self._detail(tick, name))
        held = self._since(since)
        parts = [
            tick.head,
            b',"summaryFull":',
            b"true" if held is None else b"false",
            b',"summary":',
            self._summary_part(tick, held),
            b',"events":',
            self._events_part(tick, max(0, events)),
            b',"detail":',
            detail,
        ]
        if known != self.version:
            parts += [b',"catalog":', self._catalog]
        parts.append(b"}")
        return b"".join(parts)

    def _detail(self, tick: _Tick, name: str) -> dict[str, Any] | None:
        """The viewed revision's detail, its numbers read now."""
        hook = self._controller.status_extras
        extras = dict(tick.inputs.extras)
        if hook is not None and (found := hook(name)):
            extras[name] = found
        inputs = dataclasses.replace(tick.inputs, extras=extras)
        before = tick.previous[name] if name in tick.previous else self._previous.get(name)
        previous = {} if before is None else {name: before}
        return revision_detail(name, inputs, previous, tick.elapsed)

    def snapshot(
        self,
        revision: str | None = None,
        known: str | None = None,
        since: str | None = None,
        events: int = 0,
    ) -> dict[str, Any]:
        """:meth:`body` parsed (tests)."""
        out: dict[str, Any] = json.loads(self.body(revision, known, since, events))
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
        query = request.query
        revision = query.get("revision") or None
        known = query.get("catalog") or None
        since = query.get("since") or None
        if any(v and len(v) > _MAX_PARAM for v in (revision, known, since)):
            raise web.HTTPBadRequest(
                reason="revision, catalog and since are at most 253 characters"
            )
        after = query.get("events") or "0"
        if not after.isdigit() or len(after) > 18:
            raise web.HTTPBadRequest(reason="events is the number of an event (0 to 18 digits)")
        events = int(after)
        etag = state.etag(revision, known, since, events)
        headers = {"Cache-Control": "no-cache", "ETag": etag}
        if etag in (t.strip() for t in request.headers.get("If-None-Match", "").split(",")):
            return web.Response(status=304, headers=headers)
        body = state.body(revision, known, since, events)
        return web.Response(body=body, headers={**headers, "Content-Type": "application/json"})

    app.router.add_get("/dashboard", redirect)
    app.router.add_get(DASHBOARD_PATH, page)
    app.router.add_get(DASHBOARD_PATH + "{name:.+}", page)
    app.router.add_get(STATE_PATH, snapshot)
    return state
