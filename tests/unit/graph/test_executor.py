"""Each router type and edge through the executor, with an in-memory caller (pure logic; the
integration tests run the same graphs against real replicas)."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from typing import Any

import pytest

from minikn.graph.decide import NO_SWITCH_MATCH
from minikn.graph.executor import GraphExecutor, Reply, RoutingFailed, StepCallFailed
from minikn.graph.spec import parse_graph_json


class FakeCaller:
    """Answers by URL: ``http://<name>/`` -> the table's (status, body); records the calls."""

    def __init__(self, table: dict[str, tuple[int, Any]]) -> None:
        self.table = table
        self.calls: list[tuple[str, Any]] = []

    async def call(
        self, url: str, body: bytes, headers: Sequence[tuple[str, str]], *, stream_ok: bool
    ) -> Reply:
        name = url.removeprefix("http://").rstrip("/")
        self.calls.append((name, json.loads(body) if body else None))
        status, answer = self.table[name]
        if isinstance(answer, Exception):
            raise answer
        raw = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
        return Reply(status, raw, "application/json")


def _graph(nodes: dict[str, Any]) -> dict[str, Any]:
    return {"nodes": nodes}


def _step(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "serviceUrl": f"http://{name}", **extra}


async def _run(
    nodes: dict[str, Any], table: dict[str, tuple[int, Any]], request: Any, seed: int = 1
) -> tuple[Reply, FakeCaller]:
    caller = FakeCaller(table)
    ex = GraphExecutor(parse_graph_json(_graph(nodes)), caller, rng=random.Random(seed))
    reply = await ex.run(json.dumps(request).encode(), list)
    return reply, caller


async def test_sequence_passes_response_and_maps_predictions_to_instances() -> None:
    nodes = {
        "root": {
            "routerType": "Sequence",
            "steps": [
                _step("m1", mapPredictionsToInstances=True),
                _step("m2", data="$response"),
                _step("m3"),
            ],
        }
    }
    table = {"m1": (200, {"predictions": "1"}), "m2": (200, {"p": 2}), "m3": (200, {"p": 3})}
    reply, caller = await _run(nodes, table, {"predictions": ["a"]})
    assert caller.calls == [
        ("m1", {"instances": ["a"]}),
        ("m2", {"predictions": "1"}),
        ("m3", {"predictions": ["a"]}),  # no data: the graph's request
    ]
    assert (reply.status, json.loads(reply.body)) == (200, {"p": 3})


@pytest.mark.parametrize(
    ("label", "called", "answer"),
    [
        ("dog", ["m1", "m2"], {"breed": "beagle"}),
        ("cat", ["m1"], {"predictions": [{"label": "cat"}]}),
    ],
)
async def test_sequence_condition_on_the_previous_response(
    label: str, called: list[str], answer: Any
) -> None:
    nodes = {
        "root": {
            "routerType": "Sequence",
            "steps": [_step("m1"), _step("m2", condition='predictions.#(label=="dog")')],
        }
    }
    table = {"m1": (200, {"predictions": [{"label": label}]}), "m2": (200, {"breed": "beagle"})}
    reply, caller = await _run(nodes, table, {})
    assert [c[0] for c in caller.calls] == called
    assert (reply.status, json.loads(reply.body)) == (200, answer)


@pytest.mark.parametrize(
    ("dependency", "status", "called"),
    [("Hard", 503, ["m1"]), ("Soft", 200, ["m1", "m2"]), (None, 200, ["m1", "m2"])],
)
async def test_sequence_hard_failure_short_circuits_soft_does_not(
    dependency: str | None, status: int, called: list[str]
) -> None:
    first = _step("m1", **({"dependency": dependency} if dependency else {}))
    nodes = {"root": {"routerType": "Sequence", "steps": [first, _step("m2")]}}
    table = {"m1": (503, {"error": "down"}), "m2": (200, {"ok": True})}
    reply, caller = await _run(nodes, table, {})
    assert [c[0] for c in caller.calls] == called
    assert reply.status == status


async def test_switch_without_a_match_is_kserves_404() -> None:
    nodes = {
        "root": {
            "routerType": "Switch",
            "steps": [_step("m1", condition='instances.#(modelId=="1")')],
        }
    }
    with pytest.raises(RoutingFailed) as info:
        await _run(nodes, {"m1": (200, {})}, {"instances": [{"modelId": "9"}]})
    assert (info.value.status, info.value.cause) == (404, NO_SWITCH_MATCH)


async def test_switch_into_a_node_then_ensemble() -> None:
    nodes = {
        "root": {
            "routerType": "Switch",
            "steps": [
                _step("m1", condition='instances.#(modelId=="1")'),
                {"name": "both", "nodeName": "ens", "condition": 'instances.#(modelId=="2")'},
            ],
        },
        "ens": {"routerType": "Ensemble", "steps": [_step("m3"), _step("m4")]},
    }
    table = {"m1": (200, {}), "m3": (200, {"p": 3}), "m4": (200, {"p": 4})}
    reply, _ = await _run(nodes, table, {"instances": [{"modelId": "2"}]})
    assert json.loads(reply.body) == {"m3": {"p": 3}, "m4": {"p": 4}}


@pytest.mark.parametrize(
    ("dependency", "status", "body"),
    [("Hard", 500, {"error": "boom"}), ("Soft", 200, {"m3": {"error": "boom"}, "m4": {"p": 4}})],
)
async def test_ensemble_hard_failure_answers_that_steps_status(
    dependency: str, status: int, body: Any
) -> None:
    nodes = {
        "root": {
            "routerType": "Ensemble",
            "steps": [_step("m3", dependency=dependency), _step("m4")],
        }
    }
    table = {"m3": (500, {"error": "boom"}), "m4": (200, {"p": 4})}
    reply, _ = await _run(nodes, table, {})
    assert (reply.status, json.loads(reply.body)) == (status, body)


async def test_ensemble_step_that_cannot_be_called_fails_the_graph_with_500() -> None:
    nodes = {"root": {"routerType": "Ensemble", "steps": [_step("m3"), _step("m4")]}}
    table = {"m3": (200, {"p": 3}), "m4": (0, StepCallFailed("connection refused"))}
    with pytest.raises(RoutingFailed) as info:
        await _run(nodes, table, {})
    assert info.value.status == 500
    assert "connection refused" in info.value.cause


async def test_splitter_follows_the_seeded_draw() -> None:
    nodes = {
        "root": {
            "routerType": "Splitter",
            "steps": [_step("a", weight=30), _step("b", weight=70)],
        }
    }
    table = {"a": (200, {"by": "a"}), "b": (200, {"by": "b"})}
    expected = ["a" if random.Random(s).randrange(100) < 30 else "b" for s in range(20)]
    got = []
    for seed in range(20):
        reply, _ = await _run(nodes, table, {}, seed=seed)
        got.append(json.loads(reply.body)["by"])
    assert got == expected
    assert set(got) == {"a", "b"}
