"""A small OpenAI-compatible predictor (KServe's ``/openai/v1/...`` routes) for the tests: a
generic aiohttp server on ``$PORT``. Its streamed completion sends the first chunk, then waits for
``POST /release`` before the rest, so a test sees chunks arrive as they are produced."""

from __future__ import annotations

import asyncio
import json
import os
import time

from aiohttp import web

MODEL = "tiny-llm"
WORDS = ["hello", " from", " a", " stream"]


def _chunk(i: int, word: str, *, chat: bool) -> bytes:
    choice = (
        {"index": 0, "delta": {"content": word}, "finish_reason": None}
        if chat
        else {"index": 0, "text": word, "finish_reason": None}
    )
    body = {
        "id": "cmpl-1",
        "object": "chat.completion.chunk" if chat else "text_completion",
        "created": int(time.time()),
        "model": MODEL,
        "choices": [choice],
    }
    return f"data: {json.dumps(body)}\n\n".encode()


async def models(_: web.Request) -> web.Response:
    data = [{"id": MODEL, "object": "model", "created": 0, "owned_by": "kserve"}]
    return web.json_response({"object": "list", "data": data})


async def _stream(request: web.Request, *, chat: bool) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(request)
    await resp.write(_chunk(0, WORDS[0], chat=chat))
    await request.app["release"].wait()
    for i, word in enumerate(WORDS[1:], 1):
        await resp.write(_chunk(i, word, chat=chat))
    await resp.write(b"data: [DONE]\n\n")
    await resp.write_eof()
    return resp


async def completions(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    if body.get("stream"):
        return await _stream(request, chat=False)
    choice = {"index": 0, "text": "".join(WORDS), "finish_reason": "stop", "logprobs": None}
    return web.json_response(
        {"id": "cmpl-1", "object": "text_completion", "created": 0, "model": MODEL,
         "choices": [choice]}
    )  # fmt: skip


async def chat(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    if body.get("stream"):
        return await _stream(request, chat=True)
    message = {"role": "assistant", "content": "".join(WORDS)}
    choice = {"index": 0, "message": message, "finish_reason": "stop"}
    return web.json_response(
        {"id": "chat-1", "object": "chat.completion", "created": 0, "model": MODEL,
         "choices": [choice]}
    )  # fmt: skip


async def embeddings(request: web.Request) -> web.Response:
    body = await request.json()
    inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
    data = [
        {"object": "embedding", "index": i, "embedding": [float(len(s)), 1.0]}
        for i, s in enumerate(inputs)
    ]
    usage = {"prompt_tokens": 1, "total_tokens": 1}
    return web.json_response({"object": "list", "data": data, "model": MODEL, "usage": usage})


async def release(request: web.Request) -> web.Response:
    request.app["release"].set()
    return web.json_response({})


async def ready(_: web.Request) -> web.Response:
    return web.json_response({"ready": True})


async def main() -> None:
    app = web.Application()
    app["release"] = asyncio.Event()
    app.router.add_get("/openai/v1/models", models)
    app.router.add_post("/openai/v1/completions", completions)
    app.router.add_post("/openai/v1/chat/completions", chat)
    app.router.add_post("/openai/v1/embeddings", embeddings)
    app.router.add_post("/release", release)
    app.router.add_get("/", ready)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, os.environ.get("HOST", "127.0.0.1"), int(os.environ["PORT"])).start()
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
