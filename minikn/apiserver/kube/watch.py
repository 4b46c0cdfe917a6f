"""Watch streams: ``?watch=1`` answers JSON lines of ``{"type", "object"}`` until the timeout.

Events after ``resourceVersion`` come from the hub's history (410 ``Expired`` as an ERROR event
when it is older than the window); without one, the current objects come first as ADDED, as
Kubernetes does. ``allowWatchBookmarks`` adds a BOOKMARK carrying the latest version every
``bookmark_s`` seconds; a stream ends after ``timeoutSeconds`` (bounded by ``max_timeout_s``),
when the client goes away, or when the client falls further behind than its queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import Callable
from typing import Any

from aiohttp import web

from minikn.apiserver.kube.hub import Change, ObjectHub, Watcher
from minikn.apiserver.kube.objects import KubeError, status_body

__all__ = ["MAX_TIMEOUT_S", "stream_watch", "watch_timeout"]

MAX_TIMEOUT_S = 1800
"""Kubernetes' default ``--min-request-timeout`` (a watch lasts a random 1 to 2 times it)."""
BOOKMARK_S = 60.0

Expand = Callable[[Change], list[tuple[str, dict[str, Any]]]]
"""A change -> the (type, rendered object) events it makes."""


def watch_timeout(query: Any, rng: random.Random | None = None) -> float:
    raw = query.get("timeoutSeconds")
    if raw is None:
        return MAX_TIMEOUT_S * (1 + (rng or random.Random()).random())
    try:
        value = int(raw)
    except ValueError:
        raise KubeError(
            400, "BadRequest", f"timeoutSeconds: {raw[:40]!r} is not an integer"
        ) from None
    if value < 0:
        raise KubeError(400, "BadRequest", "timeoutSeconds: must not be negative")
    return float(min(value, 2 * MAX_TIMEOUT_S))


def parse_rv(raw: str | None) -> int | None:
    """A ``resourceVersion`` parameter: None for absent, empty or ``0`` (any version)."""
    if raw in (None, "", "0"):
        return None
    assert raw is not None
    if not raw.isdigit() or len(raw) > 30:
        raise KubeError(400, "BadRequest", f"resourceVersion: {raw[:40]!r} is not a version")
    return int(raw)


async def stream_watch(
    request: web.Request,
    hub: ObjectHub,
    *,
    accept: Callable[[Change], bool],
    initial: Callable[[], list[dict[str, Any]]],
    render: Callable[[str, dict[str, Any]], dict[str, Any]],
    expand: Expand | None = None,
    bookmark_s: float = BOOKMARK_S,
) -> web.StreamResponse:
    """Serve one watch: ``initial()`` as ADDED when no version is given, then the changes
    ``accept`` keeps, each object through ``render(type, object)``; ``expand`` turns one change
    into the events of objects derived from it (already rendered), when given."""
    since = parse_rv(request.query.get("resourceVersion"))
    timeout = watch_timeout(request.query)
    bookmarks = request.query.get("allowWatchBookmarks") in ("true", "1")
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    try:
        watcher = hub.watch(accept, since)
    except KubeError as exc:
        if exc.status != 410:
            raise
        await resp.prepare(request)
        await _send(resp, "ERROR", status_body(410, exc.message, "Expired"))
        return resp
    try:
        start = hub.resource_version
        await resp.prepare(request)
        if since is None:
            for obj in initial():
                await _send(resp, "ADDED", render("ADDED", obj))
        await _pump(
            resp,
            hub,
            watcher,
            render=render,
            expand=expand,
            duration_s=timeout,
            bookmarks=bookmarks,
            bookmark_s=bookmark_s,
            last_rv=start,
        )
    except (ConnectionResetError, asyncio.CancelledError):
        pass  # the client went away
    finally:
        hub.unwatch(watcher)
    return resp


async def _pump(
    resp: web.StreamResponse,
    hub: ObjectHub,
    watcher: Watcher,
    *,
    render: Callable[[str, dict[str, Any]], dict[str, Any]],
    expand: Expand | None,
    duration_s: float,
    bookmarks: bool,
    bookmark_s: float,
    last_rv: int,
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + duration_s
    next_bookmark = loop.time() + bookmark_s
    while True:
        now = loop.time()
        if now >= deadline:
            return
        wait = min(deadline, next_bookmark if bookmarks else deadline) - now
        watcher.wake.clear()
        if not watcher.queue and not watcher.overflowed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(watcher.wake.wait(), timeout=max(wait, 0.0))
        if watcher.overflowed:
            return  # fell behind: the client lists and watches again
        while watcher.queue:
            change = watcher.queue.popleft()
            last_rv = change.rv
            if expand is None:
                await _send(resp, change.type, render(change.type, change.object))
                continue
            for kind, obj in expand(change):
                await _send(resp, kind, obj)
        if bookmarks and loop.time() >= next_bookmark:
            next_bookmark = loop.time() + bookmark_s
            last_rv = max(last_rv, hub.resource_version)
            mark = {"metadata": {"resourceVersion": str(last_rv)}}
            await _send(resp, "BOOKMARK", render("BOOKMARK", mark))


async def _send(resp: web.StreamResponse, kind: str, obj: dict[str, Any]) -> None:
    line = json.dumps({"type": kind, "object": obj}, default=str) + "\n"
    await resp.write(line.encode())
