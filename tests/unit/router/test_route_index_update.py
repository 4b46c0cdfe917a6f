"""The route index updated in place from a new table matches what a full rebuild of that table
matches, and re-indexes only the ISVC routes that are new objects."""

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
    rebuilt = RouteIndex(table)
    old.update(table)
    updated = old
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
    host = "a.default.example.com"
    before = old.match(host, "/")
    b2 = _route("b", "b-2")
    old.update(RouteTable(isvcs=(a, b2)))
    assert old.match(host, "/") is before  # same entry, not re-indexed
    assert old.match("b.default.example.com", "/").route is b2


def test_one_new_route_among_many_is_indexed_and_the_rest_kept() -> None:
    routes = tuple(_route(f"m{i:03d}", f"m{i:03d}-1") for i in range(200))
    index = RouteIndex(RouteTable(isvcs=routes))
    entries = {r.name: index.match(f"{r.name}.default.example.com", "/") for r in routes}
    added = _route("m0995", "m0995-1")  # sorts into the middle of the table
    index.update(RouteTable(isvcs=(*routes[:100], added, *routes[100:])))
    assert index.match("m0995.default.example.com", "/").route is added
    for r in routes:
        assert index.match(f"{r.name}.default.example.com", "/") is entries[r.name]
    index.update(RouteTable(isvcs=routes[1:]))  # the new one and the first one deleted
    for gone in ("m0995", "m000"):
        assert _answer(index, f"{gone}.default.example.com") is None


def test_a_new_domain_reindexes_every_host() -> None:
    a = _route("a", "a-1")
    index = RouteIndex(RouteTable(isvcs=(a,)))
    index.update(RouteTable(domain="other.dev", isvcs=(a,)))
    assert _answer(index, "a.default.example.com") is None
    assert index.match("a.default.other.dev", "/").route is a
