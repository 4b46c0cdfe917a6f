"""The gRPC tensor codec: every OIP datatype raw and typed, BYTES prefixes, parameters, and the
requests it refuses (each an ``InvalidInput``, INVALID_ARGUMENT on the wire)."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import pytest

from minikn.modelserver.errors import (
    InferenceError,
    InvalidInput,
    ModelNotFound,
    ModelNotReady,
    NotImplementedByModel,
    PayloadTooLarge,
    ServerNotReady,
)
from minikn.modelserver.grpc import grpc_predict_v2_pb2 as pb
from minikn.modelserver.grpc.codec import (
    decode_bytes,
    decode_parameters,
    decode_request,
    encode_bytes,
    encode_response,
    wants_raw,
)
from minikn.modelserver.grpc.servicer import grpc_status
from minikn.wire.grpc import GrpcStatus

# One sample per datatype, with each type's extremes where it has them.
SAMPLES: dict[str, np.ndarray[Any, Any]] = {
    "BOOL": np.array([[True, False], [False, True]]),
    "UINT8": np.array([[0, 255], [1, 2]], dtype=np.uint8),
    "UINT16": np.array([[0, 65535], [1, 2]], dtype=np.uint16),
    "UINT32": np.array([[0, 2**32 - 1], [1, 2]], dtype=np.uint32),
    "UINT64": np.array([[0, 2**64 - 1], [1, 2]], dtype=np.uint64),
    "INT8": np.array([[-128, 127], [0, -1]], dtype=np.int8),
    "INT16": np.array([[-(2**15), 2**15 - 1], [0, -1]], dtype=np.int16),
    "INT32": np.array([[-(2**31), 2**31 - 1], [0, -1]], dtype=np.int32),
    "INT64": np.array([[-(2**63), 2**63 - 1], [0, -1]], dtype=np.int64),
    "FP16": np.array([[0.5, -1.25], [65504.0, 0.0]], dtype=np.float16),
    "FP32": np.array([[0.5, -1.25], [3.4e38, 1e-45]], dtype=np.float32),
    "FP64": np.array([[0.5, -1.25], [1.7e308, 5e-324]], dtype=np.float64),
}
BYTES = np.array([[b"a", b""], ["héllo".encode(), bytes(range(256))]], dtype=object)
TYPED_FIELD = {
    "BOOL": "bool_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
}


def raw_request(*tensors: tuple[str, str, list[int], bytes]) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name="m")
    for name, datatype, shape, raw in tensors:
        request.inputs.add(name=name, datatype=datatype, shape=shape)
        request.raw_input_contents.append(raw)
    return request


def typed_request(name: str, datatype: str, shape: list[int], field: str, values: Any) -> Any:
    request = pb.ModelInferRequest(model_name="m")
    tensor = request.inputs.add(name=name, datatype=datatype, shape=shape)
    getattr(tensor.contents, field).extend(values)
    return request


@pytest.mark.parametrize("datatype", sorted(SAMPLES))
def test_raw_inputs_of_every_numeric_datatype_decode_little_endian(datatype: str) -> None:
    sample = SAMPLES[datatype]
    raw = sample.astype(sample.dtype.newbyteorder("<")).tobytes()
    decoded = decode_request(raw_request(("x", datatype, [2, 2], raw)))
    tensor = decoded.inputs[0]
    assert (tensor.name, tensor.datatype, tensor.shape) == ("x", datatype, [2, 2])
    assert tensor.data.dtype == sample.dtype
    np.testing.assert_array_equal(tensor.data, sample)
    tensor.data[0, 0] = tensor.data[1, 1]  # a writable copy, not a view of the message


def test_raw_bytes_input_reads_length_prefixes() -> None:
    decoded = decode_request(raw_request(("s", "BYTES", [2, 2], encode_bytes(BYTES.ravel()))))
    assert decoded.inputs[0].data.tolist() == BYTES.tolist()


@pytest.mark.parametrize("datatype", sorted(TYPED_FIELD))
def test_typed_contents_of_every_datatype_but_fp16_decode(datatype: str) -> None:
    sample = SAMPLES[datatype]
    request = typed_request("x", datatype, [2, 2], TYPED_FIELD[datatype], sample.ravel().tolist())
    tensor = decode_request(request).inputs[0]
    assert tensor.data.dtype == sample.dtype
    np.testing.assert_array_equal(tensor.data, sample)


def test_typed_bytes_contents_decode() -> None:
    request = typed_request("s", "BYTES", [2, 2], "bytes_contents", BYTES.ravel().tolist())
    assert decode_request(request).inputs[0].data.tolist() == BYTES.tolist()


def test_encode_bytes_writes_four_byte_little_endian_prefixes() -> None:
    assert encode_bytes([b"ab", "é", b"", 7]) == (
        b"\x02\x00\x00\x00ab"
        + b"\x02\x00\x00\x00\xc3\xa9"
        + b"\x00\x00\x00\x00"
        + b"\x01\x00\x00\x007"
    )
    assert decode_bytes(b"\x00\x00\x00\x00", "s").tolist() == [b""]


@pytest.mark.parametrize(
    ("request_", "words"),
    [
        (
            raw_request(("x", "FP32", [2, 3], b"\0" * 16)),
            "shape [2, 3] needs 6 elements, data has 4",
        ),
        (raw_request(("x", "FP32", [1], b"\0" * 6)), "not a whole number of FP32"),
        (raw_request(("x", "FP16", [3], b"\0" * 4)), "needs 3 elements, data has 2"),
        (raw_request(("x", "FP128", [1], b"")), "unsupported datatype 'FP128'"),
        (raw_request(("x", "FP32", [-1], b"")), "must not be negative"),
        (raw_request(("x", "FP32", [1] * 33, b"\0" * 4)), "33 dimensions"),
        (raw_request(("s", "BYTES", [1], b"\x05\x00\x00\x00abc")), "overruns"),
        (raw_request(("s", "BYTES", [1], b"\x01\x00\x00\x00a\x00")), "truncated BYTES length"),
        (typed_request("x", "FP16", [1], "fp32_contents", [1.0]), "raw_input_contents"),
        (typed_request("x", "INT8", [1], "int_contents", [128]), "outside INT8's range"),
        (typed_request("x", "UINT16", [1], "uint_contents", [65536]), "outside UINT16's range"),
        (typed_request("x", "INT32", [2], "int_contents", [1]), "needs 2 elements, data has 1"),
        (typed_request("x", "FP32", [2], "fp64_contents", [1.0, 2.0]), "data has 0"),
        (pb.ModelInferRequest(model_name="m"), "no inputs"),
    ],
)
def test_malformed_requests_are_invalid_input(request_: Any, words: str) -> None:
    with pytest.raises(InvalidInput, match=words.replace("[", r"\[").replace("]", r"\]")):
        decode_request(request_)


def test_raw_contents_must_cover_every_input_and_exclude_typed_contents() -> None:
    request = raw_request(("a", "INT32", [1], b"\1\0\0\0"))
    request.inputs.add(name="b", datatype="INT32", shape=[1])
    with pytest.raises(InvalidInput, match="1 entries for 2 inputs"):
        decode_request(request)
    request = raw_request(("a", "INT32", [1], b"\1\0\0\0"))
    request.inputs[0].contents.int_contents.append(1)
    with pytest.raises(InvalidInput, match="contents must not be set"):
        decode_request(request)


def test_parameters_at_every_level_decode_and_unknown_kinds_are_dropped() -> None:
    request = raw_request(("x", "INT32", [1], b"\1\0\0\0"))
    request.id = "r-1"
    request.parameters["flag"].bool_param = True
    request.parameters["n"].int64_param = -3
    request.parameters["s"].string_param = "pd"
    # newer Triton's double_param (field 4), unknown to KServe's proto
    request.parameters["d"].CopyFrom(pb.InferParameter.FromString(b"\x21" + struct.pack("<d", 1.5)))
    request.inputs[0].parameters["content_type"].string_param = "np"
    out = request.outputs.add(name="y")
    out.parameters["binary_data"].bool_param = False
    decoded = decode_request(request)
    assert decoded.id == "r-1"
    assert decoded.parameters == {"flag": True, "n": -3, "s": "pd"}
    assert decoded.inputs[0].parameters == {"content_type": "np"}
    assert decoded.outputs == [{"name": "y", "parameters": {"binary_data": False}}]
    assert decode_parameters(pb.ModelInferRequest().parameters) == {}


def test_outputs_go_raw_when_the_request_was_raw_or_asked_for_binary() -> None:
    assert wants_raw(raw_request(("x", "INT32", [1], b"\1\0\0\0")))
    typed = typed_request("x", "INT32", [1], "int_contents", [1])
    assert not wants_raw(typed)
    typed.parameters["binary_data_output"].bool_param = True
    assert wants_raw(typed)


@pytest.mark.parametrize("datatype", sorted(SAMPLES))
def test_a_bare_array_result_is_one_raw_output_0(datatype: str) -> None:
    sample = SAMPLES[datatype]
    response = encode_response(sample, "m", "r-1", raw=True)
    assert (response.model_name, response.id) == ("m", "r-1")
    (out,) = response.outputs
    assert (out.name, out.datatype, list(out.shape)) == ("output-0", datatype, [2, 2])
    assert (
        response.raw_output_contents[0] == sample.astype(sample.dtype.newbyteorder("<")).tobytes()
    )
    assert not out.HasField("contents")


@pytest.mark.parametrize("datatype", sorted(TYPED_FIELD))
def test_a_typed_request_gets_typed_contents(datatype: str) -> None:
    sample = SAMPLES[datatype]
    response = encode_response(sample, "m", None, raw=False)
    assert not response.raw_output_contents
    values = getattr(response.outputs[0].contents, TYPED_FIELD[datatype])
    np.testing.assert_array_equal(np.asarray(values, dtype=sample.dtype), sample.ravel())


def test_fp16_outputs_make_the_whole_response_raw() -> None:
    body = {
        "outputs": [
            {"name": "a", "shape": [2], "datatype": "FP16", "data": [0.5, 1.0]},
            {"name": "b", "shape": [1], "datatype": "INT32", "data": [7]},
        ]
    }
    response = encode_response(body, "m", None, raw=False)
    assert list(response.raw_output_contents) == [
        np.array([0.5, 1.0], dtype="<f2").tobytes(),
        b"\x07\x00\x00\x00",
    ]


def test_strings_are_bytes_outputs_raw_and_typed() -> None:
    words = np.array(["setosa", "versicolor"])
    raw = encode_response(words, "m", None, raw=True)
    assert raw.outputs[0].datatype == "BYTES"
    assert raw.raw_output_contents[0] == encode_bytes([b"setosa", b"versicolor"])
    typed = encode_response(words, "m", None, raw=False)
    assert list(typed.outputs[0].contents.bytes_contents) == [b"setosa", b"versicolor"]


def test_a_models_own_v2_body_keeps_names_parameters_and_ids() -> None:
    body = {
        "id": "own",
        "model_version": "3",
        "parameters": {"flag": True, "n": 2, "s": "x", "none": None},
        "outputs": [
            {
                "name": "probs",
                "shape": [1, 2],
                "datatype": "FP32",
                "parameters": {"content_type": "np"},
                "data": [[0.25, 0.75]],
            },
            {"name": "label", "shape": [1], "datatype": "BYTES", "data": ["b"]},
        ],
    }
    response = encode_response(body, "m", "req", raw=True)
    assert (response.id, response.model_version) == ("own", "3")
    assert decode_parameters(response.parameters) == {"flag": True, "n": 2, "s": "x"}
    probs, label = response.outputs
    assert (probs.name, list(probs.shape)) == ("probs", [1, 2])
    assert (label.name, label.datatype) == ("label", "BYTES")
    assert decode_parameters(probs.parameters) == {"content_type": "np"}
    assert response.raw_output_contents[0] == np.array([0.25, 0.75], dtype="<f4").tobytes()
    assert decode_bytes(response.raw_output_contents[1], "label").tolist() == [b"b"]


def test_a_ready_response_message_passes_through() -> None:
    ready = pb.ModelInferResponse(model_name="own")
    assert encode_response(ready, "m", None, raw=True) is ready


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (InvalidInput("bad"), GrpcStatus.INVALID_ARGUMENT),
        (ModelNotFound("m"), GrpcStatus.NOT_FOUND),
        (ModelNotReady("m"), GrpcStatus.UNAVAILABLE),
        (ServerNotReady(), GrpcStatus.UNAVAILABLE),
        (PayloadTooLarge("big"), GrpcStatus.RESOURCE_EXHAUSTED),
        (NotImplementedByModel("no"), GrpcStatus.UNIMPLEMENTED),
        (NotImplementedError("no"), GrpcStatus.UNIMPLEMENTED),
        (InferenceError("boom"), GrpcStatus.INTERNAL),
        (ZeroDivisionError("division by zero"), GrpcStatus.INTERNAL),
    ],
)
def test_errors_map_to_kserves_status_codes(exc: Exception, code: GrpcStatus) -> None:
    assert grpc_status(exc)[0] is code


def test_status_messages_carry_the_reason() -> None:
    assert grpc_status(ModelNotFound("m"))[1] == "Model with name m does not exist."
    assert grpc_status(ZeroDivisionError("division by zero"))[1] == (
        "ZeroDivisionError : division by zero"
    )
