"""The plain KServe YAML of the SDK predictor and transformer (``kserve_apps/``) and the requests
both backends must answer the same way (V1, V2, and V1 through the transformer)."""

from __future__ import annotations

from typing import Any

import aiohttp

from minikn.platform.server import Platform

from .platform_helpers import until_ready

ISVCS = """
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: doubler
spec:
  predictor:
    containers:
      - name: kserve-container
        image: {image}
        command: ["python"]
        args: ["predictor.py", "--model_name=doubler"]
---
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: pipeline
spec:
  predictor:
    containers:
      - name: kserve-container
        image: {image}
        command: ["python"]
        args: ["predictor.py", "--model_name=pipeline"]
  transformer:
    containers:
      - name: kserve-container
        image: {image}
        command: ["python"]
        args: ["transformer.py", "--model_name=pipeline"]
"""


def isvcs(image: str) -> str:
    """The two ISVCs, as a KServe user writes them, on ``image``."""
    return ISVCS.format(image=image)


async def _post(
    session: aiohttp.ClientSession, p: Platform, isvc: str, path: str, body: dict[str, Any]
) -> tuple[int, Any, aiohttp.typedefs.LooseHeaders]:
    url = f"http://127.0.0.1:{p.ingress_port}{path}"
    headers = {"Host": f"{isvc}.default.example.com"}
    async with session.post(url, json=body, headers=headers) as resp:
        return resp.status, await resp.json(), resp.raw_headers


async def apply_and_check_sdk_apps(p: Platform, image: str, ready_s: float = 180) -> None:
    """Apply the YAML through the API, wait for both ISVCs, and check every answer."""
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"http://127.0.0.1:{p.api_port}/api/v1/apply",
            data=isvcs(image),
            headers={"Authorization": f"Bearer {p.token}", "Content-Type": "application/yaml"},
        ) as resp:
            assert resp.status == 200, await resp.text()
        await until_ready(p, "doubler", ready_s)
        await until_ready(p, "pipeline", ready_s)

        status, body, _ = await _post(
            session, p, "doubler", "/v1/models/doubler:predict", {"instances": [[1, 2]]}
        )
        assert (status, body) == (200, {"predictions": [[2, 4]]})

        v2 = {
            "id": "r1",
            "inputs": [{"name": "input-0", "shape": [2], "datatype": "FP32", "data": [1, 2]}],
        }
        status, body, _ = await _post(session, p, "doubler", "/v2/models/doubler/infer", v2)
        assert status == 200, body
        assert (body["model_name"], body["id"]) == ("doubler", "r1")
        assert body["outputs"][0]["data"] == [2, 4]

        status, body, raw = await _post(
            session, p, "pipeline", "/v1/models/pipeline:predict", {"instances": [[1, 2]]}
        )
        assert (status, body) == (200, {"predictions": [[4, 6]], "transformed_by": "pipeline"})
        names = [k.lower() for k, _ in raw]
        assert names.count(b"date") == 1
        assert names.count(b"server") <= 1
