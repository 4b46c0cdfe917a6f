"""V1 and V2 conformance of the built-in server: bodies and status codes as KServe's server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiohttp.test_utils import TestClient

from minikn.modelserver.formats import build_model
from minikn.modelserver.model import Model
from minikn.modelserver.server import ModelServer

from .conftest import Serve

IRIS = [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]
V2_IRIS = {
    "id": "req-1",
    "inputs": [{"name": "input-0", "shape": [2, 4], "datatype": "FP32", "data": IRIS}],
}


class GatedModel(Model):
    """Loads when the test says so; fails inference on demand."""

    def __init__(self, name: str, gate: asyncio.Event) -> None:
        super().__init__(name)
        self.gate = gate

    async def load(self) -> bool:
        await self.gate.wait()
        return True

    def predict(self, payload: Any, headers: Mapping[str, str] | None = None) -> Any:
        raise ZeroDivisionError("boom")


async def test_v1_liveness_list_and_ready(iris: TestClient[Any, Any]) -> None:
    assert await (await iris.get("/")).json() == {"status": "alive"}
    assert await (await iris.get("/v1/models")).json() == {"models": ["iris"]}
    resp = await iris.get("/v1/models/iris")
    assert (resp.status, await resp.json()) == (200, {"name": "iris", "ready": True})


@pytest.mark.parametrize("key", ["instances", "inputs"])
async def test_v1_predict(iris: TestClient[Any, Any], key: str) -> None:
    resp = await iris.post("/v1/models/iris:predict", json={key: IRIS})
    assert resp.status == 200
    assert await resp.json() == {"predictions": [1, 1]}


async def test_v1_predict_proba_by_parameter(iris: TestClient[Any, Any]) -> None:
    resp = await iris.post(
        "/v1/models/iris:predict", json={"instances": IRIS, "parameters": {"predict_proba": True}}
    )
    predictions = (await resp.json())["predictions"]
    assert len(predictions) == 2
    assert len(predictions[0]) == 3
    assert sum(predictions[0]) == pytest.approx(1.0)


async def test_predict_proba_by_env(
    iris: TestClient[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREDICT_PROBA", "true")
    resp = await iris.post("/v1/models/iris:predict", json={"instances": IRIS})
    assert len((await resp.json())["predictions"][0]) == 3


async def test_unknown_model_is_404_on_every_read(iris: TestClient[Any, Any]) -> None:
    for path in ("/v1/models/nope", "/v2/models/nope", "/v2/models/nope/ready"):
        resp = await iris.get(path)
        assert resp.status == 404
        assert await resp.json() == {"error": "Model with name nope does not exist."}


async def test_v2_server_endpoints(iris: TestClient[Any, Any]) -> None:
    assert await (await iris.get("/v2/health/live")).json() == {"live": True}
    assert await (await iris.get("/v2/health/ready")).json() == {"ready": True}
    meta = await (await iris.get("/v2")).json()
    assert meta["extensions"] == ["model_repository_extension"]
    assert await (await iris.get("/v2/models/iris/ready")).json() == {"name": "iris", "ready": True}
    model = await (await iris.get("/v2/models/iris")).json()
    assert model["name"] == "iris"
    assert model["versions"] is None  # KServe's ModelMetadataResponse: Optional, never filled
    assert model["inputs"] == [{"name": "input-0", "datatype": "FP64", "shape": [-1, 4]}]


async def test_v2_infer_echoes_id_and_names_output_0(iris: TestClient[Any, Any]) -> None:
    resp = await iris.post("/v2/models/iris/infer", json=V2_IRIS)
    assert resp.status == 200
    assert await resp.json() == {
        "model_name": "iris",
        "model_version": None,
        "id": "req-1",
        "parameters": None,
        "outputs": [{"name": "output-0", "shape": [2], "datatype": "INT64", "data": [1, 1]}],
    }


async def test_v2_infer_without_id_gets_one(iris: TestClient[Any, Any]) -> None:
    resp = await iris.post("/v2/models/iris/infer", json={"inputs": V2_IRIS["inputs"]})
    assert len((await resp.json())["id"]) == 36


@pytest.mark.parametrize(
    ("parameters", "outputs", "binary"),
    [
        ({}, [], False),
        ({"binary_data_output": True}, [], True),
        ({}, [{"name": "output-0", "parameters": {"binary_data": True}}], True),
        (
            {"binary_data_output": True},
            [{"name": "output-0", "parameters": {"binary_data": False}}],
            False,
        ),
    ],
)
async def test_v2_outputs_are_binary_when_asked(
    iris: TestClient[Any, Any], parameters: dict[str, Any], outputs: list[Any], binary: bool
) -> None:
    body = {**V2_IRIS, "parameters": parameters, "outputs": outputs}
    resp = await iris.post("/v2/models/iris/infer", json=body)
    raw = await resp.read()
    length = resp.headers.get("Inference-Header-Content-Length")
    if not binary:
        assert length is None
        assert json.loads(raw)["outputs"][0]["data"] == [1, 1]
        return
    assert length is not None
    head = json.loads(raw[: int(length)])
    assert head["outputs"] == [
        {
            "name": "output-0",
            "shape": [2],
            "datatype": "INT64",
            "parameters": {"binary_data_size": 16},
        }
    ]
    assert np.frombuffer(raw[int(length) :], dtype="<i8").tolist() == [1, 1]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v2/models/iris/versions/1"),
        ("GET", "/v2/models/iris/versions/1/ready"),
        ("POST", "/v2/models/iris/versions/1/infer"),
    ],
)
async def test_v2_versions_are_not_implemented(
    iris: TestClient[Any, Any], method: str, path: str
) -> None:
    resp = await iris.request(method, path, json=V2_IRIS)
    assert resp.status == 501
    assert await resp.json() == {"error": "Model versioning not supported yet."}


async def test_repository_unload_then_load(iris: TestClient[Any, Any]) -> None:
    assert await (await iris.post("/v2/repository/models/iris/unload")).json() == {
        "name": "iris",
        "unload": True,
    }
    assert (await iris.get("/v2/models/iris/ready")).status == 503
    assert await (await iris.post("/v2/repository/models/iris/load")).json() == {
        "name": "iris",
        "load": True,
    }
    assert (await iris.get("/v2/models/iris/ready")).status == 200


async def test_not_ready_is_503_until_loaded_then_inference_error_is_500(serve: Serve) -> None:
    gate = asyncio.Event()
    server = ModelServer([GatedModel("gated", gate)])
    client = await serve(server)
    for path in ("/v1/models/gated", "/v2/models/gated/ready"):
        resp = await client.get(path)
        assert resp.status == 503
        assert await resp.json() == {"error": "Model with name gated is not ready."}
    resp = await client.get("/v2/health/ready")
    assert (resp.status, await resp.json()) == (503, {"error": "Server is not ready."})
    resp = await client.post("/v1/models/gated:predict", json={"instances": [1]})
    assert resp.status == 503
    gate.set()
    await asyncio.wait_for(server.loaded.wait(), 5)
    assert (await client.get("/v1/models/gated")).status == 200
    resp = await client.post("/v1/models/gated:predict", json={"instances": [1]})
    assert resp.status == 500
    assert await resp.json() == {"error": "ZeroDivisionError : boom"}


async def test_load_failure_keeps_model_not_ready_with_the_reason(
    tmp_path: Path, serve: Serve
) -> None:
    server = ModelServer([build_model("empty", tmp_path, model_format="sklearn")])
    client = await serve(server)
    await asyncio.wait_for(server.loaded.wait(), 5)
    resp = await client.get("/v1/models/empty")
    assert resp.status == 503
    assert "no sklearn model file" in (await resp.json())["error"]


async def test_metrics_count_each_step_per_model(iris: TestClient[Any, Any]) -> None:
    for _ in range(3):
        assert (await iris.post("/v1/models/iris:predict", json={"instances": IRIS})).status == 200
    text = await (await iris.get("/metrics")).text()
    assert "# TYPE request_predict_seconds histogram" in text
    assert 'request_predict_seconds_count{model_name="iris"} 3' in text
    assert 'request_preprocess_seconds_bucket{model_name="iris",le="+Inf"} 3' in text
    assert "request_explain_seconds_count" in text
