"""``GET .../logs?follow=true`` on a real socket: a client that goes away stops the follower."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from minikn.apiserver.logs import add_logs_route
from minikn.core.revision import ContainerSpec, RevisionSpec

REV = "iris-predictor-00001"


class QuietReplica:
    """A replica that logs one line, then nothing: a follower waits on it until cancelled."""

    def __init__(self) -> None:
        self.following = asyncio.Event()
        self.stopped = asyncio.Event()

    async def lines(self, revision: str, follow: bool) -> AsyncIterator[str]:
        try:
            yield "model loaded\n"
            self.following.set()
            if follow:
                await asyncio.Event().wait()  # no more lines, ever
        finally:
            self.stopped.set()


async def test_client_closing_a_follow_stops_the_follower_without_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    replica = QuietReplica()
    spec = RevisionSpec(
        name=REV,
        isvc="iris",
        component="predictor",
        generation=1,
        container=ContainerSpec(image="x"),
    )
    app = web.Application()
    add_logs_route(
        app, revisions=lambda ns, name: [spec], live=lambda: {REV}, source=replica.lines, poll=0.05
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    url = f"http://127.0.0.1:{port}/api/v1/namespaces/default/inferenceservices/iris/logs"
    caplog.set_level(logging.DEBUG)
    try:
        async with aiohttp.ClientSession() as session:
            resp = await session.get(url, params={"follow": "true"})
            assert await resp.content.readline() == f"[{REV}] model loaded\n".encode()
            await replica.following.wait()
            resp.close()  # like Ctrl-C on `minikn logs -f`: the connection goes away
        async with asyncio.timeout(5):
            await replica.stopped.wait()
    finally:
        await runner.cleanup()
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
