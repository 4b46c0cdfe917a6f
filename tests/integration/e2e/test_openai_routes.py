"""KServe's OpenAI-compatible routes through the ingress, with the official ``openai`` client.

The predictor (``openai_app.py``, a generic server on ``$PORT``) serves ``/openai/v1/models``,
``completions``, ``chat/completions`` and ``embeddings``; the ISVC has a payload logger, so a
stream goes through router, activator and logger. Its streamed answers send the first chunk, then
wait for ``/release``: the client gets that chunk while the replica still holds the rest (the
first chunk is not held back), and the stream counts as one request in flight until it ends.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import openai
import pytest
from aiohttp import web

from minikn.api.documents import parse_text
from minikn.platform.server import Platform

from .platform_helpers import running_platform, until_ready

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

APP = Path(__file__).parent / "openai_app.py"
HOST = "llm.default.example.com"


@pytest.fixture
async def sink() -> AsyncIterator[tuple[str, list[bytes]]]:
    bodies: list[bytes] = []

    async def receive(request: web.Request) -> web.Response:
        bodies.append(await request.read())
        return web.Response(status=202)

    app = web.Application()
    app.router.add_post("/", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/", bodies
    finally:
        await runner.cleanup()


@pytest.fixture
async def platform(
    tmp_path: Path, sink: tuple[str, list[bytes]]
) -> AsyncIterator[tuple[Platform, list[bytes]]]:
    url, bodies = sink
    doc = f"""
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {{name: llm}}
spec:
  predictor:
    logger: {{mode: all, url: "{url}"}}
    containers:
      - name: kserve-container
        image: example.com/tiny-llm:v1
        command: ["{sys.executable}", "{APP}"]
"""
    async with running_platform(tmp_path) as (p, _):
        await p.controller.apply(parse_text(doc, "llm.yaml"))
        await until_ready(p, "llm")
        yield p, bodies


def _client(p: Platform) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=f"http://127.0.0.1:{p.ingress_port}/openai/v1",
        api_key="unused",
        default_headers={"Host": HOST},
        max_retries=0,
    )


async def test_openai_client_lists_completes_chats_and_embeds(
    platform: tuple[Platform, list[bytes]],
) -> None:
    p, _ = platform
    client = _client(p)
    models = await client.models.list()
    assert [m.id for m in models.data] == ["tiny-llm"]
    done = await client.completions.create(model="tiny-llm", prompt="hi")
    assert done.choices[0].text == "hello from a stream"
    chat = await client.chat.completions.create(
        model="tiny-llm", messages=[{"role": "user", "content": "hi"}]
    )
    assert chat.choices[0].message.content == "hello from a stream"
    emb = await client.embeddings.create(model="tiny-llm", input=["ab", "abc"])
    assert [d.embedding for d in emb.data] == [[2.0, 1.0], [3.0, 1.0]]
    await client.close()


async def test_a_stream_arrives_chunk_by_chunk_through_the_logger_and_counts_in_flight(
    platform: tuple[Platform, list[bytes]],
) -> None:
    p, logged = platform
    assert p.dataplane is not None
    client = _client(p)
    stream = await client.chat.completions.create(
        model="tiny-llm", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    chunks = aiter(stream)
    first = await anext(chunks)
    # The replica holds the rest until released: this chunk came through on its own.
    assert first.choices[0].delta.content == "hello"
    assert p.dataplane.activator.in_flight("llm-predictor-00001") == 1
    async with aiohttp.ClientSession() as session:
        url = f"http://127.0.0.1:{p.ingress_port}/release"
        async with session.post(url, headers={"Host": HOST}) as resp:
            assert resp.status == 200
    rest = [c.choices[0].delta.content async for c in chunks]
    assert rest == [" from", " a", " stream"]
    await client.close()
    # The logger saw the whole stream as the response payload.
    async with asyncio.timeout(10):
        while not any(b"[DONE]" in b for b in logged):
            await asyncio.sleep(0.05)
