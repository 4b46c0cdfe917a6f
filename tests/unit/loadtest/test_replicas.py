"""Replica counts read from an ISVC status or from /metrics."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from minikn.loadtest.replicas import ReplicaCounts, counts_from_metrics, counts_from_status
from minikn.telemetry.metrics import Metrics


@pytest.mark.parametrize(
    ("revisions", "expected"),
    [
        (
            [{"name": "a", "ready": 1, "desired": 2, "pending": 1}, {"name": "b", "ready": 0}],
            ReplicaCounts(1, 2, 1),
        ),
        ({"a": {"readyReplicas": 3, "desiredReplicas": 3}}, ReplicaCounts(3, 3, None)),
        ([{"name": "a", "actualReplicas": 0}], ReplicaCounts(0, None, None)),
        ([{"name": "a"}], None),
        ([], None),
    ],
)
def test_counts_from_status(revisions: Any, expected: ReplicaCounts | None) -> None:
    doc = {"status": {"components": {"predictor": {"revisions": revisions}}}}
    assert counts_from_status(doc) == expected


@pytest.mark.parametrize("doc", [{}, {"status": {}}, {"status": {"components": {}}}, None, []])
def test_counts_from_status_without_revisions(doc: Any) -> None:
    assert counts_from_status(doc) is None


def test_counts_from_metrics_sums_the_isvcs_component_revisions() -> None:
    metrics = Metrics(CollectorRegistry())
    for rev, ready, desired in [
        ("iris-predictor-00001", 1, 1),
        ("iris-predictor-00002", 2, 3),
        ("iris-transformer-00001", 5, 5),
    ]:
        metrics.autoscaler.series("default", "iris", rev).actual = ready
        metrics.autoscaler.series("default", "iris", rev).desired = desired
    metrics.autoscaler.series("other", "iris", "iris-predictor-00001").actual = 7
    metrics.autoscaler.series("default", "iris2", "iris2-predictor-00001").actual = 7
    text = generate_latest(metrics.registry).decode()
    assert counts_from_metrics(text, namespace="default", isvc="iris") == ReplicaCounts(3, 4, 0)
    assert counts_from_metrics(
        text, namespace="default", isvc="iris", component="transformer"
    ) == ReplicaCounts(5, 5, 0)


def test_counts_from_metrics_without_the_isvc() -> None:
    assert counts_from_metrics("", namespace="default", isvc="iris") is None
    assert counts_from_metrics("garbage{{{ 1", namespace="default", isvc="iris") is None
