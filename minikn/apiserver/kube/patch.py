"""PATCH bodies: JSON merge patch (RFC 7386) and JSON patch (RFC 6902), pure and bounded."""

from __future__ import annotations

import copy
from typing import Any

from minikn.apiserver.kube.objects import KubeError

__all__ = ["MAX_OPERATIONS", "json_patch", "merge_patch"]

MAX_OPERATIONS = 10_000
"""Kubernetes' limit on the operations of one JSON patch."""


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: mappings merge key by key, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def _invalid(message: str) -> KubeError:
    return KubeError(422, "Invalid", f"the JSON patch could not be applied: {message}")


def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise _invalid(f"path {str(path)[:100]!r} is not a JSON pointer")
    if path == "":
        return []
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _index(container: list[Any], token: str, *, adding: bool) -> int:
    if adding and token == "-":
        return len(container)
    if not token.isdigit():
        raise _invalid(f"{token[:40]!r} is not an array index")
    i = int(token)
    if i > len(container) or (not adding and i == len(container)):
        raise _invalid(f"array index {i} is out of range")
    return i


def _parent(doc: Any, tokens: list[str]) -> Any:
    cur = doc
    for t in tokens[:-1]:
        if isinstance(cur, dict) and t in cur:
            cur = cur[t]
        elif isinstance(cur, list):
            cur = cur[_index(cur, t, adding=False)]
        else:
            raise _invalid(f"path /{'/'.join(tokens)[:200]}: {t[:40]!r} does not exist")
    return cur


def _get(doc: Any, tokens: list[str]) -> Any:
    if not tokens:
        return doc
    parent, last = _parent(doc, tokens), tokens[-1]
    if isinstance(parent, dict) and last in parent:
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(parent, last, adding=False)]
    raise _invalid(f"path /{'/'.join(tokens)[:200]} does not exist")


def _remove(doc: Any, tokens: list[str]) -> Any:
    parent, last = _parent(doc, tokens), tokens[-1]
    if isinstance(parent, dict) and last in parent:
        return parent.pop(last)
    if isinstance(parent, list):
        return parent.pop(_index(parent, last, adding=False))
    raise _invalid(f"path /{'/'.join(tokens)[:200]} does not exist")


def _add(doc: Any, tokens: list[str], value: Any, *, replace: bool = False) -> Any:
    if not tokens:
        return value
    parent, last = _parent(doc, tokens), tokens[-1]
    if isinstance(parent, dict):
        if replace and last not in parent:
            raise _invalid(f"path /{'/'.join(tokens)[:200]} does not exist")
        parent[last] = value
    elif isinstance(parent, list):
        i = _index(parent, last, adding=not replace)
        if replace:
            parent[i] = value
        else:
            parent.insert(i, value)
    else:
        raise _invalid(f"path /{'/'.join(tokens)[:200]}: the parent is not a container")
    return doc


def json_patch(target: Any, ops: Any) -> Any:
    """RFC 6902 operations applied to a copy of ``target`` (422 ``Invalid`` when one fails)."""
    if not isinstance(ops, list):
        raise KubeError(400, "BadRequest", "a JSON patch must be a list of operations")
    if len(ops) > MAX_OPERATIONS:
        raise KubeError(
            413, "RequestEntityTooLarge", f"more than {MAX_OPERATIONS} JSON patch operations"
        )
    doc = copy.deepcopy(target)
    for n, op in enumerate(ops):
        if not isinstance(op, dict) or "op" not in op:
            raise _invalid(f"operation {n} is not a mapping with 'op'")
        kind, tokens = op["op"], _pointer(op.get("path"))
        if kind in ("add", "replace", "test") and "value" not in op:
            raise _invalid(f"operation {n} ({kind}) has no value")
        if kind == "add":
            doc = _add(doc, tokens, copy.deepcopy(op["value"]))
        elif kind == "remove":
            _remove(doc, tokens)
        elif kind == "replace":
            doc = _add(doc, tokens, copy.deepcopy(op["value"]), replace=True)
        elif kind in ("move", "copy"):
            source = _pointer(op.get("from"))
            value = _remove(doc, source) if kind == "move" else copy.deepcopy(_get(doc, source))
            doc = _add(doc, tokens, value)
        elif kind == "test":
            if _get(doc, tokens) != op["value"]:
                raise _invalid(f"test operation {n} failed at {op.get('path')!s:.200}")
        else:
            raise _invalid(f"operation {n}: unknown op {str(kind)[:40]!r}")
    return doc
