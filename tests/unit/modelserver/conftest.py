"""Example models trained once per test session, and the iris model server on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from minikn.modelserver.examples import ensure_example_models
from minikn.modelserver.formats import build_model
from minikn.modelserver.server import ModelServer


@pytest.fixture(scope="session")
def example_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return ensure_example_models(tmp_path_factory.mktemp("models"))


Serve = Callable[[ModelServer], Awaitable[TestClient[Any, Any]]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Start a model server's app on 127.0.0.1:0; every client is closed at teardown."""
    clients: list[TestClient[Any, Any]] = []

    async def start(server: ModelServer) -> TestClient[Any, Any]:
        client: TestClient[Any, Any] = TestClient(
            TestServer(server.app(), host="127.0.0.1", port=0)
        )
        await client.start_server()
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.close()


@pytest.fixture
async def iris(example_models: dict[str, Path], serve: Serve) -> TestClient[Any, Any]:
    server = ModelServer([build_model("iris", example_models["sklearn-iris"])])
    client = await serve(server)
    await asyncio.wait_for(server.loaded.wait(), 30)
    return client
