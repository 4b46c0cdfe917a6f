"""Kubernetes list paging (limit/continue) as a pure function: pages cover every key once, a
token from an earlier start or past its TTL is 410 Expired, a forged one is 400."""

from __future__ import annotations

import pytest

from minikn.apiserver.paging import Expired, encode_token, page, parse_limit
from minikn.core.errors import InvalidInput

KEYS = [f"default/m{i:03d}" for i in range(7)]


def _walk(keys: list[str], limit: int) -> list[list[str]]:
    pages, token = [], None
    while True:
        p = page(keys, limit=limit, token=token, now=100.0, epoch="e1")
        pages.append(p.keys)
        token = p.continue_token
        if token is None:
            return pages


def test_pages_cover_every_key_once_in_order() -> None:
    assert _walk(KEYS, 3) == [KEYS[0:3], KEYS[3:6], KEYS[6:7]]
    assert _walk(KEYS, 7) == [KEYS]
    assert _walk([], 3) == [[]]


def test_a_page_says_how_many_remain() -> None:
    first = page(KEYS, limit=2, token=None, now=0.0, epoch="e")
    assert first.remaining == 5
    assert page(KEYS, limit=None, token=None, now=0.0, epoch="e").continue_token is None


def test_a_key_deleted_behind_the_cursor_does_not_shift_the_next_page() -> None:
    first = page(KEYS, limit=3, token=None, now=0.0, epoch="e")
    rest = [k for k in KEYS if k != KEYS[1]]
    assert page(rest, limit=3, token=first.continue_token, now=1.0, epoch="e").keys == KEYS[3:6]


@pytest.mark.parametrize(
    ("issued", "epoch", "now"),
    [(0.0, "earlier-start", 1.0), (0.0, "e", 301.0)],
    ids=["another-start", "past-ttl"],
)
def test_a_stale_token_is_410_expired(issued: float, epoch: str, now: float) -> None:
    token = encode_token(KEYS[2], issued, epoch)
    with pytest.raises(Expired) as info:
        page(KEYS, limit=2, token=token, now=now, epoch="e")
    assert info.value.status == 410
    assert info.value.reason == "Expired"
    assert "too old" in info.value.message


@pytest.mark.parametrize("token", ["!!!", "e30", "x" * 5000, encode_token("k", 0.0, "e")[:-3]])
def test_a_token_that_is_not_ours_is_400(token: str) -> None:
    with pytest.raises(InvalidInput, match="continue key is not valid"):
        page(KEYS, limit=2, token=token, now=0.0, epoch="e")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, (None, None)),
        ({"limit": "0"}, (None, None)),
        ({"limit": "5", "continue": "t"}, (5, "t")),
    ],
)
def test_limit_and_continue_are_read_from_the_query(
    query: dict[str, str], expected: tuple[int | None, str | None]
) -> None:
    assert parse_limit(query) == expected


@pytest.mark.parametrize("limit", ["-1", "ten", "100001"])
def test_a_bad_limit_is_400(limit: str) -> None:
    with pytest.raises(InvalidInput, match="limit"):
        parse_limit({"limit": limit})
