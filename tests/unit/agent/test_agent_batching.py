"""KServe's batcher shapes: what batches, bad bodies, splitting an answer (pure)."""

from __future__ import annotations

import json

import pytest

from minikn.activator.agent.batching import (
    SIZE_MISMATCH,
    is_batchable,
    parse_instances,
    split_answer,
)
from minikn.activator.agent.types import UpstreamResponse, json_response


@pytest.mark.parametrize(
    ("method", "path", "batchable"),
    [
        ("POST", "/v1/models/iris:predict", True),
        ("post", "/v1/models/iris:predict?x=1", True),
        ("POST", "/v1/models/iris:explain", False),
        ("POST", "/v2/models/iris/infer", False),
        ("GET", "/v1/models/iris", False),
        ("GET", "/v1/models/iris:predict", False),
    ],
)
def test_only_v1_predict_posts_batch(method: str, path: str, batchable: bool) -> None:
    assert is_batchable(method, path) is batchable


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "can't Unmarshal body"),
        (b"[1, 2]", "can't Unmarshal body"),
        (b'{"instances": "x"}', "can't Unmarshal body"),
        (b"\xff\xfe", "can't Unmarshal body"),
        (b"{}", "no instances in the request"),
        (b"null", "no instances in the request"),
        (b'{"instances": []}', "no instances in the request"),
    ],
)
def test_unbatchable_bodies_get_kserves_400(body: bytes, message: str) -> None:
    answer = parse_instances(body)
    assert isinstance(answer, UpstreamResponse)
    assert answer.status == 400
    assert answer.body == f"{message}\n".encode()
    assert answer.content_type.startswith("text/plain")


def test_instances_are_returned_as_sent() -> None:
    assert parse_instances(b'{"instances": [[1, 2], {"a": 1}]}') == [[1, 2], {"a": 1}]


def _json(answer: UpstreamResponse) -> object:
    return json.loads(answer.body)


def test_split_gives_each_caller_its_slice_in_order() -> None:
    upstream = json_response(200, {"predictions": ["a", "b", "c"]})
    answers = split_answer(upstream, [2, 1], "bid")
    assert [a.status for a in answers] == [200, 200]
    assert [_json(a) for a in answers] == [
        {"message": "", "batchId": "bid", "predictions": ["a", "b"]},
        {"message": "", "batchId": "bid", "predictions": ["c"]},
    ]


@pytest.mark.parametrize(
    ("upstream", "message", "batch_id", "strict_status"),
    [
        (UpstreamResponse(500, {}, b"model exploded"), "model exploded", "", 500),
        (json_response(200, {"predictions": ["a"]}), SIZE_MISMATCH, "bid", 502),
        (json_response(200, {"outputs": []}), SIZE_MISMATCH, "bid", 502),
        (json_response(200, ["a", "b", "c"]), SIZE_MISMATCH, "bid", 502),
    ],
)
def test_failed_batch_answers_every_caller_like_kserve(
    upstream: UpstreamResponse, message: str, batch_id: str, strict_status: int
) -> None:
    answers = split_answer(upstream, [2, 1], "bid")
    assert [a.status for a in answers] == [200, 200]
    for answer in answers:
        assert _json(answer) == {"message": message, "batchId": batch_id, "predictions": None}
    strict = split_answer(upstream, [2, 1], "bid", strict_errors=True)
    assert [a.status for a in strict] == [strict_status, strict_status]


def test_undecodable_answer_reports_the_decode_error() -> None:
    [answer] = split_answer(UpstreamResponse(200, {}, b"{oops"), [1], "bid")
    doc = _json(answer)
    assert isinstance(doc, dict)
    assert doc["predictions"] is None
    assert doc["batchId"] == "bid"
    assert "Expecting property name" in doc["message"]
