"""Kubernetes object semantics: uids, server-set metadata, ``Status`` bodies, selectors (pure)."""

from __future__ import annotations

import copy
import uuid
from typing import Any

from minikn.core.errors import PermanentError

__all__ = [
    "SERVER_SET",
    "KubeError",
    "derive_uid",
    "labels_match",
    "parse_label_selector",
    "status_body",
    "strip_server_set",
]

_UID_NAMESPACE = uuid.UUID("8a3c7c55-2b1e-4a40-9a51-6d1f3f0e6a15")

SERVER_SET = (
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)
"""``metadata`` fields the API server sets: dropped from what a client sends."""

_CODE_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    410: "Expired",
    413: "RequestEntityTooLarge",
    415: "UnsupportedMediaType",
    422: "Invalid",
    500: "InternalError",
    503: "ServiceUnavailable",
}


class KubeError(PermanentError):
    """An error the Kubernetes API answers with its own ``reason`` and ``details``."""

    def __init__(
        self, status: int, reason: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message, reason=reason)
        self.status = status
        self.details = details or {}


def derive_uid(kind: str, namespace: str, name: str, created_at: float) -> str:
    """A stable uid: the same object (same creation) keeps it across restarts; a re-created one
    gets a new one, as on a cluster."""
    return str(uuid.uuid5(_UID_NAMESPACE, f"{kind}/{namespace}/{name}/{created_at!r}"))


def status_body(
    code: int, message: str, reason: str | None = None, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A ``metav1.Status`` failure (also carrying KServe's ``error`` key)."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason or _CODE_REASONS.get(code, "InternalError"),
        "code": code,
        "error": message,
    }
    if details:
        body["details"] = details
    return body


def strip_server_set(body: dict[str, Any]) -> dict[str, Any]:
    """A copy of a client's object without what the server sets (``status`` and metadata)."""
    out = copy.deepcopy(body)
    out.pop("status", None)
    meta = out.get("metadata")
    if isinstance(meta, dict):
        for key in SERVER_SET:
            meta.pop(key, None)
    return out


_MAX_SELECTOR = 4096


def parse_label_selector(text: str) -> list[tuple[str, str, frozenset[str]]]:
    """``a=b,c!=d,e in (f,g),h notin (i),j,!k`` as (key, op, values); 400 when malformed."""
    if len(text) > _MAX_SELECTOR:
        raise KubeError(400, "BadRequest", "labelSelector: longer than 4096 characters")
    out: list[tuple[str, str, frozenset[str]]] = []
    parts: list[str] = []
    depth, cur = 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    for raw in parts:
        term = raw.strip()
        if not term:
            continue
        out.append(_term(term, text))
    return out


def _term(term: str, text: str) -> tuple[str, str, frozenset[str]]:
    bad = KubeError(400, "BadRequest", f"unable to parse requirement: {text[:200]!r}")
    for word in (" notin ", " in "):
        if word in term:
            key, _, rest = term.partition(word)
            rest = rest.strip()
            if not (rest.startswith("(") and rest.endswith(")")):
                raise bad
            values = frozenset(v.strip() for v in rest[1:-1].split(",") if v.strip())
            return key.strip(), word.strip(), values
    for op in ("!=", "==", "="):
        if op in term:
            key, _, value = term.partition(op)
            return key.strip(), "!=" if op == "!=" else "=", frozenset({value.strip()})
    if term.startswith("!"):
        return term[1:].strip(), "!", frozenset()
    if any(c in term for c in " ()"):
        raise bad
    return term, "exists", frozenset()


def labels_match(
    selector: list[tuple[str, str, frozenset[str]]], labels: dict[str, str] | None
) -> bool:
    have = labels or {}
    for key, op, values in selector:
        present = key in have
        value = have.get(key)
        ok = {
            "=": present and value in values,
            "!=": not present or value not in values,
            "in": present and value in values,
            "notin": not present or value not in values,
            "exists": present,
            "!": not present,
        }[op]
        if not ok:
            return False
    return True
