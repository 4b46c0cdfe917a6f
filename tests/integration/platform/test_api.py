"""The REST API over a real socket: CRUD with YAML and JSON bodies, error codes, auth."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest
import yaml

from minikn.apiserver.rest import check_bind
from minikn.core.errors import PermanentError

from .conftest import Api, start_api

BASE = "/apis/serving.kserve.io/v1beta1/namespaces/default/inferenceservices"
YAML = {"Content-Type": "application/yaml"}
ISVC = {
    "apiVersion": "serving.kserve.io/v1beta1",
    "kind": "InferenceService",
    "metadata": {"name": "iris"},
    "spec": {"predictor": {"sklearn": {"storageUri": "gs://b/1"}}},
}


async def test_create_get_list_replace_delete_with_yaml_and_json(api: Api) -> None:
    s, url = api.session, api.url + BASE
    async with s.post(
        url, data=yaml.safe_dump(ISVC), headers={"Content-Type": "application/yaml"}
    ) as r:
        assert r.status == 201
        created = await r.json()
    assert created["status"]["url"] == "http://iris.default.example.com"
    assert (
        created["status"]["components"]["predictor"]["latestCreatedRevision"]
        == "iris-predictor-00001"
    )
    async with s.get(url + "/iris") as r:
        assert r.status == 200
        assert (await r.json())["metadata"]["name"] == "iris"
    async with s.get(api.url + "/apis/serving.kserve.io/v1beta1/inferenceservices") as r:
        assert [i["metadata"]["name"] for i in (await r.json())["items"]] == ["iris"]
    changed = json.loads(json.dumps(ISVC))
    changed["spec"]["predictor"]["sklearn"]["storageUri"] = "gs://b/2"
    async with s.put(url + "/iris", json=changed) as r:
        assert r.status == 200
        body = await r.json()
    assert (
        body["status"]["components"]["predictor"]["latestCreatedRevision"] == "iris-predictor-00002"
    )
    async with s.get(api.url + "/api/v1/namespaces/default/inferenceservices/iris/revisions") as r:
        assert [x["name"] for x in (await r.json())["items"]] == [
            "iris-predictor-00001",
            "iris-predictor-00002",
        ]
    async with s.get(api.url + "/api/v1/namespaces/default/inferenceservices/iris/events") as r:
        assert [e["reason"] for e in (await r.json())["items"]] == [
            "RevisionCreated",
            "RevisionCreated",
        ]
    async with s.delete(url + "/iris") as r:
        assert r.status == 200
    async with s.get(url + "/iris") as r:
        assert r.status == 404


async def test_error_codes(api: Api) -> None:
    s, url = api.session, api.url + BASE
    async with s.post(url, json=ISVC) as r:
        assert r.status == 201
    async with s.post(url, json=ISVC) as r:
        assert r.status == 409
        body = await r.json()
        assert body["kind"] == "Status"
        assert body["reason"] == "AlreadyExists"
        assert "already exists" in body["error"]
    bad = json.loads(json.dumps(ISVC))
    bad["spec"]["predictor"]["minReplicas"] = -1
    async with s.put(url + "/iris", json=bad) as r:
        assert r.status == 400
        assert "'MinReplicas' cannot be less than 0" in (await r.json())["message"]
    async with s.put(url + "/nothere", json={**ISVC, "metadata": {"name": "nothere"}}) as r:
        assert r.status == 404
    async with s.get(url + "/nothere") as r:
        assert r.status == 404
    async with s.get(api.url + "/apis/nothing") as r:
        assert r.status == 404
        assert (await r.json())["reason"] == "NotFound"
    async with s.post(url, data="a: [1", headers={"Content-Type": "application/yaml"}) as r:
        assert r.status == 400
        assert "invalid YAML" in (await r.json())["error"]


async def test_bulk_apply_is_all_or_nothing_and_names_the_document(api: Api) -> None:
    other = {**ISVC, "metadata": {"name": "other"}}
    bad = {**ISVC, "metadata": {"name": "Bad"}}
    async with api.session.post(
        api.url + "/api/v1/apply", data=yaml.safe_dump_all([other, bad]), headers=YAML
    ) as r:
        assert r.status == 400
        assert "<request>[1] InferenceService/Bad: metadata.name" in (await r.json())["error"]
    assert api.controller.list_isvcs() == []
    async with api.session.post(
        api.url + "/api/v1/apply", data=yaml.safe_dump_all([ISVC, other]), headers=YAML
    ) as r:
        assert r.status == 200
        results = (await r.json())["results"]
    assert [(x["name"], x["action"]) for x in results] == [
        ("iris", "created"),
        ("other", "created"),
    ]


async def test_validate_endpoint_and_openapi(api: Api) -> None:
    bad = {**ISVC, "kind": "InferenceGraph"}
    async with api.session.post(
        api.url + "/api/v1/validate", data=yaml.safe_dump_all([ISVC, bad]), headers=YAML
    ) as r:
        body = await r.json()
    assert body["valid"] is False
    assert [d["valid"] for d in body["documents"]] == [True, False]
    assert (
        "apiVersion: 'serving.kserve.io/v1beta1' is not supported (use serving.kserve.io/v1alpha1)"
        in (body["documents"][1]["error"])
    )
    async with api.session.get(api.url + "/openapi.json") as r:
        doc = await r.json()
    assert doc["openapi"].startswith("3.")
    assert BASE.replace("default", "{ns}") in doc["paths"]
    assert "/apis/serving.kserve.io/v1alpha1/namespaces/{ns}/inferencegraphs/{name}" in doc["paths"]


async def test_v1alpha2_path_accepts_v1alpha2_documents(api: Api) -> None:
    doc = {
        "apiVersion": "serving.kubeflow.org/v1alpha2",
        "kind": "InferenceService",
        "metadata": {"name": "old"},
        "spec": {"default": {"predictor": {"sklearn": {"storageUri": "gs://b/1"}}}},
    }
    url = api.url + "/apis/serving.kubeflow.org/v1alpha2/namespaces/default/inferenceservices"
    async with api.session.post(url, json=doc) as r:
        assert r.status == 201
    async with api.session.post(api.url + BASE, json=doc) as r:
        assert r.status == 400  # apiVersion must match the path


async def test_token_required_when_configured(tmp_path: Path) -> None:
    ctl, runner, url = await start_api(tmp_path, token="s3cret")
    try:
        async with aiohttp.ClientSession() as s:
            async with s.get(url + "/healthz") as r:
                assert r.status == 200
            async with s.get(url + BASE) as r:
                assert r.status == 401
            async with s.get(url + BASE, headers={"Authorization": "Bearer wrong"}) as r:
                assert r.status == 401
            async with s.get(url + BASE, headers={"Authorization": "Bearer s3cret"}) as r:
                assert r.status == 200
    finally:
        await runner.cleanup()
        await ctl.close()


@pytest.mark.parametrize(
    ("host", "token", "ok"),
    [
        ("127.0.0.1", None, True),
        ("localhost", None, True),
        ("::1", None, True),
        ("0.0.0.0", None, False),
        ("0.0.0.0", "t", True),
    ],
)
def test_non_loopback_bind_requires_a_token(host: str, token: str | None, ok: bool) -> None:
    if ok:
        check_bind(host, token)
    else:
        with pytest.raises(PermanentError, match="MINIKN_API_TOKEN"):
            check_bind(host, token)
