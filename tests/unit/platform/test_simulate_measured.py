"""``minikn simulate --start-model measured`` turns the platform's own start-to-ready histogram
into start-time samples for the ISVC."""

from __future__ import annotations

import pytest
from prometheus_client import generate_latest

from minikn.cli.commands.simulate import start_samples
from minikn.core.errors import InvalidInput
from minikn.telemetry.metrics import Metrics


def test_each_observed_start_becomes_its_bucket_midpoint() -> None:
    m = Metrics()
    h = m.start_to_ready.labels("default", "iris", "iris-predictor-00001", "docker")
    for seconds in (0.7, 0.8, 2.5, 400.0):  # buckets (0.5, 1], (1, 2]..., (2, 3], (300, +Inf)
        h.observe(seconds)
    m.start_to_ready.labels("default", "other", "other-predictor-00001", "docker").observe(9.0)
    samples = start_samples(generate_latest(m.registry).decode(), "iris")
    assert samples == [0.75, 0.75, 2.5, 450.0]


def test_no_measurement_yet_is_a_clear_error() -> None:
    with pytest.raises(InvalidInput, match="no replica start of iris"):
        start_samples(generate_latest(Metrics().registry).decode(), "iris")
