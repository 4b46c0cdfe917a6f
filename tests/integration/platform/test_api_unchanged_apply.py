"""Re-applying what is stored through the REST API is a no-op: nothing parsed again (the same
body), nothing journaled, no new resourceVersion; a changed or replaced object is applied."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from minikn.apiserver.parsing import PARSER

from .conftest import Api, start_api

APPLY = "/api/v1/apply"
KUBE = "/apis/serving.kserve.io/v1beta1/namespaces/default/inferenceservices"
YAML = {"Content-Type": "application/yaml"}


def _isvc(name: str, uri: str) -> dict[str, Any]:
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": name},
        "spec": {"predictor": {"sklearn": {"storageUri": uri}}},
    }


class _Counted:
    """Counts the bodies the API's parser is given (the real parser runs them)."""

    def __init__(self, api_app: Any) -> None:
        self.calls = 0
        parser = api_app[PARSER]
        run = parser.run

        async def counted(*args: Any) -> Any:
            self.calls += 1
            return await run(*args)

        parser.run = counted


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[Api, _Counted, Path]]:
    ctl, runner, url = await start_api(tmp_path)
    counted = _Counted(runner.app)
    async with aiohttp.ClientSession() as session:
        yield Api(url, ctl, session), counted, tmp_path / "state"
    await runner.cleanup()
    await ctl.close()


def _journal_bytes(state: Path) -> int:
    return sum(p.stat().st_size for p in state.glob("journal-*.jsonl"))


async def _apply(api: Api, body: str, headers: dict[str, str]) -> list[tuple[str, str]]:
    async with api.session.post(api.url + APPLY, data=body, headers=headers) as r:
        assert r.status == 200, await r.text()
        return [(x["name"], x["action"]) for x in (await r.json())["results"]]


async def _version(api: Api, name: str) -> str:
    async with api.session.get(f"{api.url}{KUBE}/{name}") as r:
        return str((await r.json())["metadata"]["resourceVersion"])


async def test_the_same_body_again_is_unchanged_without_parsing_or_journaling(
    served: tuple[Api, _Counted, Path],
) -> None:
    api, parsed, state = served
    body = yaml.safe_dump_all([_isvc("a", "gs://b/1"), _isvc("b", "gs://b/1")])
    assert await _apply(api, body, YAML) == [("a", "created"), ("b", "created")]
    version, journal, parses = await _version(api, "a"), _journal_bytes(state), parsed.calls
    assert await _apply(api, body, YAML) == [("a", "unchanged"), ("b", "unchanged")]
    assert (parsed.calls, _journal_bytes(state)) == (parses, journal)
    assert await _version(api, "a") == version


async def test_equal_documents_in_other_bytes_are_parsed_then_left_unchanged(
    served: tuple[Api, _Counted, Path],
) -> None:
    api, parsed, state = served
    await _apply(api, yaml.safe_dump(_isvc("a", "gs://b/1")), YAML)
    journal, parses = _journal_bytes(state), parsed.calls
    envelope = {"documents": [{"source": "a.yaml", "index": 0, "body": _isvc("a", "gs://b/1")}]}
    headers = {"Content-Type": "application/json"}
    assert await _apply(api, json.dumps(envelope), headers) == [("a", "unchanged")]
    assert (parsed.calls, _journal_bytes(state)) == (parses + 1, journal)


async def test_a_changed_document_beside_unchanged_ones_is_applied(
    served: tuple[Api, _Counted, Path],
) -> None:
    api, _, _ = served
    await _apply(api, yaml.safe_dump_all([_isvc("a", "gs://b/1"), _isvc("b", "gs://b/1")]), YAML)
    changed = yaml.safe_dump_all([_isvc("a", "gs://b/1"), _isvc("b", "gs://b/2")])
    assert await _apply(api, changed, YAML) == [("a", "unchanged"), ("b", "configured")]
    assert [r.name for r in api.controller.revisions("default", "b")] == [
        "b-predictor-00001",
        "b-predictor-00002",
    ]


async def test_the_old_body_again_after_a_replace_is_applied(
    served: tuple[Api, _Counted, Path],
) -> None:
    api, _, _ = served
    body = yaml.safe_dump(_isvc("a", "gs://b/1"))
    await _apply(api, body, YAML)
    replaced = copy.deepcopy(_isvc("a", "gs://b/2"))
    async with api.session.put(f"{api.url}{KUBE}/a", json=replaced) as r:
        assert r.status == 200, await r.text()
    assert await _apply(api, body, YAML) == [("a", "configured")]
    spec = api.controller.get("default", "a")["spec"]["predictor"]["sklearn"]
    assert spec["storageUri"] == "gs://b/1"
