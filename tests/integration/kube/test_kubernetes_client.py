"""The ``kubernetes`` Python client against a real ``minikn serve``: optimistic concurrency
(409 Conflict on a stale resourceVersion), watch resume from a version, 410 Gone for a version
older than the history, namespaces."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.kube.conftest import Served

kubernetes = pytest.importorskip("kubernetes")
from kubernetes import client, config, watch  # noqa: E402
from kubernetes.client.rest import ApiException  # noqa: E402

pytestmark = pytest.mark.timeout(120)
G, V, P = "serving.kserve.io", "v1beta1", "inferenceservices"


@pytest.fixture
def api(served: Served) -> Iterator[client.ApiClient]:
    with config.new_client_from_config(config_file=str(served.kubeconfig)) as c:
        yield c


def _body(name: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{G}/{V}",
        "kind": "InferenceService",
        "metadata": {"name": name},
        "spec": {"predictor": {"model": {"modelFormat": {"name": "sklearn"},
                                         "storageUri": "file:///nonexistent"}}},
    }  # fmt: skip


def test_stale_resource_version_is_a_conflict(api: client.ApiClient) -> None:
    objs = client.CustomObjectsApi(api)
    objs.create_namespaced_custom_object(G, V, "default", P, _body("py-conflict"))
    for _ in range(50):  # the controller may write the status between our read and write
        first = objs.get_namespaced_custom_object(G, V, "default", P, "py-conflict")
        first["metadata"]["labels"] = {"a": "1"}
        try:
            second = objs.replace_namespaced_custom_object(G, V, "default", P, "py-conflict", first)
            break
        except ApiException as exc:
            if exc.status != 409:
                raise
    else:
        pytest.fail("every replace conflicted")
    assert int(second["metadata"]["resourceVersion"]) > int(first["metadata"]["resourceVersion"])
    assert second["metadata"]["uid"] == first["metadata"]["uid"]
    first["metadata"]["labels"] = {"a": "2"}
    with pytest.raises(ApiException) as err:
        objs.replace_namespaced_custom_object(G, V, "default", P, "py-conflict", first)
    assert err.value.status == 409
    assert '"reason": "Conflict"' in err.value.body.replace('":"', '": "')
    with pytest.raises(ApiException) as exists:
        objs.create_namespaced_custom_object(G, V, "default", P, _body("py-conflict"))
    assert exists.value.status == 409
    objs.delete_namespaced_custom_object(G, V, "default", P, "py-conflict")


def test_watch_resumes_from_a_version_and_old_ones_are_gone(api: client.ApiClient) -> None:
    objs = client.CustomObjectsApi(api)
    created = objs.create_namespaced_custom_object(G, V, "default", P, _body("py-watch"))
    rv = created["metadata"]["resourceVersion"]
    objs.patch_namespaced_custom_object(
        G, V, "default", P, "py-watch", {"metadata": {"labels": {"w": "1"}}}
    )
    objs.delete_namespaced_custom_object(G, V, "default", P, "py-watch")
    seen = []
    w = watch.Watch()
    for event in w.stream(objs.list_namespaced_custom_object, G, V, "default", P,
                          resource_version=rv, timeout_seconds=30):  # fmt: skip
        if event["object"]["metadata"]["name"] == "py-watch":
            seen.append((event["type"], event["object"]["metadata"].get("labels", {}).get("w")))
        if event["type"] == "DELETED":
            w.stop()
    assert seen[0][0] == "MODIFIED"  # resumed after the creation: no ADDED
    assert ("MODIFIED", "1") in seen
    assert seen[-1][0] == "DELETED"
    with pytest.raises(ApiException) as gone:
        for _ in watch.Watch().stream(objs.list_namespaced_custom_object, G, V, "default", P,
                                      resource_version="1", timeout_seconds=5):  # fmt: skip
            pass
    assert gone.value.status == 410


def test_a_watch_without_a_version_starts_with_the_objects_and_ends_at_its_timeout(
    api: client.ApiClient,
) -> None:
    objs = client.CustomObjectsApi(api)
    objs.create_namespaced_custom_object(G, V, "default", P, _body("py-list"))
    events = list(
        watch.Watch().stream(
            objs.list_namespaced_custom_object, G, V, "default", P, timeout_seconds=1
        )
    )
    assert ("ADDED", "py-list") in [(e["type"], e["object"]["metadata"]["name"]) for e in events]
    objs.delete_namespaced_custom_object(G, V, "default", P, "py-list")


def test_namespaces_are_listed(api: client.ApiClient) -> None:
    names = [n.metadata.name for n in client.CoreV1Api(api).list_namespace().items]
    assert "default" in names


def _graph_body(name: str) -> dict[str, Any]:
    step = {"name": "only", "serviceUrl": "http://127.0.0.1:9/v1/models/absent:predict"}
    return {
        "apiVersion": f"{G}/v1alpha1",
        "kind": "InferenceGraph",
        "metadata": {"name": name},
        "spec": {"nodes": {"root": {"routerType": "Sequence", "steps": [step]}}},
    }


def test_a_graph_watch_resumes_from_a_version_and_sees_graphs_only(api: client.ApiClient) -> None:
    objs = client.CustomObjectsApi(api)
    created = objs.create_namespaced_custom_object(
        G, "v1alpha1", "default", "inferencegraphs", _graph_body("py-graph")
    )
    rv = created["metadata"]["resourceVersion"]
    objs.create_namespaced_custom_object(G, V, "default", P, _body("py-not-a-graph"))
    stale = dict(created, metadata={**created["metadata"], "labels": {"w": "1"}})
    objs.patch_namespaced_custom_object(
        G,
        "v1alpha1",
        "default",
        "inferencegraphs",
        "py-graph",
        {"metadata": {"labels": {"w": "1"}}},
    )
    with pytest.raises(ApiException) as conflict:
        objs.replace_namespaced_custom_object(
            G, "v1alpha1", "default", "inferencegraphs", "py-graph", stale
        )
    assert conflict.value.status == 409
    objs.delete_namespaced_custom_object(G, "v1alpha1", "default", "inferencegraphs", "py-graph")
    seen = []
    w = watch.Watch()
    for event in w.stream(objs.list_namespaced_custom_object, G, "v1alpha1", "default",
                          "inferencegraphs", resource_version=rv, timeout_seconds=30):  # fmt: skip
        seen.append((event["type"], event["object"]["kind"], event["object"]["metadata"]["name"]))
        if event["type"] == "DELETED":
            w.stop()
    assert {kind for _, kind, _ in seen} == {"InferenceGraph"}
    assert {name for _, _, name in seen} == {"py-graph"}
    assert seen[0][0] == "MODIFIED"  # resumed after the creation: no ADDED
    assert seen[-1][0] == "DELETED"
    with pytest.raises(ApiException) as gone:
        for _ in watch.Watch().stream(objs.list_namespaced_custom_object, G, "v1alpha1",
                                      "default", "inferencegraphs", resource_version="1",
                                      timeout_seconds=5):  # fmt: skip
            pass
    assert gone.value.status == 410
    with pytest.raises(ApiException) as taken:  # one name, one object: hosts are shared
        objs.create_namespaced_custom_object(
            G, "v1alpha1", "default", "inferencegraphs", _graph_body("py-not-a-graph")
        )
    assert taken.value.status == 409
    objs.delete_namespaced_custom_object(G, V, "default", P, "py-not-a-graph")


def _pages(objs: Any, **kw: Any) -> list[list[str]]:
    pages, token = [], None
    while True:
        got = objs.list_namespaced_custom_object(G, V, "default", P, _continue=token, **kw)
        pages.append([i["metadata"]["name"] for i in got["items"]])
        token = got["metadata"].get("continue")
        if not token:
            return pages


def test_a_list_in_pages_is_the_whole_list_in_order(api: client.ApiClient) -> None:
    objs = client.CustomObjectsApi(api)
    for i in range(5):
        body = _body(f"py-page-{i}")
        body["metadata"]["labels"] = {"paged": "yes", "odd": str(i % 2)}
        objs.create_namespaced_custom_object(G, V, "default", P, body)
    whole = [
        i["metadata"]["name"]
        for i in objs.list_namespaced_custom_object(G, V, "default", P)["items"]
    ]
    pages = _pages(objs, limit=2)
    assert all(len(p) <= 2 for p in pages)
    assert [n for p in pages for n in p] == whole  # every object once, in the list's order
    first = objs.list_namespaced_custom_object(G, V, "default", P, limit=2)
    assert first["metadata"]["remainingItemCount"] == len(whole) - 2
    odd = _pages(objs, limit=1, label_selector="paged=yes,odd=1")  # selectors, then pages
    assert [n for p in odd for n in p] == ["py-page-1", "py-page-3"]
