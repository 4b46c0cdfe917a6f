"""The dashboard's snapshot: one compact JSON-ready dict of everything the page shows (pure).

Built from what the platform already keeps (the ISVCs and graphs as the API renders them, with
their revisions' replica, autoscaler and cold-start status; the data path's request counters and
latency buckets; the activator's buffered requests; recent events). Request rates and latency
quantiles cover the interval since the previous snapshot: the caller keeps the previous totals.
The browser keeps the time series.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from minikn.telemetry.request_metrics import LATENCY_BUCKETS

__all__ = ["MAX_EVENTS", "RequestTotals", "RevisionOwner", "SnapshotInputs", "build_snapshot",
           "quantile"]  # fmt: skip

MAX_EVENTS = 100
"""The most recent events a snapshot carries (all ISVCs together)."""


@dataclass(frozen=True, slots=True)
class RequestTotals:
    """A revision's requests since the process started: counts by status code, and latency
    observations per bucket of :data:`LATENCY_BUCKETS` (not cumulative, one more for +Inf)."""

    codes: Mapping[int, int] = field(default_factory=dict)
    buckets: Sequence[int] = ()


@dataclass(frozen=True, slots=True)
class RevisionOwner:
    """Where a live revision belongs."""

    namespace: str
    isvc: str
    component: str


@dataclass(frozen=True, slots=True)
class SnapshotInputs:
    time: float
    """Wall-clock Unix seconds of the snapshot."""
    resources: Sequence[Mapping[str, Any]]
    """Every ISVC and InferenceGraph as the API returns it (``status.revisions`` included)."""
    owners: Mapping[str, RevisionOwner]
    """Every live revision by name."""
    requests: Mapping[str, RequestTotals]
    """Request totals by revision (summed over components' series)."""
    buffered: Mapping[str, int]
    """Requests waiting in the activator, by revision."""
    events: Sequence[Mapping[str, Any]]
    """Recent events (any order); the newest :data:`MAX_EVENTS` are kept, oldest first."""


def quantile(
    q: float, counts: Sequence[int], bounds: Sequence[float] = LATENCY_BUCKETS
) -> float | None:
    """The ``q`` quantile of observations per bucket, interpolated linearly inside the bucket
    as Prometheus' ``histogram_quantile`` does (the +Inf bucket answers the last bound);
    None without observations."""
    total = sum(counts)
    if total <= 0:
        return None
    rank = q * total
    running = 0.0
    for i, n in enumerate(counts):
        if n <= 0:
            continue
        if running + n >= rank:
            if i >= len(bounds):
                return bounds[-1]
            lower = bounds[i - 1] if i > 0 else 0.0
            return lower + (bounds[i] - lower) * max(0.0, rank - running) / n
        running += n
    return bounds[-1]


def _delta(now: RequestTotals, before: RequestTotals | None) -> tuple[dict[int, int], list[int]]:
    """What happened between two totals (a restart of the counters reads as everything)."""
    if before is None:
        return dict(now.codes), list(now.buckets)
    codes = {c: n - before.codes.get(c, 0) for c, n in now.codes.items()}
    if any(n < 0 for n in codes.values()):
        return dict(now.codes), list(now.buckets)
    old = before.buckets
    buckets = [n - (old[i] if i < len(old) else 0) for i, n in enumerate(now.buckets)]
    if any(n < 0 for n in buckets):
        buckets = list(now.buckets)
    return {c: n for c, n in codes.items() if n}, buckets


def _condition(status: Mapping[str, Any], kind: str) -> Mapping[str, Any]:
    for c in status.get("conditions") or ():
        if isinstance(c, Mapping) and c.get("type") == kind:
            return c
    return {}


def _round(x: Any, digits: int = 3) -> Any:
    return round(x, digits) if isinstance(x, float) else x


def _isvc_row(res: Mapping[str, Any]) -> dict[str, Any]:
    meta = res.get("metadata") or {}
    status = res.get("status") or {}
    ready = _condition(status, "Ready")
    components = []
    for name, comp in sorted((status.get("components") or {}).items()):
        if not isinstance(comp, Mapping):
            continue
        traffic = [
            {
                "revision": t.get("revisionName"),
                "percent": t.get("percent"),
                "tag": t.get("tag"),
                "url": t.get("url"),
                "latest": t.get("latestRevision", False),
            }
            for t in comp.get("traffic") or ()
            if isinstance(t, Mapping)
        ]
        components.append(
            {
                "name": name,
                "url": comp.get("url"),
                "latestReady": comp.get("latestReadyRevision"),
                "latestCreated": comp.get("latestCreatedRevision"),
                "traffic": traffic,
            }
        )
    return {
        "kind": res.get("kind", "InferenceService"),
        "namespace": meta.get("namespace", "default"),
        "name": meta.get("name", ""),
        "url": status.get("url"),
        "ready": ready.get("status", "Unknown"),
        "reason": ready.get("reason"),
        "message": ready.get("message"),
        "components": components,
    }


def _revision_row(
    *,
    name: str,
    owner: RevisionOwner,
    extras: Mapping[str, Any],
    inputs: SnapshotInputs,
    previous: Mapping[str, RequestTotals],
    elapsed: float,
) -> dict[str, Any]:
    replicas = extras.get("replicas") or {}
    scaler = extras.get("autoscaler") or {}
    row: dict[str, Any] = {
        "name": name,
        "namespace": owner.namespace,
        "isvc": owner.isvc,
        "component": owner.component,
        "desired": replicas.get("desired", 0),
        "ready": replicas.get("ready", 0),
        "pending": replicas.get("pending", 0),
        "reason": replicas.get("reason") or None,
        "buffered": inputs.buffered.get(name, 0),
    }
    if scaler:
        row.update(
            {
                "metric": scaler.get("metric"),
                "stable": _round(scaler.get("stable")),
                "panic": _round(scaler.get("panic")),
                "target": _round(scaler.get("target")),
                "panicMode": bool(scaler.get("panic_mode")),
                "active": scaler.get("active"),
                "scaleReason": scaler.get("reason"),
            }
        )
    totals = inputs.requests.get(name)
    rps: dict[str, float] = {}
    p50 = p99 = None
    if totals is not None:
        codes, buckets = _delta(totals, previous.get(name))
        if elapsed > 0:
            rps = {str(c): round(n / elapsed, 3) for c, n in sorted(codes.items())}
        p50, p99 = quantile(0.5, buckets), quantile(0.99, buckets)
    row["rps"] = rps
    row["p50"] = _round(p50, 6)
    row["p99"] = _round(p99, 6)
    cold = extras.get("coldStart")
    if isinstance(cold, Mapping):
        row["coldStart"] = {
            "replica": cold.get("replica"),
            "phases": {k: _round(v, 4) for k, v in (cold.get("phases") or {}).items()},
        }
    return row


def build_snapshot(
    inputs: SnapshotInputs, previous: Mapping[str, RequestTotals], elapsed: float
) -> dict[str, Any]:
    """The snapshot; ``previous`` are the request totals of the last snapshot, ``elapsed`` the
    seconds since it (0: none before, so no rates)."""
    isvcs = []
    extras: dict[str, Mapping[str, Any]] = {}
    for res in inputs.resources:
        isvcs.append(_isvc_row(res))
        for rev, e in ((res.get("status") or {}).get("revisions") or {}).items():
            if isinstance(e, Mapping):
                extras[rev] = e
    isvcs.sort(key=lambda r: (r["kind"], r["namespace"], r["name"]))
    revisions = [
        _revision_row(
            name=name,
            owner=owner,
            extras=extras.get(name, {}),
            inputs=inputs,
            previous=previous,
            elapsed=elapsed,
        )
        for name, owner in sorted(
            inputs.owners.items(), key=lambda kv: (kv[1].namespace, kv[1].isvc, kv[0])
        )
    ]
    events = sorted(inputs.events, key=lambda e: float(e.get("time", 0.0)))[-MAX_EVENTS:]
    return {
        "time": round(inputs.time, 3),
        "interval": round(elapsed, 3),
        "isvcs": isvcs,
        "revisions": revisions,
        "events": [dict(e) for e in events],
    }
