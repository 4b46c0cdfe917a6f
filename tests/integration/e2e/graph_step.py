"""A tiny step replica for InferenceGraph tests: answers every POST with
``{"predictions": <the request's instances>, "by": $STEP, "traceparent": ..., "x-user": ...}``."""

from __future__ import annotations

import json
import os

from aiohttp import web


async def handle(request: web.Request) -> web.Response:
    body = json.loads(await request.read() or b"{}")
    answer = {
        "predictions": body.get("instances", []),
        "by": os.environ.get("STEP", "?"),
        "traceparent": request.headers.get("traceparent"),
        "x-user": request.headers.get("x-user"),
    }
    return web.json_response(answer)


app = web.Application()
app.add_routes([web.route("*", "/{tail:.*}", handle)])
web.run_app(app, host=os.environ["HOST"], port=int(os.environ["PORT"]), print=None)
