"""The autoscaler's per-revision gauges as plain numbers, exported by a collector at scrape time.

Eight labelled ``prometheus_client`` Gauge children per revision cost about a millisecond to create
(label validation, a lock and a value object each) and a lock per ``set``: with thousands of
revisions at zero, most of an apply. A :class:`RevisionGauges` row is eight floats the autoscaler
assigns; :class:`AutoscalerCollector` renders Knative's ``autoscaler_*`` families from the rows
when ``/metrics`` is read, in the order (families, then revisions by creation) and with the values
the Gauges gave.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["FAMILIES", "AutoscalerCollector", "RevisionGauges"]

_LABELS = ("namespace", "isvc", "revision")

FAMILIES: tuple[tuple[str, str, str], ...] = (
    ("desired", "autoscaler_desired_pods", "Desired replicas."),
    ("actual", "autoscaler_actual_pods", "Ready replicas."),
    ("pending", "autoscaler_pending_pods", "Replicas created but not ready."),
    (
        "stable",
        "autoscaler_stable_request_concurrency",
        "Average concurrency over the stable window.",
    ),
    ("panic", "autoscaler_panic_request_concurrency", "Average concurrency over the panic window."),
    (
        "target",
        "autoscaler_target_concurrency_per_pod",
        "Per-replica target of the scaling metric.",
    ),
    ("panic_mode", "autoscaler_panic_mode", "1 while the revision is in panic mode."),
    (
        "ebc",
        "autoscaler_excess_burst_capacity",
        "Excess burst capacity (negative keeps the activator in the path).",
    ),
)
"""(attribute of :class:`RevisionGauges`, metric name, help), in exposition order."""


class RevisionGauges:
    """One revision's gauges (all 0 when created)."""

    __slots__ = ("actual", "desired", "ebc", "panic", "panic_mode", "pending", "stable", "target")

    def __init__(self) -> None:
        self.desired = 0.0
        self.actual = 0.0
        self.pending = 0.0
        self.stable = 0.0
        self.panic = 0.0
        self.target = 0.0
        self.panic_mode = 0.0
        self.ebc = 0.0


class AutoscalerCollector(Collector):
    """The rows by (namespace, isvc, revision), exported as Knative's autoscaler gauges."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str, str, str], RevisionGauges] = {}

    def series(self, namespace: str, isvc: str, revision: str) -> RevisionGauges:
        """The row of these labels (created at zero on first use)."""
        key = (namespace, isvc, revision)
        found = self._rows.get(key)
        if found is None:
            found = self._rows[key] = RevisionGauges()
        return found

    def remove(self, namespace: str, isvc: str, revision: str) -> None:
        """Drop the row (its samples leave ``/metrics``); a later ``series`` starts a new one."""
        self._rows.pop((namespace, isvc, revision), None)

    def describe(self) -> Iterator[Metric]:
        yield from self._families({})

    def collect(self) -> Iterator[Metric]:
        yield from self._families(self._rows)

    @staticmethod
    def _families(rows: dict[tuple[str, str, str], RevisionGauges]) -> Iterator[Metric]:
        snapshot = list(rows.items())
        for attr, name, doc in FAMILIES:
            family = GaugeMetricFamily(name, doc, labels=_LABELS)
            for labels, row in snapshot:
                family.add_metric(labels, float(getattr(row, attr)))
            yield family
