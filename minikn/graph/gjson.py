"""The subset of gjson path syntax KServe's InferenceGraph conditions use, evaluated on parsed JSON.

KServe's router asks only ``gjson.GetBytes(body, condition).Exists()``: a Switch step is taken, and
a Sequence step runs, when the path finds something. Its docs and tests use paths such as
``predictions.#(label=="dog")`` and ``instances.#(modelId=="1")``. Supported here (pure):

================================  ==========================================================
syntax                            finds
================================  ==========================================================
``a.b.c``                         a key path through objects (``\\.`` escapes a dot)
``items.1``                       an array element by index (a digit key on an object is a key)
``items.#``                       an array's length (exists when ``items`` is an array)
``items.#.name``                  each element's ``name`` (an array; exists for any array)
``items.#(k=="v")``               the first element whose ``k`` compares true
``items.#(k>1)#``                 every such element (an array, possibly empty: it exists)
``items.#(k)``                    the first element that has ``k``
``items.#(=="v")``                the first element that itself equals ``"v"``
================================  ==========================================================

Operators: ``==  !=  <  <=  >  >=`` and ``%`` / ``!%`` (``*``/``?`` pattern match); literals: a
double-quoted string, a number, ``true``, ``false``, ``null``. A string literal compares with
strings, a number with numbers, as gjson does; a mismatched type never matches. Wildcard keys,
modifiers (``@reverse``), pipes and multipaths are refused at admission (:class:`GjsonSyntaxError`)
rather than silently never matching.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass
from typing import Any

__all__ = ["GjsonSyntaxError", "Path", "exists", "get", "parse_path"]

MAX_PATH = 1024
"""Characters in one condition."""
MAX_NESTING = 8
"""Queries inside queries."""
_OPS = ("==", "!=", "<=", ">=", "!%", "<", ">", "%")
_UNSUPPORTED = set("*?@|[]{}!")


class GjsonSyntaxError(ValueError):
    """A condition outside the supported subset, with the reason."""


@dataclass(frozen=True, slots=True)
class Key:
    name: str


@dataclass(frozen=True, slots=True)
class Count:
    """``#``: the length when last, else "for each element"."""


@dataclass(frozen=True, slots=True)
class Query:
    path: Path
    op: str | None
    value: Any
    all: bool


@dataclass(frozen=True, slots=True)
class Path:
    parts: tuple[Key | Count | Query, ...]


def _split(text: str) -> list[str]:
    """Split on unescaped dots outside parentheses and quotes."""
    parts: list[str] = []
    buf: list[str] = []
    depth, quoted, i = 0, False, 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            buf.append(text[i : i + 2])
            i += 2
            continue
        if ch == '"' and depth:
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
            if depth < 0:
                raise GjsonSyntaxError(f"unbalanced ')' in {text!r}")
        elif ch == "." and not depth and not quoted:
            parts.append("".join(buf))
            buf = []
            i += 1
            continue
        buf.append(ch)
        i += 1
    if depth or quoted:
        raise GjsonSyntaxError(f"unbalanced parenthesis or quote in {text!r}")
    parts.append("".join(buf))
    return parts


def _literal(text: str) -> Any:
    text = text.strip()
    if text.startswith('"'):
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise GjsonSyntaxError(f"bad string literal {text!r}") from exc
        if not isinstance(value, str):  # pragma: no cover - json.loads of '"..."' is a str
            raise GjsonSyntaxError(f"bad string literal {text!r}")
        return value
    if text in ("true", "false", "null"):
        return {"true": True, "false": False, "null": None}[text]
    try:
        return float(text)
    except ValueError as exc:
        raise GjsonSyntaxError(
            f"query value {text!r} must be a quoted string, a number, true, false or null"
        ) from exc


def _find_op(body: str) -> tuple[int, str] | None:
    quoted, depth = False, 0
    for i, ch in enumerate(body):
        if ch == '"':
            quoted = not quoted
        elif quoted:
            continue
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif depth == 0:
            for op in _OPS:
                if body.startswith(op, i):
                    return i, op
    return None


