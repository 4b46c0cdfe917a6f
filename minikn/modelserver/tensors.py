"""Open Inference Protocol (V2) tensors: request decoding and response encoding.

Decoding validates what KServe's pydantic models validate (name, shape, datatype, data present;
element count equals the shape's product) and answers ``InvalidInput`` naming the input and the
rule, so a bad request is a 400 with what is wrong. Binary tensor data (the
``Inference-Header-Content-Length`` extension) is accepted for inputs.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from minikn.modelserver.errors import InvalidInput

__all__ = ["DATATYPES", "InferInput", "InferRequest", "datatype_of", "encode_output", "parse_infer"]

DATATYPES: dict[str, str] = {
    "BOOL": "bool",
    "UINT8": "uint8",
    "UINT16": "uint16",
    "UINT32": "uint32",
    "UINT64": "uint64",
    "INT8": "int8",
    "INT16": "int16",
    "INT32": "int32",
    "INT64": "int64",
    "FP16": "float16",
    "FP32": "float32",
    "FP64": "float64",
    "BYTES": "object",
}
_BY_KIND = {np.dtype(v).name: k for k, v in DATATYPES.items() if k != "BYTES"}


@dataclass
class InferInput:
    """One decoded input tensor."""

    name: str
    shape: list[int]
    datatype: str
    data: np.ndarray[Any, Any]
    parameters: dict[str, Any] = field(default_factory=dict)

    def as_numpy(self) -> np.ndarray[Any, Any]:
        return self.data


@dataclass
class InferRequest:
    """A decoded V2 inference request."""

    model_name: str
    inputs: list[InferInput]
    id: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    outputs: list[dict[str, Any]] = field(default_factory=list)


def _flatten(data: Any) -> list[Any]:
    if isinstance(data, list) and data and isinstance(data[0], list):
        out: list[Any] = []
        for item in data:
            out.extend(_flatten(item) if isinstance(item, list) else [item])
        return out
    return data if isinstance(data, list) else [data]


def _from_binary(raw: bytes, datatype: str, name: str) -> np.ndarray[Any, Any]:
    if datatype == "BYTES":
        items: list[bytes] = []
        pos = 0
        while pos < len(raw):
            if pos + 4 > len(raw):
                raise InvalidInput(f"input {name}: truncated BYTES element")
            size = int.from_bytes(raw[pos : pos + 4], "little")
            items.append(raw[pos + 4 : pos + 4 + size])
            pos += 4 + size
        return np.array(items, dtype=object)
    return np.frombuffer(raw, dtype=np.dtype(DATATYPES[datatype]).newbyteorder("<")).copy()


def _decode_input(
    item: Any, index: int, binary: memoryview | None, offset: int
) -> tuple[InferInput, int]:
    if not isinstance(item, dict):
        raise InvalidInput(f"inputs[{index}]: must be an object with name, shape, datatype, data")
    missing = [k for k in ("name", "shape", "datatype") if k not in item]
    if missing:
        raise InvalidInput(f"inputs[{index}]: missing {', '.join(missing)}")
    name, shape, datatype = item["name"], item["shape"], item["datatype"]
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise InvalidInput(f"input {name}: shape {shape!r} must be a list of non-negative ints")
    if datatype not in DATATYPES:
        raise InvalidInput(f"input {name}: unsupported datatype {datatype!r}")
    params = item.get("parameters") or {}
    size = params.get("binary_data_size")
    if size is not None:
        if binary is None or offset + int(size) > len(binary):
            raise InvalidInput(f"input {name}: binary_data_size {size} exceeds the binary body")
        array = _from_binary(bytes(binary[offset : offset + int(size)]), datatype, name)
        offset += int(size)
    else:
        if "data" not in item:
            raise InvalidInput(f"input {name}: missing data")
        flat = _flatten(item["data"])
        try:
            array = np.asarray(flat, dtype=DATATYPES[datatype])
        except (TypeError, ValueError) as exc:
            raise InvalidInput(
                f"input {name}: data does not match datatype {datatype}: {exc}"
            ) from exc
    expected = math.prod(shape)
    if array.size != expected:
        raise InvalidInput(
            f"input {name}: shape {shape} needs {expected} elements, data has {array.size}"
        )
    return InferInput(name, shape, datatype, array.reshape(shape), params), offset


def parse_infer(model_name: str, body: bytes, header_length: str | None) -> InferRequest:
    """A V2 request body (JSON, or JSON + binary tensors) -> ``InferRequest``."""
    binary: memoryview | None = None
    if header_length is not None:
        try:
            split = int(header_length)
        except ValueError as exc:
            raise InvalidInput("inference-header-content-length must be an integer") from exc
        binary = memoryview(body)[split:]
        body = body[:split]
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"Unrecognized request format: {exc}") from exc
    if not isinstance(doc, dict):
        raise InvalidInput("Unrecognized request format: the body must be a JSON object")
    raw_inputs = doc.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise InvalidInput('Expected "inputs" to be a non-empty list of tensors')
    inputs: list[InferInput] = []
    offset = 0
    for i, item in enumerate(raw_inputs):
        tensor, offset = _decode_input(item, i, binary, offset)
        inputs.append(tensor)
    request_id = doc.get("id")
    return InferRequest(
        model_name=model_name,
        inputs=inputs,
        id=None if request_id is None else str(request_id),
        parameters=doc.get("parameters") or {},
        outputs=doc.get("outputs") or [],
    )


def datatype_of(array: np.ndarray[Any, Any]) -> str:
    """The V2 datatype of a numpy array (strings and objects are BYTES)."""
    return _BY_KIND.get(array.dtype.name, "BYTES")


def encode_output(name: str, value: Any) -> dict[str, Any]:
    """A result (numpy array, list or scalar) -> a V2 output tensor in JSON form."""
    array = value if isinstance(value, np.ndarray) else np.asarray(value)
    datatype = datatype_of(array)
    flat = array.reshape(-1)
    if datatype == "BYTES":
        data: list[Any] = [v.decode() if isinstance(v, bytes) else str(v) for v in flat]
    else:
        data = flat.tolist()
    return {"name": name, "shape": list(array.shape), "datatype": datatype, "data": data}
