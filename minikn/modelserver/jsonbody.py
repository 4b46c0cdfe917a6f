"""Strict JSON request bodies: UTF-8 only, no ``NaN``/``Infinity``, nesting bounded.

KServe parses bodies with orjson, which refuses what RFC 8259 refuses; the standard library is
laxer (it guesses UTF-16/32 from the bytes and takes ``NaN``), so the differences are closed
here. Every refusal is ``InvalidInput`` (400) worded as KServe's ``Unrecognized request
format: ...``. Nesting is bounded by the parser's recursion limit (``sys.getrecursionlimit()``,
1,000 by default; orjson's is 1,024): deeper bodies are refused instead of failing with a
``RecursionError`` (500).
"""

from __future__ import annotations

import json
from typing import Any, NoReturn

from minikn.modelserver.errors import InvalidInput

__all__ = ["decode_json"]

_PREFIX = "Unrecognized request format"


def _refuse_constant(token: str) -> NoReturn:
    raise InvalidInput(f"{_PREFIX}: {token} is not valid JSON")


def decode_json(body: bytes) -> Any:
    """Parse a request body; anything that is not strict UTF-8 JSON is ``InvalidInput``."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{_PREFIX}: the body is not UTF-8 ({exc})") from exc
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except RecursionError as exc:
        raise InvalidInput(f"{_PREFIX}: JSON nested too deeply") from exc
    except ValueError as exc:
        raise InvalidInput(f"{_PREFIX}: {exc}") from exc
