"""Host/path routing, traffic splits, tags and component chains through the real router."""

from __future__ import annotations

import json
import random

import aiohttp
from aiohttp import web

from minikn.core.revision import RevisionSpec
from minikn.router import REVISION_HEADER
from minikn.testing.datapath import running_datapath
from minikn.testing.fake_replicas import Seen, aiohttp_factory, isvc_route, revision, table, to


async def test_canary_90_10_split_over_2000_requests_is_within_binomial_bounds(
    client: aiohttp.ClientSession, seen: Seen
) -> None:
    stable, canary = revision("iris", generation=1), revision("iris", generation=2)
    routes = table(isvc_route("iris", predictor=[to(stable, 90), to(canary, 10, tag="latest")]))
    async with running_datapath(
        routes,
        [stable, canary],
        aiohttp_factory(seen),
        rng=random.Random(7),
        warm=[stable.name, canary.name],
    ) as dp:
        counts = {stable.name: 0, canary.name: 0}
        for _ in range(2000):
            async with client.post(dp.url + "/v1/models/iris:predict", data=b"{}") as resp:
                assert resp.status == 200
                counts[resp.headers[REVISION_HEADER.decode()]] += 1
                assert (await resp.json())["revision"] == resp.headers[REVISION_HEADER.decode()]
        # Binomial(2000, 0.1): mean 200, sd 13.4; +-5 sd.
        assert 133 <= counts[canary.name] <= 267, counts


async def test_hosts_reach_their_components_tags_and_revisions(
    client: aiohttp.ClientSession, seen: Seen
) -> None:
    old, new = revision("rec", generation=1), revision("rec", generation=2)
    tr = revision("rec", "transformer")
    routes = table(
        isvc_route(
            "rec",
            "my-namespace",
            predictor=[to(old, 0, tag="prev"), to(new, 100, tag="latest")],
            transformer=[to(tr)],
        )
    )
    specs = [old, new, tr]
    async with running_datapath(
        routes, specs, aiohttp_factory(seen), warm=[s.name for s in specs]
    ) as dp:
        cases = {
            "rec.my-namespace.example.com": tr.name,
            "rec.my-namespace.example.com:8080": tr.name,
            "rec-predictor.my-namespace.example.com": new.name,
            "rec-predictor-default.my-namespace.example.com": new.name,
            "rec-transformer.my-namespace.example.com": tr.name,
            "prev-rec-predictor.my-namespace.example.com": old.name,
            "latest-rec-predictor.my-namespace.example.com": new.name,
            "rec-predictor.my-namespace": new.name,
            "rec-predictor.my-namespace.svc.cluster.local:80": new.name,
        }
        for host, expected in cases.items():
            async with client.post(
                dp.url + "/v1/models/rec:predict", data=b"{}", headers={"Host": host}
            ) as resp:
                assert resp.status == 200, host
                assert (await resp.json())["revision"] == expected, host
        for host in (
            "nope.my-namespace.example.com",
            "canary-rec-predictor.my-namespace.example.com",
        ):
            async with client.get(dp.url + "/", headers={"Host": host}) as resp:
                assert resp.status == 404, host
                assert "error" in await resp.json()


async def test_path_decides_without_a_matching_host(
    client: aiohttp.ClientSession, seen: Seen
) -> None:
    iris = revision("sklearn-iris")
    routes = table(isvc_route("sklearn-iris", predictor=[to(iris)]))
    async with running_datapath(routes, [iris], aiohttp_factory(seen), warm=[iris.name]) as dp:
        for path in ("/v1/models/sklearn-iris:predict", "/v2/models/sklearn-iris/infer"):
            async with client.post(dp.url + path, data=b"{}") as resp:
                assert resp.status == 200, path
                assert (await resp.json())["path"] == path
        async with client.post(dp.url + "/v1/models/other:predict", data=b"{}") as resp:
            assert resp.status == 404
            assert "other" in (await resp.json())["error"]


async def _transformer(request: web.Request, spec: RevisionSpec, seen: Seen) -> web.Response:
    """A KServe-style transformer: calls http://{predictor_host}/v1/models/<name>:predict."""
    del seen
    body = await request.json()
    url = f"http://{spec.predictor_host}/v1/models/{spec.isvc}:predict"
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as resp:
        predicted = await resp.json()
    return web.json_response({"transformed_by": spec.name, "predictor": predicted})


async def _chain(request: web.Request, spec: RevisionSpec, seen: Seen) -> web.StreamResponse:
    if spec.component == "transformer":
        return await _transformer(request, spec, seen)
    if spec.component == "explainer":
        return web.json_response({"explained_by": spec.name, "path": request.path})
    return web.json_response({"revision": spec.name})


async def test_transformer_reaches_predictor_through_the_router_and_explain_goes_to_explainer(
    client: aiohttp.ClientSession, seen: Seen
) -> None:
    pred = revision("chain")
    expl = revision("chain", "explainer")
    # The control plane passes the ingress address plus a /_host/ prefix (see the router docs).
    placeholder = revision("chain", "transformer")
    routes = table(
        isvc_route(
            "chain", predictor=[to(pred)], transformer=[to(placeholder)], explainer=[to(expl)]
        )
    )
    async with running_datapath(routes, [pred, expl], aiohttp_factory(seen, _chain)) as dp:
        tr = placeholder.model_copy(
            update={"predictor_host": f"127.0.0.1:{dp.port}/_host/chain-predictor.default"}
        )
        dp.replicas.specs[tr.name] = tr
        dp.activator.upsert_revision(tr)
        async with client.post(dp.url + "/v1/models/chain:predict", json={"x": 1}) as resp:
            assert resp.status == 200
            assert await resp.json() == {
                "transformed_by": tr.name,
                "predictor": {"revision": pred.name},
            }
        async with client.post(dp.url + "/v1/models/chain:explain", json={"x": 1}) as resp:
            assert resp.status == 200
            assert (await resp.json())["explained_by"] == expl.name
        # Every hop was metered per revision (scale from zero of both, poked once each).
        assert sorted(dp.replicas.pokes) == sorted([tr.name, pred.name, expl.name])


async def test_request_id_is_kept_or_created_and_forwarding_headers_are_set(
    client: aiohttp.ClientSession, seen: Seen
) -> None:
    iris = revision("iris")
    routes = table(isvc_route("iris", predictor=[to(iris)]))
    async with running_datapath(routes, [iris], aiohttp_factory(seen), warm=[iris.name]) as dp:
        async with client.get(dp.url + "/v1/models/iris", headers={"X-Request-Id": "abc"}) as resp:
            assert resp.headers["X-Request-Id"] == "abc"
            assert resp.headers[REVISION_HEADER.decode()] == iris.name
        async with client.get(dp.url + "/v1/models/iris") as resp:
            created = resp.headers["X-Request-Id"]
            assert len(created) == 32
        first, second = seen.headers
        assert first["x-request-id"] == "abc"
        assert second["x-request-id"] == created
        assert second["x-forwarded-for"] == "127.0.0.1"
        assert second["x-forwarded-proto"] == "http"
        assert second["x-forwarded-host"] == f"127.0.0.1:{dp.port}"
        assert second["forwarded"].startswith('for="127.0.0.1"')
        assert second["knative-serving-revision"] == iris.name
        assert second["knative-serving-namespace"] == "default"
        assert json.dumps(second)  # plain strings only
