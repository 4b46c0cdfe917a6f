"""Replica counts of an ISVC, read from whatever the platform offers (pure parsers).

Two sources, tried in order:

1. The ISVC's status from the API (``GET .../inferenceservices/{name}``): per-revision entries
   under ``status.components.<component>.revisions`` (a list of objects or a name -> object map)
   with ``ready``/``readyReplicas``/``actualReplicas``, ``desired``/``desiredReplicas`` and
   ``pending``/``pendingReplicas``.
2. ``/metrics``: Knative's ``autoscaler_actual_pods``/``autoscaler_desired_pods``/
   ``autoscaler_pending_pods`` gauges labelled ``namespace``, ``isvc``, ``revision``.

Both sum over the component's revisions. A parser answers None when the source has no count for
the ISVC, so the caller can say the platform does not report replicas.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["ReplicaCounts", "counts_from_metrics", "counts_from_status"]

_READY_KEYS = ("ready", "readyReplicas", "actualReplicas", "actual")
_DESIRED_KEYS = ("desired", "desiredReplicas")
_PENDING_KEYS = ("pending", "pendingReplicas")
_GAUGES = {
    "autoscaler_actual_pods": "ready",
    "autoscaler_desired_pods": "desired",
    "autoscaler_pending_pods": "pending",
}


@dataclass(frozen=True, slots=True)
class ReplicaCounts:
    """Replicas of one component, summed over its revisions."""

    ready: int
    desired: int | None = None
    pending: int | None = None


def _first_int(entry: dict[str, Any], keys: Iterable[str]) -> int | None:
    for key in keys:
        value = entry.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return int(value)
    return None


def _add(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    return a if b is None else a + b


def counts_from_status(doc: Any, component: str = "predictor") -> ReplicaCounts | None:
    """Replica counts from an ISVC object's status, or None when it carries none."""
    try:
        comp = doc["status"]["components"][component]
        revisions = comp["revisions"]
    except (KeyError, TypeError):
        return None
    entries = revisions.values() if isinstance(revisions, dict) else revisions
    if not isinstance(entries, Iterable):
        return None
    ready: int | None = None
    desired: int | None = None
    pending: int | None = None
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        ready = _add(ready, _first_int(entry, _READY_KEYS))
        desired = _add(desired, _first_int(entry, _DESIRED_KEYS))
        pending = _add(pending, _first_int(entry, _PENDING_KEYS))
    if ready is None:
        return None
    return ReplicaCounts(ready=ready, desired=desired, pending=pending)


def counts_from_metrics(
    text: str, *, namespace: str, isvc: str, component: str = "predictor"
) -> ReplicaCounts | None:
    """Replica counts from a Prometheus exposition, or None when no gauge names the ISVC.

    Revisions are named ``<isvc>-<component>-<generation>``, so the component filters by prefix.
    """
    sums: dict[str, int | None] = {"ready": None, "desired": None, "pending": None}
    prefix = f"{isvc}-{component}-"
    try:
        families = list(text_string_to_metric_families(text))
    except ValueError:
        return None
    for family in families:
        field = _GAUGES.get(family.name)
        if field is None:
            continue
        for sample in family.samples:
            labels = sample.labels
            if labels.get("namespace") != namespace or labels.get("isvc") != isvc:
                continue
            if not labels.get("revision", "").startswith(prefix):
                continue
            sums[field] = _add(sums[field], int(sample.value))
    ready = sums["ready"]
    if ready is None:
        return None
    return ReplicaCounts(ready=ready, desired=sums["desired"], pending=sums["pending"])
