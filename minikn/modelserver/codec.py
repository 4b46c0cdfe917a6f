"""The V1 and V2 REST codecs: request bytes -> what ``DataPlane`` takes, its result -> a body.

They hold no state and know no model: decoding refuses malformed requests with
``InvalidInput`` (400) before a model sees them, encoding wraps a model's result as KServe's
server does. A gRPC codec would sit beside these, calling the same ``DataPlane``.
"""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np

from minikn.modelserver.errors import InvalidInput
from minikn.modelserver.jsonbody import decode_json
from minikn.modelserver.tensors import InferRequest, encode_output, parse_infer

__all__ = ["decode_v1", "decode_v2", "encode_v1", "encode_v2"]


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
