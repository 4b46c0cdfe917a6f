"""Latency histograms: bucket boundaries are inclusive (Prometheus ``le``)."""

from __future__ import annotations

import pytest

from minikn.modelserver.metrics import StepMetrics


@pytest.mark.parametrize(
    ("seconds", "le", "count"),
    [
        (0.005, "0.005", 1),
        (0.0051, "0.005", 0),
        (0.0051, "0.01", 1),
        (20.0, "10.0", 0),
        (20.0, "+Inf", 1),
    ],
)
def test_observation_lands_in_cumulative_buckets(seconds: float, le: str, count: int) -> None:
    metrics = StepMetrics()
    metrics.histogram("m", "predict").observe(seconds)
    text = metrics.render()
    assert f'request_predict_seconds_bucket{{model_name="m",le="{le}"}} {count}' in text
    assert f'request_predict_seconds_sum{{model_name="m"}} {seconds}' in text


def test_empty_metrics_render_nothing_but_a_newline() -> None:
    assert StepMetrics().render() == "\n"
