"""The V1 and V2 REST codecs: request bytes -> what ``DataPlane`` takes, its result -> a body.

They hold no state and know no model: decoding refuses malformed requests with
``InvalidInput`` (400) before a model sees them, encoding wraps a model's result as KServe's
server does. A gRPC codec would sit beside these, calling the same ``DataPlane``.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import numpy as np

from minikn.modelserver.errors import InvalidInput
from minikn.modelserver.jsonbody import decode_json
from minikn.modelserver.tensors import DATATYPES, InferRequest, encode_output, parse_infer

__all__ = ["binary_outputs", "decode_v1", "decode_v2", "encode_v1", "encode_v2", "encode_v2_binary"]


def decode_v1(body: bytes) -> dict[str, Any]:
    """A V1 ``:predict``/``:explain`` body: a JSON object whose ``instances``/``inputs``, when
    present, are lists (KServe: ``Expected "instances" to be a list``)."""
    payload = decode_json(body)
    if not isinstance(payload, dict):
        raise InvalidInput("Unrecognized request format: the body must be a JSON object")
    for key in ("instances", "inputs"):
        if key in payload and not isinstance(payload[key], list):
            raise InvalidInput(f'Expected "{key}" to be a list')
    return payload


def decode_v2(model_name: str, body: bytes, header_length: str | None) -> InferRequest:
    """A V2 ``infer`` body (JSON, or JSON + binary tensors after ``header_length`` bytes)."""
    return parse_infer(model_name, body, header_length)


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def encode_v1(result: Any) -> dict[str, Any]:
    """A V1 response: a model's own dict as is, else ``{"predictions": [...]}``."""
    if isinstance(result, dict):
        return result
    return {"predictions": _jsonable(result)}


def encode_v2(result: Any, model: str, request_id: str | None) -> dict[str, Any]:
    """A V2 response: a model's own dict completed, else one ``output-0`` tensor (as KServe)."""
    if isinstance(result, dict) and "outputs" in result:
        body = dict(result)
        body.setdefault("model_name", model)
        body.setdefault("model_version", None)
        body.setdefault("id", request_id or str(uuid.uuid4()))
        body.setdefault("parameters", None)
        return body
    return {
        "model_name": model,
        "model_version": None,
        "id": request_id or str(uuid.uuid4()),
        "parameters": None,
        "outputs": [encode_output("output-0", result)],
    }


def _true(params: Any, key: str) -> bool | None:
    value = params.get(key) if isinstance(params, dict) else None
    return None if value is None else bool(value)


def binary_outputs(request: InferRequest) -> tuple[bool, dict[str, bool]]:
    """Which outputs the client asked for as binary (the binary tensor extension): every
    output when the request has ``binary_data_output: true``, overridden per requested output
    by its ``binary_data`` (tritonclient's default asks for binary both ways)."""
    every = bool(_true(request.parameters, "binary_data_output"))
    each: dict[str, bool] = {}
    for output in request.outputs:
        flag = _true(output.get("parameters"), "binary_data")
        if flag is not None and isinstance(output.get("name"), str):
            each[output["name"]] = flag
    return every, each


def _raw(tensor: dict[str, Any]) -> bytes:
    if tensor["datatype"] == "BYTES":
        items = [str(v).encode() for v in tensor["data"]]
        return b"".join(len(b).to_bytes(4, "little") + b for b in items)
    dtype = np.dtype(DATATYPES[tensor["datatype"]]).newbyteorder("<")
    return np.asarray(tensor["data"], dtype=dtype).tobytes()


def encode_v2_binary(
    body: dict[str, Any], every: bool, each: dict[str, bool]
) -> tuple[bytes, int] | None:
    """A V2 response with the asked-for outputs as raw little-endian bytes after the JSON:
    the body and the JSON's length (the ``Inference-Header-Content-Length``); ``None`` when
    no output is to be binary."""
    chunks: list[bytes] = []
    outputs = []
    for tensor in body.get("outputs", []):
        if not each.get(tensor.get("name"), every) or "data" not in tensor:
            outputs.append(tensor)
            continue
        raw = _raw(tensor)
        chunks.append(raw)
        params = dict(tensor.get("parameters") or {})
        params["binary_data_size"] = len(raw)
        outputs.append({k: v for k, v in tensor.items() if k != "data"} | {"parameters": params})
    if not chunks:
        return None
    head = json.dumps({**body, "outputs": outputs}).encode()
    return head + b"".join(chunks), len(head)
