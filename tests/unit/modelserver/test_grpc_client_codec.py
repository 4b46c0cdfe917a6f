"""A transformer's side of gRPC (pure): its payloads as ``ModelInferRequest``, the predictor's
``ModelInferResponse`` as the V2 JSON body, ``--predictor_host`` as a channel target."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from minikn.modelserver.errors import InvalidInput
from minikn.modelserver.grpc import grpc_predict_v2_pb2 as pb
from minikn.modelserver.grpc.client import grpc_target
from minikn.modelserver.grpc.codec import (
    decode_request,
    decode_response,
    encode_request,
    encode_response,
)
from minikn.modelserver.tensors import InferInput, InferRequest

from .test_grpc_codec import SAMPLES


@pytest.mark.parametrize("datatype", sorted(SAMPLES))
def test_an_infer_request_round_trips_raw_for_every_datatype(datatype: str) -> None:
    array = SAMPLES[datatype]
    payload = InferRequest("m", [InferInput("x", list(array.shape), datatype, array, {"k": 1})],
                           id="r1", parameters={"p": "v"})  # fmt: skip
    message = encode_request(payload, "m")
    assert len(message.raw_input_contents) == 1
    back = decode_request(message)
    assert back.id == "r1"
    assert back.parameters == {"p": "v"}
    assert back.inputs[0].parameters == {"k": 1}
    np.testing.assert_array_equal(back.inputs[0].data, array)
    assert back.inputs[0].data.dtype == array.dtype


def test_v1_instances_become_one_input_0_and_v2_json_inputs_keep_their_names() -> None:
    v1 = decode_request(encode_request({"instances": [[1.5, 2.0], [3.0, 4.0]]}, "m"))
    assert [(t.name, t.datatype, t.shape) for t in v1.inputs] == [("input-0", "FP64", [2, 2])]
    v2 = decode_request(encode_request(
        {"inputs": [{"name": "a", "shape": [2], "datatype": "BYTES", "data": ["x", "yz"]}]}, "m"
    ))  # fmt: skip
    assert v2.inputs[0].name == "a"
    assert v2.inputs[0].data.tolist() == [b"x", b"yz"]


@pytest.mark.parametrize("payload", [[1, 2], {"neither": 1}, "text", {"inputs": [3]}])
def test_a_payload_that_is_no_inference_request_is_invalid_input(payload: Any) -> None:
    with pytest.raises(InvalidInput):
        encode_request(payload, "m")


@pytest.mark.parametrize("raw", [True, False])
def test_a_response_decodes_to_the_v2_json_body_raw_or_typed(raw: bool) -> None:
    result = {"outputs": [
        {"name": "n", "shape": [2, 2], "datatype": "INT32", "data": [1, 2, 3, 4]},
        {"name": "s", "shape": [1], "datatype": "BYTES", "data": ["héllo"]},
    ]}  # fmt: skip
    body = decode_response(encode_response(result, "m", "id-1", raw=raw))
    assert body == {
        "model_name": "m",
        "id": "id-1",
        "outputs": [
            {"name": "n", "shape": [2, 2], "datatype": "INT32", "data": [1, 2, 3, 4]},
            {"name": "s", "shape": [1], "datatype": "BYTES", "data": ["héllo"]},
        ],
    }


def test_a_response_whose_raw_contents_miss_an_output_is_invalid() -> None:
    response = pb.ModelInferResponse(model_name="m")
    response.outputs.add(name="a", datatype="FP32", shape=[1])
    response.outputs.add(name="b", datatype="FP32", shape=[1])
    response.raw_output_contents.append(b"\x00\x00\x80?")
    with pytest.raises(InvalidInput):
        decode_response(response)


@pytest.mark.parametrize(
    ("host", "target"),
    [
        ("127.0.0.1:8080/_host/i-predictor.default", ("127.0.0.1:8080", "i-predictor.default")),
        ("http://localhost:9/_host/x-predictor.ns/", ("localhost:9", "x-predictor.ns")),
        ("iris-predictor.default", ("iris-predictor.default:80", None)),
        ("i-predictor.default.example.com:8080", ("i-predictor.default.example.com:8080", None)),
    ],
)  # fmt: skip
def test_the_predictor_host_gives_the_channel_target_and_authority(
    host: str, target: tuple[str, str | None]
) -> None:
    assert grpc_target(host) == target
