"""The router's decisions, as KServe's ``cmd/router/main.go`` makes them (pure: no I/O).

- Splitter: a point drawn in [0, 100) picks the step whose cumulative weight passes it
  (KServe draws ``crypto/rand.Int(101)``, i.e. [0, 100], and 100 falls off the end and
  fails the request; minikn draws [0, 100) as KServe's comment says it meant to).
  Example: weights 20, 80 and point 37: 37 >= 20, 37 < 100 -> the second step.
- Switch: the first step whose condition exists in the *request* (invalid JSON matches none).
- Sequence: a step's ``condition`` is looked up in the *previous response*.
- Ensemble: the responses merged into one object keyed by step name (else the index).
- Header propagation: every request header matching any ``PROPAGATE_HEADERS`` regex (unanchored,
  Go's ``MatchString``), each header once.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from minikn.graph.gjson import exists
from minikn.graph.spec import Step

__all__ = [
    "NO_SWITCH_MATCH",
    "compile_patterns",
    "draw_point",
    "is_json",
    "is_success",
    "map_predictions_to_instances",
    "merge_ensemble",
    "parse_json",
    "pick_split",
    "pick_switch",
    "propagated",
    "sequence_input",
]

NO_SWITCH_MATCH = "None of the routes matched with the switch condition"
_INVALID = object()


def parse_json(body: bytes) -> Any:
    """The parsed body, or a sentinel that no condition finds anything in."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return _INVALID


def is_json(body: bytes) -> bool:
    """Go's ``json.Valid``: the router then answers ``Content-Type: application/json``."""
    return bool(body) and parse_json(body) is not _INVALID


def draw_point(rng: random.Random) -> int:
    return rng.randrange(100)


def pick_split(steps: Sequence[Step], point: int) -> Step | None:
    """The step ``point`` (0-99) falls in, by cumulative weight."""
    end = 0
    for step in steps:
        end += step.weight or 0
        if point < end:
            return step
    return None


def _found(document: Any, step: Step) -> bool:
    return (
        document is not _INVALID and step.condition is not None and exists(document, step.condition)
    )


def pick_switch(request: bytes, steps: Sequence[Step]) -> Step | None:
    """The first step whose condition exists in the request; None: KServe's 404."""
    document = parse_json(request)
    return next((s for s in steps if _found(document, s)), None)


def condition_holds(previous: bytes, step: Step) -> bool | None:
    """For a Sequence step: True to run it, False to stop with the previous response, None when
    the previous response is not JSON (KServe: 500 "invalid response")."""
    document = parse_json(previous)
    if document is _INVALID:
        return None
    return _found(document, step)


def sequence_input(step: Step, index: int, request: bytes, previous: bytes) -> bytes:
    """What a Sequence step is sent: ``$response`` after the first step gets the previous
    response, anything else the graph's request; then ``mapPredictionsToInstances``."""
    body = previous if step.data == "$response" and index > 0 else request
    return map_predictions_to_instances(body) if step.map_predictions_to_instances else body


def map_predictions_to_instances(body: bytes) -> bytes:
    """``{"predictions": X, ...}`` -> ``{"instances": X, ...}`` (KServe's v1 chaining); a body that
    is not such an object is sent as is."""
    document = parse_json(body)
    if not isinstance(document, dict) or "predictions" not in document:
        return body
    out = {("instances" if k == "predictions" else k): v for k, v in document.items()}
    return json.dumps(out, separators=(",", ":")).encode()


def merge_ensemble(results: Iterable[tuple[Step, int, Any]]) -> bytes:
    """``{"<name or index>": <response>, ...}`` from (step, index, parsed response)."""
    merged = {(step.name or str(i)): value for step, i, value in results}
    return json.dumps(merged, separators=(",", ":")).encode()


def is_success(status: int) -> bool:
    return 200 <= status <= 299


def compile_patterns(patterns: Iterable[str]) -> list[re.Pattern[str]]:
    """``PROPAGATE_HEADERS`` (comma-separated regexes); a bad pattern raises re.error."""
    return [re.compile(p.strip()) for p in patterns if p.strip()]


def propagated(
    headers: Iterable[tuple[str, str]], patterns: Sequence[re.Pattern[str]]
) -> list[tuple[str, str]]:
    """The (name, value) pairs of every header a pattern matches, each header name once."""
    items = list(headers)
    names: dict[str, bool] = {}
    for pattern in patterns:
        for name, _ in items:
            if name.lower() not in names and pattern.search(name):
                names[name.lower()] = True
    return [(n, v) for n, v in items if n.lower() in names]


def routing_error_body(cause: str, message: str = "Failed to process request") -> bytes:
    """KServe's ``InferenceGraphRoutingError``: ``{"error": ..., "cause": ...}``."""
    return json.dumps({"error": message, "cause": cause}).encode()


def header_map(pairs: Iterable[tuple[str, str]]) -> Mapping[str, str]:
    return {k.lower(): v for k, v in pairs}
