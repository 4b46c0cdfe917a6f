"""JSON merge patch (RFC 7386) and JSON patch (RFC 6902) as the Kubernetes API applies them:
every operation, and failures as 422 Invalid / 400 BadRequest / 413 with Kubernetes' reasons."""

from __future__ import annotations

from typing import Any

import pytest

from minikn.apiserver.kube.objects import KubeError
from minikn.apiserver.kube.patch import MAX_OPERATIONS, json_patch, merge_patch

DOC = {"a": {"b": 1, "c": [1, 2, 3]}, "d": "x", "e~/f": 5}


@pytest.mark.parametrize(
    ("target", "patch", "expected"),
    [
        ({"a": 1}, {"b": 2}, {"a": 1, "b": 2}),
        ({"a": 1, "b": 2}, {"a": None}, {"b": 2}),
        ({"a": {"x": 1, "y": 2}}, {"a": {"y": None, "z": 3}}, {"a": {"x": 1, "z": 3}}),
        ({"a": [1, 2]}, {"a": [3]}, {"a": [3]}),
        ({"a": 1}, {"a": {"b": None}}, {"a": {}}),
        ("scalar", {"a": 1}, {"a": 1}),
        ({"a": 1}, [1], [1]),
        ({"a": 1}, {}, {"a": 1}),
    ],
    ids=["add", "null-deletes", "nested", "list-replaces", "scalar-to-map", "non-map-target",
         "non-map-patch", "empty"],
)  # fmt: skip
def test_merge_patch(target: Any, patch: Any, expected: Any) -> None:
    before = repr(target)
    assert merge_patch(target, patch) == expected
    assert repr(target) == before  # the target is not changed


@pytest.mark.parametrize(
    ("ops", "expected"),
    [
        ([{"op": "add", "path": "/a/z", "value": 9}],
         {**DOC, "a": {"b": 1, "c": [1, 2, 3], "z": 9}}),
        ([{"op": "add", "path": "/a/c/1", "value": 9}], {**DOC, "a": {"b": 1, "c": [1, 9, 2, 3]}}),
        ([{"op": "add", "path": "/a/c/-", "value": 9}], {**DOC, "a": {"b": 1, "c": [1, 2, 3, 9]}}),
        ([{"op": "remove", "path": "/a/c/0"}], {**DOC, "a": {"b": 1, "c": [2, 3]}}),
        ([{"op": "remove", "path": "/d"}], {"a": DOC["a"], "e~/f": 5}),
        ([{"op": "replace", "path": "/d", "value": "y"}], {**DOC, "d": "y"}),
        ([{"op": "replace", "path": "/e~0~1f", "value": 6}], {**DOC, "e~/f": 6}),
        ([{"op": "move", "from": "/d", "path": "/a/d"}],
         {"a": {"b": 1, "c": [1, 2, 3], "d": "x"}, "e~/f": 5}),
        ([{"op": "copy", "from": "/a/b", "path": "/a/c/-"}],
         {**DOC, "a": {"b": 1, "c": [1, 2, 3, 1]}}),
        ([{"op": "test", "path": "/a/b", "value": 1}, {"op": "remove", "path": "/a"}],
         {"d": "x", "e~/f": 5}),
        ([{"op": "replace", "path": "", "value": {"new": True}}], {"new": True}),
        ([], DOC),
    ],
    ids=["add-key", "add-index", "add-end", "remove-index", "remove-key", "replace",
         "escaped-pointer", "move", "copy", "test-then-remove", "replace-root", "no-ops"],
)  # fmt: skip
def test_json_patch_operations(ops: list[dict[str, Any]], expected: Any) -> None:
    assert json_patch(DOC, ops) == expected
    assert DOC["a"] == {"b": 1, "c": [1, 2, 3]}  # applied to a copy


@pytest.mark.parametrize(
    ("ops", "status", "reason", "words"),
    [
        ({"op": "add"}, 400, "BadRequest", "must be a list"),
        ([{"op": "test", "path": "/a/b", "value": 2}], 422, "Invalid", "test operation 0 failed"),
        ([{"op": "remove", "path": "/nope"}], 422, "Invalid", "does not exist"),
        ([{"op": "replace", "path": "/nope", "value": 1}], 422, "Invalid", "does not exist"),
        ([{"op": "add", "path": "/a/c/7", "value": 1}], 422, "Invalid", "out of range"),
        ([{"op": "add", "path": "/a/c/x", "value": 1}], 422, "Invalid", "not an array index"),
        ([{"op": "add", "path": "a", "value": 1}], 422, "Invalid", "not a JSON pointer"),
        ([{"op": "add", "path": "/a/b"}], 422, "Invalid", "has no value"),
        ([{"op": "frobnicate", "path": "/a"}], 422, "Invalid", "unknown op"),
        (["add"], 422, "Invalid", "not a mapping with 'op'"),
        ([{"op": "move", "from": "/nope", "path": "/a"}], 422, "Invalid", "does not exist"),
        ([{"op": "add", "path": "/d/x", "value": 1}], 422, "Invalid", "not a container"),
        ([{"op": "test", "path": "/d", "value": "x"}] * (MAX_OPERATIONS + 1), 413,
         "RequestEntityTooLarge", "JSON patch operations"),
    ],
    ids=["not-a-list", "test-fails", "remove-missing", "replace-missing", "index-out-of-range",
         "index-not-a-number", "bad-pointer", "no-value", "unknown-op", "op-not-a-mapping",
         "move-from-missing", "into-a-scalar", "too-many"],
)  # fmt: skip
def test_json_patch_failures_are_kubernetes_statuses(
    ops: Any, status: int, reason: str, words: str
) -> None:
    with pytest.raises(KubeError) as caught:
        json_patch(DOC, ops)
    assert (caught.value.status, caught.value.reason) == (status, reason)
    assert words in caught.value.message
