"""Scale-from-zero analysis: started at zero, cold vs warm requests, the replica timeline."""

from __future__ import annotations

import pytest

from minikn.loadtest.coldstart import ReplicaSample, analyze_cold_start, replica_changes
from minikn.loadtest.stats import RequestRecord


def _cold_run() -> list[RequestRecord]:
    # Four requests arrive while the revision is at zero and wait ~2 s; then warm traffic.
    cold = [RequestRecord(0.01 * i, 2.0 - 0.01 * i, 200) for i in range(4)]
    warm = [RequestRecord(2.1 + 0.1 * i, 0.01, 200) for i in range(6)]
    return cold + warm


def test_cold_start_seen_from_platform_samples() -> None:
    samples = [
        ReplicaSample(0.0, 0, 0, 0),
        ReplicaSample(0.5, 0, 1, 1),
        ReplicaSample(1.9, 1, 1, 0),
        ReplicaSample(3.0, 1, 1, 0),
    ]
    report = analyze_cold_start(_cold_run(), samples)
    assert report.replicas_known
    assert report.started_at_zero is True
    assert report.ready_at == pytest.approx(1.9)
    assert report.ready_source == "platform"
    assert report.first_response == pytest.approx(2.0)
    assert report.cold_count == 4
    assert report.cold.count == 4
    assert report.warm.count == 6
    assert report.cold.p50 > 1.9 > report.warm.max
    assert report.max_ready == 1
    # The unchanged last sample is kept so the timeline reaches the end of the run.
    assert [s.t for s in report.timeline] == [0.0, 0.5, 1.9, 3.0]


def test_first_response_bounds_readiness_when_sampling_is_coarse() -> None:
    samples = [ReplicaSample(0.0, 0), ReplicaSample(2.5, 1)]
    report = analyze_cold_start(_cold_run(), samples)
    assert report.ready_at == pytest.approx(2.0)
    assert report.ready_source == "first response"
    assert report.cold_count == 4


def test_warm_revision_has_no_cold_requests() -> None:
    report = analyze_cold_start(_cold_run(), [ReplicaSample(0.0, 2)])
    assert report.started_at_zero is False
    assert report.ready_source == "already warm"
    assert report.cold_count == 0
    assert report.warm.count == 10


def test_without_replica_counts_the_first_response_marks_readiness() -> None:
    report = analyze_cold_start(_cold_run(), [])
    assert not report.replicas_known
    assert report.started_at_zero is None
    assert report.ready_source == "first response"
    assert report.cold_count == 4
    assert report.timeline == []


def test_nothing_ever_ready_makes_every_request_cold() -> None:
    records = [RequestRecord(0.0, 5.0, 0, error="timeout"), RequestRecord(0.1, 4.0, 503)]
    report = analyze_cold_start(records, [ReplicaSample(0.0, 0), ReplicaSample(5.0, 0)])
    assert report.ready_at is None
    assert report.ready_source == "none"
    assert report.cold_count == 2
    assert report.cold.count == 1  # only the 503 got an answer


def test_replica_changes_keeps_changes_first_and_last() -> None:
    samples = [ReplicaSample(float(t), r) for t, r in enumerate([0, 0, 1, 1, 2, 2, 2])]
    assert [(s.t, s.ready) for s in replica_changes(samples)] == [
        (0.0, 0),
        (2.0, 1),
        (4.0, 2),
        (6.0, 2),
    ]
    assert replica_changes([]) == []


def test_counts_that_appear_only_mid_run_leave_the_start_unknown() -> None:
    # The platform exported no count for the target until it had scaled: the first sample is
    # from after the first request, so it cannot say the run started warm.
    report = analyze_cold_start(_cold_run(), [ReplicaSample(1.0, 1)])
    assert report.replicas_known
    assert report.started_at_zero is None
    assert report.ready_at == pytest.approx(1.0)
    assert report.ready_source == "platform"
    assert report.cold_count == 4


def test_the_replica_line_is_ready_by_the_first_served_response() -> None:
    # Polled counts saw the replica 0.5 s after the first response ended (at 2.0 s).
    samples = [ReplicaSample(0.0, 0, 1, 1), ReplicaSample(2.2, 0, 1, 1), ReplicaSample(2.5, 1)]
    report = analyze_cold_start(_cold_run(), samples)
    assert [(s.t, s.ready) for s in report.timeline] == [(0.0, 0), (2.0, 1), (2.5, 1)]
    served = [r.end for r in _cold_run() if r.ok]
    ready_from = next(s.t for s in report.timeline if s.ready > 0)
    assert ready_from <= min(served)


def test_the_platforms_phases_and_flagged_responses_are_reported() -> None:
    phases = (("gpu", 0.0), ("storage", 0.5), ("create", 0.25), ("load", 1.0), ("handover", 0.01))
    records = [RequestRecord(0.0, 2.0, 200, cold_start=phases), *_cold_run()[1:]]
    report = analyze_cold_start(records, [ReplicaSample(0.0, 0), ReplicaSample(1.9, 1)])
    assert report.phases == dict(phases)
    assert report.flagged == 1


def test_server_timing_parsing_keeps_the_phases_in_seconds() -> None:
    from minikn.core.coldstart import parse_server_timing

    parsed = parse_server_timing('gpu;dur=0.0, storage;dur=12.5, cache;desc="x", load;dur=bad')
    assert parsed == {"gpu": 0.0, "storage": 0.0125}
