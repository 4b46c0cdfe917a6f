"""A tiny step replica for InferenceGraph tests: answers every POST with
``{"predictions": <the request's instances>, "by": $STEP, "traceparent": ..., "x-user": ...}``.

``STATUS=<code>`` makes it answer ``{"error": "step <STEP> failed"}`` with that status instead;
``MODE=sse`` makes it stream ``text/event-stream``: the first event at once, the last one only
after ``POST /release`` (so a test knows the first event reached it before the last was sent).
"""

from __future__ import annotations

import asyncio
import json
import os

from aiohttp import web

STEP = os.environ.get("STEP", "?")
released = asyncio.Event()


async def release(request: web.Request) -> web.Response:
    released.set()
    return web.json_response({"released": True})


async def stream(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(request)
    await resp.write(f"data: first from {STEP}\n\n".encode())
    async with asyncio.timeout(120):
        await released.wait()
    await resp.write(f"data: last from {STEP}\n\n".encode())
    await resp.write_eof()
    return resp


async def handle(request: web.Request) -> web.StreamResponse:
    if request.method != "POST":
        return web.Response(text="ok")
    if request.path == "/release":
        return await release(request)
    if os.environ.get("MODE") == "sse":
        return await stream(request)
    status = int(os.environ.get("STATUS", "200"))
    if status != 200:
        return web.json_response({"error": f"step {STEP} failed"}, status=status)
    body = json.loads(await request.read() or b"{}")
    answer = {
        "predictions": body.get("instances", []),
        "by": STEP,
        "traceparent": request.headers.get("traceparent"),
        "x-user": request.headers.get("x-user"),
    }
    return web.json_response(answer)


app = web.Application()
app.add_routes([web.route("*", "/{tail:.*}", handle)])
web.run_app(app, host=os.environ["HOST"], port=int(os.environ["PORT"]), print=None)
