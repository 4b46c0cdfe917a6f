"""Server-side ``Table`` output (``Accept: application/json;as=Table;g=meta.k8s.io;v=v1``):
the printer columns of KServe's and Knative's CRDs, evaluated as the API server does (pure)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = ["COLUMNS", "Column", "human_duration", "jsonpath", "table", "wants_table"]


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    path: str
    priority: int = 0


_READY = ".status.conditions[?(@.type=='Ready')]"
_PRED = ".status.components.predictor.traffic"
COLUMNS: dict[str, tuple[Column, ...]] = {
    "inferenceservices": (
        Column("URL", "string", ".status.url"),
        Column("Ready", "string", _READY + ".status"),
        Column("Prev", "integer", _PRED + "[?(@.tag=='prev')].percent"),
        Column("Latest", "integer", _PRED + "[?(@.latestRevision==true)].percent"),
        Column("PrevRolledoutRevision", "string", _PRED + "[?(@.tag=='prev')].revisionName"),
        Column("LatestReadyRevision", "string", _PRED + "[?(@.latestRevision==true)].revisionName"),
        Column("Age", "date", ".metadata.creationTimestamp"),
    ),
    "inferencegraphs": (
        Column("URL", "string", ".status.url"),
        Column("Ready", "string", _READY + ".status"),
        Column("Age", "date", ".metadata.creationTimestamp"),
    ),
    "services": (
        Column("URL", "string", ".status.url"),
        Column("LatestCreated", "string", ".status.latestCreatedRevisionName"),
        Column("LatestReady", "string", ".status.latestReadyRevisionName"),
        Column("Ready", "string", _READY + ".status"),
        Column("Reason", "string", _READY + ".reason"),
    ),
    "configurations": (
        Column("LatestCreated", "string", ".status.latestCreatedRevisionName"),
        Column("LatestReady", "string", ".status.latestReadyRevisionName"),
        Column("Ready", "string", _READY + ".status"),
        Column("Reason", "string", _READY + ".reason"),
    ),
    "revisions": (
        Column("Config Name", "string",
               ".metadata.labels['serving\\.knative\\.dev/configuration']"),
        Column("Generation", "string",
               ".metadata.labels['serving\\.knative\\.dev/configurationGeneration']"),
        Column("Ready", "string", _READY + ".status"),
        Column("Reason", "string", _READY + ".reason"),
        Column("Actual Replicas", "integer", ".status.actualReplicas"),
        Column("Desired Replicas", "integer", ".status.desiredReplicas"),
    ),
    "namespaces": (
        Column("Status", "string", ".status.phase"),
        Column("Age", "date", ".metadata.creationTimestamp"),
    ),
    "events": (
        Column("Last Seen", "date", ".lastTimestamp"),
        Column("Type", "string", ".type"),
        Column("Reason", "string", ".reason"),
        Column("Object", "string", ".involvedObject.name"),
        Column("Message", "string", ".message"),
    ),
    "routes": (
        Column("URL", "string", ".status.url"),
        Column("Ready", "string", _READY + ".status"),
        Column("Reason", "string", _READY + ".reason"),
    ),
}  # fmt: skip
"""Each resource's ``additionalPrinterColumns`` (KServe's and Knative's CRDs)."""

_STEP = re.compile(
    r"\.(?P<field>[A-Za-z0-9_]+)"
    r"|\[\?\(@\.(?P<fkey>[A-Za-z0-9_]+)==(?P<fval>'[^']*'|true|false|-?\d+)\)\]"
    r"|\['(?P<key>(?:[^'\\]|\\.)*)'\]"
)


def jsonpath(obj: Any, path: str) -> list[Any]:
    """The values at ``path`` (the subset of JSONPath the CRDs' columns use)."""
    current = [obj]
    pos = 0
    while pos < len(path):
        m = _STEP.match(path, pos)
        if m is None:
            return []
        pos = m.end()
        nxt: list[Any] = []
        for value in current:
            if m.group("field") is not None or m.group("key") is not None:
                name = m.group("field") or m.group("key").replace("\\.", ".")
                if isinstance(value, dict) and name in value:
                    nxt.append(value[name])
            elif isinstance(value, list):
                want = _literal(m.group("fval"))
                nxt.extend(
                    v for v in value if isinstance(v, dict) and v.get(m.group("fkey")) == want
                )
        current = nxt
    return current


def _literal(text: str) -> Any:
    if text.startswith("'"):
        return text[1:-1]
    if text in ("true", "false"):
        return text == "true"
    return int(text)


def human_duration(seconds: float) -> str:
    """Kubernetes' ``duration.HumanDuration`` (kubectl's ``translateTimestampSince``): 45s, 3m2s,
    15m, 5h3m, 20h, 3d4h, 30d, 2y10d; up to 1 s in the future (clock skew) is 0s."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = m // 60
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    d = h // 24
    if h < 24 * 8:
        return f"{d}d{h % 24}h" if h % 24 else f"{d}d"
    if d < 365 * 2:
        return f"{d}d"
    y = d // 365
    if y < 8:
        return f"{y}y{d % 365}d" if d % 365 else f"{y}y"
    return f"{y}y"


def _cell(obj: dict[str, Any], col: Column, now: float) -> Any:
    found = jsonpath(obj, col.path)
    if not found or found[0] is None:
        return None
    value = found[0]
    if col.type == "date" and isinstance(value, str):
        try:
            then = datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError:
            return None
        return human_duration(now - then.timestamp())
    if len(found) > 1 and col.type == "string":
        return ",".join(str(v) for v in found)
    return value


def _definitions(resource: str) -> list[dict[str, Any]]:
    cols = [{"name": "Name", "type": "string", "format": "name", "description": "", "priority": 0}]
    for c in COLUMNS.get(resource, (Column("Age", "date", ".metadata.creationTimestamp"),)):
        cols.append(
            {
                "name": c.name,
                "type": c.type,
                "format": "",
                "description": "",
                "priority": c.priority,
            }
        )
    return cols


def _partial(obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata", {}),
    }


def table(
    resource: str,
    objects: Sequence[dict[str, Any]],
    *,
    now: float,
    resource_version: str = "",
    include_object: str = "Metadata",
    headers: bool = True,
) -> dict[str, Any]:
    """A ``meta.k8s.io/v1`` Table of ``objects`` (rows carry each object's metadata)."""
    cols = COLUMNS.get(resource, (Column("Age", "date", ".metadata.creationTimestamp"),))
    rows = []
    for obj in objects:
        cells = [obj.get("metadata", {}).get("name", "")]
        cells += [_cell(obj, c, now) for c in cols]
        row: dict[str, Any] = {"cells": cells}
        if include_object == "Object":
            row["object"] = obj
        elif include_object != "None":
            row["object"] = _partial(obj)
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": _definitions(resource) if headers else [],
        "rows": rows,
    }


def wants_table(accept: str) -> bool:
    """Whether the ``Accept`` header's first acceptable type is a meta.k8s.io/v1 Table."""
    for part in accept.split(","):
        params = {
            k.strip(): v.strip() for k, _, v in (p.partition("=") for p in part.split(";")[1:])
        }
        if params.get("as") == "Table" and params.get("g") == "meta.k8s.io":
            return params.get("v") in ("v1", "v1beta1")
        if part.split(";")[0].strip() in ("application/json", "*/*", "application/yaml"):
            return False
    return False
