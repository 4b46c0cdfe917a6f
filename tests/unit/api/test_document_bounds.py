"""Request bodies are parsed with bounds: alias bombs, deep nesting and huge lists are refused
while parsing, with a 400 reason, and ordinary streams parse as PyYAML's safe loader does."""

from __future__ import annotations

import json

import pytest
import yaml

from minikn.api.documents import DocumentLimits, TooComplex, parse_bounded
from minikn.core.errors import InvalidInput

LIMITS = DocumentLimits(max_nodes=1_000, max_depth=20)


def _bomb(levels: int, fan: int = 9) -> str:
    text = "a0: &a0 [" + ", ".join(['"lol"'] * fan) + "]\n"
    for i in range(1, levels):
        text += f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * fan) + "]\n"
    return text


def test_a_stream_parses_like_the_safe_loader_and_skips_empty_documents() -> None:
    text = "a: &x [1, {b: 2}]\nc: *x\n---\n---\nd: 2024-01-01\n"
    assert parse_bounded(text, "<t>", LIMITS, as_json=False) == [
        b for b in yaml.safe_load_all(text) if b is not None
    ]


def test_an_alias_bomb_is_refused_by_the_node_count() -> None:
    with pytest.raises(TooComplex, match="more than 1000 nodes"):
        parse_bounded(_bomb(9), "<t>", LIMITS, as_json=False)


def test_aliases_count_as_the_nodes_they_expand_to() -> None:
    # a0 is 11 nodes, a1 = 1 + 10 * 11 = 111, a2 = 1 + 10 * 111 = 1111: two levels pass,
    # three do not although the text is 3 short lines.
    assert parse_bounded(_bomb(2, fan=10), "<t>", LIMITS, as_json=False)
    with pytest.raises(TooComplex, match="more than 1000 nodes"):
        parse_bounded(_bomb(3, fan=10), "<t>", LIMITS, as_json=False)


def test_an_anchor_counts_its_nested_nodes() -> None:
    # x holds 1 + 30 * (1 + 2) = 91 nodes in nested lists; 11 aliases of it pass 1000.
    x = "[" + ", ".join(["[1, 2]"] * 30) + "]"
    text = f"x: &x {x}\ny: [" + ", ".join(["*x"] * 11) + "]\n"
    with pytest.raises(TooComplex, match="more than 1000 nodes"):
        parse_bounded(text, "<t>", LIMITS, as_json=False)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("[" * 25 + "]" * 25, id="flow"),
        pytest.param("".join("  " * i + "- \n" for i in range(25)), id="block"),
        pytest.param("a: &d " + "[" * 15 + "]" * 15 + "\nb: " + "[" * 10 + "*d" + "]" * 10,
                     id="alias-adds-its-depth"),
    ],
)  # fmt: skip
def test_nesting_past_the_depth_is_refused(text: str) -> None:
    with pytest.raises(TooComplex, match="deeper than 20"):
        parse_bounded(text, "<t>", LIMITS, as_json=False)


def test_very_deep_yaml_is_a_400_never_a_recursion_error() -> None:
    with pytest.raises(InvalidInput):
        parse_bounded("[" * 100_000, "<t>", DocumentLimits(10**9, 10**9), as_json=False)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        pytest.param("[" * 100_000 + "]" * 100_000, "deeper than 20", id="depth"),
        pytest.param(json.dumps(list(range(2_000))), "more than 1000 nodes", id="nodes"),
        pytest.param('{"a": ', "invalid YAML", id="syntax"),
    ],
)
def test_json_bodies_are_bounded_too(text: str, match: str) -> None:
    with pytest.raises(InvalidInput, match=match):
        parse_bounded(text, "<t>", LIMITS, as_json=True)


def test_yaml_labelled_as_json_is_read_as_yaml() -> None:
    assert parse_bounded("a: [1]\n", "<t>", LIMITS, as_json=True) == [{"a": [1]}]


def test_json_null_is_no_document() -> None:
    assert parse_bounded("null", "<t>", LIMITS, as_json=True) == []
    assert parse_bounded("~\n---\n", "<t>", LIMITS, as_json=False) == []


def test_a_yaml_syntax_error_names_the_line() -> None:
    with pytest.raises(InvalidInput, match=r"invalid YAML: .*\(line \d+, column \d+\)"):
        parse_bounded("a: 1\nb: [1\n", "<t>", LIMITS, as_json=False)
