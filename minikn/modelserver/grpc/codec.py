"""The gRPC tensor codec: ``ModelInferRequest`` -> ``InferRequest``, a result -> a response.

Pure: protobuf messages and numpy in, protobuf messages and numpy out; every malformed request
is ``InvalidInput`` (INVALID_ARGUMENT) naming the input and the rule, before a model sees it.

The rules (KServe's ``grpc_predict_v2.proto`` and ``infer_type.py``, Triton's protocol docs):

- An input's data comes either from ``raw_input_contents[i]`` (one entry per input, in order)
  or from its typed ``contents``, never both in one request. Raw data is little-endian,
  row-major, unpadded; a BYTES element is a 4-byte little-endian length and the bytes.
- Typed contents use one repeated field per datatype (``_CONTENTS``); FP16 has none and must be
  raw. A narrow integer (INT8/16, UINT8/16) travels widened in ``int_contents``/
  ``uint_contents`` and is range-checked here.
- The element count must equal the shape's product.
- ``parameters`` (request, input, requested output) are ``bool``/``int64``/``string``; a value
  of a kind this proto does not know (newer Triton's ``double_param``/``uint64_param``) is
  dropped, not refused.
- Outputs are answered raw (``raw_output_contents``, what tritonclient's ``as_numpy`` reads)
  when the request came raw, when the request asks ``binary_data_output``, or when an output
  has no typed field (FP16); otherwise as typed ``contents``, as the client wrote its inputs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

import numpy as np

from minikn.modelserver.errors import InvalidInput
from minikn.modelserver.grpc import grpc_predict_v2_pb2 as pb
from minikn.modelserver.tensors import DATATYPES, InferInput, InferRequest, datatype_of

__all__ = [
    "decode_bytes",
    "decode_parameters",
    "decode_request",
    "decode_response",
    "encode_bytes",
    "encode_parameters",
    "encode_request",
    "encode_response",
    "raw_of",
]

# The typed-contents field of each datatype (FP16 has none: raw only).
_CONTENTS: dict[str, str] = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}
_LE = {k: np.dtype(v).newbyteorder("<") for k, v in DATATYPES.items() if k != "BYTES"}
_MAX_DIMS = 32  # numpy's bound on an array's dimensions


# -- parameters -----------------------------------------------------------------------------
def decode_parameters(params: Mapping[str, pb.InferParameter]) -> dict[str, Any]:
    """A protobuf parameter map -> ``{key: bool | int | str}``; unknown kinds are dropped."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        kind = value.WhichOneof("parameter_choice")
        if kind is not None:
            out[key] = getattr(value, kind)
    return out


def encode_parameters(
    target: MutableMapping[str, pb.InferParameter], params: Mapping[str, Any] | None
) -> None:
    """``{key: value}`` -> a protobuf parameter map (``bool``, ``int``, else its string)."""
    for key, value in (params or {}).items():
        if value is None:
            continue
        if isinstance(value, bool | np.bool_):
            target[key].bool_param = bool(value)
        elif isinstance(value, int | np.integer):
            target[key].int64_param = int(value)
        else:
            target[key].string_param = str(value)


# -- BYTES ------------------------------------------------------------------------------------
def decode_bytes(raw: bytes, name: str) -> np.ndarray[Any, Any]:
    """Length-prefixed BYTES elements -> an object array of ``bytes``."""
    items: list[bytes] = []
    pos, end = 0, len(raw)
    view = memoryview(raw)
    while pos < end:
        if pos + 4 > end:
            raise InvalidInput(f"input {name}: truncated BYTES length prefix at offset {pos}")
        size = int.from_bytes(view[pos : pos + 4], "little")
        pos += 4
        if pos + size > end:
            raise InvalidInput(f"input {name}: BYTES element of {size} bytes overruns the tensor")
        items.append(bytes(view[pos : pos + size]))
        pos += size
    array = np.empty(len(items), dtype=object)
    array[:] = items
    return array


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    return str(value).encode()


