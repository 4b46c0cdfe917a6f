"""Merging graph routers' expositions: one family per name, every replica's samples under its
labels, other families and unparsable texts left out."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from minikn.telemetry.federate import merge_expositions


def _router(seconds: float) -> str:
    registry = CollectorRegistry()
    h = Histogram(
        "minikn_graph_step_latency_seconds", "step latency", ("graph", "node", "step"),
        buckets=(0.1, 1.0), registry=registry,
    )  # fmt: skip
    h.labels("g", "root", "a").observe(seconds)
    Counter("other_requests", "not a graph family", registry=registry).inc()
    return generate_latest(registry).decode()


def test_each_replicas_samples_keep_their_labels_under_one_family() -> None:
    merged = merge_expositions(
        [({"replica": "r1"}, _router(0.05)), ({"replica": "r2"}, _router(0.5)), ({}, "{{bad")],
        "minikn_graph_",
    ).decode()
    families = list(text_string_to_metric_families(merged))
    assert [f.name for f in families] == ["minikn_graph_step_latency_seconds"]
    buckets = {
        (s.labels["replica"], s.labels["le"]): s.value
        for s in families[0].samples
        if s.name.endswith("_bucket")
    }
    assert buckets[("r1", "0.1")] == 1.0
    assert buckets[("r2", "0.1")] == 0.0
    assert buckets[("r2", "1.0")] == 1.0
    assert merged.count("# TYPE minikn_graph_step_latency_seconds histogram") == 1
    assert 'graph="g",node="root",replica="r1",step="a"' in merged


def test_nothing_to_merge_renders_nothing() -> None:
    assert merge_expositions([({"replica": "r1"}, "other_total 1\n")], "minikn_graph_") == b""
