"""The route index updated from a new table matches what a full rebuild of that table matches,
and re-indexes only the ISVC routes that are new objects."""

from __future__ import annotations

import pytest

from minikn.core.errors import NotFound
from minikn.core.routes import ComponentRoute, IsvcRoute, RouteTable, TrafficTarget
from minikn.router.match import RouteIndex


def _route(name: str, revision: str, tag: str | None = None) -> IsvcRoute:
    target = TrafficTarget(revision=revision, percent=100, tag=tag)
    return IsvcRoute(
        name=name,
        components=(ComponentRoute(component="predictor", targets=(target,)),),
        model_names=(name,),
    )


def _hosts(name: str) -> list[str]:
    return [
        f"{name}.default.example.com",
        f"{name}-predictor.default.svc",
        f"latest-{name}-predictor.default",
    ]


def _answer(index: RouteIndex, host: str) -> str | None:
    try:
        m = index.match(host, "/")
    except NotFound:
        return None
    return f"{m.route.name}/{m.component}/{m.tag}/{m.targets}"


def test_an_updated_index_answers_as_a_rebuilt_one() -> None:
    a, b, c = _route("a", "a-1"), _route("b", "b-1", tag="latest"), _route("c", "c-1")
    old = RouteIndex(RouteTable(isvcs=(a, b, c)))
    b2, d = _route("b", "b-2"), _route("d", "d-1", tag="latest")
    table = RouteTable(isvcs=(a, b2, d))  # b changed (its tag gone), c deleted, d new
    updated, rebuilt = old.updated(table), RouteIndex(table)
    for name in ("a", "b", "c", "d"):
        for host in _hosts(name):
            assert _answer(updated, host) == _answer(rebuilt, host), host
    assert _answer(updated, "latest-b-predictor.default") is None
    with pytest.raises(NotFound):
        updated.match("localhost", "/v1/models/c:predict")
    assert updated.match("localhost", "/v1/models/d:predict").route is d


def test_unchanged_routes_keep_their_entries() -> None:
    a, b = _route("a", "a-1"), _route("b", "b-1")
    old = RouteIndex(RouteTable(isvcs=(a, b)))
    updated = old.updated(RouteTable(isvcs=(a, _route("b", "b-2"))))
    host = "a.default.example.com"
    assert updated.match(host, "/") is old.match(host, "/")  # same entry, not re-indexed
    assert old.match("b.default.example.com", "/").route is b  # the old index is unchanged