def encode_bytes(values: Iterable[Any]) -> bytes:
    """BYTES elements (``bytes``, ``str`` or anything ``str()``-able) -> length-prefixed bytes."""
    parts: list[bytes] = []
    for value in values:
        item = _as_bytes(value)
        parts.append(len(item).to_bytes(4, "little"))
        parts.append(item)
    return b"".join(parts)


# -- request ----------------------------------------------------------------------------------
def _shape(tensor: pb.ModelInferRequest.InferInputTensor) -> list[int]:
    shape = list(tensor.shape)
    if any(d < 0 for d in shape):
        raise InvalidInput(f"input {tensor.name}: shape {shape} must not be negative")
    if len(shape) > _MAX_DIMS:
        raise InvalidInput(
            f"input {tensor.name}: shape has {len(shape)} dimensions, at most {_MAX_DIMS}"
        )
    return shape


def _from_raw(raw: bytes, datatype: str, name: str) -> np.ndarray[Any, Any]:
    if datatype == "BYTES":
        return decode_bytes(raw, name)
    dtype = _LE[datatype]
    if len(raw) % dtype.itemsize:
        raise InvalidInput(
            f"input {name}: {len(raw)} raw bytes is not a whole number of {datatype} elements"
            f" ({dtype.itemsize} bytes each)"
        )
    # A copy, so the model may write into its input (frombuffer over bytes is read-only).
    return np.frombuffer(raw, dtype=dtype).astype(dtype.newbyteorder("="))


def _from_contents(tensor: pb.ModelInferRequest.InferInputTensor) -> np.ndarray[Any, Any]:
    datatype, name = tensor.datatype, tensor.name
    field = _CONTENTS.get(datatype)
    if field is None:
        raise InvalidInput(
            f"input {name}: {datatype} has no typed contents; send it in raw_input_contents"
        )
    values = getattr(tensor.contents, field)
    if datatype == "BYTES":
        array = np.empty(len(values), dtype=object)
        array[:] = list(values)
        return array
    target = np.dtype(DATATYPES[datatype])
    if field in ("int_contents", "uint_contents") and target.itemsize < 4:
        wide = np.asarray(values, dtype="int64")
        info = np.iinfo(target)
        if wide.size and (wide.min() < info.min or wide.max() > info.max):
            raise InvalidInput(
                f"input {name}: a value is outside {datatype}'s range [{info.min}, {info.max}]"
            )
        return wide.astype(target)
    return np.asarray(values, dtype=target)


def decode_request(request: pb.ModelInferRequest) -> InferRequest:
    """A ``ModelInferRequest`` -> the ``InferRequest`` the ``DataPlane`` runs."""
    if not request.inputs:
        raise InvalidInput("ModelInferRequest has no inputs")
    raw = request.raw_input_contents
    if raw and len(raw) != len(request.inputs):
        raise InvalidInput(
            f"raw_input_contents has {len(raw)} entries for {len(request.inputs)} inputs;"
            " give one per input, in order"
        )
    inputs: list[InferInput] = []
    for i, tensor in enumerate(request.inputs):
        name, datatype = tensor.name, tensor.datatype
        if datatype not in DATATYPES:
            raise InvalidInput(f"input {name}: unsupported datatype {datatype!r}")
        shape = _shape(tensor)
        if raw:
            if tensor.HasField("contents"):
                raise InvalidInput(
                    f"input {name}: contents must not be set when raw_input_contents is used"
                )
            array = _from_raw(raw[i], datatype, name)
        else:
            array = _from_contents(tensor)
        expected = math.prod(shape)
        if array.size != expected:
            raise InvalidInput(
                f"input {name}: shape {shape} needs {expected} elements, data has {array.size}"
            )
        params = decode_parameters(tensor.parameters)
        inputs.append(InferInput(name, shape, datatype, array.reshape(shape), params))
    outputs = [
        {"name": o.name, "parameters": decode_parameters(o.parameters)} for o in request.outputs
    ]
    return InferRequest(
        model_name=request.model_name,
        inputs=inputs,
        id=request.id or None,
        parameters=decode_parameters(request.parameters),
        outputs=outputs,
    )