def _query(part: str, nesting: int) -> Query:
    all_matches = part.endswith(")#")
    body = part[2 : -2 if all_matches else -1]
    found = _find_op(body)
    if found is None:
        return Query(_parse(body.strip(), nesting + 1), None, None, all_matches)
    at, op = found
    key = body[:at].strip()
    path = _parse(key, nesting + 1) if key else Path(())
    return Query(path, op, _literal(body[at + len(op) :]), all_matches)


def _parse(text: str, nesting: int) -> Path:
    if nesting > MAX_NESTING:
        raise GjsonSyntaxError(f"queries nest deeper than {MAX_NESTING}")
    parts: list[Key | Count | Query] = []
    for raw in _split(text):
        if raw.startswith("#(") and (raw.endswith(")") or raw.endswith(")#")):
            parts.append(_query(raw, nesting))
        elif raw == "#":
            parts.append(Count())
        elif raw == "":
            raise GjsonSyntaxError(f"empty path component in {text!r}")
        else:
            plain = raw.replace("\\.", "")
            bad = sorted(set(plain) & _UNSUPPORTED) or (["#"] if "#" in plain else [])
            if bad:
                raise GjsonSyntaxError(
                    f"{raw!r}: {''.join(bad)} (wildcards, modifiers, pipes, multipaths) is "
                    "outside the gjson subset minikn evaluates"
                )
            parts.append(Key(raw.replace("\\.", ".").replace("\\\\", "\\")))
    return Path(tuple(parts))


def parse_path(text: str) -> Path:
    """Parse a condition, or :class:`GjsonSyntaxError` saying why not."""
    if len(text) > MAX_PATH:
        raise GjsonSyntaxError(f"longer than {MAX_PATH} characters")
    if not text.strip():
        raise GjsonSyntaxError("empty condition")
    return _parse(text.strip(), 0)


_MISSING = object()


def _compare(value: Any, op: str, lit: Any) -> bool:
    if isinstance(lit, str):
        if not isinstance(value, str):
            return False
        if op in ("%", "!%"):
            return fnmatch.fnmatchcase(value, lit) == (op == "%")
    elif isinstance(lit, bool) or lit is None:
        if op not in ("==", "!="):
            return False
        return (
            (value is lit) == (op == "==")
            if isinstance(value, bool) or value is None
            else (op == "!=")
        )
    else:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        value = float(value)
    if op in ("%", "!%"):
        return False
    result: bool = {
        "==": value == lit,
        "!=": value != lit,
        "<": value < lit,
        "<=": value <= lit,
        ">": value > lit,
        ">=": value >= lit,
    }[op]
    return result


def _matches(item: Any, q: Query) -> bool:
    found = _walk(item, q.path.parts)
    if q.op is None:
        return found is not _MISSING
    return found is not _MISSING and _compare(found, q.op, q.value)


def _walk(value: Any, parts: tuple[Key | Count | Query, ...]) -> Any:
    for i, part in enumerate(parts):
        if isinstance(part, Key):
            if isinstance(value, dict):
                value = value.get(part.name, _MISSING)
            elif isinstance(value, list) and part.name.isdigit():
                index = int(part.name)
                value = value[index] if index < len(value) else _MISSING
            else:
                return _MISSING
        elif isinstance(part, Count):
            if not isinstance(value, list):
                return _MISSING
            rest = parts[i + 1 :]
            if not rest:
                return len(value)
            mapped = [_walk(v, rest) for v in value]
            return [v for v in mapped if v is not _MISSING]
        else:
            if not isinstance(value, list):
                return _MISSING
            if part.all:
                hits = [v for v in value if _matches(v, part)]
                rest = parts[i + 1 :]
                if not rest:
                    return hits
                mapped = [_walk(v, rest) for v in hits]
                return [v for v in mapped if v is not _MISSING]
            value = next((v for v in value if _matches(v, part)), _MISSING)
        if value is _MISSING:
            return _MISSING
    return value


def get(document: Any, path: Path) -> tuple[bool, Any]:
    """(exists, value) of ``path`` in a parsed JSON document."""
    found = _walk(document, path.parts)
    return (False, None) if found is _MISSING else (True, found)


def exists(document: Any, path: Path) -> bool:
    """gjson's ``Get(...).Exists()``."""
    return _walk(document, path.parts) is not _MISSING
