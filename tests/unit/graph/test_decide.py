"""The router's pure decisions: gjson conditions, Splitter picks, Ensemble merge, mapping and
header propagation, table-driven."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from minikn.graph.decide import (
    compile_patterns,
    map_predictions_to_instances,
    merge_ensemble,
    pick_split,
    pick_switch,
    propagated,
)
from minikn.graph.gjson import GjsonSyntaxError, exists, get, parse_path
from minikn.graph.spec import Step

DOC: dict[str, Any] = {
    "instances": [{"modelId": "1", "age": 30}, {"modelId": "2", "age": 50}],
    "predictions": [{"label": "dog", "score": [0.8, 0.2]}],
    "a": {"b.c": 1, "n": None, "ok": True},
    "names": ["x", "fb"],
}


@pytest.mark.parametrize(
    ("path", "found", "value"),
    [
        ('predictions.#(label=="dog")', True, {"label": "dog", "score": [0.8, 0.2]}),
        ('predictions.#(label=="cat")', False, None),
        ('instances.#(modelId=="2").age', True, 50),
        ("instances.#(age>40)#.modelId", True, ["2"]),
        ("instances.#(age>99)#", True, []),
        ("instances.#(age>=30)", True, {"modelId": "1", "age": 30}),
        ("instances.#(age!=30).modelId", True, "2"),
        ('instances.#(modelId%"*2")', True, {"modelId": "2", "age": 50}),
        ("instances.#", True, 2),
        ("instances.#.modelId", True, ["1", "2"]),
        ("instances.1.age", True, 50),
        ("instances.5", False, None),
        ("a.b\\.c", True, 1),
        ("a.n", True, None),
        ("a.#(x)", False, None),
        ("a.ok", True, True),
        ('names.#(=="fb")', True, "fb"),
        ("instances.#(modelId)", True, {"modelId": "1", "age": 30}),
        ('instances.#(age=="30")', False, None),
        ("missing.key", False, None),
    ],
)
def test_gjson_subset_finds_what_gjson_finds(path: str, found: bool, value: Any) -> None:
    assert get(DOC, parse_path(path)) == (found, value)
    assert exists(DOC, parse_path(path)) is found


@pytest.mark.parametrize(
    "path", ["friends.*", "a|b", "@reverse", "[a,b]", "a..b", "#(a==b)", 'x.#(a=="b"', ""]
)
def test_conditions_outside_the_subset_are_refused(path: str) -> None:
    with pytest.raises(GjsonSyntaxError):
        parse_path(path)


def _steps(*weights: int) -> list[Step]:
    return [Step(name=f"s{i}", service_url="http://x", weight=w) for i, w in enumerate(weights)]


@pytest.mark.parametrize(
    ("weights", "point", "picked"),
    [((20, 80), 0, "s0"), ((20, 80), 19, "s0"), ((20, 80), 20, "s1"), ((20, 80), 99, "s1"),
     ((0, 100), 0, "s1"), ((50, 25, 25), 74, "s1"), ((50, 25, 25), 75, "s2")],
)  # fmt: skip
def test_splitter_picks_by_cumulative_weight(
    weights: tuple[int, ...], point: int, picked: str
) -> None:
    step = pick_split(_steps(*weights), point)
    assert step is not None
    assert step.name == picked


def test_splitter_with_a_seeded_rng_splits_near_its_weights() -> None:
    rng = random.Random(7)
    steps = _steps(20, 80)
    counts = {"s0": 0, "s1": 0}
    for _ in range(10_000):
        step = pick_split(steps, rng.randrange(100))
        assert step is not None
        counts[step.name] += 1
    assert 1800 < counts["s0"] < 2200


def test_switch_takes_the_first_step_whose_condition_exists_in_the_request() -> None:
    steps = [
        Step(name="one", service_url="http://a", condition=parse_path('instances.#(modelId=="1")')),
        Step(name="two", service_url="http://b", condition=parse_path('instances.#(modelId=="2")')),
    ]
    body = json.dumps({"instances": [{"modelId": "2"}]}).encode()
    picked = pick_switch(body, steps)
    assert picked is not None
    assert picked.name == "two"
    assert pick_switch(b'{"instances": [{"modelId": "3"}]}', steps) is None
    assert pick_switch(b"not json", steps) is None


@pytest.mark.parametrize(
    ("body", "mapped"),
    [
        (b'{"predictions":[1,2],"id":"x"}', {"instances": [1, 2], "id": "x"}),
        (b'{"instances":[1]}', {"instances": [1]}),
        (b"[1,2]", [1, 2]),
    ],
)
def test_map_predictions_to_instances(body: bytes, mapped: Any) -> None:
    assert json.loads(map_predictions_to_instances(body)) == mapped


def test_ensemble_merges_by_step_name_else_index() -> None:
    merged = merge_ensemble(
        [(Step(name="m1"), 0, {"predictions": "1"}), (Step(name=""), 1, {"predictions": "2"})]
    )
    assert json.loads(merged) == {"m1": {"predictions": "1"}, "1": {"predictions": "2"}}


@pytest.mark.parametrize(
    ("patterns", "kept"),
    [
        ([], []),
        (["Test-Header-Key"], [("Test-Header-Key", "v")]),
        (["^Auth", "Authorization"], [("Authorization", "Bearer t")]),
        (["(?i)x-.*"], [("X-User", "u")]),
    ],
)
def test_header_propagation_keeps_each_matching_header_once(
    patterns: list[str], kept: list[tuple[str, str]]
) -> None:
    headers = [("Authorization", "Bearer t"), ("Test-Header-Key", "v"), ("X-User", "u")]
    assert propagated(headers, compile_patterns(patterns)) == kept