def wants_raw(request: pb.ModelInferRequest) -> bool:
    """Whether the response's outputs go raw: the request was raw, or asked for binary."""
    if request.raw_input_contents:
        return True
    flag = request.parameters.get("binary_data_output")
    return (
        flag is not None
        and flag.WhichOneof("parameter_choice") == "bool_param"
        and (flag.bool_param)
    )


# -- response ---------------------------------------------------------------------------------
def _array(tensor: Mapping[str, Any]) -> tuple[np.ndarray[Any, Any], str]:
    """A JSON-form output tensor (a model's own V2 dict) -> its array and datatype."""
    datatype = tensor.get("datatype")
    data = tensor.get("data")
    if isinstance(data, np.ndarray):
        array = data
    elif datatype == "BYTES":
        array = np.empty(len(data) if isinstance(data, list) else 1, dtype=object)
        array[:] = data if isinstance(data, list) else [data]
    elif datatype in DATATYPES:
        array = np.asarray(data, dtype=DATATYPES[datatype])
    else:
        array = np.asarray(data)
    return array, datatype if datatype in DATATYPES else datatype_of(array)


def raw_of(array: np.ndarray[Any, Any], datatype: str) -> bytes:
    """An array -> its raw little-endian, row-major bytes as ``datatype``."""
    if datatype == "BYTES":
        return encode_bytes(array.reshape(-1).tolist())
    return np.ascontiguousarray(array, dtype=_LE[datatype]).tobytes()


def _typed(out: pb.ModelInferResponse.InferOutputTensor, array: Any, datatype: str) -> None:
    values = getattr(out.contents, _CONTENTS[datatype])
    flat = array.reshape(-1)
    if datatype == "BYTES":
        values.extend(_as_bytes(v) for v in flat.tolist())
    else:
        values.extend(flat.tolist())


def _outputs(result: Any) -> tuple[list[tuple[str, Any, str, dict[str, Any] | None]], Any]:
    """A model's result -> ``[(name, array, datatype, parameters)]`` and its own V2 body."""
    if isinstance(result, Mapping) and "outputs" in result:
        tensors = []
        for tensor in result["outputs"]:
            array, datatype = _array(tensor)
            shape = tensor.get("shape")
            if shape is not None:
                array = array.reshape(shape)
            tensors.append((str(tensor.get("name", "")), array, datatype, tensor.get("parameters")))
        return tensors, result
    array = result if isinstance(result, np.ndarray) else np.asarray(result)
    datatype = datatype_of(array)
    if datatype == "BYTES" and array.dtype != object:
        array = array.astype(object)  # numpy strings ('<U5') -> Python str elements
    return [("output-0", array, datatype, None)], None


def encode_response(
    result: Any, model_name: str, request_id: str | None, *, raw: bool
) -> pb.ModelInferResponse:
    """A model's result -> ``ModelInferResponse`` (one ``output-0`` for a bare array, as KServe;
    a model's own ``{"outputs": [...]}`` body tensor by tensor; a ready message as is)."""
    if isinstance(result, pb.ModelInferResponse):
        return result
    tensors, body = _outputs(result)
    raw = raw or any(datatype not in _CONTENTS for _, _, datatype, _ in tensors)
    response = pb.ModelInferResponse(model_name=model_name, id=request_id or "")
    if body is not None:
        response.model_name = str(body.get("model_name") or model_name)
        response.model_version = str(body.get("model_version") or "")
        response.id = str(body.get("id") or request_id or "")
        encode_parameters(response.parameters, body.get("parameters"))
    for name, array, datatype, params in tensors:
        out = response.outputs.add(name=name, datatype=datatype, shape=list(array.shape))
        encode_parameters(out.parameters, params)
        if raw:
            response.raw_output_contents.append(raw_of(array, datatype))
        else:
            _typed(out, array, datatype)
    return response


