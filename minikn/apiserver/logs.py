"""``GET /api/v1/namespaces/{ns}/inferenceservices/{name}/logs``: replica logs, streamed.

Query: ``component`` (default: every component), ``revision`` (default: the live revisions of
the chosen components), ``follow=true`` to keep streaming. Lines are ``[revision/replica] text``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from minikn.core.errors import NotFound
from minikn.core.revision import RevisionSpec

__all__ = ["LogSource", "add_logs_route"]

LogSource = Callable[[str, bool], AsyncIterator[str]]
"""(revision, follow) -> lines of every replica of that revision."""


def pick_revisions(
    revisions: list[RevisionSpec],
    live: set[str],
    *,
    component: str | None,
    revision: str | None,
) -> list[str]:
    """Which revisions' logs to show (pure)."""
    if revision is not None:
        if revision not in {r.name for r in revisions}:
            raise NotFound(f'revision "{revision}" not found')
        return [revision]
    chosen = [r.name for r in revisions if component in (None, r.component) and r.name in live]
    if not chosen and component is not None and all(r.component != component for r in revisions):
        raise NotFound(f'component "{component}" not found')
    return chosen


async def _stream(
    request: web.Request,
    resp: web.StreamResponse,
    sources: list[AsyncIterator[str]],
    prefixes: list[str],
    *,
    poll: float,
) -> None:
    """Write every source's lines, merged, until all end or the client goes away.

    aiohttp does not cancel a handler whose client disconnected, and a quiet follow would wait
    for the next line forever: every ``poll`` seconds without a line the connection is checked,
    and a closed one (or a failed write) stops the followers at once."""
    queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=1000)

    async def pump(src: AsyncIterator[str], prefix: str) -> None:
        try:
            async for line in src:
                await queue.put(f"[{prefix}] {line}")
        finally:
            await queue.put(None)

    tasks = [
        asyncio.create_task(pump(s, p), name=f"minikn.logs.{p}")
        for s, p in zip(sources, prefixes, strict=True)
    ]
    try:
        remaining = len(tasks)
        while remaining:
            try:
                item = await asyncio.wait_for(queue.get(), poll)
            except TimeoutError:
                if request.transport is None or request.transport.is_closing():
                    return
                continue
            if item is None:
                remaining -= 1
            else:
                await resp.write((item if item.endswith("\n") else item + "\n").encode())
        await resp.write_eof()
    except ConnectionError:  # the client went away while a line was written
        return
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t


def add_logs_route(
    app: web.Application,
    *,
    revisions: Callable[[str, str], list[RevisionSpec]],
    live: Callable[[], set[str]],
    source: LogSource,
    poll: float = 0.5,
) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        ns, name = request.match_info["ns"], request.match_info["name"]
        q = request.query
        chosen = pick_revisions(
            revisions(ns, name),
            live(),
            component=q.get("component") or None,
            revision=q.get("revision") or None,
        )
        follow = q.get("follow", "").lower() in {"1", "true", "yes"}
        resp = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8"})
        await resp.prepare(request)
        await _stream(request, resp, [source(r, follow) for r in chosen], chosen, poll=poll)
        return resp

    app.router.add_get("/api/v1/namespaces/{ns}/inferenceservices/{name}/logs", handler)
