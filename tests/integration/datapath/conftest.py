"""Fixtures of the data-path integration tests (helpers live in minikn.testing.fake_replicas)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from minikn.testing.fake_replicas import Seen


@pytest.fixture
def seen() -> Seen:
    return Seen()


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        yield session
