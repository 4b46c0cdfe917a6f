"""V1 and V2 conformance of the built-in server: bodies and status codes as KServe's server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from minikn.modelserver.formats import build_model
from minikn.modelserver.model import Model
from minikn.modelserver.server import ModelServer

IRIS = [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]
V2_IRIS = {
    "id": "req-1",
    "inputs": [{"name": "input-0", "shape": [2, 4], "datatype": "FP32", "data": IRIS}],
}


async def client_for(server: ModelServer) -> TestClient[Any, Any]:
    client: TestClient[Any, Any] = TestClient(TestServer(server.app(), host="127.0.0.1", port=0))
    await client.start_server()
    return client


@pytest.fixture
async def iris(example_models: dict[str, Path]) -> AsyncIterator[TestClient[Any, Any]]:
    server = ModelServer([build_model("iris", example_models["sklearn-iris"])])
    client = await client_for(server)
    await asyncio.wait_for(server.loaded.wait(), 30)
    yield client
    await client.close()


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


@pytest.mark.parametrize(
    ("path", "body", "status", "error"),
    [
        (
            "/v1/models/nope:predict",
            {"instances": IRIS},
            404,
            "Model with name nope does not exist.",
        ),
        ("/v1/models/iris:predict", {"instances": 5}, 400, 'Expected "instances" to be a list'),
        ("/v1/models/iris:predict", {"inputs": "x"}, 400, 'Expected "inputs" to be a list'),
        ("/v1/models/iris:predict", {"other": 1}, 400, 'Expected "instances" or "inputs"'),
        ("/v1/models/iris:predict", [1], 400, "Unrecognized request format"),
        ("/v1/models/iris:predict", {"instances": [[1.0]]}, 500, "features"),
        ("/v1/models/iris:explain", {"instances": IRIS}, 501, "no explainer"),
    ],
)
async def test_v1_errors(
    iris: TestClient[Any, Any], path: str, body: Any, status: int, error: str
) -> None:
    resp = await iris.post(path, json=body)
    assert resp.status == status
    assert error in (await resp.json())["error"]


async def test_v1_unparseable_body_is_400(iris: TestClient[Any, Any]) -> None:
    resp = await iris.post("/v1/models/iris:predict", data=b"{bad")
    assert resp.status == 400
    assert "Unrecognized request format" in (await resp.json())["error"]


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
    ("body", "status", "error"),
    [
        (
            {"inputs": [{"name": "input-0", "shape": [2, 4], "datatype": "FP32", "data": [1]}]},
            400,
            "needs 8",
        ),
        (
            {"inputs": [{"name": "input-0", "shape": [1, 1], "datatype": "FP32", "data": [1]}]},
            500,
            "features",
        ),
        ({"nothing": 1}, 400, "inputs"),
    ],
)
async def test_v2_infer_errors(
    iris: TestClient[Any, Any], body: Any, status: int, error: str
) -> None:
    resp = await iris.post("/v2/models/iris/infer", json=body)
    assert resp.status == status
    assert error in (await resp.json())["error"]


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


async def test_not_ready_is_503_until_loaded_then_inference_error_is_500() -> None:
    gate = asyncio.Event()
    server = ModelServer([GatedModel("gated", gate)])
    client = await client_for(server)
    try:
        for path in ("/v1/models/gated", "/v2/models/gated/ready"):
            resp = await client.get(path)
            assert resp.status == 503
            assert await resp.json() == {"error": "Model with name gated is not ready."}
        assert (await client.get("/v2/health/ready")).status == 503
        resp = await client.post("/v1/models/gated:predict", json={"instances": [1]})
        assert resp.status == 503
        gate.set()
        await asyncio.wait_for(server.loaded.wait(), 5)
        assert (await client.get("/v1/models/gated")).status == 200
        resp = await client.post("/v1/models/gated:predict", json={"instances": [1]})
        assert resp.status == 500
        assert await resp.json() == {"error": "ZeroDivisionError : boom"}
    finally:
        await client.close()


async def test_load_failure_keeps_model_not_ready_with_the_reason(tmp_path: Path) -> None:
    server = ModelServer([build_model("empty", tmp_path, model_format="sklearn")])
    client = await client_for(server)
    try:
        await asyncio.wait_for(server.loaded.wait(), 5)
        resp = await client.get("/v1/models/empty")
        assert resp.status == 503
        assert "no sklearn model file" in (await resp.json())["error"]
    finally:
        await client.close()


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/nope"), ("POST", "/v1/models/iris:frobnicate"), ("DELETE", "/v2")],
)
async def test_unknown_routes_answer_json_404(
    iris: TestClient[Any, Any], method: str, path: str
) -> None:
    resp = await iris.request(method, path)
    assert resp.status == 404
    assert "Not Found" in (await resp.json())["error"]


async def test_metrics_count_each_step_per_model(iris: TestClient[Any, Any]) -> None:
    for _ in range(3):
        assert (await iris.post("/v1/models/iris:predict", json={"instances": IRIS})).status == 200
    text = await (await iris.get("/metrics")).text()
    assert "# TYPE request_predict_seconds histogram" in text
    assert 'request_predict_seconds_count{model_name="iris"} 3' in text
    assert 'request_preprocess_seconds_bucket{model_name="iris",le="+Inf"} 3' in text
    assert "request_explain_seconds_count" in text
