"""Pure parts of KServe's V1 batcher: which requests batch, parsing, and splitting the answer.

Shapes mirror KServe's agent (``pkg/batcher/handler.go``). Each caller receives
``{"message": "", "batchId": "<uuid>", "predictions": [...its slice...]}`` with HTTP 200. A failed
batch answers every caller with ``predictions: null`` and ``message`` set to the replica's body
(replica status not 200; ``batchId`` is then empty), the JSON decode error, or
``"size of prediction is not equal to the size of instances"``. KServe writes those failures with
HTTP 200 too; minikn keeps that by default (clients written against KServe read ``message``) and
answers with the replica's status (or 502) instead when ``strict_errors`` is set.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from minikn.activator.agent.types import UpstreamResponse, json_response

__all__ = [
    "SIZE_MISMATCH",
    "is_batchable",
    "parse_instances",
    "split_answer",
]

SIZE_MISMATCH = "size of prediction is not equal to the size of instances"


def is_batchable(method: str, path: str) -> bool:
    """Only V1 ``:predict`` calls batch (KServe matches ``:predict$`` on the path)."""
    return method.upper() == "POST" and path.split("?", 1)[0].endswith(":predict")


def _text_error(message: str) -> UpstreamResponse:
    # Go's http.Error: text/plain, the message plus a newline.
    headers = {"Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff"}
    return UpstreamResponse(400, headers, f"{message}\n".encode())


def parse_instances(body: bytes) -> list[Any] | UpstreamResponse:
    """The request's ``instances``, or KServe's 400 answer for a body it cannot batch."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return _text_error("can't Unmarshal body")
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        return _text_error("can't Unmarshal body")
    instances = doc.get("instances")
    if instances is not None and not isinstance(instances, list):
        return _text_error("can't Unmarshal body")
    if not instances:
        return _text_error("no instances in the request")
    return instances


def _reply(
    message: str, batch_id: str, predictions: list[Any] | None, status: int
) -> UpstreamResponse:
    return json_response(
        status, {"message": message, "batchId": batch_id, "predictions": predictions}
    )


def split_answer(
    answer: UpstreamResponse, sizes: Sequence[int], batch_id: str, *, strict_errors: bool = False
) -> list[UpstreamResponse]:
    """One answer per caller, in order: caller ``i`` asked for ``sizes[i]`` instances.

    Worked example: sizes ``[2, 1]`` and predictions ``[a, b, c]`` give ``[a, b]`` and ``[c]``.
    """
    total = sum(sizes)
    failure: tuple[str, str, int] | None = None
    predictions: Any = None
    if answer.status != 200:
        failure = (answer.body.decode("utf-8", "replace"), "", answer.status)
    else:
        try:
            doc = json.loads(answer.body)
            predictions = doc.get("predictions") if isinstance(doc, dict) else None
        except (ValueError, UnicodeDecodeError) as exc:
            failure = (str(exc), batch_id, 502)
        else:
            if not isinstance(predictions, list) or len(predictions) != total:
                failure = (SIZE_MISMATCH, batch_id, 502)
    if failure is not None:
        message, failed_id, status = failure
        reply = _reply(message, failed_id, None, status if strict_errors else 200)
        return [reply] * len(sizes)
    out: list[UpstreamResponse] = []
    start = 0
    for size in sizes:
        out.append(_reply("", batch_id, predictions[start : start + size], 200))
        start += size
    return out
