"""The dashboard's snapshot, in parts the caller caches separately (pure functions).

- the *catalog*: one row per ISVC or graph (URL, readiness, traffic split) and the owner of every
  live revision; it changes only when the controller reports a change, so the caller keeps each
  ISVC's row and rebuilds only the changed ones;
- per tick, a compact *summary* of every live revision (replicas, panic mode, request rate), the
  full *detail* of the one revision a page is viewing (concurrency against the target, rates by
  status, latency quantiles, buffered requests), the most recent cold starts, recent events.

Request rates and latency quantiles cover the interval since the previous tick: the caller keeps
the previous totals. The browser keeps the time series.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from minikn.telemetry.request_metrics import LATENCY_BUCKETS

__all__ = ["MAX_COLD_STARTS", "MAX_EVENTS", "ColdStarts", "LiveInputs", "RequestTotals",
           "RevisionOwner", "build_catalog", "build_live", "is_idle", "isvc_row",
           "quantile", "revision_detail"]  # fmt: skip

MAX_EVENTS = 100
"""The most recent events a snapshot carries (all ISVCs together)."""
MAX_COLD_STARTS = 20
"""The most recent cold starts a snapshot carries (all revisions together)."""


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
class LiveInputs:
    """What is read each tick: O(live revisions), no document rendering."""

    time: float
    """Wall-clock Unix seconds of the snapshot."""
    owners: Mapping[str, RevisionOwner]
    """Every live revision by name."""
    extras: Mapping[str, Mapping[str, Any]]
    """Per-revision status as the data plane reports it (``replicas``, ``autoscaler``,
    ``coldStart``), by revision; a revision without any is left out."""
    requests: Mapping[str, RequestTotals]
    """Request totals by revision (summed over components' series)."""
    buffered: Mapping[str, int]
    """Requests waiting in the activator, by revision."""


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


def isvc_row(res: Mapping[str, Any]) -> dict[str, Any]:
    """One ISVC or graph as the page lists it, from its API view."""
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


def _rates(
    name: str, inputs: LiveInputs, previous: Mapping[str, RequestTotals], elapsed: float
) -> tuple[dict[int, int], list[int]]:
    totals = inputs.requests.get(name)
    if totals is None:
        return {}, []
    return _delta(totals, previous.get(name))


def revision_detail(
    name: str, inputs: LiveInputs, previous: Mapping[str, RequestTotals], elapsed: float
) -> dict[str, Any] | None:
    """Everything the page charts for the live revision ``name`` (None: not live)."""
    owner = inputs.owners.get(name)
    if owner is None:
        return None
    extras = inputs.extras.get(name) or {}
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
    codes, buckets = _rates(name, inputs, previous, elapsed)
    rps: dict[str, float] = {}
    if elapsed > 0:
        rps = {str(c): round(n / elapsed, 3) for c, n in sorted(codes.items())}
    row["rps"] = rps
    row["p50"] = _round(quantile(0.5, buckets), 6)
    row["p99"] = _round(quantile(0.99, buckets), 6)
    return row


def build_catalog(
    rows: Iterable[Mapping[str, Any]], owners: Mapping[str, RevisionOwner]
) -> dict[str, Any]:
    """The ISVC rows (sorted) and each live revision as ``[name, namespace, isvc, component]``
    (sorted by owner): what changes only when the controller reports a change."""
    return {
        "isvcs": sorted(rows, key=lambda r: (r["kind"], r["namespace"], r["name"])),
        "revisions": [
            [name, o.namespace, o.isvc, o.component]
            for name, o in sorted(
                owners.items(), key=lambda kv: (kv[1].namespace, kv[1].isvc, kv[0])
            )
        ],
    }


def build_live(
    inputs: LiveInputs,
    previous: Mapping[str, RequestTotals],
    elapsed: float,
    names: Iterable[str] | None = None,
) -> dict[str, list[Any]]:
    """The summary of the live revisions ``names`` (default: every one), by name: ``[desired,
    ready, pending, panic mode (0/1), requests per second (all statuses; 0 on the first tick)]``."""
    out: dict[str, list[Any]] = {}
    for name in inputs.owners if names is None else names:
        extras = inputs.extras.get(name) or {}
        replicas = extras.get("replicas") or {}
        scaler = extras.get("autoscaler") or {}
        codes, _ = _rates(name, inputs, previous, elapsed)
        rps = round(sum(codes.values()) / elapsed, 3) if elapsed > 0 else 0
        out[name] = [
            replicas.get("desired", 0),
            replicas.get("ready", 0),
            replicas.get("pending", 0),
            1 if scaler.get("panic_mode") else 0,
            rps,
        ]
    return out


class ColdStarts:
    """The most recent cold starts over all revisions, newest last: a revision's cold start is
    new when its replica differs from the one last seen (its phases may still grow, e.g. the
    activator's handover, and are updated in place)."""

    def __init__(self, limit: int = MAX_COLD_STARTS) -> None:
        self._limit = limit
        self._seen: dict[str, str] = {}
        self._recent: dict[tuple[str, str], dict[str, float]] = {}

    def update(self, extras: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Note the cold starts in ``extras`` (per revision); returns the recent ones, each
        ``{"revision", "replica", "phases"}``."""
        for rev, e in extras.items():
            cold = e.get("coldStart")
            if cold is None or not isinstance(cold, Mapping) or not cold.get("replica"):
                continue
            replica = str(cold["replica"])
            key = (rev, replica)
            if self._seen.get(rev) == replica and key not in self._recent:
                continue  # seen, and already older than the newest ``limit``
            self._seen[rev] = replica
            self._recent[key] = {
                str(k): _round(v, 4) for k, v in (cold.get("phases") or {}).items()
            }
            while len(self._recent) > self._limit:
                del self._recent[next(iter(self._recent))]
        for rev in [r for r in self._seen if r not in extras]:
            del self._seen[rev]
        return [{"revision": r, "replica": p, "phases": ph} for (r, p), ph in self._recent.items()]


def is_idle(row: Sequence[Any]) -> bool:
    """A summary row at zero: no replicas wanted, ready or pending, no panic, no requests."""
    return not any(row)
