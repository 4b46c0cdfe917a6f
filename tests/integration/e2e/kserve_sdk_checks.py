"""The plain KServe YAML of the SDK predictor and transformer (``kserve_apps/``) and the requests
both backends must answer the same way (V1, V2, and V1 through the transformer; gRPC from KServe's
own ``InferenceGRPCClient``, the first call to a revision at zero)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np

from minikn.platform.server import Platform

from .platform_helpers import until_ready

KSERVE_CLIENT = Path(__file__).with_name("kserve_grpc_client.py")
ZERO_ALLOWED = {"allow-zero-initial-scale": True}
"""config-autoscaler for the gRPC ISVC, which starts at zero (``initial-scale: "0"``)."""
GRPC_REVISION = "grpc-doubler-predictor-00001"

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
---
# KServe's way to say a custom predictor serves gRPC: its container port is named h2c (8081,
# where KServe's ModelServer serves gRPC).
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: grpc-doubler
  annotations:
    autoscaling.knative.dev/initial-scale: "0"
spec:
  predictor:
    minReplicas: 0
    containers:
      - name: kserve-container
        image: {image}
        command: ["python"]
        args: ["predictor.py", "--model_name=grpc-doubler"]
        ports:
          - name: h2c
            containerPort: 8081
            protocol: TCP
"""


async def kserve_grpc_client(kserve_python: Path, p: Platform, isvc: str) -> dict[str, Any]:
    """Run KServe's ``InferenceGRPCClient`` (``kserve_grpc_client.py``, in KServe's own
    virtualenv) against the ingress with the ISVC's host; what it printed last (JSON)."""
    proc = await asyncio.create_subprocess_exec(
        str(kserve_python), str(KSERVE_CLIENT), f"127.0.0.1:{p.ingress_port}",
        f"{isvc}.default.example.com", isvc,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()[-3000:]
    got: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return got


def isvcs(image: str) -> str:
    """The three ISVCs, as a KServe user writes them, on ``image``."""
    return ISVCS.format(image=image)


async def _post(
    session: aiohttp.ClientSession, p: Platform, isvc: str, path: str, body: dict[str, Any]
) -> tuple[int, Any, aiohttp.typedefs.LooseHeaders]:
    url = f"http://127.0.0.1:{p.ingress_port}{path}"
    headers = {"Host": f"{isvc}.default.example.com"}
    async with session.post(url, json=body, headers=headers) as resp:
        return resp.status, await resp.json(), resp.raw_headers


async def _grpc_first_call_at_zero(p: Platform, kserve_python: Path, ready_s: float) -> None:
    """KServe's ``InferenceGRPCClient`` (run by KServe's own Python), given only the ingress
    address and the ISVC's host, calls the gRPC predictor while its revision is at zero."""
    assert p.dataplane is not None
    async with asyncio.timeout(ready_s):
        while GRPC_REVISION not in {
            r.name for r in p.controller.revisions("default", "grpc-doubler")
        }:
            await asyncio.sleep(0.1)
    assert p.dataplane.replicas.ready_count(GRPC_REVISION) == 0
    got = await kserve_grpc_client(kserve_python, p, "grpc-doubler")
    doubled = np.array([[13.6, 5.6, 9.6, 2.8], [12.0, 6.8, 9.0, 3.2]], dtype=np.float32)
    assert np.array_equal(np.array(got["predictions"], dtype=np.float32), doubled), got
    assert (got["server_ready"], got["model_ready"]) == (True, True)
    assert p.dataplane.replicas.ready_count(GRPC_REVISION) == 1  # the first call started it


async def apply_and_check_sdk_apps(
    p: Platform, image: str, kserve_python: Path, ready_s: float = 180
) -> None:
    """Apply the YAML through the API, wait for the ISVCs, and check every answer."""
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
    await _grpc_first_call_at_zero(p, kserve_python, ready_s)
