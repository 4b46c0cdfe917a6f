"""Open Inference Protocol (V2) tensors: request decoding and response encoding.

Decoding validates what KServe's pydantic models validate (name, shape, datatype, data present;
element count equals the shape's product) and answers ``InvalidInput`` naming the input and the
rule, so a bad request is a 400 with what is wrong. Binary tensor data (the
``Inference-Header-Content-Length`` extension) is accepted for inputs; ``codec.py`` writes
binary outputs when they are asked for.

Where KServe answers 422 (FastAPI's schema validation of ``InferenceRequest``, body
``{"detail": [...]}``) or 500 (``InferInput.as_numpy``'s reshape ``ValueError`` when the shape's
product is not the data's length), minikn answers 400 ``{"error": ...}``: the Open Inference
Protocol says errors are ``{"error": ...}``, typically 400, and clients such as tritonclient
read only that key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from minikn.modelserver.errors import InvalidInput
from minikn.modelserver.jsonbody import decode_json

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


_END = object()


def _flatten(data: Any) -> list[Any]:
    """Row-major elements of flat or nested ``data``; iterative, so no nesting depth can
    exhaust the stack, and a row of scalars is copied in one step."""
    if not isinstance(data, list):
        return [data]
    if not data or not isinstance(data[0], list):
        return data
    out: list[Any] = []
    stack: list[Any] = [iter(data)]
    while stack:
        item = next(stack[-1], _END)
        if item is _END:
            stack.pop()
        elif isinstance(item, list):
            if item and not isinstance(item[0], list):
                out.extend(item)
            else:
                stack.append(iter(item))
        else:
            out.append(item)
    return out


def _from_binary(raw: bytes, datatype: str, name: str) -> np.ndarray[Any, Any]:
    if datatype == "BYTES":
        items: list[bytes] = []
        pos = 0
        while pos < len(raw):
            size = int.from_bytes(raw[pos : pos + 4], "little")
            if pos + 4 + size > len(raw):
                raise InvalidInput(f"input {name}: truncated BYTES element")
            items.append(raw[pos + 4 : pos + 4 + size])
            pos += 4 + size
        return np.array(items, dtype=object)
    dtype = np.dtype(DATATYPES[datatype]).newbyteorder("<")
    if len(raw) % dtype.itemsize:
        raise InvalidInput(
            f"input {name}: {len(raw)} bytes is not a whole number of {datatype} elements"
        )
    return np.frombuffer(raw, dtype=dtype).copy()


def _from_json(data: Any, datatype: str, name: str) -> np.ndarray[Any, Any]:
    try:
        return np.asarray(_flatten(data), dtype=DATATYPES[datatype])
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidInput(f"input {name}: data does not match datatype {datatype}: {exc}") from exc


def _decode_input(
    item: Any, index: int, binary: memoryview | None, offset: int
) -> tuple[InferInput, int]:
    if not isinstance(item, dict):
        raise InvalidInput(f"inputs[{index}]: must be an object with name, shape, datatype, data")
    missing = [k for k in ("name", "shape", "datatype") if k not in item]
    if missing:
        raise InvalidInput(f"inputs[{index}]: missing {', '.join(missing)}")
    name, shape, datatype = item["name"], item["shape"], item["datatype"]
    if not isinstance(name, str):
        raise InvalidInput(f"inputs[{index}]: name must be a string")
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise InvalidInput(f"input {name}: shape {shape!r} must be a list of non-negative ints")
    if len(shape) > _MAX_DIMS:
        raise InvalidInput(f"input {name}: shape has {len(shape)} dimensions, at most {_MAX_DIMS}")
    if datatype not in DATATYPES:
        raise InvalidInput(f"input {name}: unsupported datatype {datatype!r}")
    params = item.get("parameters") or {}
    if not isinstance(params, dict):
        raise InvalidInput(f"input {name}: parameters must be an object")
    size = params.get("binary_data_size")
    if size is not None:
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise InvalidInput(f"input {name}: binary_data_size must be a non-negative int")
        if binary is None or offset + size > len(binary):
            raise InvalidInput(f"input {name}: binary_data_size {size} exceeds the binary body")
        array = _from_binary(bytes(binary[offset : offset + size]), datatype, name)
        offset += size
    elif "data" not in item:
        raise InvalidInput(f"input {name}: missing data")
    else:
        array = _from_json(item["data"], datatype, name)
    expected = math.prod(shape)
    if array.size != expected:
        raise InvalidInput(
            f"input {name}: shape {shape} needs {expected} elements, data has {array.size}"
        )
    return InferInput(name, shape, datatype, array.reshape(shape), params), offset


# numpy's own bound on an array's dimensions (32 before numpy 2).
_MAX_DIMS = 32


def parse_infer(model_name: str, body: bytes, header_length: str | None) -> InferRequest:
    """A V2 request body (JSON, or JSON + binary tensors) -> ``InferRequest``."""
    binary: memoryview | None = None
    if header_length is not None:
        try:
            split = int(header_length)
        except ValueError as exc:
            raise InvalidInput("inference-header-content-length must be an integer") from exc
        if not 0 <= split <= len(body):
            raise InvalidInput(
                f"inference-header-content-length {split} is outside the body ({len(body)} bytes)"
            )
        binary = memoryview(body)[split:]
        body = body[:split]
    doc = decode_json(body)
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
    parameters = doc.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise InvalidInput('Expected "parameters" to be an object')
    outputs = doc.get("outputs") or []
    if not isinstance(outputs, list) or not all(isinstance(o, dict) for o in outputs):
        raise InvalidInput('Expected "outputs" to be a list of objects')
    return InferRequest(
        model_name=model_name,
        inputs=inputs,
        id=None if request_id is None else str(request_id),
        parameters=parameters,
        outputs=outputs,
    )


_DATATYPE_OF: dict[np.dtype[Any], str] = {}
"""``datatype_of`` by dtype (a dtype's ``name`` is computed in Python on every access)."""


def datatype_of(array: np.ndarray[Any, Any]) -> str:
    """The V2 datatype of a numpy array (strings and objects are BYTES)."""
    dtype = array.dtype
    datatype = _DATATYPE_OF.get(dtype)
    if datatype is None:
        datatype = _BY_KIND.get(dtype.name, "BYTES")
        if len(_DATATYPE_OF) < 256:  # string dtypes differ by length: bounded
            _DATATYPE_OF[dtype] = datatype
    return datatype


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
