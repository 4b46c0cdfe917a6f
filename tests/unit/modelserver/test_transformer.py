"""A transformer (custom class + --predictor_host) forwarding to a predictor, over real sockets."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from minikn.modelserver.examples import IrisTransformer
from minikn.modelserver.formats import build_model
from minikn.modelserver.server import ModelServer


async def test_transformer_chain_preprocesses_forwards_and_postprocesses(
    example_models: dict[str, Path],
) -> None:
    predictor = ModelServer([build_model("iris", example_models["sklearn-iris"])])
    p_client: TestClient[Any, Any] = TestClient(
        TestServer(predictor.app(), host="127.0.0.1", port=0)
    )
    await p_client.start_server()
    transformer_model = IrisTransformer("iris")
    transformer_model.predictor_host = f"127.0.0.1:{p_client.port}"
    transformer = ModelServer([transformer_model])  # type: ignore[list-item]
    t_client: TestClient[Any, Any] = TestClient(
        TestServer(transformer.app(), host="127.0.0.1", port=0)
    )
    await t_client.start_server()
    try:
        await asyncio.wait_for(
            asyncio.gather(predictor.loaded.wait(), transformer.loaded.wait()), 30
        )
        row = {"sepal_length": 6.8, "sepal_width": 2.8, "petal_length": 4.8, "petal_width": 1.4}
        resp = await t_client.post("/v1/models/iris:predict", json={"instances": [row]})
        assert resp.status == 200
        assert await resp.json() == {"predictions": [1], "labels": ["versicolor"]}
        resp = await t_client.post("/v1/models/iris:predict", json={"instances": [[1.0]]})
        assert resp.status == 500
        assert "predictor 127.0.0.1" in (await resp.json())["error"]
        assert (
            await t_client.post("/v1/models/iris:explain", json={"instances": []})
        ).status == 501
    finally:
        await t_client.close()
        await p_client.close()
