"""The hub's comparison of rendered objects: a changed JSON value is a change, nothing else."""

from __future__ import annotations

from typing import Any

import pytest

from minikn.apiserver.kube.hub import same


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        pytest.param({"a": 1, "b": [1, 2]}, {"b": [1, 2], "a": 1}, True, id="key-order"),
        pytest.param({"a": 1}, {"a": 1.0}, False, id="int-vs-float"),
        pytest.param({"a": 1}, {"a": True}, False, id="int-vs-bool"),
        pytest.param({"a": 0}, {"a": False}, False, id="zero-vs-false"),
        pytest.param([float("nan")], [float("nan")], True, id="nan"),
        pytest.param({"a": [1, 2]}, {"a": [2, 1]}, False, id="list-order"),
        pytest.param({"a": {"b": None}}, {"a": {}}, False, id="null-vs-missing"),
        pytest.param({"a": "1"}, {"a": 1}, False, id="string-vs-number"),
        pytest.param({"a": [1]}, {"a": [1, 1]}, False, id="list-length"),
    ],
)
def test_same_is_json_equality(a: Any, b: Any, expected: bool) -> None:
    assert same(a, b) is expected
    assert same(b, a) is expected
