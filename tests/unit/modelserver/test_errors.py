"""Client errors are 400 with KServe's wording, never 500; status codes and bodies as KServe's.

Every case runs against the real aiohttp app on loopback with the iris LogisticRegression
model (4 features).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from minikn.modelserver.formats import build_model
from minikn.modelserver.server import ModelServer

from .conftest import Serve

ROW = [6.8, 2.8, 4.8, 1.4]


def v2(shape: Any, data: Any, datatype: str = "FP32", **extra: Any) -> bytes:
    tensor = {"name": "input-0", "shape": shape, "datatype": datatype, "data": data, **extra}
    return json.dumps({"inputs": [tensor]}).encode()


def v1(instances: Any) -> bytes:
    return json.dumps({"instances": instances}).encode()


PREDICT = "/v1/models/iris:predict"
INFER = "/v2/models/iris/infer"

# (path, body, extra headers, expected error substring); every one must be answered 400.
CLIENT_ERRORS: list[tuple[str, bytes, dict[str, str], str]] = [
    # V1: what the model cannot take
    (PREDICT, v1([[1.0]]), {}, "X has 1 features, but LogisticRegression is expecting 4"),
    (PREDICT, v1([["a", "b", "c", "d"]]), {}, "strings"),
    (PREDICT, b'{"instances": [[NaN, 2.8, 4.8, 1.4]]}', {}, "NaN is not valid JSON"),
    (PREDICT, b'{"instances": [[Infinity, 2.8, 4.8, 1.4]]}', {}, "Infinity is not valid JSON"),
    (PREDICT, b'{"instances": [[-Infinity, 2.8, 4.8, 1.4]]}', {}, "-Infinity is not valid JSON"),
    (PREDICT, b'{"instances": [[1e999, 2.8, 4.8, 1.4]]}', {}, "infinity"),
    (PREDICT, v1([ROW, [1.0, 2.0]]), {}, "inhomogeneous"),
    (PREDICT, v1([[[ROW]]]), {}, "dim 4"),
    (PREDICT, v1([[None, 2.8, 4.8, 1.4]]), {}, "NoneType"),
    (PREDICT, v1([]), {}, "Expected 2D array"),
    # V1: the body's shape
    (PREDICT, b'{"other": 1}', {}, 'Expected "instances" or "inputs"'),
    (PREDICT, b'{"instances": 5}', {}, 'Expected "instances" to be a list'),
    (PREDICT, b'{"inputs": "x"}', {}, 'Expected "inputs" to be a list'),
    (PREDICT, b"null", {}, "Unrecognized request format: the body must be a JSON object"),
    (PREDICT, b"[1]", {}, "Unrecognized request format: the body must be a JSON object"),
    (PREDICT, b"", {}, "Unrecognized request format"),
    (PREDICT, b"{bad", {}, "Unrecognized request format"),
    (PREDICT, b'{"instances": [["\xff"]]}', {}, "the body is not UTF-8"),
    (PREDICT, json.dumps({"instances": [ROW]}).encode("utf-16"), {}, "the body is not UTF-8"),
    (PREDICT, b"[" * 100_000 + b"]" * 100_000, {}, "JSON nested too deeply"),
    # V2: the tensors
    (INFER, b'{"nothing": 1}', {}, 'Expected "inputs" to be a non-empty list'),
    (INFER, b"null", {}, "Unrecognized request format: the body must be a JSON object"),
    (INFER, b'{"inputs": [{"name": "input-0"}]}', {}, "missing shape, datatype"),
    (INFER, v2([2, 4], [1.0]), {}, "shape [2, 4] needs 8 elements, data has 1"),
    (INFER, v2([1, 4], ROW, "FP99"), {}, "unsupported datatype 'FP99'"),
    (INFER, v2([1, 4], ["a", "b", "c", "d"]), {}, "data does not match datatype FP32"),
    (INFER, v2([1, 4], [1, 2, 3, 300], "UINT8"), {}, "data does not match datatype UINT8"),
    (INFER, v2([1, 4], ["a", "b", "c", "d"], "BYTES"), {}, "could not convert string"),
    (INFER, v2([-1, 4], ROW), {}, "must be a list of non-negative ints"),
    (INFER, v2([True, 4], ROW), {}, "must be a list of non-negative ints"),
    (INFER, v2([1] * 40, [1.0]), {}, "at most 32"),
    (INFER, v2([1, 1], [1.0]), {}, "X has 1 features"),
    (INFER, v2([1, 1, 1, 4], ROW), {}, "dim 4"),
    (INFER, v2([1, 4], ROW, parameters=[1]), {}, "parameters must be an object"),
    (
        INFER,
        b'{"inputs": [{"name": 1, "shape": [1], "datatype": "FP32", "data": [1]}]}',
        {},
        "name",
    ),
    (
        INFER,
        b'{"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [NaN]}]}',
        {},
        "NaN",
    ),
    # V2: the binary tensor extension
    (INFER, v2([1, 4], ROW), {"Inference-Header-Content-Length": "x"}, "must be an integer"),
    (INFER, v2([1, 4], ROW), {"Inference-Header-Content-Length": "99999"}, "outside the body"),
    (INFER, v2([1, 4], ROW), {"Inference-Header-Content-Length": "-1"}, "outside the body"),
]


def _binary_case(size: Any, payload: bytes) -> tuple[bytes, dict[str, str]]:
    tensor = {"name": "input-0", "shape": [1, 4], "datatype": "FP32"}
    tensor["parameters"] = {"binary_data_size": size}
    head = json.dumps({"inputs": [tensor]}).encode()
    return head + payload, {"Inference-Header-Content-Length": str(len(head))}


for _size, _payload, _error in [
    ("16", b"\0" * 16, "binary_data_size must be a non-negative int"),
    (32, b"\0" * 16, "exceeds the binary body"),
    (15, b"\0" * 15, "not a whole number of FP32 elements"),
]:
    _body, _headers = _binary_case(_size, _payload)
    CLIENT_ERRORS.append((INFER, _body, _headers, _error))


@pytest.mark.parametrize(("path", "body", "headers", "error"), CLIENT_ERRORS)
async def test_client_errors_are_400_with_the_reason(
    iris: TestClient[Any, Any], path: str, body: bytes, headers: dict[str, str], error: str
) -> None:
    resp = await iris.post(path, data=body, headers=headers)
    answer = await resp.json()
    assert (resp.status, list(answer)) == (400, ["error"]), answer
    assert error in answer["error"]


async def test_a_body_over_the_bound_is_413(example_models: dict[str, Path], serve: Serve) -> None:
    server = ModelServer([build_model("iris", example_models["sklearn-iris"])], max_body_bytes=64)
    client = await serve(server)
    await server.loaded.wait()
    small = await client.post(PREDICT, data=v1([ROW]))
    assert small.status == 200
    resp = await client.post(PREDICT, data=v1([ROW] * 10))
    assert resp.status == 413
    assert "Maximum request body size 64 exceeded" in (await resp.json())["error"]


@pytest.mark.parametrize("datatype", ["FP32", "FP64"])
async def test_v2_takes_fp32_and_fp64_alike(iris: TestClient[Any, Any], datatype: str) -> None:
    # The README sends FP32; the metadata advertises FP64 (LogisticRegression computes in it).
    resp = await iris.post(INFER, data=v2([2, 4], [ROW, [6.0, 3.4, 4.5, 1.6]], datatype))
    assert resp.status == 200
    assert (await resp.json())["outputs"][0]["data"] == [1, 1]


NOT_FOUND = {"error": "Model with name nope does not exist."}
VERSIONING = {"error": "Model versioning not supported yet."}

# The same requests sent to KServe's Python server (kserve 0.2x) answer as below; the cases
# where minikn answers otherwise say why. Read from:
#   python/kserve/kserve/errors.py            exception -> status and {"error": str(exc)}
#   python/kserve/kserve/protocol/rest/server.py    routes and exception_handlers
#   python/kserve/kserve/protocol/rest/v1_endpoints.py  model_ready/predict: ModelNotReady
#   python/kserve/kserve/protocol/rest/v2_endpoints.py  "if model_version: raise
#       NotImplementedError(...)" before the model is looked up
#   python/kserve/kserve/protocol/dataplane.py  get_model -> ModelNotFound(name)
KSERVE_ANSWERS: list[tuple[str, bytes | None, int, dict[str, Any] | None]] = [
    ("GET /v1/models/nope", None, 404, NOT_FOUND),
    ("POST /v1/models/nope:predict", v1([ROW]), 404, NOT_FOUND),
    ("POST /v1/models/nope:explain", v1([ROW]), 404, NOT_FOUND),
    ("GET /v2/models/nope", None, 404, NOT_FOUND),
    ("GET /v2/models/nope/ready", None, 404, NOT_FOUND),
    ("POST /v2/models/nope/infer", v2([1, 4], ROW), 404, NOT_FOUND),
    ("POST /v2/repository/models/nope/load", None, 404, NOT_FOUND),
    # Unknown model first, then the body: KServe checks readiness before decoding.
    ("POST /v1/models/nope:predict", b"{bad", 404, NOT_FOUND),
    ("GET /v2/models/iris/versions/1", None, 501, VERSIONING),
    ("GET /v2/models/nope/versions/1/ready", None, 501, VERSIONING),
    ("POST /v2/models/iris/versions/1/infer", v2([1, 4], ROW), 501, VERSIONING),
    # A model without an explainer: Model.explain raises NotImplementedError -> 501.
    ("POST /v1/models/iris:explain", v1([ROW]), 501, {"error": "Model iris has no explainer"}),
    # Method not allowed on a known path: FastAPI answers 405 too.
    ("GET /v2/models/iris/infer", None, 405, None),
    ("POST /v1/models/iris", None, 405, None),
    ("DELETE /v2", None, 405, None),
    # KServe: 404 "Model with name iris:predict does not exist." (Starlette matches the GET
    # to /v1/models/{model_name}); that names a model nobody asked for, so minikn says 405.
    ("GET /v1/models/iris:predict", None, 405, None),
    # Unknown paths: FastAPI writes {"detail": "Not Found"}; minikn keeps the protocol's
    # {"error": ...} key, which tritonclient and KServe's own clients read.
    ("GET /nope", None, 404, {"error": "Not Found: GET /nope"}),
    ("POST /v1/models/iris:frobnicate", None, 404, None),
    # KServe validates a V2 body with pydantic and FastAPI answers 422 {"detail": [...]}; the
    # Open Inference Protocol says errors are {"error": ...}, typically 400 (tritonclient
    # reads "error"), as for every other bad input above: minikn answers 400.
    ("POST /v2/models/iris/infer", b'{"inputs": [{"name": "x"}]}', 400, None),
]


@pytest.mark.parametrize(("request_line", "body", "status", "answer"), KSERVE_ANSWERS)
async def test_status_and_body_as_kserve_answers(
    iris: TestClient[Any, Any],
    request_line: str,
    body: bytes | None,
    status: int,
    answer: dict[str, Any] | None,
) -> None:
    method, path = request_line.split(" ")
    resp = await iris.request(method, path, data=body)
    got = await resp.json()
    assert resp.status == status, got
    assert list(got) == ["error"]
    if answer is not None:
        assert got == answer
    if status == 405:
        assert resp.headers["Allow"]