# -- the client's side (a transformer calling its predictor) -----------------------------------
def _v2_inputs(payload: Any) -> tuple[list[tuple[str, Any, str, dict[str, Any] | None]], Any]:
    """A transformer's preprocessed payload -> ``[(name, array, datatype, parameters)]`` and
    the request-level fields: an ``InferRequest``, a V2 ``{"inputs": [...]}`` dict, or a V1
    ``{"instances": rows}`` dict (one ``input-0`` tensor of the rows, as KServe's V2 servers
    name a lone input)."""
    if isinstance(payload, InferRequest):
        tensors = [(t.name, t.data, t.datatype, t.parameters or None) for t in payload.inputs]
        return tensors, {"id": payload.id, "parameters": payload.parameters}
    if isinstance(payload, Mapping) and isinstance(payload.get("inputs"), list):
        out = []
        for tensor in payload["inputs"]:
            if not isinstance(tensor, Mapping):
                raise InvalidInput("inputs: each input must be an object")
            array, datatype = _array(tensor)
            shape = tensor.get("shape")
            if shape is not None:
                array = array.reshape(shape)
            out.append((str(tensor.get("name", "")), array, datatype, tensor.get("parameters")))
        return out, payload
    if isinstance(payload, Mapping) and "instances" in payload:
        array = np.asarray(payload["instances"])
        datatype = datatype_of(array)
        if datatype == "BYTES" and array.dtype != object:
            array = array.astype(object)
        return [("input-0", array, datatype, None)], {}
    raise InvalidInput(
        "a transformer with --protocol grpc-v2 must pass its predictor an InferRequest, "
        'a {"inputs": [...]} or an {"instances": [...]} payload'
    )


def encode_request(payload: Any, model_name: str) -> pb.ModelInferRequest:
    """A transformer's payload -> ``ModelInferRequest``, every input raw (as tritonclient and
    KServe's ``InferenceGRPCClient`` send them)."""
    tensors, fields = _v2_inputs(payload)
    request = pb.ModelInferRequest(model_name=model_name, id=str(fields.get("id") or ""))
    encode_parameters(request.parameters, fields.get("parameters"))
    for name, array, datatype, params in tensors:
        if datatype not in DATATYPES:
            raise InvalidInput(f"input {name}: unsupported datatype {datatype!r}")
        tensor = request.inputs.add(name=name, datatype=datatype, shape=list(array.shape))
        encode_parameters(tensor.parameters, params)
        request.raw_input_contents.append(raw_of(array, datatype))
    return request


def _jsonable(values: list[Any]) -> list[Any]:
    return [v.decode(errors="replace") if isinstance(v, bytes) else v for v in values]


def decode_response(response: pb.ModelInferResponse) -> dict[str, Any]:
    """``ModelInferResponse`` -> the V2 JSON body REST would have answered (``data`` flat, BYTES
    as text), so a transformer's postprocess reads both protocols alike."""
    raw = response.raw_output_contents
    if raw and len(raw) != len(response.outputs):
        raise InvalidInput(
            f"raw_output_contents has {len(raw)} entries for {len(response.outputs)} outputs"
        )
    outputs = []
    for i, tensor in enumerate(response.outputs):
        name, datatype = tensor.name, tensor.datatype
        if datatype not in DATATYPES:
            raise InvalidInput(f"output {name}: unsupported datatype {datatype!r}")
        array = _from_raw(raw[i], datatype, name) if raw else _from_contents(tensor)  # type: ignore[arg-type]
        entry: dict[str, Any] = {
            "name": name,
            "shape": list(tensor.shape),
            "datatype": datatype,
            "data": _jsonable(array.reshape(-1).tolist()),
        }
        params = decode_parameters(tensor.parameters)
        if params:
            entry["parameters"] = params
        outputs.append(entry)
    body: dict[str, Any] = {"model_name": response.model_name, "id": response.id}
    if response.model_version:
        body["model_version"] = response.model_version
    params = decode_parameters(response.parameters)
    if params:
        body["parameters"] = params
    body["outputs"] = outputs
    return body
