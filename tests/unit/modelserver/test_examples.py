"""Every shipped example ISVC's example input gets predictions from the built-in server."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer

from minikn.modelserver.examples import ensure_example_models
from minikn.modelserver.formats import build_model
from minikn.modelserver.server import ModelServer

EXAMPLES = Path(__file__).resolve().parents[3] / "config" / "examples"
PREDICTOR_EXAMPLES = [
    "sklearn-iris.yaml",
    "sklearn-iris-v2.yaml",
    "xgboost-iris.yaml",
    "lightgbm-iris.yaml",
    "rollout/sklearn-iris-canary.yaml",
]


def test_ensure_example_models_keeps_current_models(example_models: dict[str, Path]) -> None:
    directory = example_models["sklearn-iris"].parent
    before = (directory / "sklearn-iris" / "model.joblib").stat().st_mtime_ns
    assert ensure_example_models(directory) == example_models
    assert (directory / "sklearn-iris" / "model.joblib").stat().st_mtime_ns == before


@pytest.mark.parametrize("file", PREDICTOR_EXAMPLES)
async def test_example_input_is_answered(example_models: dict[str, Path], file: str) -> None:
    doc: dict[str, Any] = yaml.safe_load((EXAMPLES / file).read_text())
    name = doc["metadata"]["name"]
    model = doc["spec"]["predictor"]["model"]
    model_dir = example_models[model["storageUri"].rstrip("/").rsplit("/", 1)[-1]]
    server = ModelServer([build_model(name, model_dir, model_format=model["modelFormat"]["name"])])
    client: TestClient[Any, Any] = TestClient(TestServer(server.app(), host="127.0.0.1", port=0))
    await client.start_server()
    try:
        await asyncio.wait_for(server.loaded.wait(), 30)
        payload = json.loads(doc["metadata"]["annotations"]["minikn.io/example-input"])
        v2 = model.get("protocolVersion") == "v2"
        path = f"/v2/models/{name}/infer" if v2 else f"/v1/models/{name}:predict"
        resp = await client.post(path, json=payload)
        assert resp.status == 200, await resp.text()
        body = await resp.json()
        assert (body["outputs"][0]["shape"][0] if v2 else len(body["predictions"])) == 2
    finally:
        await client.close()


def test_v1alpha2_and_transformer_examples_are_well_formed() -> None:
    legacy = yaml.safe_load((EXAMPLES / "sklearn-iris-v1alpha2.yaml").read_text())
    assert legacy["apiVersion"] == "serving.kubeflow.org/v1alpha2"
    assert "canary" in legacy["spec"]
    chain = yaml.safe_load((EXAMPLES / "iris-transformer.yaml").read_text())
    args = chain["spec"]["transformer"]["containers"][0]["args"]
    assert "--model_class=minikn.modelserver.examples:IrisTransformer" in args
