"""The autoscaler's gauges render exactly as the labelled prometheus_client Gauges they replace."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from minikn.telemetry.autoscaler_metrics import FAMILIES, AutoscalerCollector
from minikn.telemetry.metrics import Metrics

LABELS = ("namespace", "isvc", "revision")


def _gauges(registry: CollectorRegistry) -> dict[str, Gauge]:
    """The Gauges minikn registered before the collector: same names, help, labels, order."""
    return {attr: Gauge(name, doc, LABELS, registry=registry) for attr, name, doc in FAMILIES}


def _both() -> tuple[CollectorRegistry, dict[str, Gauge], CollectorRegistry, AutoscalerCollector]:
    old_registry, new_registry = CollectorRegistry(), CollectorRegistry()
    collector = AutoscalerCollector()
    new_registry.register(collector)
    return old_registry, _gauges(old_registry), new_registry, collector


def _same(old: CollectorRegistry, new: CollectorRegistry) -> None:
    assert generate_latest(new).decode() == generate_latest(old).decode()
    assert generate_openmetrics(new).decode() == generate_openmetrics(old).decode()


def test_no_revision_renders_the_families_help_and_type_only() -> None:
    old, _, new, _ = _both()
    _same(old, new)
    assert b"# TYPE autoscaler_desired_pods gauge" in generate_latest(new)


def test_revisions_render_identically_through_sets_removal_and_recreation() -> None:
    old, gauges, new, collector = _both()
    revisions = [("default", "iris", "iris-predictor-00001"), ("ns2", "m", "m-predictor-00003")]
    for labels in revisions:  # the autoscaler created all eight children of a revision at once
        for g in gauges.values():
            g.labels(*labels)
        collector.series(*labels)
    values = {
        "desired": 3,
        "actual": 2,
        "pending": 1,
        "stable": 1.25,
        "panic": 7.5,
        "target": 100.0,
        "panic_mode": 1,
        "ebc": -411.0,
    }
    for attr, value in values.items():
        gauges[attr].labels(*revisions[1]).set(value)
        setattr(collector.series(*revisions[1]), attr, value)
    _same(old, new)

    for g in gauges.values():
        g.remove(*revisions[0])
    collector.remove(*revisions[0])
    _same(old, new)

    for g in gauges.values():  # back again: after the other revision, at zero
        g.labels(*revisions[0])
    collector.series(*revisions[0]).desired = 1
    gauges["desired"].labels(*revisions[0]).set(1)
    _same(old, new)


def test_metrics_registers_the_families_between_the_activators_and_the_replicas() -> None:
    m = Metrics(CollectorRegistry())
    m.autoscaler.series("default", "iris", "iris-predictor-00001").desired = 2
    text = generate_latest(m.registry).decode()
    names = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")]
    auto = [name for _, name, _ in FAMILIES]
    start = names.index(auto[0])
    assert names[start : start + len(auto)] == auto
    assert names.index("minikn_activator_buffer_rejections_total") < start
    assert names.index("minikn_replica_start_to_ready_seconds") > start
    assert (
        m.registry.get_sample_value(
            "autoscaler_desired_pods",
            {"namespace": "default", "isvc": "iris", "revision": "iris-predictor-00001"},
        )
        == 2
    )
