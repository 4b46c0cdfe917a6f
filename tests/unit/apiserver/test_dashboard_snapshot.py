"""The dashboard's snapshot parts (pure): ISVC rows and the catalog, the viewed revision's detail,
every revision's compact summary, rates and latency quantiles over the interval since the
previous tick, the newest cold starts, bounded events."""

from __future__ import annotations

from typing import Any

import pytest

from minikn.apiserver.dashboard.snapshot import (
    MAX_EVENTS,
    ColdStarts,
    LiveInputs,
    RequestTotals,
    RevisionOwner,
    build_catalog,
    build_live,
    is_idle,
    isvc_row,
    quantile,
    revision_detail,
)
from minikn.core.events import Event, EventSink
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
        },
    }


EXTRAS: dict[str, dict[str, Any]] = {
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
}
OWNERS = {
    REV1: RevisionOwner("default", "iris", "predictor"),
    REV2: RevisionOwner("default", "iris", "predictor"),
}


def _buckets(**at: int) -> list[int]:
    """Observations per bucket: ``at`` maps 'b<index>' to a count."""
    out = [0] * (len(LATENCY_BUCKETS) + 1)
    for key, n in at.items():
        out[int(key[1:])] = n
    return out


def _inputs(requests: dict[str, RequestTotals]) -> LiveInputs:
    return LiveInputs(
        time=1_700_000_000.0, owners=OWNERS, extras=EXTRAS, requests=requests, buffered={REV1: 7}
    )


def _detail(
    name: str, now: dict[str, RequestTotals], before: dict[str, RequestTotals], elapsed: float
) -> dict[str, Any]:
    row = revision_detail(name, _inputs(now), before, elapsed)
    assert row is not None
    return row


def test_an_isvc_row_carries_url_readiness_and_the_traffic_split_with_tags() -> None:
    row = isvc_row(_isvc())
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


def test_the_catalog_sorts_isvcs_and_names_each_live_revisions_owner() -> None:
    other = {**isvc_row(_isvc()), "name": "alpha"}
    catalog = build_catalog([isvc_row(_isvc()), other], OWNERS)
    assert [r["name"] for r in catalog["isvcs"]] == ["alpha", "iris"]
    assert catalog["revisions"] == [
        [REV1, "default", "iris", "predictor"],
        [REV2, "default", "iris", "predictor"],
    ]


def test_the_detail_carries_replicas_concurrency_panic_and_buffered() -> None:
    one = _detail(REV1, {}, {}, 0.0)
    assert (one["desired"], one["ready"], one["pending"], one["buffered"]) == (3, 2, 1, 7)
    assert (one["stable"], one["panic"], one["target"], one["panicMode"]) == (4.25, 9.5, 1.0, True)
    # A live revision without status yet: zeros, no autoscaler numbers.
    two = _detail(REV2, {}, {}, 0.0)
    assert (two["desired"], two["ready"], two["buffered"]) == (0, 0, 0)
    assert "stable" not in two


def test_no_detail_for_a_revision_that_is_not_live() -> None:
    assert revision_detail("gone-00001", _inputs({}), {}, 1.0) is None


def test_the_summary_has_every_live_revisions_replicas_panic_and_total_rate() -> None:
    before = {REV1: RequestTotals({200: 100}, _buckets(b0=100))}
    now = {REV1: RequestTotals({200: 110, 503: 2}, _buckets(b0=112))}
    summary = build_live(_inputs(now), before, 2.0)
    assert summary == {REV1: [3, 2, 1, 1, 6.0], REV2: [0, 0, 0, 0, 0]}


def test_rates_and_quantiles_cover_only_the_interval_since_the_previous_snapshot() -> None:
    before = {REV1: RequestTotals({200: 100, 503: 4}, _buckets(b0=100))}
    now = {REV1: RequestTotals({200: 120, 503: 4, 404: 2}, _buckets(b0=100, b8=20))}
    row = _detail(REV1, now, before, 2.0)
    assert row["rps"] == {"200": 10.0, "404": 1.0}
    # The 20 new observations all lie in (0.1, 0.25]: both quantiles inside that bucket.
    assert LATENCY_BUCKETS[7] < row["p50"] <= row["p99"] <= LATENCY_BUCKETS[8]


def test_the_first_snapshot_has_no_rates_but_quantiles_of_everything_seen() -> None:
    now = {REV1: RequestTotals({200: 10}, _buckets(b3=10))}
    row = _detail(REV1, now, {}, 0.0)
    assert row["rps"] == {}
    assert row["p50"] is not None


def test_counters_that_went_backwards_read_as_a_restart() -> None:
    before = {REV1: RequestTotals({200: 500}, _buckets(b0=500))}
    now = {REV1: RequestTotals({200: 5}, _buckets(b0=5))}
    row = _detail(REV1, now, before, 1.0)
    assert row["rps"] == {"200": 5.0}


def test_the_event_sink_gives_the_newest_after_a_number_bounded_and_oldest_first() -> None:
    sink = EventSink(newest=MAX_EVENTS)
    for t in range(MAX_EVENTS + 30):
        sink.emit(Event(time=float(t), reason=f"e{t}", message="", isvc=f"i{t % 7}"))
    numbers = [n for n, _ in sink.after(0)]
    assert numbers == list(range(31, MAX_EVENTS + 31))  # the newest MAX_EVENTS, oldest first
    assert [e.reason for _, e in sink.after(MAX_EVENTS + 28)] == [
        f"e{MAX_EVENTS + 28}",
        f"e{MAX_EVENTS + 29}",
    ]
    assert sink.after(sink.emitted) == []


def test_a_summary_row_is_idle_only_at_zero() -> None:
    assert is_idle([0, 0, 0, 0, 0])
    assert not is_idle([0, 0, 0, 0, 0.5])  # requests still arriving
    assert not is_idle([1, 0, 1, 0, 0])


def _cold(replica: str, **phases: float) -> dict[str, Any]:
    return {"coldStart": {"replica": replica, "phases": phases}}


def test_a_cold_start_is_listed_once_and_its_phases_grow_in_place() -> None:
    colds = ColdStarts(limit=2)
    assert colds.update({REV1: _cold("r1", load=1.0)}) == [
        {"revision": REV1, "replica": "r1", "phases": {"load": 1.0}}
    ]
    again = colds.update({REV1: _cold("r1", load=1.0, handover=0.01)})
    assert again == [{"revision": REV1, "replica": "r1", "phases": {"load": 1.0, "handover": 0.01}}]


def test_only_the_newest_cold_starts_are_kept_and_an_evicted_one_does_not_come_back() -> None:
    colds = ColdStarts(limit=2)
    colds.update({REV1: _cold("r1", load=1.0)})
    colds.update({REV1: _cold("r1", load=1.0), REV2: _cold("r2", load=2.0)})
    third = "iris-predictor-00003"
    got = colds.update({REV1: _cold("r3", load=3.0), REV2: _cold("r2", load=2.0)})
    assert [(c["revision"], c["replica"]) for c in got] == [(REV2, "r2"), (REV1, "r3")]
    got = colds.update({REV1: _cold("r3"), REV2: _cold("r2"), third: _cold("r4")})
    assert [(c["revision"], c["replica"]) for c in got] == [(REV1, "r3"), (third, "r4")]
    # REV2's r2 was evicted: seen again unchanged, it stays out.
    got = colds.update({REV1: _cold("r3"), REV2: _cold("r2"), third: _cold("r4")})
    assert [(c["revision"], c["replica"]) for c in got] == [(REV1, "r3"), (third, "r4")]


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
