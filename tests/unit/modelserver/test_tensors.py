"""V2 tensor decoding and encoding."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from minikn.modelserver.errors import InvalidInput
from minikn.modelserver.tensors import encode_output, parse_infer


def body(**doc: object) -> bytes:
    return json.dumps(doc).encode()


def test_nested_and_flat_data_decode_to_the_shape() -> None:
    for data in ([[1, 2], [3, 4]], [1, 2, 3, 4]):
        req = parse_infer(
            "m",
            body(inputs=[{"name": "x", "shape": [2, 2], "datatype": "FP32", "data": data}]),
            None,
        )
        assert req.inputs[0].as_numpy().dtype == np.float32
        assert req.inputs[0].as_numpy().tolist() == [[1, 2], [3, 4]]


def test_id_and_parameters_are_kept() -> None:
    req = parse_infer(
        "m",
        body(
            id="7",
            parameters={"a": 1},
            inputs=[{"name": "x", "shape": [1], "datatype": "BYTES", "data": ["hi"]}],
        ),
        None,
    )
    assert (req.id, req.parameters) == ("7", {"a": 1})
    assert req.inputs[0].as_numpy().tolist() == ["hi"]


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"inputs": []}, "non-empty list"),
        ({"inputs": [{"name": "x", "shape": [2], "datatype": "FP32"}]}, "missing data"),
        ({"inputs": [{"name": "x", "datatype": "FP32", "data": [1]}]}, "missing shape"),
        (
            {"inputs": [{"name": "x", "shape": [3], "datatype": "FP32", "data": [1, 2]}]},
            "needs 3 elements",
        ),
        (
            {"inputs": [{"name": "x", "shape": [1], "datatype": "FP99", "data": [1]}]},
            "unsupported datatype",
        ),
        (
            {"inputs": [{"name": "x", "shape": [1], "datatype": "INT32", "data": ["a"]}]},
            "does not match",
        ),
        ({"inputs": [{"name": "x", "shape": "2", "datatype": "INT32", "data": [1, 2]}]}, "shape"),
        ({"inputs": ["x"]}, "must be an object"),
    ],
)
def test_bad_tensors_name_the_problem(doc: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_infer("m", json.dumps(doc).encode(), None)


def test_not_json_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="Unrecognized request format"):
        parse_infer("m", b"{nope", None)


def test_binary_inputs_follow_the_json_header() -> None:
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "x",
                    "shape": [2],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": 8},
                }
            ]
        }
    ).encode()
    raw = header + struct.pack("<2f", 1.5, 2.5)
    req = parse_infer("m", raw, str(len(header)))
    assert req.inputs[0].as_numpy().tolist() == [1.5, 2.5]


def test_encode_output_infers_datatype_and_shape() -> None:
    assert encode_output("output-0", np.array([1, 2], dtype=np.int64)) == {
        "name": "output-0",
        "shape": [2],
        "datatype": "INT64",
        "data": [1, 2],
    }
    assert encode_output("o", np.array([[0.5]]))["datatype"] == "FP64"
    assert encode_output("o", np.array(["a"]))["datatype"] == "BYTES"
