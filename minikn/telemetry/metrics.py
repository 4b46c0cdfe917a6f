"""Prometheus metrics of the whole platform, on a registry the caller owns (tests use a fresh one).

Names follow Knative's where Knative has the metric (``activator_request_count``,
``autoscaler_desired_pods`` ...); minikn's own carry the ``minikn_`` prefix.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from minikn.telemetry.autoscaler_metrics import AutoscalerCollector
from minikn.telemetry.request_metrics import RequestCollector

__all__ = ["Metrics"]

_REV = ("namespace", "isvc", "revision")
_START_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)


class Metrics:
    """Every metric minikn exports, registered on ``registry``."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self._data_path(self.registry)
        self._autoscaler(self.registry)
        self._replicas(self.registry)
        self._agent(self.registry)

    def _data_path(self, r: CollectorRegistry) -> None:
        """Knative activator names: request count by code and latency histogram, per
        (namespace, isvc, component, revision), via ``requests.series(...)``."""
        self.requests = RequestCollector("activator_request_count", "activator_request_latencies")
        r.register(self.requests)
        self.buffered = Gauge(
            "minikn_activator_buffered_requests",
            "Requests waiting in the activator for capacity.",
            _REV,
            registry=r,
        )
        self.buffer_rejections = Counter(
            "minikn_activator_buffer_rejections",
            "Requests refused with 503 because the revision's buffer was full.",
            _REV,
            registry=r,
        )

    def _autoscaler(self, r: CollectorRegistry) -> None:
        """Knative autoscaler names, per revision (``autoscaler.series(...)``; rendered from plain
        numbers at scrape time: thousands of revisions at zero cost no Gauge children)."""
        self.autoscaler = AutoscalerCollector()
        r.register(self.autoscaler)

    def _replicas(self, r: CollectorRegistry) -> None:
        self.start_to_ready = Histogram(
            "minikn_replica_start_to_ready_seconds",
            "From creating a replica to its readiness probe passing (the cold start).",
            ("namespace", "isvc", "revision", "backend"),
            buckets=_START_BUCKETS,
            registry=r,
        )
        self.cold_start_phase = Histogram(
            "minikn_cold_start_phase_seconds",
            "A replica's cold start by phase: gpu (waiting for one), storage (fetching the model),"
            " create (container or process), load (until ready), handover (the activator sending"
            " the first buffered request).",
            ("namespace", "isvc", "component", "revision", "phase"),
            buckets=(0.001, 0.005, 0.01, 0.025, *_START_BUCKETS),
            registry=r,
        )
        self.backend_errors = Counter(
            "minikn_backend_errors",
            "Errors from the replica backend by operation.",
            ("backend", "operation"),
            registry=r,
        )

    def _agent(self, r: CollectorRegistry) -> None:
        """Agent features (payload logger)."""
        self.logger_dropped = Counter(
            "minikn_logger_events_dropped",
            "Payload-logger CloudEvents dropped (sink down or queue full).",
            _REV,
            registry=r,
        )
        self.spans_dropped = Counter(
            "minikn_tracing_spans_dropped",
            "Trace spans dropped because the tracer's ring was full (the exporter fell behind).",
            registry=r,
        )
        self.logger_sent = Counter(
            "minikn_logger_events_sent", "Payload-logger CloudEvents delivered.", _REV, registry=r
        )
