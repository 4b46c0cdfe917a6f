"""Host/path matching and the weighted revision pick: table tests on the pure module."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from minikn.core.errors import NotFound, Unavailable
from minikn.core.routes import ComponentRoute, IsvcRoute, RouteTable, TrafficTarget
from minikn.router.match import Match, RouteIndex, pick_revision, split_host


def _isvc(name: str, ns: str, *components: str, models: tuple[str, ...] = ()) -> IsvcRoute:
    comps = tuple(
        ComponentRoute(
            component=c,  # type: ignore[arg-type]
            targets=(
                TrafficTarget(revision=f"{name}-{c}-00001", percent=0, tag="prev"),
                TrafficTarget(revision=f"{name}-{c}-00002", percent=100, tag="latest"),
            ),
        )
        for c in components
    )
    return IsvcRoute(name=name, namespace=ns, components=comps, model_names=models)


INDEX = RouteIndex(
    RouteTable(
        domain="example.com",
        isvcs=(
            _isvc("recommender", "my-namespace", "predictor"),
            _isvc("flowers", "default", "predictor", "transformer", "explainer"),
            _isvc("sklearn-iris", "default", "predictor"),
            _isvc("multi", "default", "predictor", models=("model-a",)),
        ),
    )
)


@pytest.mark.parametrize(
    ("host", "path", "isvc", "component", "tag"),
    [
        (
            "recommender.my-namespace.example.com",
            "/v1/models/recommender:predict",
            "recommender",
            "predictor",
            None,
        ),
        ("Recommender.My-Namespace.Example.com:8080", "/", "recommender", "predictor", None),
        (
            "flowers.default.example.com",
            "/v1/models/flowers:predict",
            "flowers",
            "transformer",
            None,
        ),
        ("flowers.default.example.com", "/v1/models/flowers:explain", "flowers", "explainer", None),
        (
            "flowers-predictor.default.example.com",
            "/v1/models/flowers:explain",
            "flowers",
            "predictor",
            None,
        ),
        ("flowers-predictor-default.default.example.com", "/", "flowers", "predictor", None),
        ("flowers-transformer.default", "/", "flowers", "transformer", None),
        ("flowers-explainer.default.svc.cluster.local", "/", "flowers", "explainer", None),
        ("latest-flowers-predictor.default.example.com", "/", "flowers", "predictor", "latest"),
        ("prev-flowers-predictor.default.example.com:80", "/", "flowers", "predictor", "prev"),
        ("flowers.default.svc", "/", "flowers", "transformer", None),
        ("localhost:8080", "/v1/models/sklearn-iris:predict", "sklearn-iris", "predictor", None),
        ("127.0.0.1:8080", "/v2/models/sklearn-iris/infer", "sklearn-iris", "predictor", None),
        (
            "127.0.0.1",
            "/v2/models/sklearn-iris/versions/1/infer?x=1",
            "sklearn-iris",
            "predictor",
            None,
        ),
        ("", "/v1/models/model-a:predict", "multi", "predictor", None),
        ("localhost", "/v1/models/flowers:explain", "flowers", "explainer", None),
        (
            "x:1",
            "/_host/flowers-predictor.default/v1/models/flowers:predict",
            "flowers",
            "predictor",
            None,
        ),
    ],
)
def test_host_and_path_reach_component(
    host: str, path: str, isvc: str, component: str, tag: str | None
) -> None:
    match = INDEX.match(host, path)
    assert (match.route.name, match.component, match.tag) == (isvc, component, tag)


def test_host_prefix_is_stripped_from_the_path() -> None:
    path = "/_host/flowers-predictor.default.example.com:8080/v1/models/flowers:predict"
    match = INDEX.match("127.0.0.1:8080", path)
    assert path[match.strip :] == "/v1/models/flowers:predict"


@pytest.mark.parametrize(
    ("host", "path", "message"),
    [
        ("nope.default.example.com", "/v1/models/sklearn-iris:predict", "host"),
        ("canary-flowers-predictor.default.example.com", "/", "host"),
        ("localhost", "/v1/models/unknown:predict", "model 'unknown'"),
        ("localhost", "/healthz", "names no model"),
        ("localhost", "/v1/models/recommender:predict", "model 'recommender'"),  # not in default
        ("x", "/_host/nope.default/v1/models/a:predict", "host 'nope.default'"),
    ],
)
def test_unknown_isvc_model_or_tag_is_not_found(host: str, path: str, message: str) -> None:
    with pytest.raises(NotFound, match=message):
        INDEX.match(host, path)


@pytest.mark.parametrize(
    ("host", "expected"),
    [("A.b.C:80", "a.b.c"), ("[::1]:8080", "[::1]"), (" x ", "x"), ("", "")],
)
def test_split_host(host: str, expected: str) -> None:
    assert split_host(host) == expected


def _match(*targets: TrafficTarget, tag: str | None = None) -> Match:
    route = IsvcRoute(
        name="s", components=(ComponentRoute(component="predictor", targets=targets),)
    )
    return Match(route, "predictor", tag)


def test_weighted_pick_follows_percentages_and_skips_zero() -> None:
    match = _match(
        TrafficTarget(revision="a", percent=90),
        TrafficTarget(revision="b", percent=10),
        TrafficTarget(revision="c", percent=0, tag="c"),
    )
    rng = random.Random(1)
    counts = Counter(pick_revision(match, rng) for _ in range(10_000))
    assert counts["c"] == 0
    assert 900 - 150 <= counts["b"] <= 900 + 150  # binomial sd 30: +-5 sd
    assert counts["a"] + counts["b"] == 10_000


def test_tag_pins_its_revision_even_at_zero_percent() -> None:
    match = _match(
        TrafficTarget(revision="a", percent=100),
        TrafficTarget(revision="c", percent=0, tag="c"),
        tag="c",
    )
    assert {pick_revision(match, random.Random(i)) for i in range(20)} == {"c"}


def test_component_without_routable_revision_is_unavailable() -> None:
    with pytest.raises(Unavailable, match="no routable revision"):
        pick_revision(_match(TrafficTarget(revision="a", percent=0)), random.Random())
