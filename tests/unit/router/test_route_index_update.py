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


def _owner(index: RouteIndex, host: str) -> str | None:
    try:
        return index.match(host, "/").route.name
    except NotFound:
        return None


def test_a_host_two_isvcs_claim_stays_with_the_first_and_passes_on_when_it_goes() -> None:
    # ISVC foo's predictor host is also ISVC foo-predictor's own host.
    foo, squatter = _route("foo", "foo-1"), _route("foo-predictor", "fp-1")
    contested = "foo-predictor.default.example.com"
    index = RouteIndex(RouteTable(isvcs=(foo,)))
    index.update(RouteTable(isvcs=(foo, squatter)))
    assert _owner(index, contested) == "foo"  # the first claim wins
    index.update(RouteTable(isvcs=(_route("foo", "foo-2"), squatter)))
    assert _owner(index, contested) == "foo"  # an update of the owner keeps its claim
    assert index.match(contested, "/").targets == (TrafficTarget(revision="foo-2", percent=100),)
    index.update(RouteTable(isvcs=(squatter,)))
    assert _owner(index, contested) == "foo-predictor"  # the owner went: the next claim
    index.update(RouteTable(isvcs=()))
    assert _owner(index, contested) is None


def test_deleting_the_later_claimant_leaves_the_owner_serving() -> None:
    foo, squatter = _route("foo", "foo-1"), _route("foo-predictor", "fp-1")
    index = RouteIndex(RouteTable(isvcs=(foo, squatter)))
    index.update(RouteTable(isvcs=(foo,)))
    assert _owner(index, "foo-predictor.default.example.com") == "foo"
    assert _owner(index, "foo-predictor.default.svc") == "foo"


def test_a_model_name_two_isvcs_serve_passes_to_the_other_when_one_goes() -> None:
    a = _route("a", "a-1").model_copy(update={"model_names": ("model",)})
    b = _route("b", "b-1").model_copy(update={"model_names": ("model",)})
    index = RouteIndex(RouteTable(isvcs=(a, b)))
    assert index.match("localhost", "/v1/models/model:predict").route is a
    index.update(RouteTable(isvcs=(b,)))
    assert index.match("localhost", "/v1/models/model:predict").route is b
