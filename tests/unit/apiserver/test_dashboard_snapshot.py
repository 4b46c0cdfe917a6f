"""The dashboard's snapshot builder (pure): ISVC rows, per-revision numbers, rates and latency
quantiles over the interval since the previous snapshot, cold-start phases, bounded events."""

from __future__ import annotations

from typing import Any

import pytest

from minikn.apiserver.dashboard.snapshot import (
    MAX_EVENTS,
    RequestTotals,
    RevisionOwner,
    SnapshotInputs,
    build_snapshot,
    quantile,
)
from minikn.telemetry.request_metrics import LATENCY_BUCKETS

REV1, REV2 = "iris-predictor-00001", "iris-predictor-00002"


def _isvc() -> dict[str, Any]:
    return {
        "kind": "InferenceService",
        "metadata": {"name": "iris", "namespace": "default"},
        "status": {
            "url": "http://iris.default.example.com",
            "conditions": [{"type": "Ready", "status": "True"}],
            "components": {
                "predictor": {
                    "url": "http://iris-predictor.default.example.com",
                    "latestReadyRevision": REV2,
                    "traffic": [
                        {"revisionName": REV1, "percent": 90, "latestRevision": False},
                        {
                            "revisionName": REV2,
                            "percent": 10,
                            "latestRevision": True,
                            "tag": "canary",
                            "url": "http://canary-iris-predictor.default.example.com",
                        },
                    ],
                }
            },
            "revisions": {
                REV1: {
                    "replicas": {"desired": 3, "ready": 2, "pending": 1, "reason": ""},
                    "autoscaler": {
                        "metric": "concurrency",
                        "stable": 4.25,
                        "panic": 9.5,
                        "target": 1.0,
                        "panic_mode": True,
                        "active": "active",
                        "reason": "panic",
                    },
                    "coldStart": {
                        "replica": "r1",
                        "phases": {"gpu": 0.0, "storage": 0.1, "create": 0.2, "load": 1.5},
                    },
                },
            },
        },
    }


def _buckets(**at: int) -> list[int]:
    """Observations per bucket: ``at`` maps 'b<index>' to a count."""
    out = [0] * (len(LATENCY_BUCKETS) + 1)
    for key, n in at.items():
        out[int(key[1:])] = n
    return out


def _inputs(
    requests: dict[str, RequestTotals], events: list[dict[str, Any]] | None = None
) -> SnapshotInputs:
    owners = {
        REV1: RevisionOwner("default", "iris", "predictor"),
        REV2: RevisionOwner("default", "iris", "predictor"),
    }
    return SnapshotInputs(
        time=1_700_000_000.0,
        resources=[_isvc()],
        owners=owners,
        requests=requests,
        buffered={REV1: 7},
        events=events or [],
    )


def test_an_isvc_row_carries_url_readiness_and_the_traffic_split_with_tags() -> None:
    snap = build_snapshot(_inputs({}), {}, 0.0)
    [row] = snap["isvcs"]
    assert (row["name"], row["url"], row["ready"]) == (
        "iris",
        "http://iris.default.example.com",
        "True",
    )
    [comp] = row["components"]
    assert [(t["revision"], t["percent"], t["tag"]) for t in comp["traffic"]] == [
        (REV1, 90, None),
        (REV2, 10, "canary"),
    ]


def test_a_revision_row_carries_replicas_concurrency_panic_buffered_and_cold_start() -> None:
    snap = build_snapshot(_inputs({}), {}, 0.0)
    rows = {r["name"]: r for r in snap["revisions"]}
    one = rows[REV1]
    assert (one["desired"], one["ready"], one["pending"], one["buffered"]) == (3, 2, 1, 7)
    assert (one["stable"], one["panic"], one["target"], one["panicMode"]) == (4.25, 9.5, 1.0, True)
    assert one["coldStart"]["phases"] == {"gpu": 0.0, "storage": 0.1, "create": 0.2, "load": 1.5}
    # A live revision without status yet: zeros, no autoscaler numbers, no cold start.
    two = rows[REV2]
    assert (two["desired"], two["ready"], two["buffered"]) == (0, 0, 0)
    assert "stable" not in two
    assert "coldStart" not in two


def test_rates_and_quantiles_cover_only_the_interval_since_the_previous_snapshot() -> None:
    before = {REV1: RequestTotals({200: 100, 503: 4}, _buckets(b0=100))}
    now = {REV1: RequestTotals({200: 120, 503: 4, 404: 2}, _buckets(b0=100, b8=20))}
    snap = build_snapshot(_inputs(now), before, 2.0)
    row = next(r for r in snap["revisions"] if r["name"] == REV1)
    assert row["rps"] == {"200": 10.0, "404": 1.0}
    # The 20 new observations all lie in (0.1, 0.25]: both quantiles inside that bucket.
    assert LATENCY_BUCKETS[7] < row["p50"] <= row["p99"] <= LATENCY_BUCKETS[8]


def test_the_first_snapshot_has_no_rates_but_quantiles_of_everything_seen() -> None:
    now = {REV1: RequestTotals({200: 10}, _buckets(b3=10))}
    row = next(r for r in build_snapshot(_inputs(now), {}, 0.0)["revisions"] if r["name"] == REV1)
    assert row["rps"] == {}
    assert row["p50"] is not None


def test_counters_that_went_backwards_read_as_a_restart() -> None:
    before = {REV1: RequestTotals({200: 500}, _buckets(b0=500))}
    now = {REV1: RequestTotals({200: 5}, _buckets(b0=5))}
    row = next(
        r for r in build_snapshot(_inputs(now), before, 1.0)["revisions"] if r["name"] == REV1
    )
    assert row["rps"] == {"200": 5.0}


def test_events_are_the_newest_bounded_and_oldest_first() -> None:
    events = [{"time": float(t), "reason": f"e{t}"} for t in range(MAX_EVENTS + 30, 0, -1)]
    snap = build_snapshot(_inputs({}, events), {}, 0.0)
    times = [e["time"] for e in snap["events"]]
    assert len(times) == MAX_EVENTS
    assert times == sorted(times)
    assert times[-1] == MAX_EVENTS + 30


@pytest.mark.parametrize(
    ("counts", "q", "expected"),
    [
        ([], 0.5, None),
        ([0, 10], 0.5, 0.00075),  # halfway through (0.0005, 0.001]
        ([10], 1.0, 0.0005),
        ([0] * len(LATENCY_BUCKETS) + [3], 0.99, LATENCY_BUCKETS[-1]),  # +Inf: the last bound
    ],
)
def test_quantile_interpolates_inside_a_bucket_as_prometheus_does(
    counts: list[int], q: float, expected: float | None
) -> None:
    got = quantile(q, counts)
    assert got == pytest.approx(expected) if expected is not None else got is None
